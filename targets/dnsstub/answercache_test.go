package dnsstub

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// uncached is the answer as the server built it before the cache: the
// zone's reply, truncated for the transport, packed.
func uncached(t *testing.T, s *Server, req *dns.Msg, proto string) *dns.Msg {
	t.Helper()
	resp := s.store.answer(req, false)
	truncate(req, resp, proto)
	wire, err := resp.Pack()
	if err != nil {
		t.Fatal(err)
	}
	m := new(dns.Msg)
	if err := m.Unpack(wire); err != nil {
		t.Fatal(err)
	}
	return m
}

// A reply from the cache is the reply the server packed before, for every
// shape of query: answers, NODATA, NXDOMAIN, truncation by the client's
// buffer (none, EDNS 1232, EDNS 4096 with DO), TCP, the question's case, RD
// and CD; only the ID is the query's own.
func TestCachedAnswersAreTheZonesAnswers(t *testing.T) {
	s, err := Start(Config{Addr: "127.0.0.1:0", Zones: []Zone{{Origin: "amazonaws.com."}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SetRecords("dynamodb.us-east-1.amazonaws.com.", dns.TypeA, 5, []string{"127.0.1.1", "127.0.1.2"})
	var many []string
	for i := 1; i <= 60; i++ {
		many = append(many, fmt.Sprintf("127.0.9.%d", i))
	}
	s.SetRecords("big.amazonaws.com.", dns.TypeA, 5, many)

	type shape struct {
		name   string
		qtype  uint16
		proto  string
		edns   uint16 // 0: no OPT
		do, cd bool
		noRD   bool
	}
	shapes := []shape{
		{name: "dynamodb.us-east-1.amazonaws.com.", qtype: dns.TypeA, proto: "udp"},
		{name: "DynamoDB.US-East-1.amazonaws.COM.", qtype: dns.TypeA, proto: "udp"},
		{name: "dynamodb.us-east-1.amazonaws.com.", qtype: dns.TypeAAAA, proto: "udp", edns: 1232},
		{name: "missing.amazonaws.com.", qtype: dns.TypeA, proto: "udp", edns: 1232, do: true},
		{name: "amazonaws.com.", qtype: dns.TypeSOA, proto: "tcp"},
		{name: "big.amazonaws.com.", qtype: dns.TypeA, proto: "udp"},
		{name: "big.amazonaws.com.", qtype: dns.TypeA, proto: "udp", edns: 4096, do: true},
		{name: "big.amazonaws.com.", qtype: dns.TypeA, proto: "tcp"},
		{name: "dynamodb.us-east-1.amazonaws.com.", qtype: dns.TypeA, proto: "udp", cd: true, noRD: true},
		{name: "example.org.", qtype: dns.TypeA, proto: "udp"}, // REFUSED: outside the zones
	}
	for _, sh := range shapes {
		t.Run(fmt.Sprintf("%s/%s/%s/edns%d/do%t", sh.name, dns.TypeToString[sh.qtype], sh.proto, sh.edns, sh.do), func(t *testing.T) {
			c := &dns.Client{Net: sh.proto, UDPSize: max(sh.edns, dns.MinMsgSize)}
			for i := 0; i < 3; i++ { // the first fills the cache; the others come from it
				req := new(dns.Msg).SetQuestion(sh.name, sh.qtype)
				req.RecursionDesired = !sh.noRD
				req.CheckingDisabled = sh.cd
				if sh.edns > 0 {
					req.SetEdns0(sh.edns, sh.do)
				}
				got, _, err := c.Exchange(req, s.Addr())
				if err != nil {
					t.Fatalf("query %d: %v", i, err)
				}
				want := uncached(t, s, req, sh.proto)
				if got.Id != req.Id {
					t.Fatalf("query %d: id %d, want the query's %d", i, got.Id, req.Id)
				}
				want.Id = got.Id
				if got.String() != want.String() {
					t.Fatalf("query %d: reply differs from the zone's own:\ngot  %s\nwant %s", i, got, want)
				}
			}
		})
	}
	s.answers.mu.RLock()
	n := len(s.answers.entries)
	s.answers.mu.RUnlock()
	if n == 0 {
		t.Fatal("no answer was cached")
	}
}

// A change of records is in the very next answer; a rule acts on the next
// query, and when it goes the cached answer is the zone's again.
func TestCachedAnswersFollowChangesAndRules(t *testing.T) {
	s, err := Start(Config{Addr: "127.0.0.1:0", Zones: []Zone{{Origin: "amazonaws.com."}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	name := "dynamodb.us-east-1.amazonaws.com."
	ask := func() *dns.Msg {
		t.Helper()
		r, _, err := new(dns.Client).Exchange(new(dns.Msg).SetQuestion(name, dns.TypeA), s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	addrs := func(r *dns.Msg) []string {
		var out []string
		for _, rr := range r.Answer {
			out = append(out, rr.(*dns.A).A.String())
		}
		slices.Sort(out)
		return out
	}
	s.SetRecords(name, dns.TypeA, 5, []string{"127.0.1.1"})
	ask()
	if got := addrs(ask()); !slices.Equal(got, []string{"127.0.1.1"}) {
		t.Fatalf("cached answer %v", got)
	}
	s.SetRecords(name, dns.TypeA, 5, []string{"127.0.1.2", "127.0.1.3"})
	if got := addrs(ask()); !slices.Equal(got, []string{"127.0.1.2", "127.0.1.3"}) {
		t.Fatalf("after the change: %v, want the new set", got)
	}
	remove, err := s.AddRule(Rule{Name: name, Fault: "f1", Action: Empty(EmptyOptions{})})
	if err != nil {
		t.Fatal(err)
	}
	if r := ask(); len(r.Answer) != 0 || r.Rcode != dns.RcodeSuccess {
		t.Fatalf("under dns.empty's rule: %s", r)
	}
	remove()
	if got := addrs(ask()); !slices.Equal(got, []string{"127.0.1.2", "127.0.1.3"}) {
		t.Fatalf("after the rule went: %v", got)
	}
	s.DeleteRecords(name, dns.TypeA)
	if r := ask(); r.Rcode != dns.RcodeNameError {
		t.Fatalf("after the records went: %s, want NXDOMAIN", dns.RcodeToString[r.Rcode])
	}
}

// While record sets change under load, every answer is one of the sets the
// name had, whole, and once the changes stop every answer is the last set.
func TestCachedAnswersUnderConcurrentChanges(t *testing.T) {
	s, err := Start(Config{Addr: "127.0.0.1:0", Zones: []Zone{{Origin: "amazonaws.com."}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	name := "dynamodb.us-east-1.amazonaws.com."
	sets := [][]string{{"127.0.1.1", "127.0.1.2"}, {"127.0.2.1"}, {"127.0.3.1", "127.0.3.2", "127.0.3.3"}}
	s.SetRecords(name, dns.TypeA, 5, sets[0])
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 4)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				var ev QueryEvent
				ev.Proto = "udp"
				req := new(dns.Msg).SetQuestion(name, dns.TypeA)
				_, packed := s.respond(req, netip.MustParseAddr("127.0.0.1"), &ev)
				m := new(dns.Msg)
				if err := m.Unpack(packed); err != nil {
					errs <- err
					return
				}
				var got []string
				for _, rr := range m.Answer {
					got = append(got, rr.(*dns.A).A.String())
				}
				slices.Sort(got)
				if !slices.ContainsFunc(sets, func(set []string) bool { return slices.Equal(set, got) }) {
					errs <- fmt.Errorf("answer %v is none of the sets", got)
					return
				}
			}
		}()
	}
	for i := 0; i < 300; i++ {
		s.SetRecords(name, dns.TypeA, 5, sets[i%len(sets)])
	}
	last := sets[299%len(sets)]
	close(stop)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	var ev QueryEvent
	_, packed := s.respond(new(dns.Msg).SetQuestion(name, dns.TypeA), netip.Addr{}, &ev)
	m := new(dns.Msg)
	m.Unpack(packed)
	if len(m.Answer) != len(last) {
		t.Fatalf("after the changes: %d records, want the last set's %d", len(m.Answer), len(last))
	}
}
