// Package dnsstub is faultline's authoritative DNS server (miekg/dns): the
// zones an experiment needs, on one loopback address and port over UDP and
// TCP, with a rule table in front of the zones through which faults shape
// answers, and an observer that sees every answer. It knows nothing about
// experiments or faults; see README.md.
package dnsstub

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/faultline-dev/faultline/targets/netbind"
)

// Config of a server.
type Config struct {
	Addr  string // "127.0.0.1:0": UDP and TCP bind the same port
	Zones []Zone // at least one
	// Observer (may be nil) is called once per query answered or dropped,
	// before the answer is sent. For a UDP answer replayed by the fast path
	// (fastpath.go) it runs on the socket's one reader: it must be quick
	// and must not query this server, or every UDP answer waits on it.
	Observer func(QueryEvent)
}

// QueryEvent is one query as the server answered it.
type QueryEvent struct {
	Time    time.Time // when the answer was sent (or the query dropped)
	Client  string    // the client's "ip:port"
	Proto   string    // "udp" | "tcp"
	Name    string    // the query name, lowercased fqdn
	Type    string    // "A", "AAAA", ...
	Rcode   string    // "NOERROR", "NXDOMAIN", ..., or "DROPPED" when nothing was sent
	Answers int       // answer-section RRs
	Fault   string    // Rule.Fault of the rule that shaped the answer, "" if none
}

// Server is a running DNS server.
type Server struct {
	cfg     Config
	store   store
	rules   ruleTable
	answers answerCache
	udp     *dns.Server
	tcp     *dns.Server
	addr    string

	done      chan struct{}
	inflight  sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Start binds UDP and TCP on the same port and returns once both serve.
func Start(cfg Config) (*Server, error) {
	if len(cfg.Zones) == 0 {
		return nil, errors.New("dnsstub: no zones")
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	s := &Server{cfg: cfg, done: make(chan struct{})}
	for _, z := range cfg.Zones {
		zz, err := newZone(z)
		if err != nil {
			return nil, fmt.Errorf("dnsstub: %w", err)
		}
		for _, other := range s.store.zones {
			if other.origin == zz.origin {
				return nil, fmt.Errorf("dnsstub: zone %s configured twice", zz.origin)
			}
		}
		s.store.zones = append(s.store.zones, zz)
	}
	pc, ln, err := netbind.UDPAndTCP(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("dnsstub: %w", err)
	}
	s.addr = pc.LocalAddr().String()
	if u, ok := pc.(*net.UDPConn); ok {
		pc = newBatchConn(u, s.answerFromCache) // batched reads and sends (batchconn.go), packed answers sent as read (fastpath.go)
	}
	handler := dns.HandlerFunc(s.serveDNS)
	var started sync.WaitGroup
	started.Add(2)
	s.udp = &dns.Server{PacketConn: pc, Handler: handler, UDPSize: dns.DefaultMsgSize, NotifyStartedFunc: started.Done}
	s.tcp = &dns.Server{Listener: ln, Handler: handler, NotifyStartedFunc: started.Done,
		ReadTimeout: 2 * time.Second, IdleTimeout: func() time.Duration { return 8 * time.Second }}
	serveErr := make(chan error, 2)
	for _, srv := range []*dns.Server{s.udp, s.tcp} {
		go func() { serveErr <- srv.ActivateAndServe() }()
	}
	ready := make(chan struct{})
	go func() { started.Wait(); close(ready) }()
	select {
	case <-ready:
		return s, nil
	case err := <-serveErr:
		pc.Close()
		ln.Close()
		return nil, fmt.Errorf("dnsstub: serving: %w", err)
	case <-time.After(5 * time.Second):
		pc.Close()
		ln.Close()
		return nil, errors.New("dnsstub: the listeners did not start within 5 s")
	}
}

// Addr is "ip:port", the same for UDP and TCP.
func (s *Server) Addr() string { return s.addr }

// SetRecords replaces name's record set of type qtype (an empty values list
// removes it). values are presentation-format rdata: "127.0.1.1" for A.
func (s *Server) SetRecords(name string, qtype uint16, ttl uint32, values []string) error {
	return s.store.set(name, qtype, ttl, values)
}

// DeleteRecords removes name's record set of type qtype.
func (s *Server) DeleteRecords(name string, qtype uint16) { s.store.remove(name, qtype) }

// Records returns name's record set of type qtype as presentation strings.
func (s *Server) Records(name string, qtype uint16) []string { return s.store.values(name, qtype) }

// AddRule puts a rule in front of the zones until remove is called; remove is
// idempotent. It fails only for a rule that cannot select anything (a bad
// name pattern or probability).
func (s *Server) AddRule(r Rule) (remove func(), err error) { return s.rules.add(r) }

// Close stops both listeners and waits for every in-flight answer.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		close(s.done)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.closeErr = errors.Join(s.udp.ShutdownContext(ctx), s.tcp.ShutdownContext(ctx))
		s.inflight.Wait()
	})
	return s.closeErr
}

