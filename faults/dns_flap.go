package faults

import (
	"fmt"
	"time"

	"github.com/faultline-dev/faultline/targets/dnsstub"
)

// DNSFlap is dns.flap: the answer alternates between normal and another DNS
// fault, as health-driven DNS does when health flaps. Queries answered
// normally are not counted as shaped.
type DNSFlap struct {
	With   string        `param:"with" default:"dns.empty" doc:"the DNS fault kind of the faulty phase (its defaults apply)"`
	Period time.Duration `param:"period" default:"2s" min:"10ms" max:"1h" doc:"length of one faulty-plus-normal cycle"`
	Duty   float64       `param:"duty" default:"0.5" min:"0" max:"1" doc:"share of each period spent faulty, which comes first"`
	DNSSelect

	inner dnsAction // With, on its defaults (check)
}

func init() {
	Register(defineDNS[DNSFlap]("dns.flap", "alternates between the normal answer and another DNS fault kind (period, duty cycle)"))
}

// check finds the kind of the faulty phase, with its default parameters.
func (p *DNSFlap) check() error {
	inner, ok := Lookup(p.With)
	if !ok || inner.Target() != TargetDNSName || p.With == "dns.flap" {
		return p.notDNS()
	}
	a, err := inner.Parse(nil)
	if err != nil {
		return &ParamError{Param: "with", Msg: fmt.Sprintf("%s cannot run on its defaults: %v", p.With, err)}
	}
	da, ok := a.(dnsAction)
	if !ok {
		return p.notDNS()
	}
	p.inner = da
	return nil
}

func (p *DNSFlap) notDNS() error {
	return &ParamError{Param: "with", Msg: fmt.Sprintf("expected another DNS fault kind, got %q", p.With)}
}

func (p DNSFlap) action(w World) (dnsstub.Action, error) {
	if p.inner == nil {
		return nil, p.notDNS()
	}
	a, err := p.inner.action(w)
	if err != nil {
		return nil, err
	}
	return dnsstub.Flap(p.Period, p.Duty, time.Now(), a), nil
}

func (p DNSFlap) Apply(w World, f Fault) (func() error, error) { return applyDNS(w, f, p) }
