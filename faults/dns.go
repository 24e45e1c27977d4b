package faults

import (
	"math/rand"

	"github.com/faultline-dev/faultline/targets/dnsstub"
)

// dnsKind is a fault that shapes the DNS server's answers for one name. Each
// DNS kind is a value of it in a file of its own.
type dnsKind struct {
	name    string
	summary string
	params  []Param
	action  func(v Values, rng *rand.Rand) dnsstub.Action
}

func (k dnsKind) Name() string       { return k.name }
func (k dnsKind) Summary() string    { return k.summary }
func (k dnsKind) Target() TargetType { return TargetDNSName }
func (k dnsKind) Params() []Param    { return k.params }

func (k dnsKind) Apply(w World, f Fault, v Values) (func() error, error) {
	remove := w.DNS().AddRule(dnsstub.Rule{
		Name:   f.Target,
		Fault:  FaultID(f),
		Action: k.action(v, w.Rand()),
	})
	return func() error { remove(); return nil }, nil
}
