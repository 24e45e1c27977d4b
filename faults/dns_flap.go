package faults

import (
	"fmt"
	"time"

	"github.com/faultline-dev/faultline/targets/dnsstub"
)

// dns.flap: the answer alternates between normal and another DNS fault, as
// health-driven DNS does when health flaps. Queries answered normally are
// not counted as shaped.
func init() {
	Register(dnsKind{
		name:    "dns.flap",
		summary: "alternates between the normal answer and another DNS fault kind (period, duty cycle)",
		params: []Param{
			{Name: "with", Type: String, Default: "dns.empty", Doc: "the DNS fault kind of the faulty phase (its defaults apply)"},
			{Name: "period", Type: Duration, Default: "2s", Min: 10, Max: 3_600_000, Doc: "length of one faulty-plus-normal cycle"},
			{Name: "duty", Type: Float, Default: "0.5", Min: 0, Max: 1, Doc: "share of each period spent faulty, which comes first"},
		},
		verify: func(v Values) error {
			_, _, err := flapInner(v)
			return err
		},
		action: func(w World, v Values) (dnsstub.Action, error) {
			dk, vals, err := flapInner(v)
			if err != nil {
				return nil, err
			}
			a, err := dk.action(w, vals)
			if err != nil {
				return nil, err
			}
			return dnsstub.Flap(v.Duration("period"), v.Float("duty"), time.Now(), a), nil
		},
	})
}

// flapInner is the kind of the faulty phase, with its default parameters.
func flapInner(v Values) (dnsKind, Values, error) {
	with := v.Get("with").(string)
	inner, ok := Lookup(with)
	dk, isDNS := inner.(dnsKind)
	if !ok || !isDNS || with == "dns.flap" {
		return dnsKind{}, nil, &ParamError{Param: "with", Msg: fmt.Sprintf("expected another DNS fault kind, got %q", with)}
	}
	vals, err := Validate(dk, nil)
	if err != nil {
		return dnsKind{}, nil, &ParamError{Param: "with", Msg: fmt.Sprintf("%s cannot run on its defaults: %v", with, err)}
	}
	return dk, vals, nil
}
