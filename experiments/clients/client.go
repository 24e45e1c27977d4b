// Package clients holds faultline's reference clients: DynamoDB clients on
// aws-sdk-go-v2 that keep the real hostnames (dynamodb.<region>.amazonaws.com)
// but resolve them through faultline's DNS server, send requests on a fixed
// schedule and journal every one. README.md describes the strategies.
package clients

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/faultline-dev/faultline/experiments/journal"
)

// Strategies.
const (
	SingleRegion = "single-region" // every request to the primary, the SDK's standard retries
	Failover     = "failover"      // switch region after a failure, probe the primary, fail back
)

// Operations a client sends, in turn.
const (
	GetItem = "GetItem"
	PutItem = "PutItem"
)

// Workloads: what a client's requests do.
const (
	// DefaultWorkload: the operations in turn on the table's seeded items
	// (item-0000 …).
	DefaultWorkload = "default"
	// ReadYourWrites: PutItem and GetItem in turn on items of the client's
	// own ("NAME/item-0000" …, OwnItems of them, written in turn): each write
	// puts the next version "v" of its item (1, 2, … per item); the read
	// after it reads back, with a strongly consistent read, the item written
	// longest ago (the next in turn; with one item, the one just written),
	// so that what it returns shows both read-your-writes and how far
	// replication lags behind the client. Request events
	// carry the item and its version: the one written, or the one the read
	// returned (none, with Detail "no item", when the item was not there).
	ReadYourWrites = "read-your-writes"
)

// DefaultOwnItems is how many items of its own a read-your-writes client
// writes in turn: at 20 requests/s a read returns what was written 300 ms
// before, about what replication takes under load.
const DefaultOwnItems = 4

// Workloads are the workloads a reference client runs.
var Workloads = []string{DefaultWorkload, ReadYourWrites}

// Config of one client.
type Config struct {
	Name, Strategy string
	Regions        []string          // first is primary
	Endpoints      map[string]string // region → "http://dynamodb.<region>.amazonaws.com:PORT"
	DNSServer      string            // faultline's DNS server, "127.0.0.1:PORT"
	SourceIP       string            // the client's own loopback address for DNS and data, "127.0.0.11"
	Rate           float64           // requests per second, on a fixed schedule
	Operations     []string          // GetItem, PutItem: in turn (default GetItem; read-your-writes sets its own)
	Workload       string            // DefaultWorkload ("" too) or ReadYourWrites
	Timeout        time.Duration     // per SDK call, retries included
	KeepAlive      bool              // false: a new connection, and so a DNS lookup, per request
	ProbeInterval  time.Duration     // failover: how often to try the primary while away from it
	Table          string
	Items          int                 // keys item-0000 … item-(Items-1)
	OwnItems       int                 // read-your-writes: the client's own items (0: DefaultOwnItems)
	Record         func(journal.Event) // every event; called concurrently
	Now            func() float64      // journal clock in ms
}

// MaxRate bounds Rate: a reference client, not a load generator.
const MaxRate = 5000

// maxInFlight bounds the requests of one client in flight at once. Each
// request ends within Timeout, so about Rate×Timeout are ever in flight and
// the bound only matters if the machine stalls; see Run.
const maxInFlight = 1024

// inFlight is a client's bound: twice what its rate and timeout keep in
// flight (a second of slack on the timeout), at least 16 and at most
// maxInFlight. Past it the machine is not keeping up: a request waits for a
// slot, its send lag says so (the harness is starved), and what a stalled
// world holds stays bounded (each request in flight holds tens of KB).
func inFlight(cfg Config) int {
	n := int(math.Ceil(2 * cfg.Rate * (cfg.Timeout + time.Second).Seconds()))
	return min(max(n, 16), maxInFlight)
}

