package dnsexec

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/faultline-dev/faultline/targets/dnscache"
	"github.com/faultline-dev/faultline/targets/dnsstub"
	"github.com/faultline-dev/faultline/targets/netbind"
)

// A Pool puts a real resolver between the clients and the authoritative
// server without losing who asked: one resolver process per client source
// address, behind a thin front on one address that every client queries.
//
// Why one instance per client: a shared resolver would answer client B from
// what client A's query put in its cache, and its upstream queries would
// belong to nobody; the resolvers' own query logs say whether an answer came
// from the cache in three different formats, written after the fact, with
// whole-second (dnsmasq) or missing (CoreDNS) timing. With an instance per
// client, every upstream query the authoritative server sees from instance
// i's source address is client i's, with the fault that shaped it; the front
// sees every answer the client gets, when it gets it, and calls it a cache
// hit when the instance sent no upstream query for that name and type while
// answering it. Per client is also how the real world looks from a client:
// the cache it meets (its host's stub resolver, its node-local cache) holds
// what its own queries put there.
//
// Sources the Own predicate does not accept (another process on the machine,
// a flood) share one instance, so they cannot make the pool start processes.
type Pool struct {
	cfg PoolConfig
	udp *dns.Server
	tcp *dns.Server

	mu      sync.Mutex
	bySrc   map[string]*member // client source IP → its instance
	bySelf  map[string]*member // instance source IP → it
	next    int
	closed  bool
	shared  *member
	members []*member

	inflight  sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// PoolConfig configures a pool.
type PoolConfig struct {
	Kind     string
	Addr     string // the front, "127.0.0.2:0"
	Upstream string // the authoritative server
	Zone     string
	// Own says whether queries from a source address get an instance of
	// their own (a client of the run); nil: every source does, up to Max.
	Own func(ip string) bool
	// Max bounds the instances of their own (default 64); further sources
	// share the pool's shared instance.
	Max      int
	Observer func(dnscache.Event) // every answer the front gave; may be nil
	Timeout  time.Duration        // how long the front waits for an instance's answer (default 5 s)
}

// member is one instance and what its upstream queries brought.
type member struct {
	ready chan struct{}
	inst  *Instance
	err   error

	mu sync.Mutex
	up map[upKey]upState // by name and type: the last upstream answer
}

type upKey struct {
	name  string
	qtype string
}

type upState struct {
	seq   uint64
	fault string
}

// maxUpKeys bounds what a member remembers of its upstream answers.
const maxUpKeys = 4096

// StartPool starts the front and the shared instance (which checks that the
// resolver runs here at all, so a missing or broken binary is an error now,
// not at the first query).
func StartPool(ctx context.Context, cfg PoolConfig) (_ *Pool, err error) {
	if _, err := LookupKind(cfg.Kind); err != nil {
		return nil, err
	}
	if _, err := Binary(cfg.Kind); err != nil {
		return nil, err
	}
	if cfg.Max == 0 {
		cfg.Max = 64
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.2:0"
	}
	p := &Pool{cfg: cfg, bySrc: map[string]*member{}, bySelf: map[string]*member{}}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	if p.shared, err = p.start(ctx); err != nil {
		return nil, err
	}
	pc, ln, err := netbind.UDPAndTCP(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("%s front: %w", cfg.Kind, err)
	}
	started := make(chan struct{}, 2)
	p.udp = &dns.Server{PacketConn: pc, Handler: p.handler("udp"), NotifyStartedFunc: func() { started <- struct{}{} }}
	p.tcp = &dns.Server{Listener: ln, Handler: p.handler("tcp"), NotifyStartedFunc: func() { started <- struct{}{} }}
	go p.udp.ActivateAndServe()
	go p.tcp.ActivateAndServe()
	for range 2 {
		select {
		case <-started:
		case <-time.After(5 * time.Second):
			return nil, fmt.Errorf("%s front: the listeners did not start within 5 s", cfg.Kind)
		}
	}
	return p, nil
}

// instanceIPs are instance k's listen and source addresses: 127.55.x.y and
// 127.56.x.y. Another run may use the same ones (its own ports, its own
// authoritative server): attribution is per authoritative server.
func instanceIPs(k int) (listen, source string) {
	return fmt.Sprintf("127.55.%d.%d", k/250, k%250+1), fmt.Sprintf("127.56.%d.%d", k/250, k%250+1)
}

// start starts the next instance and registers it.
func (p *Pool) start(ctx context.Context) (*member, error) {
	m := &member{ready: make(chan struct{}), up: map[upKey]upState{}}
	p.launch(ctx, m)
	return m, m.err
}

// launch starts m's instance on the next addresses; m.ready is closed when
// it runs or failed (m.err).
func (p *Pool) launch(ctx context.Context, m *member) {
	defer close(m.ready)
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		m.err = errors.New("the resolver pool is closed")
		return
	}
	k := p.next
	p.next++
	listen, source := instanceIPs(k)
	p.bySelf[source] = m
	p.members = append(p.members, m)
	p.mu.Unlock()
	m.inst, m.err = Start(ctx, Config{Kind: p.cfg.Kind, Listen: listen, Source: source, Upstream: p.cfg.Upstream, Zone: p.cfg.Zone})
}

