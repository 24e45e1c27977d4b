// Package testbed is faultline for a Go team's own tests: inside `go test`
// it starts the world (per region an embedded DynamoDB behind an NLB, one
// DNS server authoritative for the real endpoint names), gives the test an
// http.Client and a net.Resolver that go through it, applies and heals
// faults, and computes the metrics of the requests the test made, as
// `faultline run` would. Nothing leaves loopback; Start's cleanup tears
// everything down and heals what is still applied.
//
//	tb := testbed.Start(t, testbed.Options{})
//	db := dynamodb.New(dynamodb.Options{Region: "us-east-1", HTTPClient: tb.HTTPClient(),
//		BaseEndpoint: aws.String(tb.Endpoint("us-east-1")), ...})
//	heal := tb.Apply(t, "dns.empty", "dynamodb.us-east-1.amazonaws.com", nil)
//	... // the code under test
//	heal()
//	m := tb.Metrics(t)
package testbed

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/faultline-dev/faultline/experiments/clients"
	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/experiments/measure"
	"github.com/faultline-dev/faultline/faults"
	"github.com/faultline-dev/faultline/targets/dnsstub"
	"github.com/faultline-dev/faultline/targets/nlb"
	"github.com/faultline-dev/faultline/targets/topology"
)

// ClientName is how the journal names the test's own requests.
const ClientName = "test"

// Options of a testbed; zero values take the defaults.
type Options struct {
	Regions []string      // default us-east-1, us-west-2; the first is the primary
	Table   string        // seeded in every region; default "faultline"
	Items   int           // default 100
	TTL     time.Duration // of the endpoint records and of negative answers; default 1 s
	K       int           // consecutive successes in the failover and recover metrics; default 5
	Seed    int64
	// KeepAlive pools HTTPClient's connections. Off by default: every
	// request then opens a connection and looks the name up, so DNS faults
	// reach it at once (a pooled connection outlives an emptied record).
	KeepAlive bool
}

// Testbed is a running world.
type Testbed struct {
	opts  Options
	world *topology.World
	j     *journal.Journal
	rec   journal.Recorder // a test's journal is short: it keeps the events (Summary, Events)
	http  *http.Client

	mu      sync.Mutex
	faults  int
	healers map[string]func() error
}

// Start builds the world and registers its teardown with t.Cleanup.
func Start(t testing.TB, opts Options) *Testbed {
	t.Helper()
	if len(opts.Regions) == 0 {
		opts.Regions = []string{"us-east-1", "us-west-2"}
	}
	if opts.Table == "" {
		opts.Table = "faultline"
	}
	if opts.Items == 0 {
		opts.Items = 100
	}
	if opts.TTL == 0 {
		opts.TTL = time.Second
	}
	if opts.K == 0 {
		opts.K = 5
	}
	tb := &Testbed{opts: opts, j: journal.New(nil), healers: map[string]func() error{}}
	tb.j.Observe(tb.rec.Add)
	tb.j.Add(journal.Event{Type: journal.RunStart, Detail: t.Name(), Seed: &opts.Seed, K: opts.K})
	cfg := topology.Config{Zone: "amazonaws.com.", RecordTTL: opts.TTL, NegativeTTL: opts.TTL, Table: opts.Table,
		Items: opts.Items, Seed: opts.Seed, DNSObserver: tb.onDNS}
	for _, r := range opts.Regions {
		cfg.Regions = append(cfg.Regions, topology.Region{Name: r, Endpoint: "dynamodb." + r + ".amazonaws.com.",
			Nodes: 2, Targets: 2, HealthCheck: nlb.HealthCheck{Interval: 500 * time.Millisecond, Timeout: 250 * time.Millisecond,
				HealthyThreshold: 3, UnhealthyThreshold: 2}})
	}
	w, err := topology.Build(context.Background(), cfg)
	if err != nil {
		t.Fatalf("testbed: %v", err)
	}
	tb.world = w
	t.Cleanup(tb.close)
	tb.j.Add(journal.Event{Type: journal.ClientStart, Client: ClientName, Strategy: "test", Region: opts.Regions[0], Addr: "127.0.0.1"})
	tb.http = &http.Client{Transport: &recorder{tb: tb, next: &http.Transport{
		DialContext: (&net.Dialer{Resolver: tb.Resolver(), Timeout: 2 * time.Second}).DialContext,
		Proxy:       nil, MaxIdleConnsPerHost: 16, DisableKeepAlives: !opts.KeepAlive,
	}}}
	return tb
}

// Resolver resolves through faultline's DNS server (Go's own resolver).
func (tb *Testbed) Resolver() *net.Resolver {
	addr := tb.world.ClientDNSAddr()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
}

// HTTPClient resolves through faultline's DNS server and journals every
// request it makes, for Metrics. It opens a connection per request unless
// Options.KeepAlive.
func (tb *Testbed) HTTPClient() *http.Client { return tb.http }

