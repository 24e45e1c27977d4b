// Package fleet runs a fleet: many light clients standing for a fleet of
// application instances, each with its own SDK retry policy
// (experiments/fleet/retry) and nothing else of an SDK. A member is a small
// value (its policy: retry quota, rate limiter), not a goroutine: a logical
// request is a goroutine while it runs, its back-offs are timers. Members
// resolve the endpoint through the world's DNS for every new connection, as
// Go's net.Dialer and urllib3's getaddrinfo do (neither caches), and connect
// through the region's NLB; connections are kept alive in one pool for the
// fleet, so a DNS fault reaches the members as connections close (an NLB's
// max_connection_age or idle timeout, a timed-out attempt).
//
// A fleet journals fleet.start once and fleet.load each second: logical
// requests, attempts, successes, give-ups, throttled attempts and the
// latency percentiles of logical requests (hdrhistogram), never one event
// per request.
package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/faultline-dev/faultline/experiments/fleet/retry"
	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/targets/dynamodb"
)

// Config is one fleet.
type Config struct {
	Name     string
	Retry    retry.Config
	Size     int     // members
	Rate     float64 // logical requests per second, the whole fleet
	Timeout  time.Duration
	Region   string
	Endpoint string // the region's endpoint URL, real hostname: http://dynamodb.us-east-1.amazonaws.com:PORT
	// DNSServer is where members send their lookups ("ip:port");
	// SourceIP the address they query and connect from.
	DNSServer, SourceIP string
	Table               string
	Items               int
	Seed                int64
	// MaxInFlight bounds the logical requests running at once (0:
	// DefaultMaxInFlight).
	MaxInFlight int
	// Record receives fleet.start and fleet.load; Since turns a time into
	// the journal's milliseconds.
	Record func(journal.Event)
	Since  func(time.Time) float64
}

// Validate says what is wrong.
func (c Config) Validate() error {
	switch {
	case c.Size < 1:
		return fmt.Errorf("fleet %s: size %d: expected at least 1 member", c.Name, c.Size)
	case !(c.Rate > 0):
		return fmt.Errorf("fleet %s: rate %v: expected logical requests per second above 0", c.Name, c.Rate)
	case c.Timeout <= 0:
		return fmt.Errorf("fleet %s: timeout %s: expected more than 0s", c.Name, c.Timeout)
	case c.Endpoint == "" || c.DNSServer == "":
		return fmt.Errorf("fleet %s: no endpoint or DNS server", c.Name)
	case c.Record == nil || c.Since == nil:
		return fmt.Errorf("fleet %s: nothing to record to", c.Name)
	}
	return c.Retry.Validate()
}

// StartEvent is the fleet's fleet.start.
func (c Config) StartEvent() journal.Event {
	return journal.Event{Type: journal.FleetStart, Client: c.Name, Strategy: c.Retry.Name, Region: c.Region, Rate: c.Rate,
		Size: c.Size, TimeoutMS: float64(c.Timeout.Microseconds()) / 1000, Addr: c.SourceIP}
}

type member struct {
	mu     sync.Mutex
	policy retry.Policy
}

// Fleet is a running fleet.
type Fleet struct {
	cfg      Config
	members  []member
	client   *http.Client
	endpoint string
	host     string

	inFlight atomic.Int64 // logical requests running (Config.MaxInFlight at most)

	mu   sync.Mutex
	cur  journal.Load
	hist *hdrhistogram.Histogram // µs, logical requests ended this second
	wg   sync.WaitGroup
}

// Run runs the fleet until ctx ends, then waits for its requests to stop:
// each ends at once when ctx does (its back-off is a timer, its attempt's
// context is ctx's), so the wait is bounded by stopGrace even on a starved
// machine, after which the stragglers finish by themselves.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Retry.Name == "" {
		cfg.Retry.Name = retry.Legacy
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	f, err := newFleet(cfg)
	if err != nil {
		return err
	}
	defer f.client.CloseIdleConnections()
	cfg.Record(cfg.StartEvent())
	f.wg.Add(1)
	go func() { defer f.wg.Done(); f.report(ctx) }()
	f.arrive(ctx)
	done := make(chan struct{})
	go func() { f.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(stopGrace):
	}
	return nil
}

// stopGrace bounds Run's wait for its requests once ctx has ended: less
// than the runner's grace for all clients.
const stopGrace = 2 * time.Second

func newFleet(cfg Config) (*Fleet, error) {
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("fleet %s: endpoint %q: %v", cfg.Name, cfg.Endpoint, err)
	}
	f := &Fleet{cfg: cfg, members: make([]member, cfg.Size), endpoint: cfg.Endpoint, host: u.Hostname(),
		hist: hdrhistogram.New(1, int64(time.Hour/time.Microsecond), 2)}
	seeds := rand.New(rand.NewSource(cfg.Seed))
	start := time.Now()
	for i := range f.members {
		rnd := rand.New(rand.NewSource(seeds.Int63())).Float64 // a member's own: used under its lock
		p, err := retry.New(cfg.Retry, rnd, start)
		if err != nil {
			return nil, fmt.Errorf("fleet %s: %w", cfg.Name, err)
		}
		f.members[i].policy = p
	}
	f.client = &http.Client{Transport: f.transport()}
	return f, nil
}

