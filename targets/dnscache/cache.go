// Package dnscache is the caching resolver between clients and faultline's
// authoritative server: the VPC resolver, systemd-resolved or a node-local
// cache of the real world. It caches positive answers by TTL, negative
// answers as RFC 2308 says (min(SOA TTL, SOA MINIMUM); no SOA, no caching),
// SERVFAIL for a preset's time, and serves stale answers (RFC 8767) when the
// upstream fails, if the preset says so. Its limits come from presets named
// after real resolvers. Every answer it gives is observed with the client's
// address, whether it came from the cache, and the fault that shaped the
// upstream answer it holds (the authoritative server marks shaped answers
// with an EDNS0 local option).
package dnscache

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/faultline-dev/faultline/targets/dnsstub"
	"github.com/faultline-dev/faultline/targets/netbind"
)

// FaultOption is dnsstub.FaultOption: the EDNS0 local option with which the
// authoritative server marks the answers a fault shaped.
const FaultOption = dnsstub.FaultOption

// Config of a resolver.
type Config struct {
	Addr     string // "127.0.0.2:0": UDP and TCP on one port; upstream queries leave from this IP too
	Upstream string // the authoritative server
	Preset   Preset
	Observer func(Event) // may be nil
	Timeout  time.Duration

	now func() time.Time // the cache's clock for TTLs; nil: time.Now (tests set a clock they move)
}

// Event is one answer the resolver gave a client.
type Event struct {
	Time    time.Time
	Client  string
	Proto   string
	Name    string
	Type    string
	Rcode   string
	Answers int
	Cache   string // "miss", "hit", "stale", or "error" (the upstream failed and nothing stale was there)
	Fault   string // the fault that shaped the upstream answer, if any
}

// Resolver is a running caching resolver.
type Resolver struct {
	cfg   Config
	udp   *dns.Server
	tcp   *dns.Server
	addr  string
	ip    net.IP
	mu    sync.Mutex
	cache map[key]*entry
	soa   map[string]time.Time // SharedSOA: the zone's SOA as cached, by owner: when it expires
	now   func() time.Time

	inflight  sync.WaitGroup
	done      chan struct{}
	closeOnce sync.Once
}

type key struct {
	name  string
	qtype uint16
}

type entry struct {
	msg     *dns.Msg  // the upstream answer, TTLs as received
	stored  time.Time // (the start of its second, with WholeSeconds)
	zero    time.Time // when its TTL reaches 0
	expires time.Time // when it is no longer served (zero, or a second later with LastSecond)
	fault   string
	soa     string // SharedSOA: the owner of the zone SOA it is served with
}

// Start binds UDP and TCP on one port and returns once both serve.
func Start(cfg Config) (*Resolver, error) {
	if cfg.Upstream == "" {
		return nil, errors.New("dnscache: no upstream")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = time.Second
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("dnscache: address %q: %w", cfg.Addr, err)
	}
	r := &Resolver{cfg: cfg, cache: map[key]*entry{}, soa: map[string]time.Time{}, now: time.Now, done: make(chan struct{}), ip: net.ParseIP(host)}
	if cfg.now != nil {
		r.now = cfg.now
	}
	pc, ln, err := netbind.UDPAndTCP(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("dnscache: %w", err)
	}
	r.addr = pc.LocalAddr().String()
	var started sync.WaitGroup
	started.Add(2)
	h := dns.HandlerFunc(r.serve)
	r.udp = &dns.Server{PacketConn: pc, Handler: h, NotifyStartedFunc: started.Done}
	r.tcp = &dns.Server{Listener: ln, Handler: h, NotifyStartedFunc: started.Done}
	go r.udp.ActivateAndServe()
	go r.tcp.ActivateAndServe()
	ready := make(chan struct{})
	go func() { started.Wait(); close(ready) }()
	select {
	case <-ready:
		return r, nil
	case <-time.After(5 * time.Second):
		pc.Close()
		ln.Close()
		return nil, errors.New("dnscache: the listeners did not start within 5 s")
	}
}

// Addr is "ip:port" for UDP and TCP.
func (r *Resolver) Addr() string { return r.addr }

// Flush empties the cache.
func (r *Resolver) Flush() {
	r.mu.Lock()
	r.cache = map[key]*entry{}
	r.soa = map[string]time.Time{}
	r.mu.Unlock()
}

// Close stops the resolver and waits for answers in flight.
func (r *Resolver) Close() error {
	var err error
	r.closeOnce.Do(func() {
		close(r.done)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err = errors.Join(r.udp.ShutdownContext(ctx), r.tcp.ShutdownContext(ctx))
		r.inflight.Wait()
	})
	return err
}

