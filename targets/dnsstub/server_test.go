package dnsstub

import (
	"context"
	"errors"
	"math/rand"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/goleak"
)

const endpoint = "dynamodb.us-east-1.amazonaws.com."

// start serves the amazonaws.com zone (SOA TTL 60, MINIMUM 30: negative TTL
// 30) with the endpoint's A records, and records every query event.
func start(t *testing.T) (*Server, *events) {
	t.Helper()
	ev := &events{}
	s, err := Start(Config{Addr: "127.0.0.1:0", Observer: ev.add,
		Zones: []Zone{{Origin: "amazonaws.com", SOA: SOA{TTL: 60, Minimum: 30}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.SetRecords(endpoint, dns.TypeA, 5, []string{"127.0.1.1", "127.0.1.2"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRecords("a.b.deep.amazonaws.com.", dns.TypeA, 5, []string{"127.0.9.9"}); err != nil {
		t.Fatal(err)
	}
	return s, ev
}

func rule(t *testing.T, s *Server, r Rule) func() {
	t.Helper()
	remove, err := s.AddRule(r)
	if err != nil {
		t.Fatal(err)
	}
	return remove
}

type events struct {
	mu  sync.Mutex
	all []QueryEvent
}

func (e *events) add(q QueryEvent) { e.mu.Lock(); e.all = append(e.all, q); e.mu.Unlock() }
func (e *events) last() QueryEvent {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.all) == 0 {
		return QueryEvent{}
	}
	return e.all[len(e.all)-1]
}

// ask queries s and fails the test without an answer. The timeout is
// generous: an answer must come, however loaded the machine.
func ask(t *testing.T, s *Server, proto, name string, qtype uint16) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: proto, Timeout: 5 * time.Second}
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	r, _, err := c.Exchange(m, s.Addr())
	if err != nil {
		t.Fatalf("%s query %s %s: %v", proto, name, dns.TypeToString[qtype], err)
	}
	return r
}

type want struct {
	rcode   int
	aa      bool
	answers int
	soaTTL  int // -1: no SOA in authority
}

func check(t *testing.T, what string, r *dns.Msg, w want) {
	t.Helper()
	if r.Rcode != w.rcode || r.Authoritative != w.aa || len(r.Answer) != w.answers {
		t.Errorf("%s: rcode %s aa %v answers %d; want %s %v %d", what, dns.RcodeToString[r.Rcode], r.Authoritative,
			len(r.Answer), dns.RcodeToString[w.rcode], w.aa, w.answers)
	}
	soaTTL := -1
	for _, rr := range r.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			soaTTL = int(soa.Hdr.Ttl)
		}
	}
	if soaTTL != w.soaTTL {
		t.Errorf("%s: SOA TTL in authority %d, want %d (-1: none)", what, soaTTL, w.soaTTL)
	}
}

func TestZoneAnswersOverUDPAndTCP(t *testing.T) {
	s, _ := start(t)
	cases := []struct {
		name  string
		qtype uint16
		want  want
	}{
		{endpoint, dns.TypeA, want{dns.RcodeSuccess, true, 2, -1}},
		{"DynamoDB.US-East-1.amazonaws.com.", dns.TypeA, want{dns.RcodeSuccess, true, 2, -1}},
		{endpoint, dns.TypeAAAA, want{dns.RcodeSuccess, true, 0, 30}},               // NODATA, negative TTL min(60,30)
		{"nosuch.amazonaws.com.", dns.TypeA, want{dns.RcodeNameError, true, 0, 30}}, // NXDOMAIN
		{"b.deep.amazonaws.com.", dns.TypeA, want{dns.RcodeSuccess, true, 0, 30}},   // empty non-terminal: NODATA
		{"amazonaws.com.", dns.TypeSOA, want{dns.RcodeSuccess, true, 1, -1}},        // apex SOA
		{"amazonaws.com.", dns.TypeNS, want{dns.RcodeSuccess, true, 1, -1}},         // apex NS
		{"example.org.", dns.TypeA, want{dns.RcodeRefused, false, 0, -1}},           // outside every zone
	}
	for _, proto := range []string{"udp", "tcp"} {
		for _, c := range cases {
			check(t, proto+" "+c.name+" "+dns.TypeToString[c.qtype], ask(t, s, proto, c.name, c.qtype), c.want)
		}
	}
}

func TestFaultActionsOverUDPAndTCP(t *testing.T) {
	s, ev := start(t)
	cases := []struct {
		name   string
		action Action
		want   want
	}{
		{"empty", Empty(EmptyOptions{}), want{dns.RcodeSuccess, true, 0, 30}},
		{"empty without SOA", Empty(EmptyOptions{NoSOA: true}), want{dns.RcodeSuccess, true, 0, -1}},
		{"empty without AA", Empty(EmptyOptions{NoAA: true}), want{dns.RcodeSuccess, false, 0, 30}},
		{"nxdomain", NXDomain(), want{dns.RcodeNameError, true, 0, 30}},
		{"servfail", ServFail(), want{dns.RcodeServerFailure, false, 0, -1}},
		{"refused", Refused(), want{dns.RcodeRefused, false, 0, -1}},
		{"delay", Delay(50*time.Millisecond, 10*time.Millisecond, rand.New(rand.NewSource(1))), want{dns.RcodeSuccess, true, 2, -1}},
	}
	for _, proto := range []string{"udp", "tcp"} {
		for _, c := range cases {
			remove := rule(t, s, Rule{Name: endpoint, Fault: "f-" + c.name, Action: c.action})
			began := time.Now()
			r := ask(t, s, proto, endpoint, dns.TypeA)
			check(t, proto+" "+c.name, r, c.want)
			if c.name == "delay" && time.Since(began) < 50*time.Millisecond {
				t.Errorf("%s delay: answered before the fixed delay", proto)
			}
			if got := ev.last(); got.Fault != "f-"+c.name || got.Proto != proto || got.Name != endpoint || got.Type != "A" {
				t.Errorf("%s %s: event %+v", proto, c.name, got)
			}
			remove()
			remove() // idempotent
			check(t, proto+" after removing "+c.name, ask(t, s, proto, endpoint, dns.TypeA), want{dns.RcodeSuccess, true, 2, -1})
		}
	}
}

func TestTimeoutSendsNothing(t *testing.T) {
	s, ev := start(t)
	defer rule(t, s, Rule{Name: endpoint, Fault: "f1", Action: Timeout()})()
	for _, proto := range []string{"udp", "tcp"} {
		c := &dns.Client{Net: proto, Timeout: 300 * time.Millisecond}
		m := new(dns.Msg)
		m.SetQuestion(endpoint, dns.TypeA)
		_, _, err := c.Exchange(m, s.Addr())
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("%s: err = %v, want a timeout", proto, err)
		}
	}
	// The server saw (and dropped) the queries.
	deadline := time.Now().Add(2 * time.Second)
	for ev.last().Rcode != "DROPPED" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := ev.last(); got.Rcode != "DROPPED" || got.Fault != "f1" {
		t.Errorf("event %+v, want DROPPED by f1", got)
	}
}

