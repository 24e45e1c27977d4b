package faults_test

import (
	"errors"
	"math/rand"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/faultline-dev/faultline/faults"
	"github.com/faultline-dev/faultline/targets/dnsstub"
	"github.com/faultline-dev/faultline/targets/dnsstub/dnsstubtest"
	"github.com/faultline-dev/faultline/targets/links"
	"github.com/faultline-dev/faultline/targets/links/linkstest"
	"github.com/faultline-dev/faultline/targets/nlb"
)

const endpoint = "dynamodb.us-east-1.amazonaws.com."

// world is a real DNS server and real links, as the topology offers them.
type world struct {
	lb     *nlb.LB // nil: no load balancer
	dns    *dnsstub.Server
	links  []*links.Link
	health []*links.Link
}

func (w *world) DNS() faults.DNSRules { return w.dns }
func (w *world) RegionLinks(region string) ([]*links.Link, error) {
	if region != "us-east-1" {
		return nil, errors.New("no region " + region)
	}
	return w.links, nil
}
func (w *world) Rand() *rand.Rand                               { return rand.New(rand.NewSource(1)) }
func (w *world) Automation(string) (faults.DNSAutomation, bool) { return nil, false }
func (w *world) PropagationDelay(string) (func(time.Duration), error) {
	return nil, errors.New("no load balancer in this world")
}
func (w *world) NodeDown(string, int) (func() error, error) {
	return nil, errors.New("no load balancer in this world")
}
func (w *world) ResetConnections(region string) (int, error) {
	if w.lb == nil || region != "us-east-1" {
		return 0, errors.New("no load balancer in region " + region)
	}
	return w.lb.ResetConnections(), nil
}
func (w *world) RegionHealthLinks(region string) ([]*links.Link, error) {
	if region != "us-east-1" {
		return nil, errors.New("no region " + region)
	}
	return w.health, nil
}
func (w *world) PauseReplication(string, string, string) (func() error, error) {
	return nil, errors.New("no global table in this world")
}
func (w *world) LagReplication(string, string, time.Duration, time.Duration, string) (func() error, error) {
	return nil, errors.New("no global table in this world")
}
func (w *world) Endpoint(region string) (string, bool) {
	return "dynamodb." + region + ".amazonaws.com.", region == "us-east-1" || region == "us-west-2"
}

func newWorld(t *testing.T) *world {
	s := dnsstubtest.Start(t, dnsstub.Zone{Origin: "amazonaws.com."})
	s.SetRecords(endpoint, dns.TypeA, 5, []string{"127.0.1.1"})
	hub := links.NewHub()
	t.Cleanup(func() { hub.Close() })
	w := &world{dns: s}
	for _, name := range []string{"a", "b"} {
		echo := linkstest.Echo(t)
		l, err := hub.Add(name, echo)
		if err != nil {
			t.Fatal(err)
		}
		w.links = append(w.links, l)
		h, err := hub.Add("hc-"+name, echo)
		if err != nil {
			t.Fatal(err)
		}
		w.health = append(w.health, h)
	}
	return w
}

func apply(t *testing.T, w faults.World, kind string, target string, params map[string]string) func() error {
	t.Helper()
	k, ok := faults.Lookup(kind)
	if !ok {
		t.Fatalf("no kind %s", kind)
	}
	vals, err := faults.Validate(k, params)
	if err != nil {
		t.Fatal(err)
	}
	heal, err := vals.Apply(w, faults.Fault{ID: "f1", Kind: kind, Target: target})
	if err != nil {
		t.Fatal(err)
	}
	return heal
}

// answer asks s for the endpoint's A record; nil is no answer in 2 s (long
// enough for a busy machine: a dropped query is the only one it waits for).
func answer(t *testing.T, s *dnsstub.Server) *dns.Msg {
	t.Helper()
	r, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(new(dns.Msg).SetQuestion(endpoint, dns.TypeA), s.Addr())
	if err != nil {
		return nil
	}
	return r
}

