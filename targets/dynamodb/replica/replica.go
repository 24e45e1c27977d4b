// Package replica makes every region's table a replica of one global table,
// as DynamoDB global tables in their multi-Region eventually consistent
// mode: every write a region acknowledges is replicated asynchronously to
// every other region, and each replica keeps, per item, the write with the
// newest acknowledgement (last writer wins).
//
// The Replicator only speaks the DynamoDB HTTP API, through the regions'
// endpoints as clients reach them (their DNS names, NLB nodes and data
// links): a DNS, load-balancer or link fault on a region delays the
// replication to it (the writes are applied through its endpoint) and from
// it (each batch of writes is read through its endpoint first, as the
// service reads a replica's stream). A write is applied at the destination
// with a PutItem of its whole item, or a DeleteItem, carrying its stamp in
// the X-Faultline-Replica-Stamp and -Source headers: the embedded backend
// applies it only when it is newer than the item's own stamp and says
// which; a backend that does not know the headers (DynamoDB Local) applies
// it, and the Replicator keeps last-writer-wins for it from the stamps it
// has seen (a local write racing a replicated one can then be lost: the
// one limit of that mode).
//
// Each directed path (source to destination) is a bounded queue (Backlog
// writes, default DefaultBacklog) served in order per item by Shards
// workers. A write waits its lag (the table's replication lag, plus any
// added, each with a uniformly drawn jitter) from when its source
// acknowledged it; a paused path holds its writes until resumed.
package replica

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// The headers of a replicated write (embedded.ReplicaStampHeader and the
// others: the same words, so that this package needs no backend).
const (
	StampHeader  = "X-Faultline-Replica-Stamp"
	SourceHeader = "X-Faultline-Replica-Source"
	StatusHeader = "X-Faultline-Replica"
)

// DefaultBacklog bounds each path's queue: a write that finds it full is
// dropped (journaled so) rather than grow memory with the run.
const DefaultBacklog = 1 << 16

// DefaultShards is the workers per path.
const DefaultShards = 4

// Write is one write a region acknowledged (embedded.Write, as the
// topology hands it on).
type Write struct {
	Region  string
	Table   string
	ID      string          // the key as text
	Key     json.RawMessage // DynamoDB JSON
	Item    json.RawMessage // the whole new item; nil: deleted
	Version *int64
	Op      string
	At      time.Time // the source's acknowledgement: the stamp
}

// Event kinds.
const (
	KindWrite       = "write"       // a write a region acknowledged
	KindReplicated  = "replicated"  // a write applied, superseded or dropped at a destination
	KindReplication = "replication" // a path paused, resumed or lagged
)

// Statuses.
const (
	Applied    = "applied"
	Superseded = "superseded"
	Dropped    = "dropped"
	Paused     = "paused"
	Resumed    = "resumed"
	Lagged     = "lagged"
)

// Event is what the Replicator reports.
type Event struct {
	Kind    string
	Time    time.Time // when (applied at the destination, for replicated)
	Region  string    // the source (the writer, for a write)
	To      string    // the destination
	Table   string
	Item    string
	Version *int64
	Op      string
	Written time.Time // the source's acknowledgement (enqueued, monotonic)
	Status  string
	Fault   string
	Detail  string
}

// Peer is one region's replica, as the Replicator reaches it.
type Peer struct {
	Region   string
	Endpoint string       // "http://dynamodb.REGION.amazonaws.com:PORT"
	Client   *http.Client // dials through the world's DNS and the region's NLB
}

// Config of a Replicator.
type Config struct {
	Peers    []Peer
	Lag      time.Duration // every write's replication lag
	Jitter   time.Duration // ± uniformly
	Seed     int64
	Backlog  int // per path; 0: DefaultBacklog
	Shards   int // per path; 0: DefaultShards
	Observer func(Event)
	// Retry is the first back-off after a failed send (doubling to 1s);
	// 0: 20ms.
	Retry time.Duration
}