func TestNewestRuleWinsAndWildcards(t *testing.T) {
	s, _ := start(t)
	r1 := rule(t, s, Rule{Name: ".amazonaws.com.", Fault: "wild", Action: ServFail()})
	check(t, "wildcard", ask(t, s, "udp", endpoint, dns.TypeA), want{dns.RcodeServerFailure, false, 0, -1})
	r2 := rule(t, s, Rule{Name: endpoint, Fault: "exact", Action: NXDomain()})
	check(t, "newest", ask(t, s, "udp", endpoint, dns.TypeA), want{dns.RcodeNameError, true, 0, 30})
	r2()
	check(t, "older again", ask(t, s, "udp", endpoint, dns.TypeA), want{dns.RcodeServerFailure, false, 0, -1})
	r1()
	check(t, "none", ask(t, s, "udp", endpoint, dns.TypeA), want{dns.RcodeSuccess, true, 2, -1})
}

// What Go's own resolver makes of each answer (FACTS.md): the empty answer
// must reach Go as "no such host", not as a lame referral.
func TestGoResolverSeesEachAnswer(t *testing.T) {
	s, _ := start(t)
	resolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, s.Addr())
	}}
	lookup := func() ([]string, *net.DNSError) {
		ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
		defer cancel()
		addrs, err := resolver.LookupHost(ctx, "dynamodb.us-east-1.amazonaws.com")
		if err == nil {
			return addrs, nil
		}
		var de *net.DNSError
		if !errors.As(err, &de) {
			t.Fatalf("error %T %v is not a *net.DNSError", err, err)
		}
		return nil, de
	}
	if addrs, err := lookup(); err != nil || len(addrs) != 2 {
		t.Fatalf("normal lookup: %v %v", addrs, err)
	}
	cases := []struct {
		name   string
		action Action
		check  func(*net.DNSError) bool
		want   string
	}{
		{"empty", Empty(EmptyOptions{}), func(e *net.DNSError) bool { return e.IsNotFound }, "no such host, IsNotFound"},
		{"nxdomain", NXDomain(), func(e *net.DNSError) bool { return e.IsNotFound }, "no such host, IsNotFound"},
		{"empty without AA", Empty(EmptyOptions{NoAA: true}), func(e *net.DNSError) bool {
			return !e.IsNotFound && e.Err == "lame referral"
		}, "lame referral, not IsNotFound"},
		{"servfail", ServFail(), func(e *net.DNSError) bool { return e.IsTemporary && e.Err == "server misbehaving" }, "server misbehaving, IsTemporary"},
		{"timeout", Timeout(), func(e *net.DNSError) bool { return e.IsTimeout }, "IsTimeout"},
	}
	for _, c := range cases {
		remove := rule(t, s, Rule{Name: endpoint, Action: c.action})
		_, err := lookup()
		remove()
		if err == nil || !c.check(err) {
			t.Errorf("%s: Go saw %+v, want %s", c.name, err, c.want)
		}
	}
	remove := rule(t, s, Rule{Name: endpoint, Action: Delay(20*time.Millisecond, 0, nil)})
	if addrs, err := lookup(); err != nil || len(addrs) != 2 {
		t.Errorf("delayed lookup: %v %v", addrs, err)
	}
	remove()
}