// Validate checks a config before anything starts; each error names the
// client and what was expected.
func (c Config) Validate() error {
	if c.Name == "" {
		return errors.New("client: no name")
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("client %s: "+format, append([]any{c.Name}, args...)...)
	}
	switch {
	case c.Strategy != SingleRegion && c.Strategy != Failover:
		return bad("unknown strategy %q (want %s or %s)", c.Strategy, SingleRegion, Failover)
	case len(c.Regions) == 0:
		return bad("no regions")
	case c.Strategy == Failover && len(c.Regions) < 2:
		return bad("failover needs two regions or more, got %v", c.Regions)
	case math.IsNaN(c.Rate) || c.Rate <= 0 || c.Rate > MaxRate:
		return bad("rate %v: want requests per second in (0, %d]", c.Rate, MaxRate)
	case c.Timeout <= 0:
		return bad("timeout %s: want a positive duration", c.Timeout)
	case c.Strategy == Failover && c.ProbeInterval <= 0:
		return bad("failover needs a probe interval, got %s", c.ProbeInterval)
	case c.Table == "":
		return bad("no table")
	case c.Items <= 0:
		return bad("items %d: want at least one", c.Items)
	case c.Record == nil || c.Now == nil:
		return bad("no journal (Record and Now must be set)")
	}
	seen := map[string]bool{}
	for _, r := range c.Regions {
		if seen[r] {
			return bad("region %s listed twice", r)
		}
		seen[r] = true
		if err := checkEndpoint(c.Endpoints[r]); err != nil {
			return bad("endpoint of region %s: %v", r, err)
		}
	}
	switch c.Workload {
	case "", DefaultWorkload:
	case ReadYourWrites:
		if len(c.Operations) > 0 && !(len(c.Operations) == 2 && c.Operations[0] == PutItem && c.Operations[1] == GetItem) {
			return bad("workload %s sends PutItem and GetItem in turn, not operations %v", ReadYourWrites, c.Operations)
		}
	default:
		return bad("unknown workload %q (want %s or %s)", c.Workload, DefaultWorkload, ReadYourWrites)
	}
	for _, op := range c.Operations {
		if op != GetItem && op != PutItem {
			return bad("unknown operation %q (want %s or %s)", op, GetItem, PutItem)
		}
	}
	src := net.ParseIP(c.SourceIP)
	if src == nil || !src.IsLoopback() {
		return bad("source address %q is not a loopback address", c.SourceIP)
	}
	host, port, err := net.SplitHostPort(c.DNSServer)
	dns := net.ParseIP(host)
	if err != nil || dns == nil || !dns.IsLoopback() || port == "" || port == "0" {
		return bad("DNS server %q: want a loopback ip:port", c.DNSServer)
	}
	if (src.To4() == nil) != (dns.To4() == nil) {
		return bad("source address %s and DNS server %s are of different IP families", c.SourceIP, c.DNSServer)
	}
	return nil
}

func checkEndpoint(s string) error {
	if s == "" {
		return errors.New("missing")
	}
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.Path != "" && u.Path != "/" {
		return fmt.Errorf("%q: want http://host:port", s)
	}
	return nil
}

// StartEvent is the client.start event that tells metrics who the client is:
// its strategy, primary region and source address. The runner journals it
// for every client before any starts, so that client.start events follow the
// experiment's order; Run does not journal it again.
func (c Config) StartEvent() journal.Event {
	e := journal.Event{Type: journal.ClientStart, Client: c.Name, Strategy: c.Strategy, Addr: c.SourceIP,
		TimeoutMS: ms(c.Timeout), Rate: c.Rate}
	if len(c.Regions) > 0 {
		e.Region = c.Regions[0]
	}
	return e
}

type client struct {
	cfg     Config
	http    *http.Client
	pool    *http.Transport // http's: closed when the client stops
	sdk     map[string]*dynamodb.Client
	current atomic.Int32 // index into cfg.Regions of the region requests go to
	// read-your-writes: the latest version written (sent) per item
	versions []atomic.Int64
}

// Run sends requests until ctx ends and returns nil then (an error only for
// an invalid config, before anything starts).
//
// Schedule: request i is due at start + i/Rate, whether or not earlier ones
// have finished, so a slow fault shows as slow or failed requests, never as
// fewer requests (no coordinated omission). A request journals its due time
// as T and measures its latency from it, so a request that started late
// (the machine stalled, or inFlight(cfg) were in flight) carries the delay in
// its latency; late requests then start at once, and the schedule does not
// drift.
//
// Stop: when ctx ends no new request starts; the ones in flight are not
// cancelled but finish within their Timeout, and are journaled with their
// real outcome. Run returns once they have.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	return newClient(cfg).run(ctx, inFlight(cfg))
}

func newClient(cfg Config) *client {
	if cfg.Workload == ReadYourWrites {
		cfg.Operations = []string{PutItem, GetItem}
	}
	if len(cfg.Operations) == 0 {
		cfg.Operations = []string{GetItem}
	}
	c := &client{cfg: cfg, sdk: map[string]*dynamodb.Client{}}
	if cfg.Workload == ReadYourWrites {
		if c.cfg.OwnItems <= 0 {
			c.cfg.OwnItems = DefaultOwnItems
		}
		c.versions = make([]atomic.Int64, c.cfg.OwnItems)
	}
	c.http, c.pool = c.httpClient()
	for _, r := range cfg.Regions {
		c.sdk[r] = c.sdkClient(r)
	}
	return c
}