func TestDNSKindsShapeAndHeal(t *testing.T) {
	w := newWorld(t)
	cases := []struct {
		kind   string
		params map[string]string
		check  func(*dns.Msg) bool
	}{
		{"dns.empty", nil, func(r *dns.Msg) bool {
			return r != nil && r.Rcode == dns.RcodeSuccess && len(r.Answer) == 0 && len(r.Ns) == 1 && r.Authoritative
		}},
		{"dns.empty", map[string]string{"soa": "false", "aa": "false"}, func(r *dns.Msg) bool { return r != nil && len(r.Ns) == 0 && !r.Authoritative }},
		{"dns.nxdomain", nil, func(r *dns.Msg) bool { return r != nil && r.Rcode == dns.RcodeNameError }},
		{"dns.servfail", nil, func(r *dns.Msg) bool { return r != nil && r.Rcode == dns.RcodeServerFailure }},
		{"dns.refused", nil, func(r *dns.Msg) bool { return r != nil && r.Rcode == dns.RcodeRefused }},
		{"dns.timeout", nil, func(r *dns.Msg) bool { return r == nil }},
		{"dns.delay", map[string]string{"delay": "20ms", "jitter": "5ms"}, func(r *dns.Msg) bool { return r != nil && len(r.Answer) == 1 }},
	}
	for _, c := range cases {
		heal := apply(t, w, c.kind, endpoint, c.params)
		if r := answer(t, w.dns); !c.check(r) {
			t.Errorf("%s %v: answer %v", c.kind, c.params, r)
		}
		if err := heal(); err != nil {
			t.Fatal(err)
		}
		if r := answer(t, w.dns); r == nil || len(r.Answer) != 1 {
			t.Errorf("after healing %s: %v", c.kind, r)
		}
	}
}

func TestMoreDNSKinds(t *testing.T) {
	w := newWorld(t)
	w.dns.SetRecords(endpoint, dns.TypeA, 5, []string{"127.0.1.1", "127.0.1.2"})
	w.dns.SetRecords("dynamodb.us-west-2.amazonaws.com.", dns.TypeA, 5, []string{"127.0.2.1"})
	ips := func(r *dns.Msg) string {
		if r == nil {
			return "no answer"
		}
		var out []string
		for _, rr := range r.Answer {
			out = append(out, rr.(*dns.A).A.String())
		}
		return strings.Join(out, ",")
	}
	cases := []struct {
		kind   string
		params map[string]string
		want   string
	}{
		{"dns.partial", map[string]string{"keep": "1"}, "127.0.1.1"},
		{"dns.stale", nil, "127.0.1.2"}, // the set before the last change (see below)
		{"dns.redirect", map[string]string{"to": "127.0.255.1"}, "127.0.255.1"},
		{"dns.redirect", map[string]string{"region": "us-west-2"}, "127.0.2.1"},
		{"dns.ttl", map[string]string{"ttl": "1"}, "127.0.1.1,127.0.1.2"},
		{"dns.truncate", nil, ""},
		{"dns.flap", map[string]string{"with": "dns.servfail", "period": "1h", "duty": "1"}, ""},
		{"dns.servfail", map[string]string{"qtype": "AAAA"}, "127.0.1.1,127.0.1.2"}, // A is not selected
		{"dns.servfail", map[string]string{"client": "127.0.0.99"}, "127.0.1.1,127.0.1.2"},
	}
	for _, c := range cases {
		heal := apply(t, w, c.kind, endpoint, c.params)
		r := answer(t, w.dns)
		if got := ips(r); got != c.want {
			t.Errorf("%s %v: answer %q, want %q", c.kind, c.params, got, c.want)
		}
		if c.kind == "dns.truncate" && (r == nil || !r.Truncated) {
			t.Errorf("dns.truncate: no TC")
		}
		if c.kind == "dns.flap" && (r == nil || r.Rcode != dns.RcodeServerFailure) {
			t.Errorf("dns.flap in its faulty phase: %v", r)
		}
		if c.kind == "dns.ttl" && r != nil && r.Answer[0].Header().Ttl != 1 {
			t.Errorf("dns.ttl: TTL %d", r.Answer[0].Header().Ttl)
		}
		heal()
		if c.kind == "dns.partial" {
			// Give dns.stale a history: the set changes to one address.
			w.dns.SetRecords(endpoint, dns.TypeA, 5, []string{"127.0.1.2"})
			w.dns.SetRecords(endpoint, dns.TypeA, 5, []string{"127.0.1.1", "127.0.1.2"})
			w.dns.SetRecords(endpoint, dns.TypeA, 5, []string{"127.0.1.1", "127.0.1.2"})
		}
	}
}

