package dnsstub

import (
	"context"
	"math/rand"
	"net"
	"net/netip"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func askFrom(t *testing.T, s *Server, src, proto, name string, qtype uint16) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: proto, Timeout: 5 * time.Second}
	if src != "" {
		if proto == "tcp" {
			c.Dialer = &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: time.Second}
		} else {
			c.Dialer = &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(src)}, Timeout: time.Second}
		}
	}
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	r, _, err := c.Exchange(m, s.Addr())
	if err != nil {
		t.Fatalf("%s %s: %v", proto, name, err)
	}
	return r
}

func addrs(r *dns.Msg) string {
	var out []string
	for _, rr := range r.Answer {
		switch rr := rr.(type) {
		case *dns.A:
			out = append(out, rr.A.String())
		case *dns.AAAA:
			out = append(out, rr.AAAA.String())
		}
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func TestTruncateSendsClientsToTCP(t *testing.T) {
	s, ev := start(t)
	remove := rule(t, s, Rule{Name: endpoint, Fault: "f1", Action: Truncate(TruncateOptions{TCP: "ok"})})
	r := ask(t, s, "udp", endpoint, dns.TypeA)
	if !r.Truncated || len(r.Answer) != 0 {
		t.Errorf("UDP: TC %v, %d answers; want TC and none", r.Truncated, len(r.Answer))
	}
	if r := ask(t, s, "tcp", endpoint, dns.TypeA); r.Truncated || len(r.Answer) != 2 {
		t.Errorf("TCP: %v", r)
	}
	// Go's resolver follows TC to TCP and resolves.
	res := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, s.Addr())
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if got, err := res.LookupHost(ctx, "dynamodb.us-east-1.amazonaws.com"); err != nil || len(got) != 2 {
		t.Errorf("Go over truncation: %v %v", got, err)
	}
	// The truncated UDP answers are the fault's; the TCP retries get the
	// normal answer, which the fault did not change.
	ev.mu.Lock()
	for _, e := range ev.all {
		if want := map[string]string{"udp": "f1", "tcp": ""}[e.Proto]; e.Fault != want {
			t.Errorf("%s answer %+v: fault %q, want %q", e.Proto, e, e.Fault, want)
		}
	}
	ev.mu.Unlock()
	remove()
	rule(t, s, Rule{Name: endpoint, Action: Truncate(TruncateOptions{TCP: "servfail"})})
	if r := ask(t, s, "tcp", endpoint, dns.TypeA); r.Rcode != dns.RcodeServerFailure {
		t.Errorf("TCP with servfail: %s", dns.RcodeToString[r.Rcode])
	}
}

func TestPartialStaleRedirectTTL(t *testing.T) {
	s, _ := start(t)
	check := func(what string, a Action, qtype uint16, want string, ttl int) {
		t.Helper()
		remove := rule(t, s, Rule{Name: endpoint, Action: a})
		defer remove()
		for _, proto := range []string{"udp", "tcp"} {
			r := ask(t, s, proto, endpoint, qtype)
			if got := addrs(r); got != want {
				t.Errorf("%s over %s: %q, want %q", what, proto, got, want)
			}
			if ttl >= 0 && len(r.Answer) > 0 && int(r.Answer[0].Header().Ttl) != ttl {
				t.Errorf("%s: TTL %d, want %d", what, r.Answer[0].Header().Ttl, ttl)
			}
		}
	}
	check("partial 1", Partial(1), dns.TypeA, "127.0.1.1", -1)
	check("stale without history", Stale(), dns.TypeA, "127.0.1.1,127.0.1.2", -1)
	s.SetRecords(endpoint, dns.TypeA, 5, []string{"127.0.1.3"})
	s.SetRecords(endpoint, dns.TypeA, 5, []string{"127.0.1.3"}) // republishing is not a change
	check("stale", Stale(), dns.TypeA, "127.0.1.1,127.0.1.2", -1)
	check("redirect", Redirect([]string{"127.0.9.1"}, []string{"::1"}, 7), dns.TypeA, "127.0.9.1", 7)
	check("redirect AAAA", Redirect([]string{"127.0.9.1"}, []string{"::1"}, 7), dns.TypeAAAA, "::1", 7)
	s.SetRecords("dynamodb.us-west-2.amazonaws.com.", dns.TypeA, 5, []string{"127.0.2.1", "127.0.2.2"})
	check("redirect to another region", RedirectTo("dynamodb.us-west-2.amazonaws.com."), dns.TypeA, "127.0.2.1,127.0.2.2", -1)
	check("ttl", TTL(1), dns.TypeA, "127.0.1.3", 1)
	if r := ask(t, s, "udp", endpoint, dns.TypeA); addrs(r) != "127.0.1.3" || r.Answer[0].Header().Ttl != 5 {
		t.Errorf("after the rules: %v", r)
	}
}

func TestFlapAlternatesAndReportsOnlyFaultyPhases(t *testing.T) {
	s, ev := start(t)
	// Faulty for the first 100 ms of every 200 ms, from now.
	began := time.Now()
	rule(t, s, Rule{Name: endpoint, Fault: "flap", Action: Flap(200*time.Millisecond, 0.5, began, ServFail())})
	faulty, normal := 0, 0
	// segment is which half-period the instant falls in: the server decides
	// somewhere between the query's send and its answer, so an answer is
	// checked only when both fall in one segment, however slow the machine.
	const half = 100 * time.Millisecond
	segment := func(at time.Duration) int64 { return int64(at / half) }
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) || faulty == 0 || normal == 0 {
		if time.Now().After(deadline.Add(10 * time.Second)) {
			break
		}
		sent := time.Since(began)
		r := ask(t, s, "udp", endpoint, dns.TypeA)
		got := time.Since(began)
		e := ev.last()
		if segment(sent) != segment(got) {
			continue // the answer straddles an edge: either is right
		}
		if segment(sent)%2 == 0 {
			faulty++
			if r.Rcode != dns.RcodeServerFailure || e.Fault != "flap" {
				t.Errorf("faulty phase: %s, fault %q", dns.RcodeToString[r.Rcode], e.Fault)
			}
		} else {
			normal++
			if r.Rcode != dns.RcodeSuccess || e.Fault != "" {
				t.Errorf("normal phase: %s, fault %q", dns.RcodeToString[r.Rcode], e.Fault)
			}
		}
		time.Sleep(15 * time.Millisecond)
	}
	if faulty == 0 || normal == 0 {
		t.Errorf("saw %d faulty and %d normal answers, want both", faulty, normal)
	}
}

