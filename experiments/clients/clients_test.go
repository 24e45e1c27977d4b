package clients

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/miekg/dns"
	"go.uber.org/goleak"

	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/targets/dnsstub"
	"github.com/faultline-dev/faultline/targets/dnsstub/dnsstubtest"
	ddb "github.com/faultline-dev/faultline/targets/dynamodb"
	"github.com/faultline-dev/faultline/targets/dynamodb/dynamodbtest"
	"github.com/faultline-dev/faultline/targets/dynamodb/embedded"
	"github.com/faultline-dev/faultline/targets/nlb"
	"github.com/faultline-dev/faultline/targets/nlb/nlbtest"
)

const east = "dynamodb.us-east-1.amazonaws.com."

// world is the smallest real world for a client: a DNS server authoritative
// for two regions' endpoints, each name pointing at 127.0.0.1, where its
// region's embedded backend listens.
type world struct {
	dns       *dnsstub.Server
	backends  map[string]string // region → backend ip:port
	endpoints map[string]string
	queries   *queryLog
}

type queryLog struct {
	mu sync.Mutex
	qs []dnsstub.QueryEvent
}

func (l *queryLog) add(q dnsstub.QueryEvent) { l.mu.Lock(); l.qs = append(l.qs, q); l.mu.Unlock() }

// from counts the queries sent from ip that fault shaped ("" for none).
func (l *queryLog) from(ip, fault string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, q := range l.qs {
		if strings.HasPrefix(q.Client, ip+":") && q.Fault == fault {
			n++
		}
	}
	return n
}

func newWorld(t *testing.T) *world {
	w := &world{backends: map[string]string{}, endpoints: map[string]string{}, queries: &queryLog{}}
	w.dns = dnsstubtest.StartConfig(t, dnsstub.Config{Zones: []dnsstub.Zone{{Origin: "amazonaws.com."}}, Observer: w.queries.add})
	for _, region := range []string{"us-east-1", "us-west-2"} {
		srv := dynamodbtest.Start(t, embedded.WithRegion(region))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := ddb.Seed(ctx, dynamodbtest.Client(t, srv.Endpoint()), "orders", 10)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if err := w.dns.SetRecords("dynamodb."+region+".amazonaws.com.", dns.TypeA, 1, []string{"127.0.0.1"}); err != nil {
			t.Fatal(err)
		}
		w.backends[region] = srv.Addr()
		_, port, _ := net.SplitHostPort(srv.Addr())
		w.endpoints[region] = fmt.Sprintf("http://dynamodb.%s.amazonaws.com:%s", region, port)
	}
	return w
}

// front puts an HTTP proxy in front of a region's backend that sees every
// request (its source address and Host header), holds each for delay, and
// counts how many are in flight at once.
func (w *world) front(t *testing.T, region string, delay time.Duration) *frontProxy {
	target, _ := url.Parse("http://" + w.backends[region])
	f := &frontProxy{sources: map[string]int{}, hosts: map[string]int{}}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		f.mu.Lock()
		f.sources[host]++
		f.hosts[r.Host]++
		f.mu.Unlock()
		n := f.inFlight.Add(1)
		defer f.inFlight.Add(-1)
		for m := f.maxInFlight.Load(); n > m && !f.maxInFlight.CompareAndSwap(m, n); m = f.maxInFlight.Load() {
		}
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
		proxy.ServeHTTP(rw, r)
	}))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	w.endpoints[region] = fmt.Sprintf("http://dynamodb.%s.amazonaws.com:%s", region, port)
	return f
}

type frontProxy struct {
	mu                    sync.Mutex
	sources, hosts        map[string]int
	inFlight, maxInFlight atomic.Int32
}

type events struct {
	mu  sync.Mutex
	all []journal.Event
}

func (e *events) add(ev journal.Event) { e.mu.Lock(); e.all = append(e.all, ev); e.mu.Unlock() }

// requests are the request events (probes or not), in the order they started.
func (e *events) requests(probes bool) []journal.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []journal.Event
	for _, ev := range e.all {
		if ev.Type == journal.Request && ev.Probe == probes {
			out = append(out, ev)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].T < out[j].T })
	return out
}

func (w *world) config(name, strategy, sourceIP string, ev *events) Config {
	regions := []string{"us-east-1"}
	if strategy == Failover {
		regions = append(regions, "us-west-2")
	}
	start := time.Now()
	return Config{Name: name, Strategy: strategy, Regions: regions, Endpoints: w.endpoints, DNSServer: w.dns.Addr(),
		SourceIP: sourceIP, Rate: 20, Operations: []string{GetItem, PutItem}, Timeout: time.Second,
		ProbeInterval: 100 * time.Millisecond, Table: "orders", Items: 10, Record: ev.add,
		Now: func() float64 { return ms(time.Since(start)) }}
}