func TestKindParamsThatDoNotGoTogether(t *testing.T) {
	cases := []struct {
		kind   string
		params map[string]string
		want   string
	}{
		{"dns.redirect", nil, "exactly one of to (addresses) or region"},
		{"dns.redirect", map[string]string{"to": "127.0.0.1", "region": "us-west-2"}, "exactly one of"},
		{"dns.redirect", map[string]string{"to": "192.0.2.1"}, "not a loopback address"},
		{"dns.flap", map[string]string{"with": "link.down"}, "expected another DNS fault kind"},
		{"dns.flap", map[string]string{"with": "dns.delay"}, "cannot run on its defaults"},
		{"dns.empty", map[string]string{"client": "10.0.0.1/33"}, "expected an address like 127.0.0.11 or a prefix"},
		{"dns.empty", map[string]string{"qtype": "MX"}, "expected A, AAAA or any"},
		{"dns.empty", map[string]string{"probability": "2"}, "must be between 0 and 1"},
		{"dns.partial", map[string]string{"keep": "1.5"}, "whole number"},
		{"dns.truncate", map[string]string{"tcp": "maybe"}, "expected ok, servfail or drop"},
	}
	for _, c := range cases {
		k, _ := faults.Lookup(c.kind)
		if _, err := faults.Validate(k, c.params); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %v: %v, want %q", c.kind, c.params, err, c.want)
		}
	}
}

