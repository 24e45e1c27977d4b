package dnsstub

import (
	"fmt"
	"math/rand"
	"net"
	"testing"

	"github.com/miekg/dns"
)

// discardWriter is a dns.ResponseWriter that sends nowhere: the handler's
// own cost, without the socket's.
type discardWriter struct{ remote net.Addr }

func (w discardWriter) LocalAddr() net.Addr         { return w.remote }
func (w discardWriter) RemoteAddr() net.Addr        { return w.remote }
func (w discardWriter) WriteMsg(m *dns.Msg) error   { _, err := m.Pack(); return err }
func (w discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w discardWriter) Close() error                { return nil }
func (w discardWriter) TsigStatus() error           { return nil }
func (w discardWriter) TsigTimersOnly(bool)         {}
func (w discardWriter) Hijack()                     {}

// BenchmarkServeQueryMix is the server's work per query of the benchmark's
// mix (make bench's dns section) outside the kernel: the fast path, or the
// query unpacked and the handler, with no rule and with SERVFAIL rules on
// 1 % of the 100,000 names; and for the ruled names alone, which cost what
// the zone's own answers do once their answers are packed.
func BenchmarkServeQueryMix(b *testing.B) {
	const names = 100_000
	s, err := Start(Config{Addr: "127.0.0.1:0", Zones: []Zone{{Origin: "amazonaws.com."}}})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for i := 0; i < names; i++ {
		s.SetRecords(fmt.Sprintf("svc-%06d.amazonaws.com.", i), dns.TypeA, 60, []string{fmt.Sprintf("127.%d.%d.%d", 10+i/62500, i/250%250, 1+i%250)})
	}
	s.SetRecords(endpoint, dns.TypeA, 5, []string{"127.0.1.1", "127.0.1.2"})
	rng := rand.New(rand.NewSource(1))
	var wires [][]byte
	for i := 0; i < 10_000; i++ {
		m := new(dns.Msg)
		switch {
		case i%10 == 8:
			m.SetQuestion(endpoint, dns.TypeAAAA)
		case i%10 == 9:
			m.SetQuestion(fmt.Sprintf("missing-%d.amazonaws.com.", i), dns.TypeA)
		default:
			m.SetQuestion(fmt.Sprintf("svc-%06d.amazonaws.com.", rng.Intn(names)), dns.TypeA)
		}
		m.Id = uint16(i)
		w, _ := m.Pack()
		wires = append(wires, w)
	}
	var ruled [][]byte // the names the rules select, alone
	for i := 0; i < names/100; i++ {
		m := new(dns.Msg).SetQuestion(fmt.Sprintf("svc-%06d.amazonaws.com.", i*100), dns.TypeA)
		w, _ := m.Pack()
		ruled = append(ruled, w)
	}
	mix := wires
	run := func(b *testing.B) {
		wires := mix
		w := discardWriter{remote: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5353}}
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				wire := wires[i%len(wires)]
				i += 7
				if s.answerFromCache(wire, w.remote) != nil {
					continue
				}
				req := new(dns.Msg)
				if err := req.Unpack(wire); err != nil {
					b.Error(err)
					return
				}
				s.serveDNS(w, req)
			}
		})
	}
	b.Run("no-rules", run)
	mix = ruled
	b.Run("no-rules/only-ruled-names", run)
	mix = wires
	for i := 0; i < names/100; i++ {
		if _, err := s.AddRule(Rule{Name: fmt.Sprintf("svc-%06d.amazonaws.com.", i*100), Fault: "bench", Action: ServFail()}); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("rules-on-1pct", run)
	mix = ruled
	b.Run("rules-on-1pct/only-ruled-names", run)
}