func TestRecordsChangeWhileServing(t *testing.T) {
	s, _ := start(t)
	if err := s.SetRecords(endpoint, dns.TypeA, 5, []string{"127.0.1.2"}); err != nil {
		t.Fatal(err)
	}
	if got := s.Records(endpoint, dns.TypeA); len(got) != 1 || got[0] != "127.0.1.2" {
		t.Errorf("records = %v", got)
	}
	check(t, "one left", ask(t, s, "udp", endpoint, dns.TypeA), want{dns.RcodeSuccess, true, 1, -1})
	s.DeleteRecords(endpoint, dns.TypeA)
	check(t, "deleted", ask(t, s, "udp", endpoint, dns.TypeA), want{dns.RcodeNameError, true, 0, 30})
	for _, bad := range []struct {
		name  string
		qtype uint16
		value string
	}{{"x.example.org.", dns.TypeA, "127.0.0.1"}, {endpoint, dns.TypeA, "not-an-ip"}, {endpoint, dns.TypeAAAA, "127.0.0.1"}} {
		if err := s.SetRecords(bad.name, bad.qtype, 5, []string{bad.value}); err == nil {
			t.Errorf("SetRecords(%s, %s) accepted", bad.name, bad.value)
		}
	}
}

func TestMalformedPacketsGetFormerrOrNothing(t *testing.T) {
	s, _ := start(t)
	conn, err := net.Dial("udp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Two questions: FORMERR.
	m := new(dns.Msg)
	m.SetQuestion(endpoint, dns.TypeA)
	m.Question = append(m.Question, m.Question[0])
	packed, _ := m.Pack()
	garbage := [][]byte{{0x01}, {0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0, 0, 0, 0, 0, 0xff}, packed, make([]byte, 600)}
	for _, g := range garbage {
		conn.SetDeadline(time.Now().Add(300 * time.Millisecond))
		conn.Write(g)
		buf := make([]byte, 1500)
		if n, err := conn.Read(buf); err == nil {
			r := new(dns.Msg)
			if err := r.Unpack(buf[:n]); err == nil && r.Rcode != dns.RcodeFormatError && r.Rcode != dns.RcodeNotImplemented {
				t.Errorf("garbage %x answered with %s", g[:min(len(g), 8)], dns.RcodeToString[r.Rcode])
			}
		}
	}
	// Garbage over TCP too, then the server still answers.
	tc, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	tc.Write([]byte{0, 5, 1, 2, 3, 4, 5, 0, 2, 9})
	tc.Close()
	for _, proto := range []string{"udp", "tcp"} {
		check(t, "after garbage "+proto, ask(t, s, proto, endpoint, dns.TypeA), want{dns.RcodeSuccess, true, 2, -1})
	}
	// Not a QUERY opcode: NOTIMP.
	n := new(dns.Msg)
	n.SetQuestion(endpoint, dns.TypeA)
	n.Opcode = dns.OpcodeUpdate
	r, _, err := (&dns.Client{Timeout: time.Second}).Exchange(n, s.Addr())
	if err == nil && r.Rcode != dns.RcodeNotImplemented && r.Rcode != dns.RcodeFormatError {
		t.Errorf("UPDATE answered %s", dns.RcodeToString[r.Rcode])
	}
}

func TestEDNSAndTruncation(t *testing.T) {
	s, _ := start(t)
	var many []string
	for i := 1; i <= 60; i++ {
		many = append(many, net.IPv4(127, 0, 5, byte(i)).String())
	}
	if err := s.SetRecords(endpoint, dns.TypeA, 5, many); err != nil {
		t.Fatal(err)
	}
	m := new(dns.Msg)
	m.SetQuestion(endpoint, dns.TypeA)
	r, _, err := (&dns.Client{Timeout: time.Second}).Exchange(m, s.Addr())
	if err != nil || !r.Truncated || len(r.Answer) >= 60 {
		t.Fatalf("plain UDP: err %v truncated %v answers %d; want TC and fewer than 60", err, r != nil && r.Truncated, len(r.Answer))
	}
	m.SetEdns0(4096, false)
	r, _, err = (&dns.Client{Timeout: time.Second, UDPSize: 4096}).Exchange(m, s.Addr())
	if err != nil || r.Truncated || len(r.Answer) != 60 || r.IsEdns0() == nil {
		t.Fatalf("EDNS 4096: err %v, want all 60 answers with OPT echoed", err)
	}
	r = ask(t, s, "tcp", endpoint, dns.TypeA)
	if len(r.Answer) != 60 {
		t.Errorf("TCP: %d answers, want 60", len(r.Answer))
	}
}

func TestCloseLeavesNothing(t *testing.T) {
	defer goleak.VerifyNone(t)
	s, err := Start(Config{Zones: []Zone{{Origin: "example.test."}}})
	if err != nil {
		t.Fatal(err)
	}
	s.SetRecords("a.example.test.", dns.TypeA, 5, []string{"127.0.0.1"})
	// A delayed answer in flight when Close comes must not outlive it.
	arrived := make(chan struct{})
	var once sync.Once
	delay := Delay(time.Hour, 0, nil)
	rule(t, s, Rule{Name: "a.example.test.", Action: actionFunc(func(q Query) *dns.Msg {
		once.Do(func() { close(arrived) })
		return delay.Respond(q)
	})})
	asked := make(chan struct{})
	go func() {
		defer close(asked)
		(&dns.Client{Timeout: 3 * time.Second}).Exchange(new(dns.Msg).SetQuestion("a.example.test.", dns.TypeA), s.Addr())
	}()
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the query did not reach the server within 10 s")
	}
	if err := s.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	s.Close() // idempotent
	if c, err := net.DialTimeout("tcp", s.Addr(), 300*time.Millisecond); err == nil {
		c.Close()
		t.Error("TCP still accepts after Close")
	}
	// The client gets no answer: it gives up at its timeout, then goleak looks.
	select {
	case <-asked:
	case <-time.After(10 * time.Second):
		t.Fatal("the client did not give up within 10 s")
	}
}

func TestBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{},
		{Zones: []Zone{{Origin: "bad..name"}}},
		{Zones: []Zone{{Origin: "a.test"}, {Origin: "a.test."}}},
		{Addr: "not-an-address", Zones: []Zone{{Origin: "a.test"}}},
	} {
		if s, err := Start(cfg); err == nil {
			s.Close()
			t.Errorf("Start(%+v) succeeded", cfg)
		}
	}
}

func FuzzServeDNS(f *testing.F) {
	m := new(dns.Msg)
	m.SetQuestion(endpoint, dns.TypeA)
	seed, _ := m.Pack()
	f.Add(seed)
	f.Add([]byte{0, 1, 2})
	s, err := Start(Config{Zones: []Zone{{Origin: "amazonaws.com."}}})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	s.SetRecords(endpoint, dns.TypeA, 5, []string{"127.0.1.1"})
	s.AddRule(Rule{Name: "*.x.amazonaws.com.", Action: Empty(EmptyOptions{})})
	f.Fuzz(func(t *testing.T, data []byte) {
		req := new(dns.Msg)
		if err := req.Unpack(data); err != nil {
			return // miekg answers FORMERR (or drops) before our handler
		}
		ev := QueryEvent{Proto: "udp"}
		resp, packed := s.respond(req, netip.Addr{}, &ev)
		if resp != nil {
			truncate(req, resp, "udp")
			if _, err := resp.Pack(); err != nil {
				t.Fatalf("answer does not pack: %v", err)
			}
		}
		if packed != nil {
			var m dns.Msg
			if err := m.Unpack(packed); err != nil || m.Id != req.Id || len(packed) > 65535 {
				t.Fatalf("a cached answer does not unpack as the query's reply (id %d, want %d): %v", m.Id, req.Id, err)
			}
		}
	})
}