// step is something a test does at a point of a client's run.
type step struct {
	at time.Duration
	do func()
}

// runFor runs a client for d, doing steps on the way, and fails the test if
// Run errs or does not return within its bound (d plus the request timeout
// plus slack).
func runFor(t *testing.T, cfg Config, d time.Duration, steps ...step) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	began := time.Now()
	for _, s := range steps {
		select {
		case <-time.After(time.Until(began.Add(s.at))):
			s.do()
		case err := <-done:
			t.Fatalf("Run returned before the step at %s: %v", s.at, err)
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(d + cfg.Timeout + 5*time.Second):
		t.Fatal("the client did not stop")
	}
}

func TestSingleRegionSteadyState(t *testing.T) {
	w := newWorld(t)
	front := w.front(t, "us-east-1", 0)
	ev := &events{}
	cfg := w.config("naive", SingleRegion, "127.0.0.21", ev)
	runFor(t, cfg, time.Second)
	reqs := ev.requests(false)
	// The schedule is bounded: 1 s at 20 per second.
	if len(reqs) < 15 || len(reqs) > 25 {
		t.Errorf("%d requests in 1 s at 20/s, want 15..25", len(reqs))
	}
	ops := map[string]int{}
	for _, r := range reqs {
		if !r.Succeeded() || r.Region != "us-east-1" || r.Client != "naive" {
			t.Errorf("steady-state request failed: %+v", r)
		}
		ops[r.Op]++
	}
	if ops[GetItem] == 0 || ops[PutItem] == 0 || ops[GetItem]+ops[PutItem] != len(reqs) {
		t.Errorf("operations = %v, want GetItem and PutItem in turn", ops)
	}
	// DNS queries and data connections both come from the source address,
	// and the SDK sends the real hostname.
	if w.queries.from("127.0.0.21", "") == 0 {
		t.Error("the DNS server saw no query from the client's source address")
	}
	front.mu.Lock()
	defer front.mu.Unlock()
	if len(front.sources) != 1 || front.sources["127.0.0.21"] != len(reqs) {
		t.Errorf("backend saw requests from %v, want all %d from 127.0.0.21", front.sources, len(reqs))
	}
	host := strings.TrimPrefix(w.endpoints["us-east-1"], "http://")
	if len(front.hosts) != 1 || front.hosts[host] == 0 {
		t.Errorf("Host headers %v, want %s", front.hosts, host)
	}
}

func TestEmptyRecordFailsNaiveClientAsNotFound(t *testing.T) {
	w := newWorld(t)
	dnsstubtest.Rule(t, w.dns, dnsstub.Rule{Name: east, Fault: "f1", Action: dnsstub.Empty(dnsstub.EmptyOptions{})})
	ev := &events{}
	runFor(t, w.config("naive", SingleRegion, "127.0.0.22", ev), 500*time.Millisecond)
	reqs := ev.requests(false)
	if len(reqs) == 0 {
		t.Fatal("no requests")
	}
	for _, r := range reqs {
		if r.Succeeded() || r.Error != ClassDNSNotFound || !strings.Contains(r.Detail, "no such host") {
			t.Errorf("request %+v, want a dns-notfound failure", r)
		}
	}
	// Not found is final: the SDK makes one attempt, so one lookup (A and
	// AAAA) per request, each shaped by the fault.
	if n := w.queries.from("127.0.0.22", "f1"); n < len(reqs) {
		t.Errorf("%d queries of the client shaped by the fault for %d requests, want one at least per request", n, len(reqs))
	}
}

