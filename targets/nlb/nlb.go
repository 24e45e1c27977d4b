// Package nlb is a load balancer that behaves like an AWS Network Load
// Balancer in one region: nodes on loopback addresses of their own that all
// listen on one port, forwarding each new TCP connection to a healthy target
// of one target group; per-target health checks with AWS's thresholds; fail
// open when no target is healthy; connections to a target that turns
// unhealthy are reset. Every data path and every health-check path has a
// link (embedded toxiproxy), so network faults act on them: a node dials
// its target itself and runs the data link's toxics on the connection
// (forward.go, links.Link.Carry); health checks dial their link.
package nlb

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/faultline-dev/faultline/targets/links"
)

// Config of one region's load balancer.
type Config struct {
	Region      string
	NodeIPs     []string // one node per address, e.g. 127.0.1.1 and 127.0.1.2
	Port        int      // every node's port; 0 picks a free one on the first node and reuses it
	Targets     []string // target addresses "ip:port"
	HealthCheck HealthCheck
	Links       *links.Hub  // where the data and health-check links are made
	Observer    func(Event) // may be nil
	// KeepConnectionsOnUnhealthy turns off NLB's connection termination: by
	// default the connections to a target that turns unhealthy are reset.
	KeepConnectionsOnUnhealthy bool
	// Each node is one availability zone; target t is in AZ t mod nodes.
	// Without CrossZone (AWS's default for NLB) a node routes only to its
	// AZ's targets.
	CrossZone bool
	// Publish, when set, is called with the node addresses DNS should answer
	// with: the nodes whose AZ has a healthy (or not yet checked) target, or
	// every node when none has (Route 53 fails open too). It is called once
	// at start and on every change.
	Publish func(nodeIPs []string)
	// Velocity, when set, limits how much capacity may leave DNS at once:
	// AWS's fix after October 20.
	Velocity *Velocity
	// IdleTimeout, when set, forgets a connection that carried no data
	// either way for that long, as NLB does (AWS: 350 s by default): the
	// client's next packet gets an RST. MaxAge, when set, closes a
	// connection gracefully (FIN, between exchanges) once it is that old
	// (ALB's HTTP client keepalive duration; NLB has none). See lifetime.go.
	IdleTimeout, MaxAge time.Duration
	// TLS, when set, makes every node also listen on TLSPort and terminate
	// TLS there, as an NLB TLS listener does, forwarding the plaintext to
	// the same targets. Over TLS listeners the node also reads the HTTP/1.1
	// exchanges passing through and reports each as an "http.request"
	// event: what the server side sees of a client it cannot instrument.
	TLS     *tls.Config
	TLSPort int
	// ObserveHTTP reports the HTTP exchanges of the plain listeners too (TLS
	// listeners always report theirs).
	ObserveHTTP bool
	// Aliases[n] are further loopback addresses node n listens on, on its
	// port (and TLSPort): a node reached at an alias is the same node, and
	// its events say where a connection arrived (Event.Local), so a caller
	// that hands out an alias per client can tell the clients apart. They
	// are bound together with the nodes' own addresses, and a node that is
	// down is down on its aliases too.
	Aliases [][]string
}

// Velocity limits DNS removals: at most MaxShare of the nodes may be removed
// within any Window; further removals wait.
type Velocity struct {
	MaxShare float64
	Window   time.Duration
}

// Event is what the load balancer reports.
type Event struct {
	Time                 time.Time
	Kind                 string // "hc.result" | "target.state" | "conn.accepted" | "conn.closed" | "conn.failed" | "conn.expired" | "conns.reset" | "node.down" | "node.up" | "http.request"
	Region, Node, Target string
	Client               string // "ip:port" of the connection's client (conn.*, http.request)
	OK                   bool   // hc.result; http.request: a response below 500 came back
	From, To             string // target.state
	Detail               string // http.request: the operation (X-Amz-Target's) and the status, or why none came; conn.closed: why it ended ("" when a side closed it; Closed*); conns.reset: how many
	Op                   string // http.request: the operation, e.g. GetItem
	Started              time.Time
	// Lag (hc.result) is how late the harness ran the check: the later of
	// its start against its due time and its end against its deadline.
	// Discarded: Lag exceeded the check's timeout, so the check was not
	// counted towards the thresholds.
	Lag       time.Duration
	Discarded bool

	// Local is the "ip:port" a connection arrived at: the node's own
	// address or one of its aliases (conn.*, http.request). Started is, on
	// conn.*, when the node accepted the connection.
	Local string
}