// serveDNS is the handler chain: checks, then the rule table in front of the
// zone, then the reply (truncated to the client's UDP size), then the observer.
func (s *Server) serveDNS(w dns.ResponseWriter, req *dns.Msg) {
	s.inflight.Add(1)
	defer s.inflight.Done()
	select {
	case <-s.done:
		return
	default:
	}
	remote := w.RemoteAddr()
	client, proto := clientAddr(remote)
	ev := QueryEvent{Proto: proto}
	if s.cfg.Observer != nil {
		ev.Client = remote.String() // formatting costs; only an observer needs it
	}
	resp, packed := s.respond(req, client, &ev)
	if packed != nil {
		// An answer packed before (answercache.go).
		ev.Time = time.Now()
		if s.cfg.Observer != nil {
			s.cfg.Observer(ev)
		}
		w.Write(packed)
		return
	}
	if resp == nil {
		// Nothing sent. Over TCP the connection stays open for the client
		// to give up on, as a server that never answers would leave it.
		ev.Rcode = "DROPPED"
	} else {
		finish(req, resp, proto, ev.Fault)
		ev.Rcode = rcodeName(resp.Rcode)
		ev.Answers = len(resp.Answer)
	}
	// Observe before sending, so the event is recorded by the time the
	// client holds the answer.
	ev.Time = time.Now()
	if s.cfg.Observer != nil {
		s.cfg.Observer(ev)
	}
	if resp != nil {
		w.WriteMsg(resp) // a client that went away is not the server's error
	}
}

// respond is the answer to req: a message to pack and send, nil to send
// nothing, or (for the zone's own answer to a plain query) the packed bytes.
func (s *Server) respond(req *dns.Msg, client netip.Addr, ev *QueryEvent) (*dns.Msg, []byte) {
	if req.Opcode != dns.OpcodeQuery {
		m := reply(req)
		m.Rcode = dns.RcodeNotImplemented
		return m, nil
	}
	if len(req.Question) != 1 {
		m := new(dns.Msg)
		m.SetRcodeFormatError(req)
		return m, nil
	}
	if m := badVersion(req); m != nil {
		return m, nil // a protocol answer, before any fault
	}
	q := req.Question[0]
	name := dns.CanonicalName(q.Name)
	ev.Name = name
	ev.Type = typeName(q.Qtype)
	ar := s.rules.matchActive(name, q.Qtype, client)
	if k, cacheable := keyOf(req, ev.Proto); cacheable {
		var packed []byte
		var err error
		switch {
		case ar == nil:
			packed, err = s.packed(&s.answers, k, req, ev, s.zoneAnswer)
		case ar.answers != nil:
			packed, err = s.packed(ar.answers, k, req, ev, func(req *dns.Msg, ev *QueryEvent) *dns.Msg {
				return s.shape(ar.rule, req, name, ev)
			})
		default:
			err = errNotCached
		}
		if err == nil {
			return nil, packed
		}
	}
	if ar == nil {
		return s.store.answer(req, true), nil
	}
	return s.shape(ar.rule, req, name, ev), nil
}

// zoneAnswer is the zone's own answer to req.
func (s *Server) zoneAnswer(req *dns.Msg, _ *QueryEvent) *dns.Msg { return s.store.answer(req, true) }

// shape is rule's answer to req for name (canonical), nil to send nothing;
// it sets ev.Fault to the rule's fault when the answer is the rule's doing.
func (s *Server) shape(rule Rule, req *dns.Msg, name string, ev *QueryEvent) *dns.Msg {
	q := req.Question[0]
	next := func() *dns.Msg { return s.store.answer(req, false) }
	resp, out := rule.Shape(Query{
		Msg: req, Net: ev.Proto, SOA: s.store.negativeSOA(name), Next: next, Done: s.done,
		Lookup:   func(n string, t uint16) []dns.RR { return s.store.rrs(n, t) },
		Previous: func() []dns.RR { return s.store.previous(name, q.Qtype) },
	})
	// Only an answer the rule changed carries its fault: AAAA under a
	// rule that shapes A records (dns.ttl, dns.partial, ...) is the same
	// NODATA with or without it. A delayed answer changed in its timing.
	if !out.Passed && (out.Delayed || resp == nil || changed(resp, s.store.answer(req, true))) {
		ev.Fault = rule.Fault
	}
	return resp
}