func TestFailoverSwitchesAndFailsBack(t *testing.T) {
	w := newWorld(t)
	ev := &events{}
	cfg := w.config("fo", Failover, "127.0.0.23", ev)
	var remove func()
	var faultAt, healAt float64
	runFor(t, cfg, 1800*time.Millisecond,
		step{400 * time.Millisecond, func() {
			faultAt = cfg.Now()
			remove = dnsstubtest.Rule(t, w.dns, dnsstub.Rule{Name: east, Fault: "f1", Action: dnsstub.Empty(dnsstub.EmptyOptions{})})
		}},
		step{1000 * time.Millisecond, func() { healAt = cfg.Now(); remove() }})
	reqs := ev.requests(false)
	// The sequence of regions: us-east-1 in steady state, a failure there
	// once the record is empty, us-west-2 until a probe finds the primary
	// again, then us-east-1.
	var phases []string
	var failed []journal.Event
	for _, r := range reqs {
		p := r.Region
		if !r.Succeeded() {
			p += "!"
			failed = append(failed, r)
		}
		if len(phases) == 0 || phases[len(phases)-1] != p {
			phases = append(phases, p)
		}
	}
	if strings.Join(phases, " ") != "us-east-1 us-east-1! us-west-2 us-east-1" {
		t.Fatalf("region phases = %v, want us-east-1 us-east-1! us-west-2 us-east-1", phases)
	}
	// One request fails; a second only if it started before the first
	// had failed (a loaded machine), never after.
	for _, f := range failed[1:] {
		if f.T >= failed[0].End() {
			t.Errorf("request %+v failed after the client knew of the first failure (at %.1f ms)", f, failed[0].End())
		}
	}
	if failed[0].End() < faultAt || failed[0].Error != ClassDNSNotFound {
		t.Errorf("first failure %+v, want dns-notfound after the fault at %.1f ms", failed[0], faultAt)
	}
	// Probes go to the primary only while away from it; they fail until the
	// rule is removed, and the one that succeeds brings the client back, so
	// it is the last.
	probes := ev.requests(true)
	if len(probes) < 2 {
		t.Fatalf("probes %+v, want failed ones during the fault and one that succeeded", probes)
	}
	for i, p := range probes {
		last := i == len(probes)-1
		if p.Region != "us-east-1" || p.Op != GetItem || p.Succeeded() != last {
			t.Errorf("probe %d of %d: %+v, want a GetItem to us-east-1 that fails, the last one succeeding", i+1, len(probes), p)
		}
		if !last && p.Error != ClassDNSNotFound {
			t.Errorf("probe %+v failed with %s, want %s", p, p.Error, ClassDNSNotFound)
		}
	}
	if first := probes[0].T; first < failed[0].End() || probes[len(probes)-1].T < healAt-float64(cfg.ProbeInterval.Milliseconds()) {
		t.Errorf("probes from %.1f to %.1f ms; want them from the first failure (%.1f ms) to after the heal (%.1f ms)",
			first, probes[len(probes)-1].T, failed[0].End(), healAt)
	}
}

// Pooled keep-alive connections never ask DNS again: a DNS fault does not
// reach such a client, which is what dns_queries_in_fault exists to show.
// Requests 200 ms apart never overlap, so a pooled connection is free for
// each; without keep-alive, each request dials and so resolves.
func TestKeepAliveHidesDNSFaults(t *testing.T) {
	for _, keepAlive := range []bool{true, false} {
		t.Run(fmt.Sprint("keep-alive=", keepAlive), func(t *testing.T) {
			w := newWorld(t)
			ev := &events{}
			cfg := w.config("c", SingleRegion, "127.0.0.24", ev)
			cfg.KeepAlive = keepAlive
			cfg.Rate = 5
			var faultAt float64
			runFor(t, cfg, 1500*time.Millisecond, step{500 * time.Millisecond, func() {
				faultAt = cfg.Now()
				dnsstubtest.Rule(t, w.dns, dnsstub.Rule{Name: east, Fault: "f1", Action: dnsstub.Empty(dnsstub.EmptyOptions{})})
			}})
			inFault, served := 0, 0
			for _, r := range ev.requests(false) {
				if r.T > faultAt {
					inFault++
					if r.Succeeded() {
						served++
					}
				}
			}
			shaped := w.queries.from("127.0.0.24", "f1")
			if inFault == 0 {
				t.Fatal("no request during the fault")
			}
			if keepAlive && (served != inFault || shaped != 0) {
				t.Errorf("keep-alive: %d of %d requests in the fault served, %d queries shaped; want all served, none shaped", served, inFault, shaped)
			}
			if !keepAlive && (served != 0 || shaped < inFault) {
				t.Errorf("no keep-alive: %d of %d requests in the fault served, %d queries shaped; want none served, every request's lookup shaped", served, inFault, shaped)
			}
		})
	}
}