// Replicator replicates the writes of every region to every other.
type Replicator struct {
	cfg    Config
	peers  map[string]Peer
	paths  map[[2]string]*path
	order  [][2]string
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// stamps: per destination, the newest stamp seen per item (the
	// last-writer-wins record for backends that keep none).
	stampMu sync.Mutex
	stamps  map[string]map[string]stampOf

	closeOnce sync.Once
	// closeMu: Written enqueues under its read lock, Close marks closed
	// under its write lock before reporting the queues, so no write is
	// queued after they were reported.
	closeMu sync.RWMutex
	closed  bool
}

type stampOf struct {
	ns     int64
	region string
}

func (a stampOf) newer(b stampOf) bool {
	if a.ns != b.ns {
		return a.ns > b.ns
	}
	return a.region > b.region
}

// New starts a Replicator over peers (at least two).
func New(cfg Config) (*Replicator, error) {
	if len(cfg.Peers) < 2 {
		return nil, errors.New("replica: a global table needs at least two regions")
	}
	if cfg.Lag < 0 || cfg.Jitter < 0 {
		return nil, errors.New("replica: lag and jitter must not be negative")
	}
	if cfg.Backlog <= 0 {
		cfg.Backlog = DefaultBacklog
	}
	if cfg.Shards <= 0 {
		cfg.Shards = DefaultShards
	}
	if cfg.Retry <= 0 {
		cfg.Retry = 20 * time.Millisecond
	}
	r := &Replicator{cfg: cfg, peers: map[string]Peer{}, paths: map[[2]string]*path{}, stamps: map[string]map[string]stampOf{}}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	for _, p := range cfg.Peers {
		if _, dup := r.peers[p.Region]; dup {
			return nil, fmt.Errorf("replica: region %s twice", p.Region)
		}
		r.peers[p.Region] = p
		r.stamps[p.Region] = map[string]stampOf{}
	}
	rng := rand.New(rand.NewSource(cfg.Seed))
	for _, src := range cfg.Peers {
		for _, dst := range cfg.Peers {
			if src.Region == dst.Region {
				continue
			}
			p := &path{r: r, src: src, dst: dst, rng: rand.New(rand.NewSource(rng.Int63())), wake: make(chan struct{})}
			for range cfg.Shards {
				s := &shard{p: p, kick: make(chan struct{}, 1)}
				p.shards = append(p.shards, s)
				r.wg.Add(1)
				go s.run()
			}
			key := [2]string{src.Region, dst.Region}
			r.paths[key] = p
			r.order = append(r.order, key)
		}
	}
	return r, nil
}

func (r *Replicator) emit(e Event) {
	if r.cfg.Observer != nil {
		r.cfg.Observer(e)
	}
}

// Written takes a write a region acknowledged: it is journaled and queued
// on every path out of the region. It never blocks on the network: the
// backend calls it under its lock.
func (r *Replicator) Written(w Write) {
	if _, ok := r.peers[w.Region]; !ok {
		return
	}
	r.emit(Event{Kind: KindWrite, Time: w.At, Region: w.Region, Table: w.Table, Item: w.ID, Version: w.Version, Op: w.Op})
	r.note(w.Region, w, stampOf{w.At.UnixNano(), w.Region})
	r.closeMu.RLock()
	defer r.closeMu.RUnlock()
	if r.closed {
		return
	}
	enq := time.Now()
	for _, key := range r.order {
		if key[0] == w.Region {
			r.paths[key].enqueue(w, enq)
		}
	}
}

// note records st as item w's stamp at region unless one newer is there;
// it says whether it was the newest.
func (r *Replicator) note(region string, w Write, st stampOf) bool {
	r.stampMu.Lock()
	defer r.stampMu.Unlock()
	m := r.stamps[region]
	k := w.Table + "\x00" + string(w.Key)
	if old, ok := m[k]; ok && !st.newer(old) {
		return false
	}
	m[k] = st
	return true
}

// Directions of Pause and AddLag.
const (
	In   = "in"
	Out  = "out"
	Both = "both"
)