// A pod's address or CIDR is a selector the CoreDNS plugin applies; in
// faultline's own world, whose clients are on loopback, it selects none.
func TestDNSRuleOfAPodSelector(t *testing.T) {
	r, err := faults.DNSRule(faults.Fault{ID: "f1", Kind: "dns.empty", Target: "dynamodb.us-east-1.amazonaws.com.",
		Params: map[string]string{"client": "10.244.1.7", "qtype": "A"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Clients) != 1 || r.Clients[0].String() != "10.244.1.7/32" || r.Fault != "f1" || len(r.QTypes) != 1 {
		t.Errorf("rule %+v: want client 10.244.1.7/32, qtype A, fault f1", r)
	}
	var rs dnsstub.RuleSet
	remove, err := rs.AddRule(r)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := rs.Match("dynamodb.us-east-1.amazonaws.com.", dns.TypeA, netip.MustParseAddr("127.0.0.11")); ok {
		t.Error("a pod's selector matched a loopback client")
	}
	if _, ok := rs.Match("dynamodb.us-east-1.amazonaws.com.", dns.TypeA, netip.MustParseAddr("10.244.1.7")); !ok {
		t.Error("the pod's own query was not selected")
	}
	remove()
	if !rs.Empty() {
		t.Error("the set is not empty after the rule's removal")
	}
	for _, bad := range []faults.Fault{
		{ID: "f2", Kind: "link.down", Target: "us-east-1"},
		{ID: "f3", Kind: "dns.redirect", Target: "x.amazonaws.com.", Params: map[string]string{"region": "us-west-2"}},
		{ID: "f4", Kind: "dns.nope", Target: "x."},
	} {
		if _, err := faults.DNSRule(bad, nil); err == nil {
			t.Errorf("%s: no error; want a refusal", bad.Kind)
		}
	}
}

func TestLinkKinds(t *testing.T) {
	w := newWorld(t)
	// A link down keeps its listener (so the heal never binds its port
	// again): it says it is down, and nothing goes through it.
	heal := apply(t, w, "link.down", "us-east-1", nil)
	for _, l := range w.links {
		if !l.IsDown() || echoes(l.Addr()) {
			t.Errorf("%s while down: down %v, echoes %v; want down, nothing through", l.Name(), l.IsDown(), echoes(l.Addr()))
		}
	}
	for _, l := range w.health {
		if l.IsDown() {
			t.Errorf("%s: link.down took a health-check link down", l.Name())
		}
	}
	if err := heal(); err != nil {
		t.Fatal(err)
	}
	for _, l := range w.links {
		if l.IsDown() || !echoes(l.Addr()) {
			t.Errorf("%s after heal: down %v, echoes %v; want up, bytes through", l.Name(), l.IsDown(), echoes(l.Addr()))
		}
	}
	heal = apply(t, w, "link.latency", "us-east-1", map[string]string{"latency": "100ms"})
	c, _ := net.Dial("tcp", w.links[0].Addr())
	t0 := time.Now()
	c.Write([]byte("x"))
	c.Read(make([]byte, 1))
	c.Close()
	if time.Since(t0) < 100*time.Millisecond {
		t.Errorf("round trip under link.latency took %s", time.Since(t0))
	}
	if err := heal(); err != nil {
		t.Fatal(err)
	}
}

// A kind that fails half-way leaves nothing applied.
func TestLinkKindRollsBackOnFailure(t *testing.T) {
	w := newWorld(t)
	// The second link already has f1's toxic: adding it again fails.
	if err := w.links[1].AddToxic(links.Toxic{Name: links.OwnToxic("f1"), Type: "latency"}); err != nil {
		t.Fatal(err)
	}
	k, _ := faults.Lookup("link.latency")
	vals, _ := faults.Validate(k, map[string]string{"latency": "50ms"})
	if _, err := vals.Apply(w, faults.Fault{ID: "f1", Kind: "link.latency", Target: "us-east-1"}); err == nil {
		t.Fatal("applying over a conflicting toxic succeeded")
	}
	if err := w.links[0].RemoveToxic(links.OwnToxic("f1")); err == nil {
		t.Error("the first link kept the toxic after the apply failed")
	}
	if _, err := vals.Apply(w, faults.Fault{ID: "f2", Kind: "link.latency", Target: "eu-west-1"}); err == nil {
		t.Error("applying to an unknown region succeeded")
	}
}

func TestValidate(t *testing.T) {
	k, _ := faults.Lookup("dns.delay")
	vals, err := faults.Validate(k, map[string]string{"delay": "250ms"})
	if d, ok := vals.(faults.DNSDelay); err != nil || !ok || d.Delay != 250*time.Millisecond || d.Jitter != 0 || d.Probability != 1 {
		t.Errorf("dns.delay defaults: %v %v", vals, err)
	}
	cases := map[string]map[string]string{
		`parameter "delay": required`:             nil,
		`parameter "delay": expected a duration`:  {"delay": "soon"},
		`parameter "delay": must not be negative`: {"delay": "-1s"},
		`parameter "delay": must be between`:      {"delay": "2h"},
		`parameter "lag": unknown parameter`:      {"delay": "1s", "lag": "1s"},
	}
	for want, params := range cases {
		_, err := faults.Validate(k, params)
		var pe *faults.ParamError
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: %v, want %q", params, err, want)
		}
	}
	e, _ := faults.Lookup("dns.empty")
	if _, err := faults.Validate(e, map[string]string{"soa": "maybe"}); err == nil || !strings.Contains(err.Error(), "true or false") {
		t.Errorf("soa: maybe: %v", err)
	}
}

func TestCatalogue(t *testing.T) {
	want := "ddb.replication-lag ddb.replication-pause dns.delay dns.empty dns.flap dns.nxdomain dns.partial dns.plan-race dns.redirect dns.refused dns.servfail dns.stale dns.timeout dns.truncate dns.ttl hc.fail hc.flap hc.propagation-delay hc.reset hc.slow link.bandwidth link.down link.latency link.limit-data link.reset link.slicer link.slow-close link.timeout nlb.node-down nlb.reset-connections"
	if got := strings.Join(faults.Names(), " "); got != want {
		t.Errorf("kinds = %s", got)
	}
	for _, k := range faults.Kinds() {
		if k.Summary() == "" {
			t.Errorf("%s has no summary", k.Name())
		}
		if strings.HasPrefix(k.Name(), "dns.") != (k.Target() == faults.TargetDNSName) {
			t.Errorf("%s targets %s", k.Name(), k.Target())
		}
	}
}

// FuzzParams feeds arbitrary parameters to every kind: errors, never panics.
func FuzzParams(f *testing.F) {
	f.Add("dns.delay", "delay", "250ms")
	f.Add("dns.redirect", "to", "127.0.0.1,::1")
	f.Add("dns.flap", "with", "dns.flap")
	f.Add("dns.empty", "client", "127.0.0.0/8")
	f.Fuzz(func(t *testing.T, kind, param, value string) {
		k, ok := faults.Lookup(kind)
		if !ok {
			return
		}
		faults.Validate(k, map[string]string{param: value})
	})
}

// Every toxic kind applies to each link of its set and heals cleanly: the
// same fault can be applied again afterwards (no toxic left behind).
func TestToxicKindsApplyAndHeal(t *testing.T) {
	w := newWorld(t)
	cases := map[string]map[string]string{
		"link.latency":    {"latency": "10ms", "jitter": "5ms"},
		"link.bandwidth":  {"rate": "100"},
		"link.timeout":    {"timeout": "0s"},
		"link.reset":      {"timeout": "0s", "stream": "upstream"},
		"link.slow-close": {"delay": "10ms"},
		"link.slicer":     {"average_size": "16", "size_variation": "4", "delay": "10"},
		"link.limit-data": {"bytes": "1024", "toxicity": "0.5"},
		"hc.fail":         nil,
		"hc.reset":        nil,
		"hc.slow":         {"latency": "500ms"},
	}
	for kind, params := range cases {
		for round := 0; round < 2; round++ {
			heal := apply(t, w, kind, "us-east-1", params)
			if err := heal(); err != nil {
				t.Errorf("%s: heal: %v", kind, err)
			}
		}
	}
	// What a toxic does: link.timeout holds the data; hc.fail holds the
	// health links and leaves the data links alone.
	roundTrip := func(addr string) error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second)) // a held link never answers; a busy machine does, late
		c.Write([]byte("x"))
		_, err = c.Read(make([]byte, 1))
		return err
	}
	heal := apply(t, w, "hc.fail", "us-east-1", nil)
	if roundTrip(w.health[0].Addr()) == nil || roundTrip(w.links[0].Addr()) != nil {
		t.Error("hc.fail: want the health link held and the data link untouched")
	}
	heal()
	if err := roundTrip(w.health[0].Addr()); err != nil {
		t.Errorf("after healing hc.fail: %v", err)
	}
	k, _ := faults.Lookup("link.bandwidth")
	if _, err := faults.Validate(k, map[string]string{"rate": "fast"}); err == nil {
		t.Error("rate: fast accepted")
	}
	k, _ = faults.Lookup("link.reset")
	if _, err := faults.Validate(k, map[string]string{"stream": "sideways"}); err == nil {
		t.Error("stream: sideways accepted")
	}
}