var (
	errNotCached     = errors.New("this rule's answers are not packed once")
	errNothingToSend = errors.New("nothing to send")
)

// packed is the answer to a query of shape k as build makes it, packed once
// per generation of the store into cache and sent with the query's ID: the
// generation is read before the answer is built, so an entry is never newer
// than its label says (a change in between makes it stale at once, never
// wrongly fresh). An error (nothing to send, or an answer that does not
// pack) leaves the caller to answer as it would without a cache.
func (s *Server) packed(cache *answerCache, k answerKey, req *dns.Msg, ev *QueryEvent,
	build func(*dns.Msg, *QueryEvent) *dns.Msg) ([]byte, error) {
	gen := s.store.gen.Load()
	a, ok := cache.get(k, gen)
	if !ok {
		built := QueryEvent{Proto: ev.Proto}
		resp := build(req, &built)
		if resp == nil {
			return nil, errNothingToSend
		}
		finish(req, resp, ev.Proto, built.Fault)
		wire, err := resp.Pack()
		if err != nil {
			return nil, err
		}
		a = packedAnswer{gen: gen, wire: wire, rcode: rcodeName(resp.Rcode), answers: len(resp.Answer), fault: built.Fault}
		cache.put(k, a)
	}
	ev.Rcode, ev.Answers, ev.Fault = a.rcode, a.answers, a.fault
	return a.withID(req.Id), nil
}

// changed reports whether a shaped answer differs from the normal one where
// a client can tell: sent or not, rcode, the AA and TC flags, the answer and
// authority records with their TTLs.
func changed(shaped, normal *dns.Msg) bool {
	if shaped == nil {
		return true // nothing sent
	}
	if shaped.Rcode != normal.Rcode || shaped.Authoritative != normal.Authoritative || shaped.Truncated != normal.Truncated {
		return true
	}
	return !sameRRs(shaped.Answer, normal.Answer) || !sameRRs(shaped.Ns, normal.Ns)
}

// clientAddr is the client's address (for rule selectors) and protocol.
func clientAddr(a net.Addr) (netip.Addr, string) {
	switch a := a.(type) {
	case *net.UDPAddr:
		return a.AddrPort().Addr().Unmap(), "udp"
	case *net.TCPAddr:
		return a.AddrPort().Addr().Unmap(), "tcp"
	}
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap(), "udp"
	}
	return netip.Addr{}, "udp"
}

// FaultOption is the EDNS0 local option code (RFC 6891's local/experimental
// range) with which an answer that a rule shaped carries the rule's Fault, so
// a caching resolver in front of this server can say which fault shaped what
// it later serves from its cache. It rides only on answers that carry an OPT
// record already (the query had one).
const FaultOption = 65001

// finish makes resp ready to send: the fault that shaped it marked, and
// truncated to what the client can take over UDP.
func finish(req, resp *dns.Msg, proto, fault string) {
	markFault(resp, fault)
	truncate(req, resp, proto)
}

func markFault(resp *dns.Msg, fault string) {
	if fault == "" {
		return
	}
	if opt := resp.IsEdns0(); opt != nil {
		opt.Option = append(opt.Option, &dns.EDNS0_LOCAL{Code: FaultOption, Data: []byte(fault)})
	}
}

// truncate cuts a UDP answer that does not fit the client's buffer (512
// bytes, or its EDNS0 size) and sets TC, so the client retries over TCP.
func truncate(req, resp *dns.Msg, proto string) {
	if proto != "udp" {
		return
	}
	size := dns.MinMsgSize
	if opt := req.IsEdns0(); opt != nil {
		size = max(int(opt.UDPSize()), dns.MinMsgSize)
	}
	resp.Truncate(size)
}

func rcodeName(rc int) string {
	if s, ok := dns.RcodeToString[rc]; ok {
		return s
	}
	return fmt.Sprintf("RCODE%d", rc)
}

func typeName(t uint16) string {
	if s, ok := dns.TypeToString[t]; ok {
		return s
	}
	return fmt.Sprintf("TYPE%d", t)
}