func (r *Resolver) serve(w dns.ResponseWriter, req *dns.Msg) {
	r.inflight.Add(1)
	defer r.inflight.Done()
	proto := "udp"
	if _, ok := w.RemoteAddr().(*net.TCPAddr); ok {
		proto = "tcp"
	}
	if len(req.Question) != 1 || req.Opcode != dns.OpcodeQuery {
		m := new(dns.Msg)
		m.SetRcodeFormatError(req)
		w.WriteMsg(m)
		return
	}
	if opt := req.IsEdns0(); opt != nil && opt.Version() != 0 {
		// RFC 6891 §6.1.3: BADVERS, with an OPT of the version spoken.
		m := new(dns.Msg)
		m.SetReply(req)
		m.SetEdns0(dns.DefaultMsgSize, opt.Do())
		m.Rcode = dns.RcodeBadVers
		m.RecursionAvailable = true
		w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	ev := Event{Client: w.RemoteAddr().String(), Proto: proto, Name: strings.ToLower(q.Name), Type: dns.TypeToString[q.Qtype]}
	resp := r.resolve(req, &ev)
	resp.Id = req.Id
	resp.RecursionDesired = req.RecursionDesired // RFC 1035 §4.1.1: copied into the response
	resp.RecursionAvailable = true
	if proto == "udp" {
		size := dns.MinMsgSize
		if opt := req.IsEdns0(); opt != nil {
			size = max(int(opt.UDPSize()), dns.MinMsgSize)
		}
		resp.Truncate(size)
	}
	ev.Rcode = dns.RcodeToString[resp.Rcode]
	ev.Answers = len(resp.Answer)
	ev.Time = time.Now()
	if r.cfg.Observer != nil {
		r.cfg.Observer(ev)
	}
	w.WriteMsg(resp)
}

// resolve answers from the cache, or asks upstream and caches what the
// preset allows, or serves stale.
func (r *Resolver) resolve(req *dns.Msg, ev *Event) *dns.Msg {
	q := req.Question[0]
	k := key{strings.ToLower(q.Name), q.Qtype}
	now := r.now()
	r.mu.Lock()
	e := r.cache[k]
	var soaZero time.Time
	live := e != nil && now.Before(e.expires)
	if live && e.soa != "" {
		// SharedSOA: served only while the zone's SOA is cached, whichever
		// answer cached it last.
		soaZero = r.soa[e.soa]
		live = !r.expired(soaZero, now)
	}
	r.mu.Unlock()
	if live {
		ev.Cache, ev.Fault = "hit", e.fault
		if !soaZero.IsZero() && soaZero.Before(e.zero) {
			shown := *e
			shown.zero = soaZero // its TTLs are the SOA's
			e = &shown
		}
		return aged(req, e, now, 0, r.cfg.Preset.WholeSeconds)
	}
	up, fault, err := r.ask(q)
	if err == nil && up.Rcode != dns.RcodeServerFailure && up.Rcode != dns.RcodeRefused {
		ev.Cache, ev.Fault = "miss", fault
		return r.fresh(req, k, up, fault, now)
	}
	// The upstream failed (no answer, SERVFAIL, REFUSED).
	if r.cfg.Preset.ServeStale && e != nil && now.Sub(e.expires) < StaleMaxAge {
		ev.Cache, ev.Fault = "stale", e.fault
		return aged(req, e, now, StaleTTL, r.cfg.Preset.WholeSeconds)
	}
	if err != nil {
		ev.Cache, ev.Fault = "error", ""
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeServerFailure)
		return m
	}
	ev.Cache, ev.Fault = "miss", fault
	return r.fresh(req, k, up, fault, now)
}

// fresh stores an upstream answer and answers with it: as received, or, for
// a resolver that counts whole seconds, as its cache holds it (a negative
// answer ending with the cached SOA already says so in its TTLs, as unbound's
// does).
func (r *Resolver) fresh(req *dns.Msg, k key, up *dns.Msg, fault string, now time.Time) *dns.Msg {
	e := r.store(k, up, fault, now)
	if e != nil && r.cfg.Preset.WholeSeconds {
		return aged(req, e, now, 0, true)
	}
	return answer(req, up)
}

// ask queries the upstream from the resolver's own address, over UDP and
// TCP on truncation, with an EDNS0 OPT so that the fault marker can ride back.
func (r *Resolver) ask(q dns.Question) (*dns.Msg, string, error) {
	m := new(dns.Msg)
	m.SetQuestion(q.Name, q.Qtype)
	m.RecursionDesired = false
	m.SetEdns0(dns.DefaultMsgSize, false)
	c := &dns.Client{Net: "udp", Timeout: r.cfg.Timeout, UDPSize: dns.DefaultMsgSize,
		Dialer: &net.Dialer{Timeout: r.cfg.Timeout, LocalAddr: &net.UDPAddr{IP: r.ip}}}
	resp, _, err := c.Exchange(m, r.cfg.Upstream)
	if err == nil && resp.Truncated {
		c = &dns.Client{Net: "tcp", Timeout: r.cfg.Timeout, Dialer: &net.Dialer{Timeout: r.cfg.Timeout, LocalAddr: &net.TCPAddr{IP: r.ip}}}
		resp, _, err = c.Exchange(m, r.cfg.Upstream)
	}
	if err != nil {
		return nil, "", err
	}
	return resp, takeFault(resp), nil
}