// paths are the paths into (in), out of (out) or both of region.
func (r *Replicator) pathsOf(region, direction string) ([]*path, error) {
	if _, ok := r.peers[region]; !ok {
		return nil, fmt.Errorf("no replica in region %q", region)
	}
	var out []*path
	for _, key := range r.order {
		if (key[1] == region && direction != Out) || (key[0] == region && direction != In) {
			out = append(out, r.paths[key])
		}
	}
	if direction != In && direction != Out && direction != Both {
		return nil, fmt.Errorf("direction %q: expected in, out or both", direction)
	}
	return out, nil
}

// Pause stops replication into and/or out of region (AWS FIS's
// aws:dynamodb:global-table-pause-replication): writes queue on the paused
// paths and flow again on resume. fault names who paused it (the journal's).
func (r *Replicator) Pause(region, direction, fault string) (resume func(), err error) {
	ps, err := r.pathsOf(region, direction)
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		p.setPaused(+1, fault)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			for _, p := range ps {
				p.setPaused(-1, fault)
			}
		})
	}, nil
}

// AddLag adds lag (± jitter) to the writes sent on the paths into and/or
// out of region while applied (added lags add up).
func (r *Replicator) AddLag(region, direction string, lag, jitter time.Duration, fault string) (remove func(), err error) {
	if lag < 0 || jitter < 0 {
		return nil, errors.New("lag and jitter must not be negative")
	}
	ps, err := r.pathsOf(region, direction)
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		p.addLag(lag, jitter, fault)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			for _, p := range ps {
				p.addLag(-lag, -jitter, fault)
			}
		})
	}, nil
}

