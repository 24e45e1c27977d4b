// Package mrsc is DynamoDB's multi-Region strong consistency (MRSC) for
// faultline's world: three regions' embedded backends made replicas of one
// global table, where a write succeeds only once a majority of the three
// replicas (the region's own and at least one other) holds it, a strongly
// consistent read returns the latest acknowledged version, a write to an item
// that another region is modifying fails with ReplicatedWriteConflictException,
// and a region that reaches no other replica fails its writes and its strongly
// consistent reads (InternalServerError) while still serving eventually
// consistent reads. README.md says what of DynamoDB's behaviour is modelled
// and what is not.
//
// A Group is the global table; Handler puts a region's replica in front of
// that region's backend (embedded.WithHandler). Replicas reach each other
// through Config.Peer, which topology points at each region's own endpoint
// (its DNS name, its NLB, its data links), so the faults that cut clients off
// a region cut its replicas off too. Reachability is symmetric: a replica
// accepts a peer's request only after reaching that peer back.
package mrsc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Replicas is how many regions an MRSC global table spans: exactly three
// (three replicas, or two and a witness: Config.Witness).
const Replicas = 3

// Config describes the global table's replicas.
type Config struct {
	// Regions are the three regions holding a replica.
	Regions []string
	// Witness, when set, is the region (one of Regions) whose replica is
	// DynamoDB's witness: it holds every write and counts for the majority,
	// but serves no client: its region has no replica table, so item and
	// table operations there answer ResourceNotFoundException.
	Witness string
	// Peer says how the replica in from reaches the one in to: the base URL
	// ("http://dynamodb.us-west-2.amazonaws.com:PORT") and the HTTP client
	// that dials it. An error means to is unreachable from from for now.
	Peer func(from, to string) (baseURL string, client *http.Client, err error)
	// Timeout bounds one round trip to a peer (default 1s): a replica that
	// has heard from no other within it fails the request.
	Timeout time.Duration
	// Lease is how long a peer keeps an item reserved for a write that
	// neither commits nor aborts (default 4×Timeout).
	Lease time.Duration
	// Retry is how often committed writes that did not reach a replica are
	// offered to it again (default 200ms).
	Retry time.Duration
	// Observer sees acknowledged writes and every write applied at a
	// replica; it must not block.
	Observer func(Event)
}

// Event is a write acknowledged by a replica (Kind "write"), or a write
// applied at another replica (Kind "replicated").
type Event struct {
	Kind    string    // KindWrite or KindReplicated
	Time    time.Time // write: acknowledged; replicated: applied at To (its answer arrived)
	Region  string    // the region that acknowledged the write (the source)
	To      string    // replicated: the destination
	Table   string
	Item    string // the item's key: its key value, or hash/range
	Version *int64 // the item's numeric "v" attribute, when it has one
	Op      string // PutItem, UpdateItem, DeleteItem, BatchWriteItem
	Written time.Time
	// Status of a replicated write: "applied", or "superseded" when the
	// destination held a newer version already.
	Status string
}

// Event kinds.
const (
	KindWrite      = "write"
	KindReplicated = "replicated"
)