// Target states.
const (
	StateInitial   = "initial"
	StateHealthy   = "healthy"
	StateUnhealthy = "unhealthy"
	StateDraining  = "draining" // deregistered: no new connections; existing ones get the deregistration delay
	StateUnused    = "unused"   // deregistered and drained
)

// TargetStatus is a target as its health checks see it.
type TargetStatus struct {
	Addr                      string
	State                     string
	ConsecutiveOK, ConsecFail int
}

// LB is a running load balancer.
type LB struct {
	cfg       Config
	port      int
	nodeAddrs []string
	nodes     []*nodeListener // one per node, paused while it is down; guarded by mu
	tlsNodes  []*nodeListener // the nodes' TLS listeners, when Config.TLS is set; guarded by mu
	down      []bool          // which nodes are down; guarded by mu
	// aliases[n], tlsAliases[n]: node n's listeners on its aliases, paused
	// with it; guarded by mu.
	aliases, tlsAliases [][]*nodeListener
	targets             []*target

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	next  int // round robin
	conns map[*proxied]struct{}

	// published says which nodes DNS answers with; removals remembers when
	// nodes left DNS, for the velocity limit. Both guarded by pubMu.
	pubMu         sync.Mutex
	published     []bool
	everPublished bool
	removals      []time.Time

	// propagation is how long a target that turns healthy keeps refusing on
	// its data path (its network state has not propagated yet); 0: none.
	propagation atomic.Int64

	closeOnce sync.Once
	closeErr  error
}

type target struct {
	addr   string
	az     int
	data   *links.Link
	health *links.Link

	mu     sync.Mutex
	state  string
	okRun  int
	badRun int
}

type proxied struct {
	client, upstream net.Conn
	target           *target
	flow             *flow
}

// Start makes the links, binds every node and starts the health checks.
// Targets start in the initial state; until one is healthy the load balancer
// fails open and routes to all of them, as NLB does.
func Start(ctx context.Context, cfg Config) (lb *LB, err error) {
	if err := validate(cfg); err != nil {
		return nil, err
	}
	lb = &LB{cfg: cfg, conns: map[*proxied]struct{}{}}
	lb.ctx, lb.cancel = context.WithCancel(context.Background())
	started := lb // `return nil, err` sets lb to nil before this runs
	defer func() {
		if err != nil {
			started.Close()
			lb = nil
		}
	}()
	for i, addr := range cfg.Targets {
		t := &target{addr: addr, state: StateInitial, az: i % len(cfg.NodeIPs)}
		if t.data, err = cfg.Links.Add(fmt.Sprintf("%s/data/%d/%s", cfg.Region, i, addr), addr); err != nil {
			return nil, err
		}
		if t.health, err = cfg.Links.Add(fmt.Sprintf("%s/hc/%d/%s", cfg.Region, i, addr), addr); err != nil {
			return nil, err
		}
		lb.targets = append(lb.targets, t)
	}
	// The aliases bind with the nodes, so a port conflict on any of them
	// starts over on another port.
	tcps, port, err := listenNodes(append(append([]string(nil), cfg.NodeIPs...), aliasIPs(cfg)...), cfg.Port)
	if err != nil {
		return nil, fmt.Errorf("nlb %s: %w", cfg.Region, err)
	}
	lb.port = port
	for _, ln := range tcps[:len(cfg.NodeIPs)] {
		lb.nodes = append(lb.nodes, newNodeListener(ln, ln))
		lb.nodeAddrs = append(lb.nodeAddrs, ln.Addr().String())
	}
	lb.aliases = splitAliases(cfg, tcps[len(cfg.NodeIPs):])
	lb.down = make([]bool, len(lb.nodes))
	if cfg.TLS != nil {
		for _, ip := range cfg.NodeIPs {
			ln, err := lb.listenTLS(net.JoinHostPort(ip, strconv.Itoa(cfg.TLSPort)))
			if err != nil {
				return nil, err
			}
			lb.tlsNodes = append(lb.tlsNodes, ln)
		}
		if err := lb.listenAliasesTLS(); err != nil {
			return nil, err
		}
	}
	lb.published = make([]bool, len(lb.nodeAddrs))
	lb.republish()
	for i, ln := range lb.nodes {
		ln.start(lb, lb.nodeAddrs[i])
	}
	for i, ln := range lb.tlsNodes {
		ln.start(lb, lb.nodeAddrs[i])
	}
	for i := range lb.nodes {
		for _, ln := range lb.aliasListeners(i) {
			ln.start(lb, lb.nodeAddrs[i])
		}
	}
	for _, t := range lb.targets {
		lb.wg.Add(1)
		go lb.healthLoop(t)
	}
	return lb, nil
}

