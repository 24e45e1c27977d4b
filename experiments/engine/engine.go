// Package engine is the one component that opens a world, applies and heals
// faults, and publishes the event stream. Every driver sits on it: the
// runner (a schedule, clients, steady state, stop conditions), the testbed
// (Go tests) and `faultline up` (a control API, a live dashboard,
// Prometheus). Nothing else applies a fault.
//
// # Opening and closing
//
//	eng, err := engine.Open(ctx, engine.Config{Topology: cfg, Journal: j, Apps: 2, Log: say})
//	defer eng.Close() // heals every fault still applied, tears the world down; idempotent
//
// Open builds the world (targets/topology) and installs, once for every
// driver, the adapters from the world to the journal: the DNS server's
// answers, the caching resolver's answers, the NLBs' events (health checks,
// target states, connections, node up and down, HTTP exchanges), DNS
// publications and the DNS automation's steps. The journal is the driver's:
// it outlives the Engine (run.start before Open, run.end after Close).
//
//	func Open(ctx context.Context, cfg Config) (*Engine, error)
//	func (e *Engine) World() *topology.World
//	func (e *Engine) Journal() *journal.Journal
//	func (e *Engine) Record(ev journal.Event)  // journal it and stream it: drivers record through the Engine
//	func (e *Engine) Close() error
//
// # Faults
//
// Apply validates a fault (its kind, parameters and target), applies it and
// journals fault.applied with what the metrics need (reach, endpoint name,
// node, lateness) and who applied it (By: "schedule", "test", "api:NAME",
// ...). ApplyFor also heals it by itself once bound has passed (By "bound"):
// the live mode's safety. Each applied fault is healed exactly once,
// whoever asks first (the schedule, its bound, an API call, HealAll,
// Close); a later Heal of it returns ErrHealed. Close heals everything still
// applied, newest first, whatever ended the driver: a driver defers Close
// (and recovers its own panics) so that an error, a panic or a signal
// still heals.
//
//	func (e *Engine) Apply(f faults.Fault, by string, opts ...Option) (Applied, error)
//	func (e *Engine) ApplyFor(f faults.Fault, by string, bound time.Duration, opts ...Option) (Applied, error)
//	func (e *Engine) Heal(id, why, by string, opts ...Option) error
//	func (e *Engine) HealAll(why, by string, opts ...Option) error
//	func (e *Engine) Active() []Applied
//	func Late(d time.Duration) Option  // how late against a schedule: journaled as LagMS
//	func From(addr string) Option      // where the call came from (an API client): journaled as Addr
//
// A fault without an ID gets the first free "fN". Errors: ErrClosed,
// ErrUnknownFault, ErrHealed, ErrDuplicate; a bad kind, parameter, target
// or bound is an error that says what was expected and wraps ErrInvalid
// (the faults package's *ParamError too, for a parameter), and nothing is
// applied; an error that does not wrap ErrInvalid is the world failing to
// apply a valid fault.
//
// # Clients
//
// The Engine names the client of every event it journals, for any driver:
// a reference client by the source address it dials and queries from
// (AddClient), an application by its identity (AddApp): a DNS relay of its
// own, whose source address names its queries, and an alias set of the
// nodes, whose addresses name its connections. For an application it also
// journals its server-side view, NAME.server: a request for every HTTP
// exchange a node carried for it, every connection a node could not carry
// to a target, and every A/AAAA answer a fault shaped; and, while a node is
// down, the connection attempts the kernel refused at its aliases
// (conn.refused, seen by a packet socket on lo).
//
//	func (e *Engine) AddClient(name, sourceIP string)
//	func (e *Engine) AddApp(name string, served func()) (App, error)
//	func ReferenceIP(i int) string  // reference client i's source address, 127.0.0.(11+i)
//
// # The event stream
//
// Subscribe streams every event recorded through the Engine from now on;
// Resume replays, first, the retained ones after a sequence number (the
// last Retained events are kept), so a stream (server-sent events) can pick
// up where a client left it. Each subscription has a bounded buffer: a
// subscriber that lets it fill is cut off — its channel is closed and Err
// says which event it missed first (a *LaggedError) — and the world never
// waits for it. It may Resume from the last sequence it read while that is
// still retained (Resume's *GoneError says which is the oldest that is). At most MaxSubscribers subscriptions are open at once.
//
//	func (e *Engine) Subscribe(buffer int) (*Subscription, error)
//	func (e *Engine) Resume(after uint64, buffer int) (*Subscription, error)
//	func (s *Subscription) C() <-chan Delivery  // Delivery{Seq, Event}
//	func (s *Subscription) Err() error
//	func (s *Subscription) Close()
package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/targets/topology"
)