// transport dials as an SDK's HTTP client does: a lookup of the host for
// every new connection, through the world's DNS, then the addresses in
// turn; idle connections kept for reuse.
func (f *Fleet) transport() *http.Transport {
	local := &net.TCPAddr{IP: net.ParseIP(f.cfg.SourceIP)}
	if f.cfg.SourceIP == "" {
		local = nil
	}
	resolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		d := net.Dialer{}
		if local != nil {
			if strings.HasPrefix(network, "udp") {
				d.LocalAddr = &net.UDPAddr{IP: local.IP}
			} else {
				d.LocalAddr = local
			}
		}
		return d.DialContext(ctx, network, f.cfg.DNSServer)
	}}
	dialer := &net.Dialer{Resolver: resolver, KeepAlive: -1}
	if local != nil {
		dialer.LocalAddr = local
	}
	return &http.Transport{
		DialContext:         dialer.DialContext,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 1024,
		IdleConnTimeout:     90 * time.Second, // Go's default, as aws-sdk-go-v2's
		DisableCompression:  true,
	}
}

// DefaultMaxInFlight bounds a fleet's logical requests running at once (attempts,
// back-offs and adaptive's waits included): a fleet's memory is bounded by it,
// not by how long a storm lasts. A request that would exceed it fails at
// once, counted as given up, as a fleet whose worker threads are all busy
// drops work. The built-in storm peaks near 1,700 (60/s for a legacy call's
// 25 s and more).
const DefaultMaxInFlight = 10000

// arrive starts logical requests at the fleet's rate, evenly paced, each on
// the next member in turn, until ctx ends.
func (f *Fleet) arrive(ctx context.Context) {
	const tick = 5 * time.Millisecond
	start := time.Now()
	t := time.NewTicker(tick)
	defer t.Stop()
	started := 0
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			due := int(now.Sub(start).Seconds() * f.cfg.Rate)
			for ; started < due; started++ {
				if f.inFlight.Load() >= int64(f.cfg.MaxInFlight) {
					f.count(func(l *journal.Load) { l.Logical++; l.Failed++ })
					continue
				}
				m := &f.members[started%len(f.members)]
				key := dynamodb.SeedKey(started % max(1, f.cfg.Items))
				f.inFlight.Add(1)
				f.wg.Add(1)
				go func() { defer f.wg.Done(); defer f.inFlight.Add(-1); f.call(ctx, m, key) }()
			}
		}
	}
}

// call is one logical request: attempts until the policy stops.
func (f *Fleet) call(ctx context.Context, m *member, key string) {
	began := time.Now()
	f.count(func(l *journal.Load) { l.Logical++ })
	var c retry.Call
	for {
		m.mu.Lock()
		wait := m.policy.Send(&c, time.Now())
		m.mu.Unlock()
		if wait > 0 && !sleep(ctx, wait) {
			return
		}
		o := f.attempt(ctx, key)
		if ctx.Err() != nil {
			return // the run ended: this attempt is no outcome
		}
		m.mu.Lock()
		d := m.policy.After(&c, o, time.Now())
		m.mu.Unlock()
		f.count(func(l *journal.Load) {
			l.Offered++
			if o == retry.Throttled {
				l.Throttled++
			}
		})
		if o == retry.Success || !d.Retry {
			latency := time.Since(began)
			f.count(func(l *journal.Load) {
				if o == retry.Success {
					l.Served++
				} else {
					l.Failed++
				}
				f.hist.RecordValue(max(1, latency.Microseconds()))
			})
			return
		}
		if !sleep(ctx, d.Delay) {
			return
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// attempt sends one GetItem and classifies how it ended.
func (f *Fleet) attempt(ctx context.Context, key string) retry.Outcome {
	ctx, cancel := context.WithTimeout(ctx, f.cfg.Timeout)
	defer cancel()
	body, _ := json.Marshal(map[string]any{"TableName": f.cfg.Table, "Key": map[string]any{"pk": map[string]string{"S": key}}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.endpoint, bytes.NewReader(body))
	if err != nil {
		return retry.Fatal
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810.GetItem")
	resp, err := f.client.Do(req)
	if err != nil {
		return classifyErr(ctx, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return classifyErr(ctx, err)
	}
	return classifyAnswer(resp.StatusCode, answer)
}

// classifyAnswer sorts an HTTP answer into the SDKs' classes.
func classifyAnswer(status int, body []byte) retry.Outcome {
	switch {
	case status == http.StatusOK:
		return retry.Success
	case status >= 500:
		return retry.Transient
	}
	var e struct {
		Type string `json:"__type"`
	}
	json.Unmarshal(body, &e)
	code := e.Type[strings.LastIndexByte(e.Type, '#')+1:]
	switch code {
	case "ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded":
		return retry.Throttled
	}
	return retry.Fatal
}

// classifyErr sorts an error of the HTTP client into the SDKs' classes.
func classifyErr(ctx context.Context, err error) retry.Outcome {
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return retry.NoSuchHost
	case errors.As(err, &dnsErr):
		if dnsErr.IsTimeout && ctx.Err() != nil {
			return retry.Timeout
		}
		return retry.LookupFailed
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil:
		return retry.Timeout
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return retry.Timeout
	}
	return retry.Transient
}

func (f *Fleet) count(fn func(*journal.Load)) {
	f.mu.Lock()
	fn(&f.cur)
	f.mu.Unlock()
}

// report journals fleet.load each second until ctx ends.
func (f *Fleet) report(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			f.mu.Lock()
			l := f.cur
			if f.hist.TotalCount() > 0 {
				l.P50MS = float64(f.hist.ValueAtQuantile(50)) / 1000
				l.P99MS = float64(f.hist.ValueAtQuantile(99)) / 1000
			}
			f.hist.Reset()
			f.cur = journal.Load{}
			f.mu.Unlock()
			f.cfg.Record(journal.Event{T: f.cfg.Since(now), Type: journal.FleetLoad, Client: f.cfg.Name, Strategy: f.cfg.Retry.Name,
				Region: f.cfg.Region, Load: &l})
		}
	}
}