func validate(cfg Config) error {
	switch {
	case cfg.Region == "":
		return errors.New("nlb: no region name")
	case len(cfg.NodeIPs) == 0:
		return fmt.Errorf("nlb %s: no nodes", cfg.Region)
	case len(cfg.Targets) == 0:
		return fmt.Errorf("nlb %s: no targets", cfg.Region)
	case cfg.Links == nil:
		return fmt.Errorf("nlb %s: no links hub", cfg.Region)
	case cfg.Port < 0 || cfg.Port > 65535:
		return fmt.Errorf("nlb %s: port %d out of range", cfg.Region, cfg.Port)
	case cfg.IdleTimeout < 0 || cfg.MaxAge < 0:
		return fmt.Errorf("nlb %s: negative idle timeout %s or max age %s (0 turns either off)", cfg.Region, cfg.IdleTimeout, cfg.MaxAge)
	case cfg.TLS != nil && (cfg.TLSPort <= 0 || cfg.TLSPort > 65535):
		return fmt.Errorf("nlb %s: TLS port %d out of range (a TLS listener needs its port, e.g. 443)", cfg.Region, cfg.TLSPort)
	}
	if len(cfg.Aliases) > len(cfg.NodeIPs) {
		return fmt.Errorf("nlb %s: aliases for %d nodes; it has %d", cfg.Region, len(cfg.Aliases), len(cfg.NodeIPs))
	}
	for _, ip := range append(append([]string(nil), cfg.NodeIPs...), aliasIPs(cfg)...) {
		if p := net.ParseIP(ip); p == nil || !p.IsLoopback() {
			return fmt.Errorf("nlb %s: node address %q: expected a loopback IP address (127.0.0.0/8 or ::1)", cfg.Region, ip)
		}
	}
	if err := cfg.HealthCheck.Validate(); err != nil {
		return fmt.Errorf("nlb %s: %w", cfg.Region, err)
	}
	return nil
}

// NodeAddrs are the nodes' "ip:port".
func (lb *LB) NodeAddrs() []string { return append([]string(nil), lb.nodeAddrs...) }

// Deregister takes a target out of the target group, as NLB does: it turns
// draining at once (no new connections, health checks stop counting), its
// existing connections may finish for delay, then they are closed and it is
// unused.
func (lb *LB) Deregister(addr string, delay time.Duration) error {
	t := lb.target(addr)
	if t == nil {
		return fmt.Errorf("nlb %s: no target %s", lb.cfg.Region, addr)
	}
	t.mu.Lock()
	from := t.state
	if from == StateDraining || from == StateUnused {
		t.mu.Unlock()
		return nil
	}
	t.state = StateDraining
	t.mu.Unlock()
	lb.emit(Event{Kind: "target.state", Target: addr, From: from, To: StateDraining, Detail: fmt.Sprintf("deregistered; deregistration delay %s", delay)})
	lb.republish()
	lb.wg.Add(1)
	go func() {
		defer lb.wg.Done()
		timer := time.NewTimer(delay)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-lb.ctx.Done():
		}
		n := lb.terminate(t, ClosedDeregistered)
		t.mu.Lock()
		t.state = StateUnused
		t.mu.Unlock()
		lb.emit(Event{Kind: "target.state", Target: addr, From: StateDraining, To: StateUnused, Detail: fmt.Sprintf("drained; closed %d connections", n)})
	}()
	return nil
}

// SetPropagationDelay makes every target that turns healthy refuse data
// connections for d more: its health checks pass before its data path
// works, the mechanism of October 20's NLB flapping. 0 turns it off.
func (lb *LB) SetPropagationDelay(d time.Duration) { lb.propagation.Store(int64(d)) }