// Endpoint is a region's endpoint URL, with the real name:
// "http://dynamodb.us-east-1.amazonaws.com:PORT".
func (tb *Testbed) Endpoint(region string) string {
	u, err := tb.world.EndpointURL(region)
	if err != nil {
		panic(fmt.Sprintf("testbed: %v (regions: %v)", err, tb.opts.Regions))
	}
	return u
}

// World is the topology, for what this package does not wrap.
func (tb *Testbed) World() *topology.World { return tb.world }

// Apply applies a fault now (any kind of `faultline list`; target an
// endpoint name or a region, params as in an experiment file) and returns
// its heal, which may be called once; whatever is still applied is healed at
// cleanup.
func (tb *Testbed) Apply(t testing.TB, kind, target string, params map[string]string) (heal func()) {
	t.Helper()
	k, ok := faults.Lookup(kind)
	if !ok {
		t.Fatalf("testbed: unknown fault kind %q; expected one of: %s", kind, strings.Join(faults.Names(), ", "))
	}
	if k.Target() == faults.TargetDNSName {
		target = dns.Fqdn(strings.ToLower(target))
	}
	if params == nil {
		params = map[string]string{}
	}
	vals, err := faults.Validate(k, params)
	if err != nil {
		t.Fatalf("testbed: %s: %v", kind, err)
	}
	tb.mu.Lock()
	tb.faults++
	f := faults.Fault{ID: fmt.Sprintf("f%d", tb.faults), Kind: kind, Target: target, Params: params}
	tb.mu.Unlock()
	undo, err := k.Apply(tb.world, f, vals)
	if err != nil {
		t.Fatalf("testbed: applying %s on %s: %v", kind, target, err)
	}
	tb.j.Add(journal.Event{Type: journal.FaultApplied, Fault: f.ID, Kind: kind, Target: target})
	var once sync.Once
	healIt := func() error {
		var err error
		once.Do(func() {
			err = undo()
			tb.j.Add(journal.Event{Type: journal.FaultHealed, Fault: f.ID, Kind: kind, Target: target})
			tb.mu.Lock()
			delete(tb.healers, f.ID)
			tb.mu.Unlock()
		})
		return err
	}
	tb.mu.Lock()
	tb.healers[f.ID] = healIt
	tb.mu.Unlock()
	return func() {
		t.Helper()
		if err := healIt(); err != nil {
			t.Errorf("testbed: healing %s: %v", kind, err)
		}
	}
}

// Metrics are the metrics of the test's requests relative to the first
// fault (ARCHITECTURE.md's definitions): detect, failover, recover,
// availability, latency.
func (tb *Testbed) Metrics() measure.Metrics {
	s := tb.Summary()
	for _, c := range s.Clients {
		if c.Name == ClientName {
			return c.Metrics
		}
	}
	return measure.Metrics{}
}

// Summary is the whole report of the test so far, as report.json has it.
func (tb *Testbed) Summary() measure.Summary {
	return measure.Summarize(append(tb.rec.Events(), journal.Event{T: tb.j.Now(), Type: journal.RunEnd, Status: "complete"}))
}

// Events is the journal so far.
func (tb *Testbed) Events() []journal.Event { return tb.rec.Events() }

func (tb *Testbed) close() {
	tb.mu.Lock()
	var heals []func() error
	for _, h := range tb.healers {
		heals = append(heals, h)
	}
	tb.mu.Unlock()
	for _, h := range heals {
		h()
	}
	tb.http.CloseIdleConnections()
	tb.world.Close()
}

// onDNS journals the DNS server's answers: how the metrics see that a
// fault reached the test's queries.
func (tb *Testbed) onDNS(q dnsstub.QueryEvent) {
	tb.j.Add(journal.Event{T: tb.j.Since(q.Time), Type: journal.DNSQuery, Addr: q.Client, Proto: q.Proto,
		Name: q.Name, QType: q.Type, Rcode: q.Rcode, Answers: journal.Int(q.Answers), Fault: q.Fault})
}

// recorder journals each request: region from the endpoint name, outcome
// and error class as the reference clients journal theirs.
type recorder struct {
	tb   *Testbed
	next *http.Transport
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	start := r.tb.j.Now()
	resp, err := r.next.RoundTrip(req)
	e := journal.Event{T: start, Type: journal.Request, Client: ClientName, Region: r.region(req.URL.Hostname()),
		Op: req.Header.Get("X-Amz-Target"), LatencyMS: r.tb.j.Now() - start}
	if i := strings.LastIndex(e.Op, "."); i >= 0 {
		e.Op = e.Op[i+1:]
	}
	switch {
	case err != nil:
		e.OK, e.Error, e.Detail = journal.Bool(false), clients.Classify(err), err.Error()
	case resp.StatusCode >= 500:
		e.OK, e.Error, e.Detail = journal.Bool(false), clients.ClassHTTP5xx, resp.Status
	default:
		e.OK = journal.Bool(true)
	}
	r.tb.j.Add(e)
	return resp, err
}

func (r *recorder) region(host string) string {
	for _, reg := range r.tb.opts.Regions {
		if strings.EqualFold(strings.TrimSuffix(host, "."), "dynamodb."+reg+".amazonaws.com") {
			return reg
		}
	}
	return host
}