// Backlog is how many writes on the path from src to dst are not yet
// applied at dst (or superseded there): queued, or being sent.
func (r *Replicator) Backlog(src, dst string) int {
	p, ok := r.paths[[2]string{src, dst}]
	if !ok {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.count
}

// Close stops replicating; every write still queued is reported dropped.
func (r *Replicator) Close() error {
	r.closeOnce.Do(func() {
		r.cancel()
		r.wg.Wait()
		for _, p := range r.cfg.Peers {
			p.Client.CloseIdleConnections()
		}
		r.closeMu.Lock()
		r.closed = true
		r.closeMu.Unlock()
		now := time.Now()
		for _, key := range r.order {
			for _, s := range r.paths[key].shards {
				s.mu.Lock()
				q := s.queue
				s.queue = nil
				s.mu.Unlock()
				for _, it := range q {
					r.emit(s.p.event(it, now, Dropped, "the run ended before it arrived"))
				}
			}
		}
	})
	return nil
}

// path is one direction between two regions.
type path struct {
	r        *Replicator
	src, dst Peer
	shards   []*shard

	mu     sync.Mutex
	rng    *rand.Rand
	paused int
	lag    time.Duration // added
	jitter time.Duration // added
	wake   chan struct{} // closed and replaced on every change
	count  int           // writes queued or being sent, on every shard
}

type item struct {
	w    Write
	enq  time.Time // monotonic: when the source acknowledged it, here
	draw float64   // in [-1, 1): its share of the jitter
}

func (p *path) event(it item, at time.Time, status, detail string) Event {
	return Event{Kind: KindReplicated, Time: at, Region: p.src.Region, To: p.dst.Region, Table: it.w.Table, Item: it.w.ID,
		Version: it.w.Version, Op: it.w.Op, Written: it.w.At, Status: status, Detail: detail}
}

func (p *path) enqueue(w Write, enq time.Time) {
	p.mu.Lock()
	if p.count >= p.r.cfg.Backlog {
		p.mu.Unlock()
		p.r.emit(p.event(item{w: w}, time.Now(), Dropped, fmt.Sprintf("backlog full (%d writes)", p.r.cfg.Backlog)))
		return
	}
	p.count++
	draw := p.rng.Float64()*2 - 1
	p.mu.Unlock()
	h := fnv.New32a()
	h.Write([]byte(w.Table))
	h.Write(w.Key)
	s := p.shards[int(h.Sum32())%len(p.shards)]
	s.mu.Lock()
	s.queue = append(s.queue, item{w: w, enq: enq, draw: draw})
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// changed wakes every waiting shard; the caller holds p.mu.
func (p *path) changed() {
	close(p.wake)
	p.wake = make(chan struct{})
}

func (p *path) setPaused(delta int, fault string) {
	p.mu.Lock()
	was := p.paused > 0
	p.paused += delta
	now := p.paused > 0
	p.changed()
	p.mu.Unlock()
	if was != now {
		status := Resumed
		if now {
			status = Paused
		}
		p.r.emit(Event{Kind: KindReplication, Time: time.Now(), Region: p.src.Region, To: p.dst.Region, Status: status, Fault: fault})
	}
}

func (p *path) addLag(lag, jitter time.Duration, fault string) {
	p.mu.Lock()
	p.lag += lag
	p.jitter += jitter
	total, totalJ := p.lag, p.jitter
	p.changed()
	p.mu.Unlock()
	status, detail := Lagged, fmt.Sprintf("added lag %s ± %s", total, totalJ)
	if lag < 0 && total == 0 {
		status, detail = Resumed, "added lag removed"
	}
	p.r.emit(Event{Kind: KindReplication, Time: time.Now(), Region: p.src.Region, To: p.dst.Region, Status: status, Fault: fault, Detail: detail})
}

// due is when it may be sent, and the path's state: paused, and the
// channel a change closes.
func (p *path) state(it item) (due time.Time, paused bool, wake <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	lag := p.r.cfg.Lag + p.lag + time.Duration(it.draw*float64(p.r.cfg.Jitter+p.jitter))
	return it.enq.Add(max(lag, 0)), p.paused > 0, p.wake
}

func (p *path) done(n int) {
	p.mu.Lock()
	p.count -= n
	p.mu.Unlock()
}

// shard serves part of a path's items (by key), in order.
type shard struct {
	p     *path
	kick  chan struct{}
	mu    sync.Mutex
	queue []item
}

// maxBatch is how many due writes one read of the source's stream takes.
const maxBatch = 25

func (s *shard) run() {
	defer s.p.r.wg.Done()
	ctx := s.p.r.ctx
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if ctx.Err() != nil {
			return // closed: what is queued is Close's to report
		}
		s.mu.Lock()
		var head item
		has := len(s.queue) > 0
		if has {
			head = s.queue[0]
		}
		s.mu.Unlock()
		if !has {
			select {
			case <-ctx.Done():
				return
			case <-s.kick:
			}
			continue
		}
		due, paused, wake := s.p.state(head)
		if paused {
			select {
			case <-ctx.Done():
				return
			case <-wake:
			}
			continue
		}
		if wait := time.Until(due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return
			case <-wake:
			case <-timer.C:
			}
			timer.Stop()
			continue
		}
		// Read the source's stream (one request through its endpoint),
		// then take the writes that are due, in order.
		if !s.p.r.retry(ctx, wake, func() error { return s.p.r.readSource(ctx, s.p.src) }) {
			continue // closed, or the path changed (paused): look again
		}
		batch := s.take(time.Now())
		for i, it := range batch {
			if !s.deliver(ctx, it) {
				// Closed: what is left goes back for Close to report.
				s.mu.Lock()
				s.queue = append(append([]item(nil), batch[i:]...), s.queue...)
				s.mu.Unlock()
				s.p.done(i)
				return
			}
		}
		s.p.done(len(batch))
	}
}

// take removes the due writes at the head (at most maxBatch).
func (s *shard) take(now time.Time) []item {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for n < len(s.queue) && n < maxBatch {
		due, paused, _ := s.p.state(s.queue[n])
		if paused || due.After(now) {
			break
		}
		n++
	}
	if n == 0 && len(s.queue) > 0 {
		n = 1 // the head was due when looked at
	}
	batch := append([]item(nil), s.queue[:n]...)
	s.queue = s.queue[n:]
	if len(s.queue) == 0 {
		s.queue = nil
	}
	return batch
}

// deliver sends one write until it is applied or superseded (or cannot be
// applied at all: dropped); false: the Replicator closed first.
func (s *shard) deliver(ctx context.Context, it item) bool {
	p, r := s.p, s.p.r
	st := stampOf{it.w.At.UnixNano(), it.w.Region}
	var status, detail string
	ok := r.retry(ctx, nil, func() error {
		var err error
		status, detail, err = r.send(ctx, p.dst, it.w, st)
		return err
	})
	if !ok {
		return false
	}
	r.emit(p.event(it, time.Now(), status, detail))
	return true
}