// Group is one global table in strong-consistency mode.
type Group struct {
	cfg      Config
	replicas map[string]*replica

	started  atomic.Bool
	mu       sync.Mutex
	isolated map[string]int // region → isolations in force

	ids  atomic.Uint64
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

// New checks the configuration and makes the group; Handler then gives each
// region's replica, and Start turns replication on.
func New(cfg Config) (*Group, error) {
	if len(cfg.Regions) != Replicas {
		return nil, fmt.Errorf("mrsc: multi-Region strong consistency spans exactly %d regions (three replicas, or two and a witness); got %d", Replicas, len(cfg.Regions))
	}
	seen := map[string]bool{}
	for _, r := range cfg.Regions {
		if r == "" || seen[r] {
			return nil, fmt.Errorf("mrsc: regions %v: each named once", cfg.Regions)
		}
		seen[r] = true
	}
	if cfg.Witness != "" && !seen[cfg.Witness] {
		return nil, fmt.Errorf("mrsc: the witness %s is none of the regions %v", cfg.Witness, cfg.Regions)
	}
	if cfg.Peer == nil {
		return nil, errors.New("mrsc: no Peer: replicas need a way to reach each other")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Second
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 4 * cfg.Timeout
	}
	if cfg.Retry <= 0 {
		cfg.Retry = 200 * time.Millisecond
	}
	g := &Group{cfg: cfg, replicas: map[string]*replica{}, isolated: map[string]int{}, stop: make(chan struct{})}
	for _, r := range cfg.Regions {
		g.replicas[r] = newReplica(g, r)
		g.replicas[r].witness = r == cfg.Witness
	}
	return g, nil
}

// Regions are the group's regions.
func (g *Group) Regions() []string { return append([]string(nil), g.cfg.Regions...) }

// Handler is region's replica in front of next, that region's backend:
// client requests for items go through the protocol, the rest (tables) go
// straight to next, and the peers' requests are served under
// /faultline/mrsc/.
func (g *Group) Handler(region string, next http.Handler) (http.Handler, error) {
	r, ok := g.replicas[region]
	if !ok {
		return nil, fmt.Errorf("mrsc: %s holds no replica of the global table (%v)", region, g.cfg.Regions)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.next != nil {
		return nil, fmt.Errorf("mrsc: %s's replica has a backend already", region)
	}
	r.next = next
	return r, nil
}

// Start turns replication on. Before it, every replica is a plain table (the
// world seeds each region's table alike); after it, writes need a majority.
// Each replica must have a backend (Handler).
func (g *Group) Start() error {
	for _, name := range g.cfg.Regions {
		r := g.replicas[name]
		r.mu.Lock()
		missing := r.next == nil
		r.mu.Unlock()
		if missing {
			return fmt.Errorf("mrsc: %s's replica has no backend", name)
		}
	}
	if g.started.Swap(true) {
		return nil
	}
	g.wg.Add(1)
	go g.redeliver()
	return nil
}

// Isolate cuts region's replica off the others, in and out, as AWS FIS's
// region isolation of a global table does (it pauses replication to and from
// the replica): until heal, its writes and strongly consistent reads fail and
// the others go on as a majority of two. heal is idempotent.
func (g *Group) Isolate(region string) (heal func(), err error) {
	if _, ok := g.replicas[region]; !ok {
		return nil, fmt.Errorf("mrsc: no replica in %s", region)
	}
	g.mu.Lock()
	g.isolated[region]++
	g.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			if g.isolated[region]--; g.isolated[region] == 0 {
				delete(g.isolated, region)
			}
			g.mu.Unlock()
		})
	}, nil
}

// cut reports whether an isolation stands between from and to.
func (g *Group) cut(from, to string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.isolated[from] > 0 || g.isolated[to] > 0
}

// Pending is how many item versions wait to reach replicas that missed them
// (by destination region).
func (g *Group) Pending() map[string]int {
	out := map[string]int{}
	for _, r := range g.replicas {
		r.mu.Lock()
		for to, m := range r.pending {
			out[to] += len(m)
		}
		r.mu.Unlock()
	}
	return out
}

// Close stops redelivery. It is idempotent.
func (g *Group) Close() {
	g.once.Do(func() { close(g.stop) })
	g.wg.Wait()
}

// redeliver offers committed writes that missed a replica to it again,
// until it takes them.
func (g *Group) redeliver() {
	defer g.wg.Done()
	t := time.NewTicker(g.cfg.Retry)
	defer t.Stop()
	for {
		select {
		case <-g.stop:
			return
		case <-t.C:
		}
		var wg sync.WaitGroup
		for _, r := range g.replicas {
			for _, to := range r.peers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r.flush(to)
				}()
			}
		}
		wg.Wait()
	}
}

func (g *Group) observe(e Event) {
	if g.cfg.Observer != nil {
		g.cfg.Observer(e)
	}
}

// sortedKeys returns the map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// bounded is a context bounded by the group's peer timeout.
func (g *Group) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, g.cfg.Timeout)
}