// Requests start on schedule even when the backend holds each for 300 ms: a
// client that waited for each answer would send 4 in a second, not 20.
// Requests in flight when the run stops finish and are journaled.
func TestScheduleDoesNotWaitForSlowRequests(t *testing.T) {
	w := newWorld(t)
	front := w.front(t, "us-east-1", 300*time.Millisecond)
	ev := &events{}
	runFor(t, w.config("c", SingleRegion, "127.0.0.25", ev), time.Second)
	reqs := ev.requests(false)
	if len(reqs) < 15 || len(reqs) > 25 {
		t.Errorf("%d requests in 1 s at 20/s against a 300 ms backend, want 15..25", len(reqs))
	}
	for _, r := range reqs {
		if !r.Succeeded() || r.LatencyMS < 300 {
			t.Errorf("request %+v: want success after the backend's 300 ms", r)
		}
	}
	if front.maxInFlight.Load() < 2 {
		t.Errorf("at most %d request in flight at the backend, want several", front.maxInFlight.Load())
	}
}

// Past the in-flight bound the schedule waits; the requests then start late
// and carry the wait in their latency (measured from when they were due), and
// their T stays on the schedule: no drift, no hidden delay.
func TestInFlightBoundCarriesDelayInLatency(t *testing.T) {
	w := newWorld(t)
	front := w.front(t, "us-east-1", 200*time.Millisecond)
	ev := &events{}
	cfg := w.config("c", SingleRegion, "127.0.0.26", ev)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := newClient(cfg).run(ctx, 2); err != nil {
		t.Fatal(err)
	}
	reqs := ev.requests(false)
	if len(reqs) < 3 {
		t.Fatalf("%d requests, want several", len(reqs))
	}
	if m := front.maxInFlight.Load(); m > 2 {
		t.Errorf("%d requests in flight at once, want 2 at most", m)
	}
	slowest := 0.0
	for i, r := range reqs {
		if d := r.T - reqs[0].T; math.Abs(d-float64(i)*50) > 0.01 {
			t.Errorf("request %d due at +%.3f ms, want +%d ms (the schedule, 50 ms apart)", i, d, i*50)
		}
		slowest = max(slowest, r.LatencyMS)
	}
	// Request 4 cannot start before requests 0..3 are done (two at a time,
	// 200 ms each): 400 ms after start, 200 ms after it was due.
	if slowest < 400 {
		t.Errorf("slowest latency %.1f ms, want the wait for a slot counted (>= 400 ms)", slowest)
	}
}

func TestStopsCleanly(t *testing.T) {
	w := newWorld(t)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	for _, keepAlive := range []bool{false, true} {
		ev := &events{}
		cfg := w.config("c", Failover, "127.0.0.27", ev)
		cfg.KeepAlive = keepAlive
		runFor(t, cfg, 300*time.Millisecond)
		if len(ev.requests(false)) == 0 {
			t.Error("no requests")
		}
	}
}

func TestBadConfig(t *testing.T) {
	w := newWorld(t)
	good := w.config("c", Failover, "127.0.0.28", &events{})
	if err := good.Validate(); err != nil {
		t.Fatalf("the good config is invalid: %v", err)
	}
	cases := map[string]func(*Config){
		"no name":                  func(c *Config) { c.Name = "" },
		"unknown strategy":         func(c *Config) { c.Strategy = "random" },
		"no regions":               func(c *Config) { c.Regions = nil },
		"failover needs two":       func(c *Config) { c.Regions = c.Regions[:1] },
		"listed twice":             func(c *Config) { c.Regions = []string{"us-east-1", "us-east-1"} },
		"not a loopback address":   func(c *Config) { c.SourceIP = "10.0.0.1" },
		"endpoint of region":       func(c *Config) { c.Endpoints = map[string]string{} },
		"want http://host:port":    func(c *Config) { c.Endpoints = map[string]string{"us-east-1": "ftp://x", "us-west-2": "http://y:1"} },
		"unknown operation":        func(c *Config) { c.Operations = []string{"Scan"} },
		"rate 0":                   func(c *Config) { c.Rate = 0 },
		"rate NaN":                 func(c *Config) { c.Rate = math.NaN() },
		"rate +Inf":                func(c *Config) { c.Rate = math.Inf(1) },
		"timeout 0s":               func(c *Config) { c.Timeout = 0 },
		"failover needs a probe":   func(c *Config) { c.ProbeInterval = 0 },
		"no table":                 func(c *Config) { c.Table = "" },
		"items 0":                  func(c *Config) { c.Items = 0 },
		"no journal":               func(c *Config) { c.Record = nil },
		"DNS server":               func(c *Config) { c.DNSServer = "8.8.8.8:53" },
		"different IP families":    func(c *Config) { c.SourceIP = "::1" },
		"DNS server \"127.0.0.1\"": func(c *Config) { c.DNSServer = "127.0.0.1" },
	}
	for want, mutate := range cases {
		cfg := good
		mutate(&cfg)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := Run(ctx, cfg)
		cancel()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v", want, err)
		}
	}
}