// Config of an Engine.
type Config struct {
	// Topology is the world to build. Its observers are the Engine's and
	// must be left nil; its alias sets and HTTP observation follow Apps.
	Topology topology.Config
	// Journal receives every event. It is the driver's: the Engine does not
	// close it.
	Journal *journal.Journal
	// Apps reserves an alias set of the nodes for each application the
	// driver will add (AddApp); the nodes listen on them from the start.
	Apps int
	// Log, when set, receives one line per step (relays, faults applied
	// and healed, the refusal watch).
	Log func(format string, args ...any)
}

// Engine is an open world. Its methods are safe for concurrent use.
type Engine struct {
	cfg   Config
	world *topology.World
	j     *journal.Journal
	fw    faultWorld

	// nodePorts are the ports every node listens on (plain, and TLS).
	nodePorts []int

	faultState
	clientState
	stream

	// other counts the DNS queries from sources that are no client's.
	other *otherQueries

	closeOnce sync.Once
	closeErr  error
}

// Open builds the world cfg describes and installs its adapters to the
// journal. On an error nothing is left running.
func Open(ctx context.Context, cfg Config) (*Engine, error) {
	if cfg.Journal == nil {
		return nil, errors.New("engine: no journal")
	}
	t := cfg.Topology
	if t.DNSObserver != nil || t.ResolverObserver != nil || t.NLBObserver != nil || t.PublishObserver != nil || t.AutomationObserver != nil || t.StrongObserver != nil || t.ReplicaObserver != nil || t.CapacityObserver != nil {
		return nil, errors.New("engine: the topology's observers are the Engine's; subscribe to its events instead")
	}
	if cfg.Apps < 0 || cfg.Apps > topology.MaxAliasSets {
		return nil, fmt.Errorf("engine: %d applications; at most %d", cfg.Apps, topology.MaxAliasSets)
	}
	e := &Engine{cfg: cfg, j: cfg.Journal}
	e.faultState.init()
	e.clientState.init()
	e.stream.init()
	e.other = newOtherQueries(e.Record)
	t.DNSObserver = e.onDNS
	t.ResolverObserver = e.onResolver
	t.NLBObserver = e.onNLB
	t.PublishObserver = e.onPublish
	t.AutomationObserver = e.onAutomation
	t.StrongObserver = e.onStrong
	t.ReplicaObserver = e.onReplica
	t.CapacityObserver = e.onCapacity
	if t.ResolverExec != "" && t.ResolverClient == nil {
		// A real resolver process of its own for each client's source
		// address; everyone else's queries share one.
		t.ResolverClient = e.clientSource
	}
	t.AliasSets = cfg.Apps
	t.ObserveHTTP = cfg.Apps > 0
	e.cfg.Topology = t // before Build: its observers read it
	w, err := topology.Build(ctx, t)
	if err != nil {
		return nil, fmt.Errorf("building the topology: %w", err)
	}
	e.world = w
	e.fw = faultWorld{w}
	e.recordCapacities()
	if lb, ok := w.NLB(t.Regions[0].Name); ok {
		e.nodePorts = append(e.nodePorts, lb.Port())
	}
	if t.TLS != nil {
		e.nodePorts = append(e.nodePorts, t.TLSPort)
	}
	return e, nil
}

// World is the built topology: addresses, endpoints, load balancers.
func (e *Engine) World() *topology.World { return e.world }

// Journal is the run's journal (the driver's).
func (e *Engine) Journal() *journal.Journal { return e.j }

// Close heals every fault still applied (why and by "rollback"), stops the
// applications' relays and the refusal watch, tears the world down and ends
// every subscription. It is idempotent and returns every error met: a heal
// that failed, or "teardown: ...".
func (e *Engine) Close() error {
	e.closeOnce.Do(func() {
		e.applyMu.Lock()
		e.closed = true
		e.applyMu.Unlock()
		healErr := e.HealAll("rollback", "rollback")
		e.closeClients()
		var teardown error
		if err := e.world.Close(); err != nil {
			teardown = fmt.Errorf("teardown: %w", err)
		}
		e.other.flush() // the last second's count, before the stream ends
		e.closeStream()
		e.closeErr = errors.Join(healErr, teardown)
	})
	return e.closeErr
}

func (e *Engine) log(format string, args ...any) {
	if e.cfg.Log != nil {
		e.cfg.Log(format, args...)
	}
}