// retry runs f until it succeeds (true), ctx ends or wake closes (false),
// backing off from cfg.Retry to 1s.
func (r *Replicator) retry(ctx context.Context, wake <-chan struct{}, f func() error) bool {
	backoff := r.cfg.Retry
	for {
		err := f()
		if err == nil {
			return true
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-wake:
			t.Stop()
			return false
		case <-t.C:
		}
		backoff = min(2*backoff, time.Second)
	}
}

// requestTimeout bounds one request: long enough that a slow link
// (link.latency of seconds) delays replication rather than stops it. A
// request that timed out after the destination applied it is sent again:
// the backend finds the write's own stamp there and answers applied.
const requestTimeout = 30 * time.Second

// errPermanent marks an answer no retry changes.
type errPermanent struct{ error }

// send applies w at dst through its endpoint: status applied or
// superseded; dropped (with the reason) when the destination refuses it
// for good; an error to retry.
func (r *Replicator) send(ctx context.Context, dst Peer, w Write, st stampOf) (status, detail string, err error) {
	op, body := "PutItem", map[string]any{"TableName": w.Table, "Item": w.Item}
	if w.Item == nil {
		op, body = "DeleteItem", map[string]any{"TableName": w.Table, "Key": w.Key}
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return Dropped, err.Error(), nil
	}
	resp, err := r.call(ctx, dst, op, raw, func(h http.Header) {
		h.Set(StampHeader, strconv.FormatInt(st.ns, 10))
		h.Set(SourceHeader, st.region)
	})
	if err != nil {
		var perm errPermanent
		if errors.As(err, &perm) {
			return Dropped, perm.Error(), nil
		}
		return "", "", err
	}
	switch resp.Header.Get(StatusHeader) {
	case Superseded:
		return Superseded, "", nil
	case Applied:
		r.note(dst.Region, w, st)
		return Applied, "", nil
	}
	// A backend without stamps applied it unconditionally: last writer
	// wins from the stamps seen here. A newer write already there (by the
	// record) is put back.
	if r.note(dst.Region, w, st) {
		return Applied, "", nil
	}
	return Superseded, "backend keeps no stamps: the replicator's record decided", nil
}

// readSource is one read of the source's stream: a request through its
// endpoint, so a fault on the source region holds its writes back.
func (r *Replicator) readSource(ctx context.Context, src Peer) error {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src.Endpoint+"/", nil)
	if err != nil {
		return err
	}
	resp, err := src.Client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("reading %s's stream: HTTP %d", src.Region, resp.StatusCode)
	}
	return nil
}

// call is one DynamoDB JSON 1.0 request to a peer's endpoint.
func (r *Replicator) call(ctx context.Context, peer Peer, op string, body []byte, headers func(http.Header)) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, peer.Endpoint+"/", bytes.NewReader(body))
	if err != nil {
		return nil, errPermanent{err}
	}
	h := req.Header
	h.Set("Content-Type", "application/x-amz-json-1.0")
	h.Set("X-Amz-Target", "DynamoDB_20120810."+op)
	// DynamoDB Local reads the access key from a SigV4-shaped header and
	// checks no signature.
	date := time.Now().UTC().Format("20060102T150405Z")
	h.Set("X-Amz-Date", date)
	h.Set("Authorization", "AWS4-HMAC-SHA256 Credential=faultline/"+date[:8]+"/"+peer.Region+
		"/dynamodb/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0")
	if headers != nil {
		headers(h)
	}
	resp, err := peer.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	switch {
	case resp.StatusCode == http.StatusOK:
		return resp, nil
	case resp.StatusCode >= 500 || bytes.Contains(msg, []byte("Throttling")) || bytes.Contains(msg, []byte("ProvisionedThroughputExceeded")):
		return nil, fmt.Errorf("%s at %s: HTTP %d: %s", op, peer.Region, resp.StatusCode, msg)
	}
	return nil, errPermanent{fmt.Errorf("%s at %s: HTTP %d: %s", op, peer.Region, resp.StatusCode, msg)}
}