// With keep-alive, sequential requests ride one pooled connection: the SDK's
// request-body race (see ownBody) must not make the client re-dial.
func TestKeepAliveReusesOneConnection(t *testing.T) {
	w := newWorld(t)
	cfg := w.config("c", SingleRegion, "127.0.0.29", &events{})
	cfg.KeepAlive = true
	sdk := newClient(cfg).sdk["us-east-1"]
	dials := 0
	for range 30 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
			GotConn: func(info httptrace.GotConnInfo) {
				if !info.Reused {
					dials++
				}
			}})
		_, err := sdk.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("orders"),
			Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "item-0001"}}})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if dials != 1 {
		t.Errorf("30 sequential requests dialed %d connections, want 1", dials)
	}
}

// A node that is down refuses the connection; Go's dialer goes on to the
// name's next address and the request succeeds, so only the journal's
// conn.refused events show that the node-down fault reached the client: one
// per request (no keep-alive: each request dials, node 1 first), naming
// the node dialed, the client's source address and the region.
func TestRefusedConnectionsAreJournaled(t *testing.T) {
	w := newWorld(t)
	lb, _ := nlbtest.Start(t, nlb.Config{NodeIPs: []string{"127.0.5.1", "127.0.5.2"}, Targets: []string{w.backends["us-east-1"]}})
	if err := w.dns.SetRecords(east, dns.TypeA, 1, []string{"127.0.5.1", "127.0.5.2"}); err != nil {
		t.Fatal(err)
	}
	w.endpoints["us-east-1"] = fmt.Sprintf("http://dynamodb.us-east-1.amazonaws.com:%d", lb.Port())
	if err := lb.NodeDown(0); err != nil {
		t.Fatal(err)
	}
	ev := &events{}
	cfg := w.config("nd", SingleRegion, "127.0.0.31", ev)
	cfg.Timeout = 5 * time.Second // room for a loaded machine: the test is about what the dials met
	runFor(t, cfg, 500*time.Millisecond)
	reqs := ev.requests(false)
	if len(reqs) == 0 {
		t.Fatal("no requests")
	}
	for _, r := range reqs {
		if !r.Succeeded() {
			t.Errorf("request %+v failed; want it to go through node 2", r)
		}
	}
	down := lb.NodeAddrs()[0]
	refused := 0
	ev.mu.Lock()
	for _, e := range ev.all {
		if e.Type != journal.ConnRefused {
			continue
		}
		refused++
		if e.Node != down || e.Addr != "127.0.0.31" || e.Client != "nd" || e.Region != "us-east-1" {
			t.Errorf("conn.refused %+v; want node %s, addr 127.0.0.31, client nd, region us-east-1", e, down)
		}
	}
	ev.mu.Unlock()
	if refused < len(reqs) {
		t.Errorf("%d conn.refused events for %d requests that each dialed node 1 first; want one a request at least", refused, len(reqs))
	}
}

// A request's lag is how late it was sent, not how long it took: past the
// in-flight bound requests wait for a slot (lag), then the backend holds
// each for 200 ms (latency, not lag).
func TestRequestLagIsTheWaitBeforeSending(t *testing.T) {
	w := newWorld(t)
	w.front(t, "us-east-1", 200*time.Millisecond)
	ev := &events{}
	cfg := w.config("c", SingleRegion, "127.0.0.32", ev)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := newClient(cfg).run(ctx, 2); err != nil {
		t.Fatal(err)
	}
	reqs := ev.requests(false)
	if len(reqs) < 5 {
		t.Fatalf("%d requests, want 5 at least", len(reqs))
	}
	for i, r := range reqs {
		if !r.Succeeded() || r.LatencyMS-r.LagMS < 200 {
			t.Errorf("request %d: %+v; want a success 200 ms at least after it was sent", i, r)
		}
	}
	// Request 4 (due at 200 ms) waits for two of requests 0..3 to end, the
	// second pair at 400 ms at the earliest.
	if lag := reqs[4].LagMS; lag < 200 {
		t.Errorf("request 4 was sent %.1f ms late; want 200 ms at least, its wait for a slot", lag)
	}
	start := cfg.StartEvent()
	if start.TimeoutMS != 1000 || start.Rate != 20 || start.Region != "us-east-1" || start.Addr != "127.0.0.32" {
		t.Errorf("client.start %+v; want timeout 1000 ms, rate 20, region us-east-1, addr 127.0.0.32", start)
	}
}