// propagate holds t's data path down for the propagation delay.
func (lb *LB) propagate(t *target) {
	d := time.Duration(lb.propagation.Load())
	if d <= 0 {
		return
	}
	if err := t.data.Down(); err != nil {
		return
	}
	lb.emit(Event{Kind: "target.propagating", Target: t.addr, Detail: fmt.Sprintf("data path refuses for %s", d)})
	lb.wg.Add(1)
	go func() {
		defer lb.wg.Done()
		timer := time.NewTimer(d)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-lb.ctx.Done():
		}
		t.data.Up()
	}()
}

// NodeDown stops node i (from 0) accepting: new connections to it are
// refused; connections it already carries go on. The node keeps its
// sockets, so NodeUp never binds its port again (see nodeListener.pause).
func (lb *LB) NodeDown(i int) error {
	if i < 0 || i >= len(lb.nodeAddrs) {
		return fmt.Errorf("nlb %s: no node %d (it has %d)", lb.cfg.Region, i+1, len(lb.nodeAddrs))
	}
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if lb.down[i] || lb.ctx.Err() != nil {
		return nil
	}
	lb.down[i] = true
	var errs []error
	for _, ln := range lb.listenersOf(i) {
		if err := ln.pause(); err != nil {
			errs = append(errs, err)
		}
	}
	lb.emit(Event{Kind: "node.down", Node: lb.nodeAddrs[i]})
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("nlb %s: taking node %s down: %w", lb.cfg.Region, lb.nodeAddrs[i], err)
	}
	return nil
}

// NodeUp makes node i accept again, on the same sockets.
func (lb *LB) NodeUp(i int) error {
	if i < 0 || i >= len(lb.nodeAddrs) {
		return fmt.Errorf("nlb %s: no node %d (it has %d)", lb.cfg.Region, i+1, len(lb.nodeAddrs))
	}
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if !lb.down[i] || lb.ctx.Err() != nil {
		return nil
	}
	var errs []error
	for _, ln := range lb.listenersOf(i) {
		if err := ln.resume(lb, lb.nodeAddrs[i]); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("nlb %s: bringing node %s up: %w", lb.cfg.Region, lb.nodeAddrs[i], err)
	}
	lb.down[i] = false
	lb.emit(Event{Kind: "node.up", Node: lb.nodeAddrs[i]})
	return nil
}

// listenersOf are node i's listeners: its plain one and its TLS one, and
// those of its aliases.
func (lb *LB) listenersOf(i int) []*nodeListener {
	ls := []*nodeListener{lb.nodes[i]}
	if i < len(lb.tlsNodes) {
		ls = append(ls, lb.tlsNodes[i])
	}
	return append(ls, lb.aliasListeners(i)...)
}

// Port is the port every node listens on.
func (lb *LB) Port() int { return lb.port }

// Targets reports each target's health.
func (lb *LB) Targets() []TargetStatus {
	var out []TargetStatus
	for _, t := range lb.targets {
		t.mu.Lock()
		out = append(out, TargetStatus{Addr: t.addr, State: t.state, ConsecutiveOK: t.okRun, ConsecFail: t.badRun})
		t.mu.Unlock()
	}
	return out
}

// DataLink is the link data connections to target take.
func (lb *LB) DataLink(addr string) *links.Link {
	if t := lb.target(addr); t != nil {
		return t.data
	}
	return nil
}

// HealthLink is the link health checks of target take.
func (lb *LB) HealthLink(addr string) *links.Link {
	if t := lb.target(addr); t != nil {
		return t.health
	}
	return nil
}

func (lb *LB) target(addr string) *target {
	for _, t := range lb.targets {
		if t.addr == addr {
			return t
		}
	}
	return nil
}

// Close stops the nodes and health checks and closes every proxied
// connection. The links stay with their hub. Close is idempotent.
func (lb *LB) Close() error {
	lb.closeOnce.Do(func() {
		lb.cancel()
		var errs []error
		lb.mu.Lock()
		errs = append(errs, closeAll(lb.nodes), closeAll(lb.tlsNodes))
		for i := range lb.nodes {
			errs = append(errs, closeAll(lb.aliasListeners(i)))
		}
		for p := range lb.conns {
			p.client.Close()
			p.upstream.Close()
		}
		lb.mu.Unlock()
		lb.wg.Wait()
		lb.closeErr = errors.Join(errs...)
	})
	return lb.closeErr
}

func (lb *LB) emit(e Event) {
	if lb.cfg.Observer == nil {
		return
	}
	e.Time = time.Now()
	e.Region = lb.cfg.Region
	lb.cfg.Observer(e)
}
