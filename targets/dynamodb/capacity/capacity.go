// Package capacity gives a region's DynamoDB a request rate it serves: an
// HTTP layer in front of the backend's handler that admits requests at
// Config.RPS with a burst, queues the excess for a bounded wait, and answers
// the rest at once with the throttling error DynamoDB returns. It is off
// unless a region asks for it (spec: topology.regions[].capacity).
//
// The queueing model is a token bucket with a bounded FIFO queue in front
// (the generic cell rate algorithm, which computes both without a queue of
// goroutines waiting in line): a request that finds a token is served at
// once; one that finds none is given the next free slot of the schedule
// (one every 1/RPS) and waits for it, so latency rises as the queue builds;
// a request whose slot is more than MaxWait away is throttled at once and
// takes no slot. Why this model: DynamoDB admits a burst and then a rate
// (its documentation speaks of burst capacity and throughput limits, both
// token buckets), and a server under overload queues before it sheds; the
// bound keeps the queue, and so memory and latency, finite. A request that
// took a slot keeps it even if its client gave up while it waited: the
// backend does the work anyway (wasted work), which is what lets a fleet
// whose timeouts are shorter than the queue keep a backend saturated
// without being served: the metastable state of a retry storm.
package capacity

import (
	"encoding/json"
	"fmt"
	"hash/crc32"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Modes: which DynamoDB capacity mode the throttling imitates, and so which
// error a throttled request gets.
const (
	// OnDemand: an on-demand table at its maximum throughput answers
	// ThrottlingException with the reason ...MaxOnDemandThroughputExceeded.
	OnDemand = "on-demand"
	// Provisioned: a provisioned table above its capacity units answers
	// ProvisionedThroughputExceededException with the reason
	// ...ProvisionedThroughputExceeded.
	Provisioned = "provisioned"
)

// The errors, as DynamoDB writes them: HTTP 400, a JSON body whose __type
// the SDKs map to their typed errors (botocore's _retry.json and standard.py,
// aws-sdk-go-v2's retry.DefaultThrottleErrorCodes, list both codes as
// throttling). Sources: the DynamoDB API reference (Common Errors:
// ThrottlingException, ProvisionedThroughputExceededException, both 400) and
// the developer guide's "Diagnosing throttling" (ThrottlingReasons: reason
// ResourceType+OperationType+LimitType, resource the table's ARN).
const (
	TypeThrottling  = "com.amazonaws.dynamodb.v20120810#ThrottlingException"
	TypeProvisioned = "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"
)

// DefaultMaxWait is how long a request may wait for its slot when Config
// does not say: long enough that latency visibly rises before throttling,
// short against the SDKs' timeouts (botocore's read timeout is 60 s).
const DefaultMaxWait = time.Second

// Config is a region's capacity.
type Config struct {
	RPS     float64       // requests served per second, > 0
	Burst   int           // requests served at once above the rate (the bucket's size), >= 1
	MaxWait time.Duration // the queue's bound (0: DefaultMaxWait)
	Mode    string        // OnDemand ("" too) or Provisioned
	Region  string        // named in the throttled request's resource ARN
	Table   string
}

// Validate says what is wrong with a configuration.
func (c Config) Validate() error {
	switch {
	case !(c.RPS > 0):
		return fmt.Errorf("capacity: rps %v: expected more than 0 requests per second", c.RPS)
	case c.Burst < 1:
		return fmt.Errorf("capacity: burst %d: expected at least 1", c.Burst)
	case c.MaxWait < 0:
		return fmt.Errorf("capacity: max wait %s is negative", c.MaxWait)
	case c.Mode != "" && c.Mode != OnDemand && c.Mode != Provisioned:
		return fmt.Errorf("capacity: mode %q: expected on-demand or provisioned", c.Mode)
	}
	return nil
}

// Second is the backend's load over one second (journaled as ddb.load).
type Second struct {
	End       time.Time
	Offered   int // requests that arrived
	Served    int // admitted (at once or after their wait) and passed to the backend
	Throttled int // refused with the throttling error
	Queue     int // waiting for their slot at the end of the second
	// P50 and P99: latency of the requests served in the second, from
	// arrival to answer, queueing included.
	P50, P99 time.Duration
}

// Limiter is one region's capacity: one for all the region's targets, as
// they share one table.
type Limiter struct {
	cfg      Config
	interval time.Duration // 1/RPS
	tau      time.Duration // (Burst-1)/RPS: how far ahead of the rate a burst may run
	maxWait  time.Duration
	now      func() time.Time

	// on: until Enable, requests pass uncounted (the world seeding its
	// tables is not the experiment's load).
	on atomic.Bool

	mu      sync.Mutex
	tat     time.Time // the theoretical arrival time of the next slot
	waiting int
	cur     Second
	hist    *hdrhistogram.Histogram // µs, this second's served requests
}

// New makes a limiter, off until Enable; cfg must be valid.
func New(cfg Config) (*Limiter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Mode == "" {
		cfg.Mode = OnDemand
	}
	l := &Limiter{cfg: cfg, interval: time.Duration(float64(time.Second) / cfg.RPS), maxWait: cfg.MaxWait, now: time.Now,
		hist: hdrhistogram.New(1, int64(10*time.Minute/time.Microsecond), 2)}
	if l.maxWait == 0 {
		l.maxWait = DefaultMaxWait
	}
	l.tau = time.Duration(cfg.Burst-1) * l.interval
	return l, nil
}

// Config is the limiter's configuration, defaults filled in.
func (l *Limiter) Config() Config {
	c := l.cfg
	c.MaxWait = l.maxWait
	return c
}

// Enable starts limiting: requests before it pass uncounted.
func (l *Limiter) Enable() { l.on.Store(true) }

// admit decides a request arriving at now: how long it waits for its slot,
// or that it is throttled (ok false; it takes no slot).
func (l *Limiter) admit(now time.Time) (wait time.Duration, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cur.Offered++
	tat := l.tat
	if tat.Before(now) {
		tat = now
	}
	start := tat.Add(-l.tau)
	if start.Before(now) {
		start = now
	}
	wait = start.Sub(now)
	if wait > l.maxWait {
		l.cur.Throttled++
		return 0, false
	}
	l.tat = tat.Add(l.interval)
	if wait > 0 {
		l.waiting++
	}
	return wait, true
}

// served records a request answered after latency (queueing included).
func (l *Limiter) served(latency time.Duration, waited bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if waited {
		l.waiting--
	}
	l.cur.Served++
	l.hist.RecordValue(max(1, latency.Microseconds()))
}

// Roll ends the current second at end and returns it; the next begins.
func (l *Limiter) Roll(end time.Time) Second {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.cur
	s.End, s.Queue = end, l.waiting
	if l.hist.TotalCount() > 0 {
		s.P50 = time.Duration(l.hist.ValueAtQuantile(50)) * time.Microsecond
		s.P99 = time.Duration(l.hist.ValueAtQuantile(99)) * time.Microsecond
	}
	l.hist.Reset()
	l.cur = Second{}
	return s
}

// Report calls every with each second's load until stop is closed.
func (l *Limiter) Report(stop <-chan struct{}, every func(Second)) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			every(l.Roll(now))
		}
	}
}

