package clients

import (
	"context"
	"fmt"
	"net"
	"net/http/httptrace"
	"strings"
	"sync"
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
)

// world is the smallest real world for a client: a DNS server authoritative
// for two regions' endpoints, each pointing at its own embedded backend.
type world struct {
	dns       *dnsstub.Server
	endpoints map[string]string
	queries   *recorder
}

type recorder struct {
	mu sync.Mutex
	qs []dnsstub.QueryEvent
}

func (r *recorder) add(q dnsstub.QueryEvent) { r.mu.Lock(); r.qs = append(r.qs, q); r.mu.Unlock() }
func (r *recorder) from(ip, fault string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, q := range r.qs {
		if strings.HasPrefix(q.Client, ip+":") && q.Fault == fault {
			n++
		}
	}
	return n
}

func newWorld(t *testing.T) *world {
	w := &world{endpoints: map[string]string{}, queries: &recorder{}}
	w.dns = dnsstubtest.StartConfig(t, dnsstub.Config{Zones: []dnsstub.Zone{{Origin: "amazonaws.com."}}, Observer: w.queries.add})
	for _, region := range []string{"us-east-1", "us-west-2"} {
		srv := dynamodbtest.Start(t)
		if err := ddb.Seed(context.Background(), dynamodbtest.Client(t, srv.Endpoint()), "orders", 10); err != nil {
			t.Fatal(err)
		}
		host, port, _ := net.SplitHostPort(srv.Addr())
		name := "dynamodb." + region + ".amazonaws.com."
		if err := w.dns.SetRecords(name, dns.TypeA, 1, []string{host}); err != nil {
			t.Fatal(err)
		}
		w.endpoints[region] = fmt.Sprintf("http://dynamodb.%s.amazonaws.com:%s", region, port)
	}
	return w
}

type events struct {
	mu  sync.Mutex
	all []journal.Event
}

func (e *events) add(ev journal.Event) { e.mu.Lock(); e.all = append(e.all, ev); e.mu.Unlock() }
func (e *events) requests(probes bool) []journal.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []journal.Event
	for _, ev := range e.all {
		if ev.Type == journal.Request && ev.Probe == probes {
			out = append(out, ev)
		}
	}
	return out
}

func (w *world) config(name, strategy, sourceIP string, ev *events) Config {
	start := time.Now()
	return Config{Name: name, Strategy: strategy, Regions: []string{"us-east-1", "us-west-2"}[:map[string]int{SingleRegion: 1, Failover: 2}[strategy]],
		Endpoints: w.endpoints, DNSServer: w.dns.Addr(), SourceIP: sourceIP, Rate: 40, Operations: []string{"GetItem", "PutItem"},
		Timeout: time.Second, ProbeInterval: 100 * time.Millisecond, Table: "orders", Items: 10, Record: ev.add,
		Now: func() float64 { return float64(time.Since(start).Microseconds()) / 1000 }}
}

// runFor runs a client for d, calling during at half time.
func runFor(t *testing.T, cfg Config, d time.Duration, during func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	if during != nil {
		time.Sleep(d / 2)
		during()
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(d + 5*time.Second):
		t.Fatal("the client did not stop")
	}
}

func TestSingleRegionSteadyStateAndRate(t *testing.T) {
	w := newWorld(t)
	ev := &events{}
	runFor(t, w.config("naive", SingleRegion, "127.0.0.21", ev), time.Second, nil)
	reqs := ev.requests(false)
	if len(reqs) < 30 || len(reqs) > 50 {
		t.Errorf("%d requests in 1 s at 40/s, want about 40", len(reqs))
	}
	ops := map[string]int{}
	for _, r := range reqs {
		if !r.Succeeded() || r.Region != "us-east-1" {
			t.Errorf("steady-state request failed: %+v", r)
		}
		ops[r.Op]++
	}
	if ops["GetItem"] == 0 || ops["PutItem"] == 0 {
		t.Errorf("operations = %v, want both in turn", ops)
	}
	if w.queries.from("127.0.0.21", "") == 0 {
		t.Error("the DNS server saw no query from the client's source address")
	}
}

func TestEmptyRecordFailsNaiveClientAsNotFound(t *testing.T) {
	w := newWorld(t)
	dnsstubtest.Rule(t, w.dns, dnsstub.Rule{Name: "dynamodb.us-east-1.amazonaws.com.", Fault: "f1", Action: dnsstub.Empty(dnsstub.EmptyOptions{})})
	ev := &events{}
	runFor(t, w.config("naive", SingleRegion, "127.0.0.22", ev), 500*time.Millisecond, nil)
	reqs := ev.requests(false)
	if len(reqs) == 0 {
		t.Fatal("no requests")
	}
	for _, r := range reqs {
		if r.Succeeded() || r.Error != ClassDNSNotFound {
			t.Errorf("request %+v, want a dns-notfound failure", r)
		}
	}
	if w.queries.from("127.0.0.22", "f1") == 0 {
		t.Error("no query of the client was shaped by the fault")
	}
}