// takeFault removes faultline's marker option and returns the fault id.
func takeFault(m *dns.Msg) string {
	opt := m.IsEdns0()
	if opt == nil {
		return ""
	}
	fault := ""
	kept := opt.Option[:0]
	for _, o := range opt.Option {
		if l, ok := o.(*dns.EDNS0_LOCAL); ok && l.Code == FaultOption {
			fault = string(l.Data)
			continue
		}
		kept = append(kept, o)
	}
	opt.Option = kept
	return fault
}

// store caches an upstream answer for as long as the preset allows.
func (r *Resolver) store(k key, m *dns.Msg, fault string, now time.Time) *entry {
	p := r.cfg.Preset
	if p.Name == "none" || p.Name == "" {
		return nil
	}
	var ttl time.Duration
	var soa *dns.SOA
	switch {
	case m.Rcode == dns.RcodeServerFailure:
		if p.ServFail == 0 {
			return nil
		}
		ttl = p.ServFail
	case m.Rcode == dns.RcodeNameError || (m.Rcode == dns.RcodeSuccess && len(m.Answer) == 0):
		if soa = negativeSOA(m); soa == nil {
			return nil // RFC 2308 §5: a negative answer without SOA is not cached
		}
		ttl = clamp(time.Duration(min(soa.Hdr.Ttl, soa.Minttl))*time.Second, p.MinNegative, p.MaxNegative)
	case m.Rcode == dns.RcodeSuccess:
		ttl = clamp(minTTL(m.Answer), p.MinTTL, p.MaxTTL)
	default:
		return nil
	}
	if ttl <= 0 {
		return nil
	}
	stored := now
	if p.WholeSeconds {
		stored = now.Truncate(time.Second)
		ttl = ttl.Truncate(time.Second)
	}
	zero := stored.Add(ttl)
	r.mu.Lock()
	defer r.mu.Unlock()
	owner, shown := "", zero
	if p.SharedSOA && soa != nil {
		owner = strings.ToLower(soa.Hdr.Name)
		if exp, ok := r.soa[owner]; ok && !r.expired(exp, now) {
			if exp.Before(zero) {
				shown = exp // the cached SOA is kept, with its TTL
			}
		} else {
			r.soa[owner] = stored.Add(time.Duration(soa.Hdr.Ttl) * time.Second)
		}
	}
	expires := zero
	if p.LastSecond {
		expires = zero.Add(time.Second)
	}
	r.cache[k] = &entry{msg: m.Copy(), stored: stored, zero: zero, expires: expires, fault: fault, soa: owner}
	e := *r.cache[k]
	e.zero = shown
	return &e
}

// expired says whether something whose TTL reaches 0 at zero is no longer
// served at now.
func (r *Resolver) expired(zero, now time.Time) bool {
	if r.cfg.Preset.LastSecond {
		zero = zero.Add(time.Second)
	}
	return !now.Before(zero)
}

func negativeSOA(m *dns.Msg) *dns.SOA {
	for _, rr := range m.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			return soa
		}
	}
	return nil
}

func minTTL(rrs []dns.RR) time.Duration {
	ttl := uint32(0)
	for i, rr := range rrs {
		if i == 0 || rr.Header().Ttl < ttl {
			ttl = rr.Header().Ttl
		}
	}
	return time.Duration(ttl) * time.Second
}

// answer turns an upstream answer into the reply to req: the query's RD is
// copied (RFC 1035 §4.1.1), recursion is available, and its DO bit comes
// back in the OPT (RFC 3225 §3).
func answer(req, up *dns.Msg) *dns.Msg {
	m := up.Copy()
	m.Id = req.Id
	m.Authoritative = false
	m.RecursionDesired = req.RecursionDesired
	m.RecursionAvailable = true
	m.Extra = nil
	if opt := req.IsEdns0(); opt != nil {
		m.SetEdns0(dns.DefaultMsgSize, opt.Do())
	}
	return m
}

// aged is a cached answer with its TTLs counted down (or set to fixed, for a
// stale answer), none beyond the entry's own remaining TTL.
func aged(req *dns.Msg, e *entry, now time.Time, fixed time.Duration, whole bool) *dns.Msg {
	m := answer(req, e.msg)
	elapsed := uint32(now.Sub(e.stored) / time.Second)
	left := uint32(0)
	if whole {
		if d := e.zero.Unix() - now.Unix(); d > 0 {
			left = uint32(d)
		}
	} else if d := e.zero.Sub(now); d > 0 {
		left = uint32((d + time.Second - 1) / time.Second)
	}
	for _, sec := range [][]dns.RR{m.Answer, m.Ns} {
		for _, rr := range sec {
			h := rr.Header()
			switch {
			case fixed > 0:
				h.Ttl = uint32(fixed / time.Second)
			case h.Ttl > elapsed:
				h.Ttl = min(h.Ttl-elapsed, left)
			default:
				h.Ttl = 0
			}
		}
	}
	return m
}
