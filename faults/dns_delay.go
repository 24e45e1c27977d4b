package faults

import "github.com/faultline-dev/faultline/targets/dnsstub"

// dns.delay: the right answer, late.
func init() {
	Register(dnsKind{
		name:    "dns.delay",
		summary: "answers normally after a delay (fixed plus uniform jitter)",
		params: []Param{
			{Name: "delay", Type: Duration, Required: true, Min: 0, Max: 60_000, Doc: "fixed delay, e.g. 500ms"},
			{Name: "jitter", Type: Duration, Default: "0s", Min: 0, Max: 60_000, Doc: "extra uniform random delay up to this"},
		},
		action: func(w World, v Values) (dnsstub.Action, error) {
			return dnsstub.Delay(v.Duration("delay"), v.Duration("jitter"), w.Rand()), nil
		},
	})
}
