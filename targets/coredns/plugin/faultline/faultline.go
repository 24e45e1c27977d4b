// Package faultline is a CoreDNS plugin that applies faultline's DNS fault
// kinds and selectors (name patterns, query type, client address or CIDR,
// probability) in front of whatever serves the zone, usually forward. Its
// rules come from a running `faultline up` (the control API's GET
// /api/v1/dns/rules, followed by long polls; every answer it shapes is
// reported back to POST /api/v1/dns/answers) or from the Corefile (fault
// lines). The rules and the actions are faultline's own: faults.DNSRule
// builds them and dnsstub.RuleSet holds and matches them. See README.md.
package faultline

import (
	"context"
	"math/rand"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/metrics"
	clog "github.com/coredns/coredns/plugin/pkg/log"
	"github.com/coredns/coredns/plugin/pkg/nonwriter"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"

	"github.com/faultline-dev/faultline/faults"
	"github.com/faultline-dev/faultline/targets/dnsstub"
)

var log = clog.NewWithPlugin(Name)

// Faultline is the plugin's handler.
type Faultline struct {
	Next plugin.Handler

	cfg   config
	rules dnsstub.RuleSet // static rules first, the control API's after (newer wins)
	soas  soaCache

	follow *follower // nil without control
	report *reporter // nil without control

	done     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

func newFaultline(cfg config) (*Faultline, error) {
	f := &Faultline{cfg: cfg, done: make(chan struct{})}
	for i, sf := range cfg.static {
		r, err := faults.DNSRule(sf, rand.New(rand.NewSource(int64(i+1))))
		if err != nil {
			return nil, err
		}
		if _, err := f.rules.AddRule(r); err != nil {
			return nil, err
		}
	}
	rulesActive.WithLabelValues("corefile").Set(float64(len(cfg.static)))
	if cfg.control != "" {
		f.report = newReporter(cfg.control, cfg.tokenFile, f.done)
		f.follow = newFollower(cfg.control, cfg.tokenFile, &f.rules, f.report, f.done)
	}
	return f, nil
}

// Name implements plugin.Handler.
func (f *Faultline) Name() string { return Name }

func (f *Faultline) start() {
	if f.follow == nil {
		return
	}
	f.wg.Add(2)
	go func() { defer f.wg.Done(); f.follow.run() }()
	go func() { defer f.wg.Done(); f.report.run() }()
}

func (f *Faultline) stop() {
	f.stopOnce.Do(func() {
		close(f.done)
		f.wg.Wait()
	})
}

// ServeDNS implements plugin.Handler: a query no rule selects goes on to the
// next plugin untouched; one a rule selects gets the rule's action, whose
// "normal answer" is the next plugin's.
func (f *Faultline) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	if f.rules.Empty() || len(r.Question) != 1 || r.Opcode != dns.OpcodeQuery {
		return plugin.NextOrFailure(f.Name(), f.Next, ctx, w, r)
	}
	q := r.Question[0]
	name := dns.CanonicalName(q.Name)
	client, proto := clientOf(w.RemoteAddr())
	rule, ok := f.rules.Match(name, q.Qtype, client)
	if !ok {
		return plugin.NextOrFailure(f.Name(), f.Next, ctx, w, r)
	}
	var normal *dns.Msg
	next := func() *dns.Msg {
		if normal == nil {
			normal = f.ask(ctx, w, r)
		}
		return normal.Copy() // actions may edit what they get (dns.ttl)
	}
	resp, out := rule.Shape(dnsstub.Query{Msg: r, Net: proto, SOA: f.soas.negative(ctx, f, w, name), Next: next, Done: f.done,
		Lookup:   func(string, uint16) []dns.RR { return nil }, // dns.redirect region= is refused here
		Previous: func() []dns.RR { return nil },               // dns.stale has no history here: the normal answer
	})
	// As in faultline's own server: an answer the action made without the
	// normal one counts as shaped; one made from it counts when it differs.
	shaped := !out.Passed && (out.Delayed || normal == nil || dnsstub.Changed(resp, normal))
	rcode, answers := "DROPPED", 0
	if resp != nil {
		if proto == "udp" {
			state := request.Request{W: w, Req: r}
			resp.Truncate(state.Size())
		}
		rcode, answers = rcodeName(resp.Rcode), len(resp.Answer)
	}
	if shaped {
		shapedAnswers.WithLabelValues(metrics.WithServer(ctx), rcode).Inc()
		if f.report != nil {
			f.report.add(shapedAnswer{Time: time.Now(), Client: w.RemoteAddr().String(), Name: name, QType: typeName(q.Qtype),
				Rcode: rcode, Answers: answers, Fault: rule.Fault, Proto: proto, Instance: f.cfg.instance})
		}
	}
	if resp == nil {
		return dns.RcodeSuccess, nil // nothing sent: the client waits for its timeout
	}
	w.WriteMsg(resp)
	// Written: an rcode CoreDNS would answer itself (SERVFAIL, REFUSED)
	// must not come back, or the client gets a second answer.
	return dns.RcodeSuccess, nil
}

// ask is the next plugin's answer to req, captured rather than sent.
func (f *Faultline) ask(ctx context.Context, w dns.ResponseWriter, req *dns.Msg) *dns.Msg {
	nw := nonwriter.New(w)
	rcode, _ := plugin.NextOrFailure(f.Name(), f.Next, ctx, nw, req)
	if nw.Msg != nil {
		return nw.Msg
	}
	// The next plugin wrote nothing: CoreDNS would answer its rcode.
	m := new(dns.Msg)
	if !plugin.ClientWrite(rcode) && rcode != dns.RcodeSuccess {
		m.SetRcode(req, rcode)
	} else {
		m.SetRcode(req, dns.RcodeServerFailure)
	}
	return m
}

func clientOf(a net.Addr) (netip.Addr, string) {
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

func rcodeName(rc int) string {
	if s, ok := dns.RcodeToString[rc]; ok {
		return s
	}
	return "RCODE"
}

func typeName(t uint16) string {
	if s, ok := dns.TypeToString[t]; ok {
		return s
	}
	return "TYPE" + strconv.Itoa(int(t))
}