func TestHealthCheckFlap(t *testing.T) {
	w := newWorld(t)
	heal := apply(t, w, "hc.flap", "us-east-1", map[string]string{"period": "400ms", "duty": "0.5"})
	// A check passes when the echo comes back within wait: short while
	// the flap goes (a phase is 200 ms), long once it is healed, so that a
	// busy machine does not read as a held link.
	passes := func(wait time.Duration) bool {
		c, err := net.DialTimeout("tcp", w.health[0].Addr(), time.Second)
		if err != nil {
			return false
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(wait))
		c.Write([]byte("x"))
		_, err = c.Read(make([]byte, 1))
		return err == nil
	}
	sawFail, sawPass := false, false
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && !(sawFail && sawPass) {
		if passes(60 * time.Millisecond) {
			sawPass = true
		} else {
			sawFail = true
		}
		time.Sleep(30 * time.Millisecond)
	}
	if !sawFail || !sawPass {
		t.Errorf("over 10 s of a 400 ms flap: failing seen %v, passing seen %v; want both", sawFail, sawPass)
	}
	if err := heal(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if !passes(2 * time.Second) {
			t.Fatal("health checks still fail after the flap was healed")
		}
	}
}

// Every kind says what shows that it touched a client, in words measure knows.
func TestEveryKindHasAReach(t *testing.T) {
	known := map[string]bool{faults.ReachDNS: true, faults.ReachDNSEmpty: true, faults.ReachRegion: true, faults.ReachHealth: true, faults.ReachNode: true}
	for _, k := range faults.Kinds() {
		if r := faults.ReachOf(k); !known[r] {
			t.Errorf("%s: reach %q is not one of the known reaches", k.Name(), r)
		}
	}
	if faults.ReachOf(mustKind(t, "hc.fail")) != faults.ReachHealth || faults.ReachOf(mustKind(t, "link.down")) != faults.ReachRegion ||
		faults.ReachOf(mustKind(t, "dns.plan-race")) != faults.ReachDNSEmpty || faults.ReachOf(mustKind(t, "nlb.node-down")) != faults.ReachNode {
		t.Error("a kind's reach is not its family's")
	}
}

func mustKind(t *testing.T, name string) faults.Kind {
	t.Helper()
	k, ok := faults.Lookup(name)
	if !ok {
		t.Fatalf("no kind %s", name)
	}
	return k
}

// echoes reports whether a byte sent to addr comes back (the links here
// lead to echo servers).
func echoes(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("e")); err != nil {
		return false
	}
	_, err = c.Read(make([]byte, 1))
	return err == nil
}
