package clients

import (
	"context"
	"encoding/json"
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

// of is the queries sent from ip.
func (l *queryLog) of(ip string) []dnsstub.QueryEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []dnsstub.QueryEvent
	for _, q := range l.qs {
		if strings.HasPrefix(q.Client, ip+":") {
			out = append(out, q)
		}
	}
	return out
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

// seen is how many requests reached the proxy.
func (f *frontProxy) seen() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.sources {
		n += c
	}
	return n
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

// config is a client of the world. Its 5 s timeout leaves room for a
// loaded machine: the tests are about outcomes, and a request that stalls
// past a tight deadline would fail for the machine's sake, not the client's.
func (w *world) config(name, strategy, sourceIP string, ev *events) Config {
	regions := []string{"us-east-1"}
	if strategy == Failover {
		regions = append(regions, "us-west-2")
	}
	start := time.Now()
	return Config{Name: name, Strategy: strategy, Regions: regions, Endpoints: w.endpoints, DNSServer: w.dns.Addr(),
		SourceIP: sourceIP, Rate: 20, Operations: []string{GetItem, PutItem}, Timeout: 5 * time.Second,
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
	runWith(t, cfg, d, maxInFlight, steps...)
}

// runWith is runFor with at most inFlight requests in flight.
func runWith(t *testing.T, cfg Config, d time.Duration, inFlight int, steps ...step) {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- newClient(cfg).run(ctx, inFlight) }()
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

// runUntilSeen runs a client until front has seen n requests (bounded),
// then stops it and waits for the requests in flight.
func runUntilSeen(t *testing.T, cfg Config, inFlight int, front *frontProxy, n int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- newClient(cfg).run(ctx, inFlight) }()
	const bound = 20 * time.Second
	deadline := time.Now().Add(bound)
	for front.seen() < n {
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("the backend saw %d requests within %s, want %d", front.seen(), bound, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(cfg.Timeout + 5*time.Second):
		t.Fatal("the client did not stop")
	}
}

// show is an event as its journal line: pointers as the values they hold.
func show(e journal.Event) string {
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Sprintf("%+v", e)
	}
	return string(b)
}

// onGrid checks that the requests' due times are the schedule's, 1/rate
// apart from the first, none missing: no drift, no gap.
func onGrid(t *testing.T, reqs []journal.Event, rate float64) {
	t.Helper()
	step := 1000 / rate
	for i, r := range reqs {
		if d := r.T - reqs[0].T; math.Abs(d-float64(i)*step) > 0.01 {
			t.Errorf("request %d due at +%.3f ms, want +%.3f ms (the schedule)", i, d, float64(i)*step)
		}
	}
}

func TestSingleRegionSteadyState(t *testing.T) {
	w := newWorld(t)
	front := w.front(t, "us-east-1", 0)
	ev := &events{}
	cfg := w.config("naive", SingleRegion, "127.0.0.21", ev)
	began := time.Now()
	runFor(t, cfg, time.Second)
	ran := time.Since(began)
	reqs := ev.requests(false)
	// The schedule is bounded: request i is not sent before i/rate, so no
	// more than the run's length allows (on a loaded machine the stop may
	// come late, and fewer may start).
	if most := 1 + int(ran.Seconds()*cfg.Rate); len(reqs) < 2 || len(reqs) > most {
		t.Errorf("%d requests in a run of %s at 20/s, want 2..%d", len(reqs), ran, most)
	}
	onGrid(t, reqs, cfg.Rate)
	ops := map[string]int{}
	for _, r := range reqs {
		if !r.Succeeded() || r.Region != "us-east-1" || r.Client != "naive" {
			t.Errorf("steady-state request failed: %s", show(r))
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
			t.Errorf("request %s, want a dns-notfound failure", show(r))
		}
	}
	// Every A query of the client met the fault and none of its AAAA did
	// (NODATA either way). Not one per request: Go merges the lookups of
	// requests that overlap, as they do on a loaded machine.
	shaped := map[string]int{}
	for _, q := range w.queries.of("127.0.0.22") {
		if q.Fault == "f1" {
			shaped[q.Type]++
		} else if q.Type == "A" {
			t.Errorf("an A query of the client answered without the fault: %+v", q)
		}
	}
	if shaped["A"] == 0 || shaped["AAAA"] != 0 {
		t.Errorf("queries shaped by the fault: %v; want A queries, no AAAA", shaped)
	}
}

// The failover client leaves the primary after its first failure and comes
// back once a probe of the primary succeeds. The client acts on a request's
// outcome before the request's end is taken (see do), so the journal orders
// exactly: a request due after a failure's end was sent knowing of it, and
// one due after the successful probe's end, knowing of the fail-back.
func TestFailoverSwitchesAndFailsBack(t *testing.T) {
	w := newWorld(t)
	ev := &events{}
	cfg := w.config("fo", Failover, "127.0.0.23", ev)
	var remove func()
	var faultAt, healAt float64
	runFor(t, cfg, 2400*time.Millisecond,
		step{400 * time.Millisecond, func() {
			faultAt = cfg.Now() // before the rule: nothing ended before this met it
			remove = dnsstubtest.Rule(t, w.dns, dnsstub.Rule{Name: east, Fault: "f1", Action: dnsstub.Empty(dnsstub.EmptyOptions{})})
		}},
		step{1000 * time.Millisecond, func() { healAt = cfg.Now(); remove() }})
	reqs, probes := ev.requests(false), ev.requests(true)
	var failed []journal.Event
	for _, r := range reqs {
		if !r.Succeeded() {
			failed = append(failed, r)
		}
	}
	if len(failed) == 0 {
		t.Fatal("no request failed under the empty record")
	}
	knew := failed[0].End() // when the client first knew
	for _, f := range failed {
		knew = min(knew, f.End())
	}
	// Failures: on the primary, not found, sent before the client knew.
	for _, f := range failed {
		if f.Region != "us-east-1" || f.Error != ClassDNSNotFound || f.End() < faultAt || f.T >= knew {
			t.Errorf("failed request %s; want a dns-notfound on us-east-1 after the fault (%.1f ms), sent before the client knew (%.1f ms)",
				show(f), faultAt, knew)
		}
	}
	// Probes: to the primary, failing until the one that succeeds, which
	// ends the probing and resolved after the heal.
	if len(probes) < 2 {
		t.Fatalf("%d probes, want failed ones during the fault and one that succeeded", len(probes))
	}
	back := probes[len(probes)-1]
	for i, p := range probes {
		last := i == len(probes)-1
		if p.Region != "us-east-1" || p.Op != GetItem || p.Succeeded() != last || p.T < faultAt || !last && p.Error != ClassDNSNotFound {
			t.Errorf("probe %d of %d: %s; want a GetItem to us-east-1 after the fault that fails not found, the last one succeeding", i+1, len(probes), show(p))
		}
	}
	if back.End() < healAt {
		t.Errorf("the probe that brought the client back ended at %.1f ms, before the heal at %.1f ms", back.End(), healAt)
	}
	// Requests: the primary before the fault; the secondary from the
	// first failure until the fail-back; the primary after it.
	var before, away, after int
	for _, r := range reqs {
		sent := r.T + r.LagMS
		switch {
		case r.End() < faultAt:
			before++
			if !r.Succeeded() || r.Region != "us-east-1" {
				t.Errorf("request before the fault %s; want a success on us-east-1", show(r))
			}
		case r.T >= knew && sent < back.T:
			away++
			if !r.Succeeded() || r.Region != "us-west-2" {
				t.Errorf("request sent after the client knew (%.1f ms), before the fail-back probe (%.1f ms): %s; want a success on us-west-2", knew, back.T, show(r))
			}
		case r.T >= back.End():
			after++
			if !r.Succeeded() || r.Region != "us-east-1" {
				t.Errorf("request after the fail-back (%.1f ms) %s; want a success on us-east-1", back.End(), show(r))
			}
		}
	}
	if before == 0 || away == 0 || after == 0 {
		t.Errorf("%d requests before the fault, %d on us-west-2, %d after the fail-back; want some in each", before, away, after)
	}
}

// Pooled keep-alive connections never ask DNS again: a DNS fault does not
// reach such a client, which is what dns_queries_in_fault exists to show.
// One request in flight at a time, so the pooled connection is always free
// for the next; without keep-alive, each request dials and so resolves.
func TestKeepAliveHidesDNSFaults(t *testing.T) {
	for _, keepAlive := range []bool{true, false} {
		t.Run(fmt.Sprint("keep-alive=", keepAlive), func(t *testing.T) {
			w := newWorld(t)
			ev := &events{}
			cfg := w.config("c", SingleRegion, "127.0.0.24", ev)
			cfg.KeepAlive = keepAlive
			cfg.Rate = 5
			var faultAt float64
			runWith(t, cfg, 1500*time.Millisecond, 1, step{500 * time.Millisecond, func() {
				dnsstubtest.Rule(t, w.dns, dnsstub.Rule{Name: east, Fault: "f1", Action: dnsstub.Empty(dnsstub.EmptyOptions{})})
				faultAt = cfg.Now() // after the rule: whatever is due later resolves under it
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

// Requests start on schedule even when the backend holds each for 300 ms:
// they overlap at the backend, and their due times keep the schedule, none
// skipped (a client that waited for each answer would send one per 300 ms).
// Requests in flight when the run stops finish and are journaled.
func TestScheduleDoesNotWaitForSlowRequests(t *testing.T) {
	w := newWorld(t)
	front := w.front(t, "us-east-1", 300*time.Millisecond)
	ev := &events{}
	cfg := w.config("c", SingleRegion, "127.0.0.25", ev)
	runUntilSeen(t, cfg, maxInFlight, front, 10)
	reqs := ev.requests(false)
	if len(reqs) < front.seen() {
		t.Errorf("%d requests journaled, the backend saw %d: want every request in flight at the stop journaled", len(reqs), front.seen())
	}
	onGrid(t, reqs, cfg.Rate)
	for _, r := range reqs {
		if !r.Succeeded() || r.LatencyMS-r.LagMS < 300 {
			t.Errorf("request %s: want a success 300 ms at least after it was sent", show(r))
		}
	}
	if front.maxInFlight.Load() < 2 {
		t.Errorf("at most %d request in flight at the backend, want several", front.maxInFlight.Load())
	}
}

// Past the in-flight bound the schedule waits; the requests then start late
// and carry the wait in their latency (measured from when they were due) and
// their lag (how late they were sent), and their T stays on the schedule: no
// drift, no hidden delay.
func TestInFlightBoundCarriesDelayInLatency(t *testing.T) {
	w := newWorld(t)
	front := w.front(t, "us-east-1", 200*time.Millisecond)
	ev := &events{}
	cfg := w.config("c", SingleRegion, "127.0.0.26", ev)
	runUntilSeen(t, cfg, 2, front, 5)
	reqs := ev.requests(false)
	if len(reqs) < 5 {
		t.Fatalf("%d requests, want 5 at least", len(reqs))
	}
	if m := front.maxInFlight.Load(); m > 2 {
		t.Errorf("%d requests in flight at once, want 2 at most", m)
	}
	onGrid(t, reqs, cfg.Rate)
	for i, r := range reqs {
		// Sent, then held 200 ms by the backend: the lag is the wait
		// before sending, and part of the latency.
		if !r.Succeeded() || r.LatencyMS-r.LagMS < 200 {
			t.Errorf("request %d: %s; want a success 200 ms at least after it was sent", i, show(r))
		}
	}
	// Request 4 (due at 200 ms) cannot be sent before two of requests 0..3
	// are done (two at a time, 200 ms each): 400 ms after start, 200 ms
	// after it was due.
	if r := reqs[4]; r.LagMS < 200 || r.LatencyMS < 400 {
		t.Errorf("request 4: %s; want it sent 200 ms late at least, the wait for a slot, and a latency of 400 ms at least", show(r))
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
	runFor(t, cfg, 500*time.Millisecond)
	reqs := ev.requests(false)
	if len(reqs) == 0 {
		t.Fatal("no requests")
	}
	for _, r := range reqs {
		if !r.Succeeded() {
			t.Errorf("request %s failed; want it to go through node 2", show(r))
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
			t.Errorf("conn.refused %s; want node %s, addr 127.0.0.31, client nd, region us-east-1", show(e), down)
		}
	}
	ev.mu.Unlock()
	if refused < len(reqs) {
		t.Errorf("%d conn.refused events for %d requests that each dialed node 1 first; want one a request at least", refused, len(reqs))
	}
}

// client.start says what bounds the client's metrics: its timeout and rate.
func TestStartEvent(t *testing.T) {
	cfg := Config{Name: "c", Strategy: Failover, Regions: []string{"us-east-1", "us-west-2"}, SourceIP: "127.0.0.32",
		Rate: 20, Timeout: 5 * time.Second}
	e := cfg.StartEvent()
	if e.Type != journal.ClientStart || e.TimeoutMS != 5000 || e.Rate != 20 || e.Region != "us-east-1" || e.Addr != "127.0.0.32" || e.Strategy != Failover {
		t.Errorf("client.start %s; want timeout 5000 ms, rate 20, region us-east-1, addr 127.0.0.32, strategy failover", show(e))
	}
	if e := (Config{Name: "c"}).StartEvent(); e.Region != "" {
		t.Errorf("a config without regions: %s", show(e))
	}
}