// Addr is the front's "ip:port": where clients send their queries.
func (p *Pool) Addr() string { return p.udp.PacketConn.LocalAddr().String() }

// Prepare starts the instance of client source ip now, if it gets one of
// its own, so that its first query does not wait for a process to start.
func (p *Pool) Prepare(ip string) error {
	m := p.memberFor(ip)
	<-m.ready
	return m.err
}

// Instances lists the running instances' process ids (the shared one first).
func (p *Pool) Instances() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	var pids []int
	for _, m := range p.members {
		select {
		case <-m.ready:
			if m.inst != nil {
				pids = append(pids, m.inst.Pid())
			}
		default:
		}
	}
	return pids
}

// memberFor is the instance serving source ip, started if need be.
func (p *Pool) memberFor(ip string) *member {
	if p.cfg.Own != nil && !p.cfg.Own(ip) {
		return p.shared
	}
	p.mu.Lock()
	if m, ok := p.bySrc[ip]; ok {
		p.mu.Unlock()
		return m
	}
	if len(p.bySrc) >= p.cfg.Max || p.closed {
		p.mu.Unlock()
		return p.shared
	}
	// Registered before it starts, so that concurrent first queries from
	// one source wait for one start.
	m := &member{ready: make(chan struct{}), up: map[upKey]upState{}}
	p.bySrc[ip] = m
	p.mu.Unlock()
	p.launch(context.Background(), m)
	return m
}

// Upstream is told every answer the authoritative server gave; it says
// whether the query came from one of the pool's instances. The topology
// calls it from the server's observer, which runs before the answer is
// sent: by the time the instance answers the client, the front knows.
func (p *Pool) Upstream(q dnsstub.QueryEvent) bool {
	host, _, err := net.SplitHostPort(q.Client)
	if err != nil {
		host = q.Client
	}
	p.mu.Lock()
	m := p.bySelf[host]
	p.mu.Unlock()
	if m == nil {
		return false
	}
	k := upKey{strings.ToLower(q.Name), q.Type}
	m.mu.Lock()
	if len(m.up) >= maxUpKeys {
		m.up = map[upKey]upState{}
	}
	s := m.up[k]
	m.up[k] = upState{seq: s.seq + 1, fault: q.Fault}
	m.mu.Unlock()
	return true
}

func (m *member) upstate(k upKey) upState {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.up[k]
}

// handler forwards a client's query to its instance over the protocol it
// came on, and observes the answer.
func (p *Pool) handler(proto string) dns.Handler {
	client := &dns.Client{Net: proto, Timeout: p.cfg.Timeout}
	return dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		p.inflight.Add(1)
		defer p.inflight.Done()
		src, _, _ := net.SplitHostPort(w.RemoteAddr().String())
		m := p.memberFor(src)
		select {
		case <-m.ready:
		case <-time.After(30 * time.Second):
		}
		ev := dnscache.Event{Client: w.RemoteAddr().String(), Proto: proto}
		if len(req.Question) == 1 {
			q := req.Question[0]
			ev.Name, ev.Type = strings.ToLower(q.Name), dns.TypeToString[q.Qtype]
		}
		k := upKey{ev.Name, ev.Type}
		inst := m.inst
		if inst == nil {
			// Its instance could not start (the error was logged by
			// Prepare, or is the same as the shared one's): SERVFAIL.
			resp := new(dns.Msg)
			resp.SetRcode(req, dns.RcodeServerFailure)
			ev.Rcode, ev.Cache, ev.Time = "SERVFAIL", "error", time.Now()
			p.observe(ev)
			w.WriteMsg(resp)
			return
		}
		before := m.upstate(k)
		resp, _, err := client.Exchange(req, inst.Addr())
		after := m.upstate(k)
		ev.Time = time.Now()
		ev.Fault = after.fault
		switch {
		case after.seq != before.seq:
			ev.Cache = "miss"
		case after.seq == 0:
			ev.Cache, ev.Fault = "hit", "" // answered without the zone's server (a local zone, a refusal)
		default:
			ev.Cache = "hit"
		}
		if err != nil || resp == nil {
			// No answer: the client times out, as it would behind the
			// real resolver.
			ev.Rcode = "DROPPED"
			p.observe(ev)
			return
		}
		ev.Rcode, ev.Answers = dns.RcodeToString[resp.Rcode], len(resp.Answer)
		p.observe(ev)
		w.WriteMsg(resp)
	})
}

func (p *Pool) observe(ev dnscache.Event) {
	if p.cfg.Observer != nil {
		p.cfg.Observer(ev)
	}
}

// Close stops the front, waits for the answers in flight and kills every
// instance's process group. It is idempotent.
func (p *Pool) Close() error {
	p.closeOnce.Do(func() {
		var errs []error
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, s := range []*dns.Server{p.udp, p.tcp} {
			if s != nil {
				s.ShutdownContext(ctx)
			}
		}
		p.inflight.Wait()
		p.mu.Lock()
		p.closed = true
		members := append([]*member(nil), p.members...)
		p.mu.Unlock()
		for _, m := range members {
			<-m.ready // a start in progress ends within its bound
			if m.inst != nil {
				errs = append(errs, m.inst.Close())
			}
		}
		p.closeErr = errors.Join(errs...)
	})
	return p.closeErr
}