func TestSelectors(t *testing.T) {
	s, _ := start(t)
	// Query type: only AAAA is shaped.
	remove := rule(t, s, Rule{Name: endpoint, QTypes: []uint16{dns.TypeAAAA}, Action: ServFail()})
	if r := ask(t, s, "udp", endpoint, dns.TypeA); r.Rcode != dns.RcodeSuccess {
		t.Errorf("A under an AAAA rule: %s", dns.RcodeToString[r.Rcode])
	}
	if r := ask(t, s, "udp", endpoint, dns.TypeAAAA); r.Rcode != dns.RcodeServerFailure {
		t.Errorf("AAAA under an AAAA rule: %s", dns.RcodeToString[r.Rcode])
	}
	remove()
	// Client address: only 127.0.0.99 is shaped.
	remove = rule(t, s, Rule{Name: endpoint, Clients: []netip.Prefix{netip.MustParsePrefix("127.0.0.99/32")}, Action: NXDomain()})
	for _, proto := range []string{"udp", "tcp"} {
		if r := askFrom(t, s, "127.0.0.98", proto, endpoint, dns.TypeA); r.Rcode != dns.RcodeSuccess {
			t.Errorf("%s from another client: %s", proto, dns.RcodeToString[r.Rcode])
		}
		if r := askFrom(t, s, "127.0.0.99", proto, endpoint, dns.TypeA); r.Rcode != dns.RcodeNameError {
			t.Errorf("%s from the selected client: %s", proto, dns.RcodeToString[r.Rcode])
		}
	}
	remove()
	// Probability: a seeded share of queries, the same share every run.
	shaped := func() int {
		rm := rule(t, s, Rule{Name: endpoint, Probability: 0.3, Rand: rand.New(rand.NewSource(42)), Action: ServFail()})
		defer rm()
		n := 0
		for i := 0; i < 200; i++ {
			if ask(t, s, "udp", endpoint, dns.TypeA).Rcode == dns.RcodeServerFailure {
				n++
			}
		}
		return n
	}
	first, second := shaped(), shaped()
	if first != second || first < 40 || first > 80 {
		t.Errorf("probability 0.3 shaped %d then %d of 200; want the same share, about 60, both times", first, second)
	}
}