func TestFailoverSwitchesAndFailsBack(t *testing.T) {
	w := newWorld(t)
	remove := dnsstubtest.Rule(t, w.dns, dnsstub.Rule{Name: "dynamodb.us-east-1.amazonaws.com.", Fault: "f1", Action: dnsstub.Empty(dnsstub.EmptyOptions{})})
	ev := &events{}
	runFor(t, w.config("fo", Failover, "127.0.0.23", ev), 2*time.Second, remove)
	reqs := ev.requests(false)
	// The sequence of regions: one failure on us-east-1, then us-west-2,
	// then (after the rule is removed and a probe succeeds) us-east-1 again.
	var phases []string
	for _, r := range reqs {
		p := r.Region
		if !r.Succeeded() {
			p += "!"
		}
		if len(phases) == 0 || phases[len(phases)-1] != p {
			phases = append(phases, p)
		}
	}
	if strings.Join(phases, " ") != "us-east-1! us-west-2 us-east-1" {
		t.Errorf("region phases = %v, want us-east-1! us-west-2 us-east-1", phases)
	}
	// (Usually one request fails; on a loaded machine a second may start
	// on us-east-1 before the first has failed. The phases say the rest.)
	if len(ev.requests(true)) == 0 {
		t.Error("no probes of the primary were journaled")
	}
}

// Pooled keep-alive connections never ask DNS again: a DNS fault does not
// reach such a client, which is what dns_queries_in_fault exists to show.
func TestKeepAliveHidesDNSFaults(t *testing.T) {
	for _, keepAlive := range []bool{true, false} {
		w := newWorld(t)
		ev := &events{}
		cfg := w.config("c", SingleRegion, "127.0.0.24", ev)
		cfg.KeepAlive = keepAlive
		cfg.Rate = 10
		var faultAt float64
		runFor(t, cfg, 2*time.Second, func() {
			faultAt = cfg.Now()
			dnsstubtest.Rule(t, w.dns, dnsstub.Rule{Name: "dynamodb.us-east-1.amazonaws.com.", Fault: "f1", Action: dnsstub.Empty(dnsstub.EmptyOptions{})})
		})
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
		if keepAlive {
			// Every request rides a pooled connection; only a new dial (two
			// queries, A and AAAA) can meet the fault, and a loaded machine
			// may need one now and then.
			if served < inFault/2 || shaped >= inFault {
				t.Errorf("keep-alive client: %d of %d requests in the fault served, %d queries shaped; want most served, few queries", served, inFault, shaped)
			}
		} else if served != 0 || shaped < inFault {
			t.Errorf("client without keep-alive: %d of %d requests in the fault served, %d queries shaped; want none served, every request's query shaped", served, inFault, shaped)
		}
	}
}

func TestStopsCleanly(t *testing.T) {
	w := newWorld(t)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ev := &events{}
	runFor(t, w.config("c", Failover, "127.0.0.25", ev), 300*time.Millisecond, nil)
}

func TestBadConfig(t *testing.T) {
	w := newWorld(t)
	ev := &events{}
	good := w.config("c", Failover, "127.0.0.26", ev)
	cases := map[string]func(*Config){
		"unknown strategy":       func(c *Config) { c.Strategy = "random" },
		"failover needs two":     func(c *Config) { c.Regions = c.Regions[:1] },
		"not a loopback address": func(c *Config) { c.SourceIP = "10.0.0.1" },
		"no endpoint for region": func(c *Config) { c.Endpoints = map[string]string{} },
		"unknown operation":      func(c *Config) { c.Operations = []string{"Scan"} },
		"rate, timeout, table":   func(c *Config) { c.Rate = 0 },
		"failover needs a probe": func(c *Config) { c.ProbeInterval = 0 },
	}
	for want, mutate := range cases {
		cfg := good
		mutate(&cfg)
		if err := Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v", want, err)
		}
	}
}

// With keep-alive, sequential requests ride one pooled connection: the SDK's
// request-body race (see ownBody) must not make the client re-dial.
func TestKeepAliveReusesOneConnection(t *testing.T) {
	w := newWorld(t)
	cfg := w.config("c", SingleRegion, "127.0.0.27", &events{})
	cfg.KeepAlive = true
	c := &client{cfg: cfg}
	c.http = c.httpClient()
	sdk := c.sdkClient("us-east-1")
	dials := 0
	for i := 0; i < 30; i++ {
		ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
			GotConn: func(info httptrace.GotConnInfo) {
				if !info.Reused {
					dials++
				}
			}})
		if _, err := sdk.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("orders"),
			Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "item-0001"}}}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if dials != 1 {
		t.Errorf("30 sequential requests dialed %d connections, want 1", dials)
	}
}
