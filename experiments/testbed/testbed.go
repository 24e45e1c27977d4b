// Package testbed is faultline for a Go team's own tests: inside `go test`
// it starts the world (per region an embedded DynamoDB behind an NLB, one
// DNS server authoritative for the real endpoint names), gives the test an
// http.Client and a net.Resolver that go through it, applies and heals
// faults, and computes the metrics of the requests the test made, as
// `faultline run` would. It is an Engine (experiments/engine) and
// t.Cleanup: the Engine journals the world's events and applies the faults.
// Nothing leaves loopback; Start's cleanup heals what is still applied and
// tears everything down.
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
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/experiments/clients"
	"github.com/faultline-dev/faultline/experiments/engine"
	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/experiments/measure"
	"github.com/faultline-dev/faultline/faults"
	"github.com/faultline-dev/faultline/internal/buildinfo"
	"github.com/faultline-dev/faultline/targets/nlb"
	"github.com/faultline-dev/faultline/targets/topology"
)

// ClientName is how the journal names the test's own requests.
const ClientName = "test"

// clientIP is where the test's connections and queries come from: the
// loopback source Linux picks for 127.0.0.0/8.
const clientIP = "127.0.0.1"

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
	// IdleTimeout and MaxConnectionAge are every NLB's connection lifetimes
	// (README "Load balancers, AZs and DNS"). Unlike an experiment file's,
	// they are off by default here: a connection lives as long as the test
	// keeps it.
	IdleTimeout, MaxConnectionAge time.Duration
}

// Testbed is a running world.
type Testbed struct {
	opts Options
	eng  *engine.Engine
	j    *journal.Journal
	rec  journal.Recorder // a test's journal is short: it keeps the events (Summary, Events)
	http *http.Client
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
	tb := &Testbed{opts: opts, j: journal.New(nil)}
	tb.j.Observe(tb.rec.Add)
	host, _ := os.Hostname()
	tb.j.Add(journal.Event{Type: journal.RunStart, Detail: t.Name(), Seed: &opts.Seed, K: opts.K,
		Started: tb.j.Start().UTC().Format(time.RFC3339Nano), Host: host, Version: buildinfo.Version(), Backend: "embedded"})
	cfg := topology.Config{Zone: "amazonaws.com.", RecordTTL: opts.TTL, NegativeTTL: opts.TTL, Table: opts.Table,
		Items: opts.Items, Seed: opts.Seed}
	for _, r := range opts.Regions {
		cfg.Regions = append(cfg.Regions, topology.Region{Name: r, Endpoint: "dynamodb." + r + ".amazonaws.com.",
			Nodes: 2, Targets: 2, HealthCheck: nlb.HealthCheck{Interval: 500 * time.Millisecond, Timeout: 250 * time.Millisecond,
				HealthyThreshold: 3, UnhealthyThreshold: 2}, IdleTimeout: opts.IdleTimeout, MaxAge: opts.MaxConnectionAge})
	}
	eng, err := engine.Open(context.Background(), engine.Config{Topology: cfg, Journal: tb.j})
	if err != nil {
		t.Fatalf("testbed: %v", err)
	}
	tb.eng = eng
	t.Cleanup(tb.close)
	eng.AddClient(ClientName, clientIP)
	eng.Record(journal.Event{Type: journal.ClientStart, Client: ClientName, Strategy: "test", Region: opts.Regions[0], Addr: clientIP})
	tb.http = &http.Client{Transport: &recorder{tb: tb, next: &http.Transport{
		DialContext: (&net.Dialer{Resolver: tb.Resolver(), Timeout: 2 * time.Second}).DialContext,
		Proxy:       nil, MaxIdleConnsPerHost: 16, DisableKeepAlives: !opts.KeepAlive,
	}}}
	return tb
}

// Resolver resolves through faultline's DNS server (Go's own resolver).
func (tb *Testbed) Resolver() *net.Resolver {
	addr := tb.eng.World().ClientDNSAddr()
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
	u, err := tb.eng.World().EndpointURL(region)
	if err != nil {
		panic(fmt.Sprintf("testbed: %v (regions: %v)", err, tb.opts.Regions))
	}
	return u
}

// World is the topology, for what this package does not wrap.
func (tb *Testbed) World() *topology.World { return tb.eng.World() }

// Engine is the Engine the testbed runs on: its event stream, its active
// faults, faults with a bound.
func (tb *Testbed) Engine() *engine.Engine { return tb.eng }

// Apply applies a fault now (any kind of `faultline list`; target an
// endpoint name or a region, params as in an experiment file), journaled as
// applied by "test", and returns its heal, which may be called once;
// whatever is still applied is healed at cleanup.
func (tb *Testbed) Apply(t testing.TB, kind, target string, params map[string]string) (heal func()) {
	t.Helper()
	if params == nil {
		params = map[string]string{}
	}
	a, err := tb.eng.Apply(faults.Fault{Kind: kind, Target: target, Params: params}, "test")
	if err != nil {
		t.Fatalf("testbed: %v", err)
	}
	return func() {
		t.Helper()
		if err := tb.eng.Heal(a.Fault.ID, "healed by the test", "test"); err != nil && !errors.Is(err, engine.ErrHealed) {
			t.Errorf("testbed: %v", err)
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
	return measure.Summarize(append(tb.Events(), journal.Event{T: tb.j.Now(), Type: journal.RunEnd, Status: "complete"}))
}

// Events is the journal so far.
func (tb *Testbed) Events() []journal.Event {
	tb.eng.Flush()
	return tb.rec.Events()
}

// close heals what is still applied and tears the world down.
func (tb *Testbed) close() {
	tb.http.CloseIdleConnections()
	tb.eng.Close()
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
	r.tb.eng.Record(e)
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