// Wrap puts the limiter in front of a backend's handler. Only DynamoDB
// operations count: a load balancer's health check (a GET) passes, as
// DynamoDB's health endpoint is no table's throughput.
func (l *Limiter) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || !l.on.Load() {
			next.ServeHTTP(w, r)
			return
		}
		began := l.now()
		wait, ok := l.admit(began)
		if !ok {
			l.throttle(w, r)
			return
		}
		if wait > 0 {
			t := time.NewTimer(wait)
			<-t.C // not the request's context: a slot taken is served (see the package comment)
		}
		if r.Context().Err() == nil {
			next.ServeHTTP(w, r)
		}
		l.served(l.now().Sub(began), wait > 0)
	})
}

// throttle answers as DynamoDB does above its capacity.
func (l *Limiter) throttle(w http.ResponseWriter, r *http.Request) {
	typ, limit := TypeThrottling, "MaxOnDemandThroughputExceeded"
	if l.cfg.Mode == Provisioned {
		typ, limit = TypeProvisioned, "ProvisionedThroughputExceeded"
	}
	kind := "Write"
	if readOp(r.Header.Get("X-Amz-Target")) {
		kind = "Read"
	}
	body, _ := json.Marshal(map[string]any{
		"__type":  typ,
		"message": "Throughput exceeds the current capacity of your table or index. DynamoDB is automatically scaling your table or index so please try again shortly.",
		"ThrottlingReasons": []map[string]string{{
			"reason":   "Table" + kind + limit,
			"resource": fmt.Sprintf("arn:aws:dynamodb:%s:000000000000:table/%s", l.cfg.Region, l.cfg.Table),
		}},
	})
	h := w.Header()
	h.Set("Content-Type", "application/x-amz-json-1.0")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10))
	w.WriteHeader(http.StatusBadRequest)
	w.Write(body)
}

func readOp(target string) bool {
	op := strings.TrimPrefix(target, "DynamoDB_20120810.")
	switch op {
	case "GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems", "DescribeTable", "ListTables":
		return true
	}
	return false
}
