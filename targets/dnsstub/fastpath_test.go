package dnsstub

import (
	"encoding/binary"
	"fmt"
	"math/rand"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// queryShapes are queries of the shapes clients send, each with whether the
// fast path may read it (the answer cache could hold its reply).
func queryShapes() []struct {
	name string
	msg  *dns.Msg
	fast bool
} {
	q := func(name string, qtype uint16, edit func(*dns.Msg)) *dns.Msg {
		m := new(dns.Msg).SetQuestion(name, qtype)
		m.Id = 4242
		if edit != nil {
			edit(m)
		}
		return m
	}
	return []struct {
		name string
		msg  *dns.Msg
		fast bool
	}{
		{"plain", q(endpoint, dns.TypeA, nil), true},
		{"mixed case", q("DynamoDB.US-East-1.AmazonAWS.com.", dns.TypeA, nil), true},
		{"underscore and star", q("_srv.*.amazonaws.com.", dns.TypeSRV, nil), true},
		{"no RD, CD and AD", q(endpoint, dns.TypeAAAA, func(m *dns.Msg) {
			m.RecursionDesired, m.CheckingDisabled, m.AuthenticatedData = false, true, true
		}), true},
		{"EDNS 1232", q(endpoint, dns.TypeA, func(m *dns.Msg) { m.SetEdns0(1232, false) }), true},
		{"EDNS 4096 DO", q(endpoint, dns.TypeA, func(m *dns.Msg) { m.SetEdns0(4096, true) }), true},
		{"EDNS below 512", q(endpoint, dns.TypeA, func(m *dns.Msg) { m.SetEdns0(100, false) }), true},
		{"class CH", q(endpoint, dns.TypeTXT, func(m *dns.Msg) { m.Question[0].Qclass = dns.ClassCHAOS }), true},
		{"escaped byte in the name", q(`a\.b.amazonaws.com.`, dns.TypeA, nil), false},
		{"space in the name", q(`a\032b.amazonaws.com.`, dns.TypeA, nil), false},
		{"root", q(".", dns.TypeNS, nil), false},
		{"EDNS cookie", q(endpoint, dns.TypeA, func(m *dns.Msg) {
			m.SetEdns0(1232, false)
			m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"})
		}), false},
		{"EDNS version 1", q(endpoint, dns.TypeA, func(m *dns.Msg) { m.SetEdns0(1232, false); m.IsEdns0().SetVersion(1) }), false},
		{"two questions", q(endpoint, dns.TypeA, func(m *dns.Msg) { m.Question = append(m.Question, m.Question[0]) }), false},
		{"a response", q(endpoint, dns.TypeA, func(m *dns.Msg) { m.Response = true }), false},
		{"NOTIFY", q(endpoint, dns.TypeSOA, func(m *dns.Msg) { m.Opcode = dns.OpcodeNotify }), false},
		{"TC set", q(endpoint, dns.TypeA, func(m *dns.Msg) { m.Truncated = true }), false},
		{"an answer record", q(endpoint, dns.TypeA, func(m *dns.Msg) {
			rr, _ := dns.NewRR(endpoint + " 5 IN A 127.0.0.1")
			m.Answer = append(m.Answer, rr)
		}), false},
	}
}

// The fast path reads exactly the queries the cache could answer, and reads
// them as miekg does: the same key, the same ID.
func TestParseQueryTakesWhatTheCacheHolds(t *testing.T) {
	for _, sh := range queryShapes() {
		t.Run(sh.name, func(t *testing.T) {
			wire, err := sh.msg.Pack()
			if err != nil {
				t.Fatal(err)
			}
			q, ok := parseQuery(wire)
			if ok != sh.fast {
				t.Fatalf("parseQuery ok = %t, want %t", ok, sh.fast)
			}
			if !ok {
				return
			}
			agreesWithMiekg(t, wire, q)
		})
	}
	// Bytes miekg would not unpack, or unpack as something else.
	wire, _ := new(dns.Msg).SetQuestion(endpoint, dns.TypeA).Pack()
	compressed := append(wire[:12:12], 0xc0, 0x0c, 0, 1, 0, 1)
	for name, pkt := range map[string][]byte{
		"empty":            {},
		"header only":      wire[:12],
		"no type":          wire[:len(wire)-4],
		"trailing byte":    append(slices.Clone(wire), 0),
		"pointer for name": compressed,
	} {
		if _, ok := parseQuery(pkt); ok {
			t.Errorf("%s: parseQuery took it", name)
		}
	}
}

// agreesWithMiekg fails t unless miekg's server accepts wire and unpacks it
// into a message whose cache key and ID are q's.
func agreesWithMiekg(t *testing.T, wire []byte, q wireQuery) {
	t.Helper()
	var dh dns.Header
	dh.Id = binary.BigEndian.Uint16(wire)
	dh.Bits = binary.BigEndian.Uint16(wire[2:])
	dh.Qdcount, dh.Ancount = binary.BigEndian.Uint16(wire[4:]), binary.BigEndian.Uint16(wire[6:])
	dh.Nscount, dh.Arcount = binary.BigEndian.Uint16(wire[8:]), binary.BigEndian.Uint16(wire[10:])
	if action := dns.DefaultMsgAcceptFunc(dh); action != dns.MsgAccept {
		t.Fatalf("the fast path took a query miekg's server would not accept (%v)", action)
	}
	m := new(dns.Msg)
	if err := m.Unpack(wire); err != nil {
		t.Fatalf("the fast path took a query miekg does not unpack: %v", err)
	}
	k, ok := keyOf(m, "udp")
	if !ok {
		t.Fatalf("the fast path took a query the cache does not hold: %s", m)
	}
	if k != q.key || m.Id != q.id {
		t.Fatalf("fast path read id %d %+v, miekg id %d %+v", q.id, q.key, m.Id, k)
	}
}

// FuzzParseQueryAgreesWithMiekg: whatever bytes arrive, a query the fast
// path takes is one miekg's server accepts and unpacks to the same key.
func FuzzParseQueryAgreesWithMiekg(f *testing.F) {
	for _, sh := range queryShapes() {
		if wire, err := sh.msg.Pack(); err == nil {
			f.Add(wire)
		}
	}
	f.Fuzz(func(t *testing.T, pkt []byte) {
		if q, ok := parseQuery(pkt); ok {
			agreesWithMiekg(t, pkt, q)
		}
	})
}

// Every action whose answers are fixed answers from its rule's cache what
// it answers without one, for every shape of query and both transports;
// the observer sees the same for every repetition (fault, rcode, answers);
// a change of the records is in the next answer.
func TestRuleAnswersPackedOnceAreTheRulesAnswers(t *testing.T) {
	ev := &events{}
	s, err := Start(Config{Addr: "127.0.0.1:0", Observer: ev.add,
		Zones: []Zone{{Origin: "amazonaws.com", SOA: SOA{TTL: 60, Minimum: 30}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	west := "dynamodb.us-west-2.amazonaws.com."
	s.SetRecords(endpoint, dns.TypeA, 5, []string{"127.0.1.1", "127.0.1.2"})
	s.SetRecords(endpoint, dns.TypeA, 5, []string{"127.0.1.3", "127.0.1.4", "127.0.1.5"}) // a history for Stale
	s.SetRecords(west, dns.TypeA, 5, []string{"127.0.2.1"})
	var many []string
	for i := 1; i <= 60; i++ {
		many = append(many, fmt.Sprintf("127.0.9.%d", i))
	}
	s.SetRecords("big.amazonaws.com.", dns.TypeA, 5, many)
	actions := map[string]Action{
		"empty": Empty(EmptyOptions{}), "empty-nosoa-noaa": Empty(EmptyOptions{NoSOA: true, NoAA: true}),
		"nxdomain": NXDomain(), "servfail": ServFail(), "refused": Refused(),
		"truncate-ok": Truncate(TruncateOptions{TCP: "ok"}), "truncate-servfail": Truncate(TruncateOptions{TCP: "servfail"}),
		"partial": Partial(1), "stale": Stale(), "redirect": Redirect([]string{"127.0.0.9"}, nil, 7),
		"redirect-to": RedirectTo(west), "ttl": TTL(1),
	}
	type shape struct {
		name  string
		qtype uint16
		proto string
		edns  uint16
		do    bool
	}
	shapes := []shape{
		{endpoint, dns.TypeA, "udp", 0, false},
		{"DynamoDB.us-east-1.AMAZONAWS.com.", dns.TypeA, "udp", 1232, true},
		{endpoint, dns.TypeAAAA, "udp", 1232, false},
		{endpoint, dns.TypeA, "tcp", 0, false},
		{"big.amazonaws.com.", dns.TypeA, "udp", 0, false},
		{"big.amazonaws.com.", dns.TypeA, "udp", 4096, false},
	}
	for an, action := range actions {
		for _, sh := range shapes {
			t.Run(fmt.Sprintf("%s/%s/%s/%s/edns%d", an, sh.name, dns.TypeToString[sh.qtype], sh.proto, sh.edns), func(t *testing.T) {
				rm, err := s.AddRule(Rule{Name: dns.CanonicalName(sh.name), Fault: "f-" + an, Action: action})
				if err != nil {
					t.Fatal(err)
				}
				defer rm()
				req := func() *dns.Msg {
					m := new(dns.Msg).SetQuestion(sh.name, sh.qtype)
					if sh.edns > 0 {
						m.SetEdns0(sh.edns, sh.do)
					}
					return m
				}
				// What the rule answers without a cache.
				var wantEv QueryEvent
				wantEv.Proto = sh.proto
				want := s.shape(s.rules.matchActive(dns.CanonicalName(sh.name), sh.qtype, netipLoopback).rule, req(), dns.CanonicalName(sh.name), &wantEv)
				finish(req(), want, sh.proto, wantEv.Fault)
				c := &dns.Client{Net: sh.proto, UDPSize: max(sh.edns, dns.MinMsgSize), Timeout: 5 * time.Second}
				var seen []QueryEvent
				for i := 0; i < 3; i++ { // the first packs it, the others replay it
					m := req()
					got, _, err := c.Exchange(m, s.Addr())
					if err != nil {
						t.Fatalf("query %d: %v", i, err)
					}
					want.Id = got.Id
					if got.Id != m.Id || got.String() != want.String() {
						t.Fatalf("query %d: the rule's answer from its cache differs:\ngot  %s\nwant %s", i, got, want)
					}
					seen = append(seen, ev.last())
				}
				for i, e := range seen {
					if e.Fault != wantEv.Fault || e.Rcode != rcodeName(want.Rcode) || e.Answers != len(want.Answer) || e.Proto != sh.proto {
						t.Fatalf("event %d: %+v, want fault %q rcode %s answers %d", i, e, wantEv.Fault, rcodeName(want.Rcode), len(want.Answer))
					}
				}
			})
		}
	}
	// A record change is in the next answer of a rule that reads records.
	rm, _ := s.AddRule(Rule{Name: endpoint, Fault: "to-west", Action: RedirectTo(west)})
	defer rm()
	for i := 0; i < 2; i++ {
		ask(t, s, "udp", endpoint, dns.TypeA)
	}
	s.SetRecords(west, dns.TypeA, 5, []string{"127.0.2.7"})
	if r := ask(t, s, "udp", endpoint, dns.TypeA); len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "127.0.2.7" {
		t.Fatalf("after the change of the other region's records: %v", r.Answer)
	}
}

var netipLoopback = netip.MustParseAddr("127.0.0.1")

// While a delay holds one name's answers, the others are answered at
// once: the socket's reader never waits on a rule.
func TestFastPathDoesNotWaitOnADelay(t *testing.T) {
	s, _ := start(t)
	const hold = 1500 * time.Millisecond
	rule(t, s, Rule{Name: endpoint, Fault: "slow", Action: Delay(hold, 0, nil)})
	delayed := make(chan time.Duration, 1)
	go func() {
		c := &dns.Client{Timeout: 10 * time.Second}
		_, rtt, err := c.Exchange(new(dns.Msg).SetQuestion(endpoint, dns.TypeA), s.Addr())
		if err != nil {
			rtt = -1
		}
		delayed <- rtt
	}()
	time.Sleep(50 * time.Millisecond) // the delayed query is in
	answered := 0
	for i := 0; i < 20; i++ {
		ask(t, s, "udp", "a.b.deep.amazonaws.com.", dns.TypeA)
		answered++
		select {
		case rtt := <-delayed:
			t.Fatalf("the delayed answer came after %v, before %d other answers", rtt, answered)
		default:
		}
	}
	if rtt := <-delayed; rtt < hold {
		t.Fatalf("the delayed answer came after %v, want at least %v", rtt, hold)
	}
}

// A rule of chance is drawn once per query, whichever path answers: the
// shaped answers follow the rule's own seeded draws exactly.
func TestRuleOfChanceIsDrawnOncePerQuery(t *testing.T) {
	s, _ := start(t)
	rule(t, s, Rule{Name: endpoint, Fault: "half", Probability: 0.5, Rand: rand.New(rand.NewSource(7)), Action: ServFail()})
	draws := rand.New(rand.NewSource(7))
	for i := 0; i < 60; i++ {
		want := dns.RcodeSuccess
		if draws.Float64() < 0.5 {
			want = dns.RcodeServerFailure
		}
		if r := ask(t, s, "udp", endpoint, dns.TypeA); r.Rcode != want {
			t.Fatalf("query %d: %s, want %s (the rule's own draw)", i, dns.RcodeToString[r.Rcode], dns.RcodeToString[want])
		}
	}
}

// A removed rule's packed answers are dropped with it, even while its
// caller still holds the remove function.
func TestRemovedRuleDropsItsAnswers(t *testing.T) {
	s, _ := start(t)
	remove, err := s.AddRule(Rule{Name: endpoint, Fault: "f1", Action: ServFail()})
	if err != nil {
		t.Fatal(err)
	}
	ar := s.rules.matchActive(endpoint, dns.TypeA, netipLoopback)
	for i := 0; i < 2; i++ {
		if r := ask(t, s, "udp", endpoint, dns.TypeA); r.Rcode != dns.RcodeServerFailure {
			t.Fatalf("under the rule: %s", dns.RcodeToString[r.Rcode])
		}
	}
	entries := func() int {
		ar.answers.mu.RLock()
		defer ar.answers.mu.RUnlock()
		return len(ar.answers.entries)
	}
	if entries() == 0 {
		t.Fatal("the rule packed no answer")
	}
	remove()
	if n := entries(); n != 0 {
		t.Fatalf("%d packed answers kept after the rule went", n)
	}
	if r := ask(t, s, "udp", endpoint, dns.TypeA); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 2 {
		t.Fatalf("after the rule went: %s with %d answers", dns.RcodeToString[r.Rcode], len(r.Answer))
	}
}