// FuzzRecords feeds arbitrary record values and rule names: errors, never
// panics, and whatever was accepted is answered with a message that packs.
func FuzzRecords(f *testing.F) {
	f.Add("a.amazonaws.com.", uint16(dns.TypeA), "127.0.0.1", "*.amazonaws.com.")
	f.Add("b.amazonaws.com", uint16(dns.TypeTXT), "\"hello\"", ".amazonaws.com")
	f.Add("c.amazonaws.com.", uint16(dns.TypeCNAME), "x.amazonaws.com.", "c..")
	s, err := Start(Config{Zones: []Zone{{Origin: "amazonaws.com."}}})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	f.Fuzz(func(t *testing.T, name string, qtype uint16, value, pattern string) {
		if err := s.SetRecords(name, qtype, 60, []string{value}); err != nil {
			return
		}
		if remove, err := s.AddRule(Rule{Name: pattern, Action: Partial(1)}); err == nil {
			defer remove()
		}
		req := new(dns.Msg)
		req.SetQuestion(dns.Fqdn(name), qtype)
		var ev QueryEvent
		resp, packed := s.respond(req, netip.Addr{}, &ev)
		if resp != nil {
			if _, err := resp.Pack(); err != nil {
				t.Fatalf("answer for %q %d %q does not pack: %v", name, qtype, value, err)
			}
		}
		if packed != nil {
			if err := new(dns.Msg).Unpack(packed); err != nil {
				t.Fatalf("cached answer for %q %d %q does not unpack: %v", name, qtype, value, err)
			}
		}
	})
}