func TestPatterns(t *testing.T) {
	cases := []struct {
		pattern, name string
		match         bool
	}{
		{"dynamodb.us-east-1.amazonaws.com", "dynamodb.us-east-1.amazonaws.com.", true},
		{"DynamoDB.us-east-1.amazonaws.com.", "dynamodb.us-east-1.amazonaws.com.", true},
		{"dynamodb.us-east-1.amazonaws.com", "x.dynamodb.us-east-1.amazonaws.com.", false},
		{"dynamodb.*.amazonaws.com", "dynamodb.us-west-2.amazonaws.com.", true},
		{"dynamodb.*.amazonaws.com", "dynamodb.a.b.amazonaws.com.", false},
		{"*.amazonaws.com", "s3.amazonaws.com.", true},
		{"*.amazonaws.com", "dynamodb.us-east-1.amazonaws.com.", false},
		{".amazonaws.com", "dynamodb.us-east-1.amazonaws.com.", true},
		{".amazonaws.com", "amazonaws.com.", true},
		{".amazonaws.com", "notamazonaws.com.", false},
	}
	for _, c := range cases {
		p, err := compilePattern(c.pattern)
		if err != nil {
			t.Fatalf("%s: %v", c.pattern, err)
		}
		if got := p.matches(c.name); got != c.match {
			t.Errorf("%s matches %s = %v, want %v", c.pattern, c.name, got, c.match)
		}
	}
	for _, bad := range []string{"", "a..b", "dyna*.amazonaws.com"} {
		if _, err := compilePattern(bad); err == nil {
			t.Errorf("pattern %q accepted", bad)
		}
	}
	s, _ := start(t)
	if _, err := s.AddRule(Rule{Name: endpoint, Probability: 2, Action: ServFail()}); err == nil {
		t.Error("probability 2 accepted")
	}
}

// Only answers a rule changed carry its fault, in the observed event and
// in the EDNS0 marker: the endpoint has A records and no AAAA, so AAAA is
// the same NODATA under every rule that reshapes A records, and a rule that
// happens to change nothing (a TTL equal to the record's, a partial answer
// keeping every record, a delay of 0) shapes nothing. A delayed answer is
// the normal one, but held back: it counts.
func TestOnlyChangedAnswersCarryTheFault(t *testing.T) {
	s, ev := start(t)
	s.SetRecords("dynamodb.us-west-2.amazonaws.com.", dns.TypeA, 5, []string{"127.0.2.1"})
	type want struct{ a, aaaa bool } // whether A and AAAA answers are marked
	cases := []struct {
		name   string
		action func() Action
		want   want
	}{
		{"dns.ttl", func() Action { return TTL(1) }, want{true, false}},
		{"dns.ttl equal to the record's", func() Action { return TTL(5) }, want{false, false}},
		{"dns.partial", func() Action { return Partial(1) }, want{true, false}},
		{"dns.partial keeping all", func() Action { return Partial(2) }, want{false, false}},
		{"dns.redirect", func() Action { return Redirect([]string{"127.0.9.1"}, nil, 5) }, want{true, false}},
		{"dns.redirect to IPv6 only", func() Action { return Redirect(nil, []string{"::1"}, 5) }, want{true, true}},
		{"dns.redirect to a region", func() Action { return RedirectTo("dynamodb.us-west-2.amazonaws.com.") }, want{true, false}},
		{"dns.stale without history", func() Action { return Stale() }, want{false, false}},
		{"dns.delay", func() Action { return Delay(20*time.Millisecond, 0, nil) }, want{true, true}},
		{"dns.delay of 0", func() Action { return Delay(0, 0, nil) }, want{false, false}},
	}
	check := func(name string, a Action, w want) {
		t.Helper()
		remove := rule(t, s, Rule{Name: endpoint, Fault: "f1", Action: a})
		defer remove()
		for _, proto := range []string{"udp", "tcp"} {
			for qtype, marked := range map[uint16]bool{dns.TypeA: w.a, dns.TypeAAAA: w.aaaa} {
				r := askEDNS(t, s, proto, endpoint, qtype)
				e := ev.last()
				if (e.Fault == "f1") != marked || hasMarker(r) != marked {
					t.Errorf("%s, %s over %s: event fault %q, marker in the answer %v; want marked %v",
						name, dns.TypeToString[qtype], proto, e.Fault, hasMarker(r), marked)
				}
			}
		}
	}
	for _, c := range cases {
		check(c.name, c.action(), c.want)
	}
	// With history, stale serves the previous A set: changed; AAAA never
	// had one, so it is the current NODATA.
	s.SetRecords(endpoint, dns.TypeA, 5, []string{"127.0.1.3"})
	check("dns.stale", Stale(), want{true, false})
}

func askEDNS(t *testing.T, s *Server, proto, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.SetEdns0(1232, false)
	r, _, err := (&dns.Client{Net: proto, Timeout: 5 * time.Second}).Exchange(m, s.Addr())
	if err != nil {
		t.Fatalf("%s %s %s: %v", proto, name, dns.TypeToString[qtype], err)
	}
	return r
}

func hasMarker(m *dns.Msg) bool {
	if opt := m.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if l, ok := o.(*dns.EDNS0_LOCAL); ok && l.Code == FaultOption {
				return true
			}
		}
	}
	return false
}
