package faults

import (
	"time"

	"github.com/faultline-dev/faultline/targets/dnsstub"
)

// DNSDelay is dns.delay: the right answer, late.
type DNSDelay struct {
	Delay  time.Duration `param:"delay" required:"true" min:"0s" max:"60s" doc:"fixed delay, e.g. 500ms"`
	Jitter time.Duration `param:"jitter" default:"0s" min:"0s" max:"60s" doc:"extra uniform random delay up to this"`
	DNSSelect
}

func init() {
	Register(defineDNS[DNSDelay]("dns.delay", "answers normally after a delay (fixed plus uniform jitter)"))
}

func (p DNSDelay) action(w World) (dnsstub.Action, error) {
	return dnsstub.Delay(p.Delay, p.Jitter, w.Rand()), nil
}

func (p DNSDelay) Apply(w World, f Fault) (func() error, error) { return applyDNS(w, f, p) }
