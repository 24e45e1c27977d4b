// Package livetest has test helpers for what sits on a live Engine (the
// Prometheus exporter, the dashboard, toxiproxy's API): a small real world
// opened by an Engine and closed by t.Cleanup, reference clients driving it,
// one request at a time through a region's load balancer, and a minimal
// server-sent-events stream of the Engine's events.
package livetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/experiments/clients"
	"github.com/faultline-dev/faultline/experiments/engine"
	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/targets/nlb"
	"github.com/faultline-dev/faultline/targets/topology"
)

// East and West are the world's endpoints.
const (
	East = "dynamodb.us-east-1.amazonaws.com."
	West = "dynamodb.us-west-2.amazonaws.com."
)

// World is a two-region world: us-east-1 with two nodes and one target,
// us-west-2 with one of each; 1 s TTLs.
func World() topology.Config {
	hc := nlb.DefaultHealthCheck()
	return topology.Config{Zone: "amazonaws.com.", RecordTTL: time.Second, NegativeTTL: time.Second, Table: "orders", Items: 5,
		Regions: []topology.Region{
			{Name: "us-east-1", Endpoint: East, Nodes: 2, Targets: 1, HealthCheck: hc},
			{Name: "us-west-2", Endpoint: West, Nodes: 1, Targets: 1, HealthCheck: hc},
		}}
}

// Open starts an Engine on World, with a journal of its own (no file);
// cleanup closes it.
func Open(t testing.TB) *engine.Engine {
	t.Helper()
	e, err := engine.Open(context.Background(), engine.Config{Topology: World(), Journal: journal.New(nil)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("closing the engine: %v", err)
		}
	})
	return e
}

// Client runs reference client i (from 0) named name with strategy
// (clients.SingleRegion, clients.Failover, ...) over regions (the first is
// its primary) at rate requests per second, recording through the Engine,
// until cleanup. Its client.start is recorded first.
func Client(t testing.TB, e *engine.Engine, i int, name, strategy string, rate float64, regions ...string) {
	t.Helper()
	endpoints := map[string]string{}
	for _, r := range regions {
		u, err := e.World().EndpointURL(r)
		if err != nil {
			t.Fatal(err)
		}
		endpoints[r] = u
	}
	cfg := clients.Config{Name: name, Strategy: strategy, Regions: regions, Endpoints: endpoints,
		DNSServer: e.World().ClientDNSAddr(), SourceIP: engine.ReferenceIP(i), Rate: rate,
		Timeout: time.Second, ProbeInterval: 200 * time.Millisecond, Table: "orders", Items: 5,
		Record: e.Record, Now: e.Journal().Now}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	e.AddClient(name, cfg.SourceIP)
	e.Record(cfg.StartEvent())
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		clients.Run(ctx, cfg)
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// Post sends one request (an empty DynamoDB call) to region's first node
// and says how long the answer took; the node carries it to a target
// through the region's data link.
func Post(t testing.TB, e *engine.Engine, region string) time.Duration {
	t.Helper()
	lb, ok := e.World().NLB(region)
	if !ok {
		t.Fatalf("no region %s", region)
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	began := time.Now()
	req, _ := http.NewRequest("POST", "http://"+lb.NodeAddrs()[0]+"/", strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810.ListTables")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("a request to %s: %v", region, err)
	}
	resp.Body.Close()
	return time.Since(began)
}

// EventsHandler is a minimal server-sent-events stream of the Engine's
// events, shaped as the control API's /api/v1/events: each event's data is
// its journal line with its sequence number ("seq"), id: the sequence
// number; resumed after Last-Event-ID when that is still retained; "end"
// when the Engine closes.
func EventsHandler(e *engine.Engine) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var sub *engine.Subscription
		var err error
		if last, perr := strconv.ParseUint(r.Header.Get("Last-Event-ID"), 10, 64); perr == nil {
			sub, err = e.Resume(last, 0)
		} else {
			sub, err = e.Subscribe(0)
		}
		// A resume whose events are gone is refused: the page then opens a
		// fresh stream from now on.
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		defer sub.Close()
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-store")
		rc := http.NewResponseController(w)
		fmt.Fprint(w, "retry: 500\n\n")
		rc.Flush()
		for {
			select {
			case <-r.Context().Done():
				return
			case d, ok := <-sub.C():
				if !ok {
					if errors.Is(sub.Err(), engine.ErrClosed) {
						fmt.Fprint(w, "event: end\ndata: {}\n\n")
					}
					return // lagged: the browser reconnects with Last-Event-ID
				}
				line, err := journalLine(d)
				if err != nil {
					continue
				}
				fmt.Fprintf(w, "id: %d\ndata: %s\n\n", d.Seq, line)
				if len(sub.C()) == 0 {
					rc.Flush()
				}
			}
		}
	})
}

// Serve starts an HTTP server on a free loopback port; cleanup closes it.
func Serve(t testing.TB, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			srv.Close()
		}
		<-done
	})
	return "http://" + ln.Addr().String()
}

// journalLine is an event as the journal writes it, with its sequence
// number.
func journalLine(d engine.Delivery) ([]byte, error) {
	return json.Marshal(struct {
		Seq uint64 `json:"seq"`
		journal.Event
	}{d.Seq, d.Event})
}
