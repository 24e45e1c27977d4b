// Package nlb is a load balancer that behaves like an AWS Network Load
// Balancer in one region: nodes on loopback addresses of their own that all
// listen on one port, forwarding each new TCP connection to a healthy target
// of one target group; per-target health checks with AWS's thresholds; fail
// open when no target is healthy; connections to a target that turns
// unhealthy are reset. Every data path and every health-check path goes
// through a link (embedded toxiproxy), so network faults act on them.
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
	Kind                 string // "hc.result" | "target.state" | "conn.accepted" | "conn.closed" | "conn.failed" | "node.down" | "node.up" | "http.request"
	Region, Node, Target string
	Client               string // "ip:port" of the connection's client (conn.*, http.request)
	OK                   bool   // hc.result; http.request: a response below 500 came back
	From, To             string // target.state
	Detail               string // http.request: the operation (X-Amz-Target's) and the status, or why none came
	Op                   string // http.request: the operation, e.g. GetItem
	Started              time.Time

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
	nodes     []net.Listener // nil while a node is down; guarded by mu
	tlsNodes  []net.Listener // the nodes' TLS listeners, when Config.TLS is set; guarded by mu
	targets   []*target

	// aliases[n], tlsAliases[n]: node n's listeners on its aliases (nil
	// while it is down); guarded by mu.
	aliases, tlsAliases [][]net.Listener

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
	all, port, err := listenNodes(append(append([]string(nil), cfg.NodeIPs...), aliasIPs(cfg)...), cfg.Port)
	if err != nil {
		return nil, fmt.Errorf("nlb %s: %w", cfg.Region, err)
	}
	lb.nodes, lb.port = all[:len(cfg.NodeIPs)], port
	lb.aliases = splitAliases(cfg, all[len(cfg.NodeIPs):])
	for _, ln := range lb.nodes {
		lb.nodeAddrs = append(lb.nodeAddrs, ln.Addr().String())
	}
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
		lb.wg.Add(1)
		go lb.serve(ln, lb.nodeAddrs[i])
	}
	for i, ln := range lb.tlsNodes {
		lb.wg.Add(1)
		go lb.serve(ln, lb.nodeAddrs[i])
	}
	lb.serveAliases()
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
	case cfg.TLS != nil && (cfg.TLSPort <= 0 || cfg.TLSPort > 65535):
		return fmt.Errorf("nlb %s: TLS port %d out of range (a TLS listener needs its port, e.g. 443)", cfg.Region, cfg.TLSPort)
	}
	for _, ip := range append(append([]string(nil), cfg.NodeIPs...), aliasIPs(cfg)...) {
		if p := net.ParseIP(ip); p == nil || !p.IsLoopback() {
			return fmt.Errorf("nlb %s: node address %q: expected a loopback IP address (127.0.0.0/8 or ::1)", cfg.Region, ip)
		}
	}
	if len(cfg.Aliases) > len(cfg.NodeIPs) {
		return fmt.Errorf("nlb %s: aliases for %d nodes; it has %d", cfg.Region, len(cfg.Aliases), len(cfg.NodeIPs))
	}
	if err := cfg.HealthCheck.Validate(); err != nil {
		return fmt.Errorf("nlb %s: %w", cfg.Region, err)
	}
	return nil
}

// listenNodes binds every node IP on one port; with port 0 the first node
// picks it, and a conflict on a later node starts over (bounded).
func listenNodes(ips []string, port int) ([]net.Listener, int, error) {
	var lastErr error
	for attempt := 0; attempt < 10; attempt++ {
		var lns []net.Listener
		p := port
		ok := true
		for _, ip := range ips {
			ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(p)))
			if err != nil {
				lastErr = err
				ok = false
				break
			}
			if p == 0 {
				p = ln.Addr().(*net.TCPAddr).Port
			}
			lns = append(lns, ln)
		}
		if ok {
			return lns, p, nil
		}
		for _, ln := range lns {
			ln.Close()
		}
		if port != 0 {
			break
		}
	}
	return nil, 0, fmt.Errorf("binding nodes: %w", lastErr)
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
		n := lb.terminate(t)
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
// refused; connections it already carries go on.
func (lb *LB) NodeDown(i int) error {
	if i < 0 || i >= len(lb.nodeAddrs) {
		return fmt.Errorf("nlb %s: no node %d (it has %d)", lb.cfg.Region, i+1, len(lb.nodeAddrs))
	}
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if lb.nodes[i] == nil {
		return nil
	}
	err := lb.nodes[i].Close()
	lb.nodes[i] = nil
	if i < len(lb.tlsNodes) && lb.tlsNodes[i] != nil {
		err = errors.Join(err, lb.tlsNodes[i].Close())
		lb.tlsNodes[i] = nil
	}
	err = errors.Join(err, lb.aliasesDown(i))
	lb.emit(Event{Kind: "node.down", Node: lb.nodeAddrs[i]})
	return err
}

// NodeUp starts node i again on its address.
func (lb *LB) NodeUp(i int) error {
	if i < 0 || i >= len(lb.nodeAddrs) {
		return fmt.Errorf("nlb %s: no node %d (it has %d)", lb.cfg.Region, i+1, len(lb.nodeAddrs))
	}
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if lb.nodes[i] != nil || lb.ctx.Err() != nil {
		return nil
	}
	ln, err := net.Listen("tcp", lb.nodeAddrs[i])
	if err != nil {
		return fmt.Errorf("nlb %s: restarting node %s: %w", lb.cfg.Region, lb.nodeAddrs[i], err)
	}
	lb.nodes[i] = ln
	lb.wg.Add(1)
	go lb.serve(ln, lb.nodeAddrs[i])
	if i < len(lb.tlsNodes) {
		host, _, _ := net.SplitHostPort(lb.nodeAddrs[i])
		tln, err := lb.listenTLS(net.JoinHostPort(host, strconv.Itoa(lb.cfg.TLSPort)))
		if err != nil {
			return err
		}
		lb.tlsNodes[i] = tln
		lb.wg.Add(1)
		go lb.serve(tln, lb.nodeAddrs[i])
	}
	if err := lb.aliasesUp(i); err != nil {
		return err
	}
	lb.emit(Event{Kind: "node.up", Node: lb.nodeAddrs[i]})
	return nil
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
		for _, lns := range append([][]net.Listener{lb.nodes, lb.tlsNodes}, append(lb.aliases, lb.tlsAliases...)...) {
			for i, ln := range lns {
				if ln != nil {
					if err := ln.Close(); err != nil {
						errs = append(errs, err)
					}
					lns[i] = nil
				}
			}
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