func (c *client) run(ctx context.Context, inFlight int) error {
	defer c.pool.CloseIdleConnections() // after the requests in flight: connections they free close too
	var wg sync.WaitGroup
	defer wg.Wait()
	if c.cfg.Strategy == Failover {
		wg.Add(1)
		go func() { defer wg.Done(); c.probeLoop(ctx) }()
	}
	slots := make(chan struct{}, inFlight)
	start, startMS := time.Now(), c.cfg.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := 0; ; i++ {
		offset := time.Duration(float64(i) * float64(time.Second) / c.cfg.Rate)
		timer.Reset(time.Until(start.Add(offset)))
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			c.request(i, start.Add(offset), startMS+ms(offset))
		}()
	}
}

// request sends request i to the current region; for a failover client a
// failure moves the current region on to the next one in the list (after the
// last, back to the first). The failed request stays failed.
func (c *client) request(i int, due time.Time, dueMS float64) {
	idx := int(c.current.Load())
	op := c.cfg.Operations[i%len(c.cfg.Operations)]
	c.do(c.cfg.Regions[idx], op, i, false, due, dueMS, func(err error) {
		if err != nil && c.cfg.Strategy == Failover {
			// Unless another failed request has already moved it.
			c.current.CompareAndSwap(int32(idx), int32((idx+1)%len(c.cfg.Regions)))
		}
	})
}

// probeLoop tries the primary every ProbeInterval while the client is away
// from it, one probe at a time, and fails back once a probe succeeds.
func (c *client) probeLoop(ctx context.Context) {
	t := time.NewTicker(c.cfg.ProbeInterval)
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if c.current.Load() == 0 {
			continue
		}
		c.do(c.cfg.Regions[0], GetItem, i, true, time.Now(), c.cfg.Now(), func(err error) {
			if err == nil {
				c.current.Store(0)
			}
		})
	}
}

// do sends one request, lets act decide on its outcome (switch region, fail
// back), then journals it. Acting first makes the journal exact: the
// request's end (T + latency) comes after what the client did about it, so
// a request due later was sent knowing it. Its context is not the run's: a
// request in flight when the run stops finishes within its timeout.
func (c *client) do(region, op string, i int, probe bool, due time.Time, dueMS float64, act func(error)) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Timeout)
	defer cancel()
	ctx, tried := withAttempts(ctx, func(node string) {
		c.cfg.Record(journal.Event{T: c.cfg.Now(), Type: journal.ConnRefused, Client: c.cfg.Name, Region: region,
			Node: node, Addr: c.cfg.SourceIP})
	})
	own := c.versions != nil && !probe
	item := fmt.Sprintf("item-%04d", i%c.cfg.Items)
	if own {
		// Request 2n writes item n, 2n+1 reads item n+1: the one written
		// longest ago.
		n := i / 2
		if op == GetItem {
			n++
		}
		item = fmt.Sprintf("%s/item-%04d", c.cfg.Name, n%c.cfg.OwnItems)
	}
	key := map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: item}}
	var version *int64
	// How late the harness sends it: a timer that fired late, a goroutine
	// scheduled late, a wait for an in-flight slot. Not the request's own
	// time (resolving, connecting), which is the latency's.
	lag := max(time.Since(due), 0)
	var err error
	switch op {
	case PutItem:
		n := int64(i)
		if own {
			n = c.versions[(i/2)%c.cfg.OwnItems].Add(1)
			version = &n
		}
		key["v"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
		key["writer"] = &types.AttributeValueMemberS{Value: c.cfg.Name}
		_, err = c.sdk[region].PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(c.cfg.Table), Item: key})
	default:
		var out *dynamodb.GetItemOutput
		out, err = c.sdk[region].GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(c.cfg.Table), Key: key, ConsistentRead: aws.Bool(own)})
		if err == nil && own {
			version = itemVersion(out.Item)
		}
	}
	if act != nil {
		act(err)
	}
	ev := journal.Event{T: dueMS, Type: journal.Request, Client: c.cfg.Name, Region: region, Op: op, Probe: probe,
		LatencyMS: ms(time.Since(due)), LagMS: ms(lag), OK: journal.Bool(err == nil)}
	if own {
		ev.Item, ev.ItemVersion = item, version
		if err == nil && op == GetItem && version == nil {
			ev.Detail = "no item"
		}
	}
	if err != nil {
		ev.Error, ev.Detail = tried.outcome(err, c.cfg.Timeout, c.cfg.DNSServer)
	}
	c.cfg.Record(ev)
	return err
}

// itemVersion is an item's numeric "v"; nil when there is no item or no v.
func itemVersion(item map[string]types.AttributeValue) *int64 {
	n, ok := item["v"].(*types.AttributeValueMemberN)
	if !ok {
		return nil
	}
	v, err := strconv.ParseInt(n.Value, 10, 64)
	if err != nil {
		return nil
	}
	return &v
}

// ms is d in milliseconds, to the microsecond.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
