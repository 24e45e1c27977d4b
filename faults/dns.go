package faults

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/miekg/dns"

	"github.com/faultline-dev/faultline/targets/dnsstub"
)

// dnsKind is a fault that shapes the DNS server's answers for the names its
// target selects. Each DNS kind is a value of it in a file of its own; the
// selectors every DNS kind shares are here.
type dnsKind struct {
	name    string
	summary string
	params  []Param
	action  func(w World, v Values) (dnsstub.Action, error)
	// verify, when set, checks how the parameters go together, before
	// anything runs.
	verify func(v Values) error
}

func (k dnsKind) check(v Values) error {
	if k.verify == nil {
		return nil
	}
	return k.verify(v)
}

func (k dnsKind) Name() string       { return k.name }
func (k dnsKind) Summary() string    { return k.summary }
func (k dnsKind) Target() TargetType { return TargetDNSName }
func (k dnsKind) Params() []Param {
	return append(append([]Param(nil), k.params...), selectorParams...)
}

// selectorParams narrow any DNS kind to some queries.
var selectorParams = []Param{
	{Name: "qtype", Type: String, Default: "any", Check: parseQType, Doc: "query type it shapes: A, AAAA or any"},
	{Name: "client", Type: String, Default: "any", Check: parseClients, Doc: "client address or prefix it shapes (loopback), or any"},
	{Name: "probability", Type: Float, Default: "1", Min: 0, Max: 1, Doc: "share of selected queries shaped, drawn from the run's seed"},
}

func parseQType(s string) (any, error) {
	switch strings.ToUpper(s) {
	case "ANY", "":
		return []uint16(nil), nil
	case "A":
		return []uint16{dns.TypeA}, nil
	case "AAAA":
		return []uint16{dns.TypeAAAA}, nil
	}
	return nil, fmt.Errorf("expected A, AAAA or any, got %q", s)
}

func parseClients(s string) (any, error) {
	if strings.EqualFold(s, "any") || s == "" {
		return []netip.Prefix(nil), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		a, aerr := netip.ParseAddr(s)
		if aerr != nil {
			return nil, fmt.Errorf("expected an address like 127.0.0.11 or a prefix like 127.0.0.0/24, got %q", s)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if !p.Addr().IsLoopback() {
		return nil, fmt.Errorf("%s is not a loopback address: faultline's clients live on 127.0.0.0/8", s)
	}
	return []netip.Prefix{p.Masked()}, nil
}

func (k dnsKind) Apply(w World, f Fault, v Values) (func() error, error) {
	action, err := k.action(w, v)
	if err != nil {
		return nil, err
	}
	qtypes, _ := v.Get("qtype").([]uint16)
	clients, _ := v.Get("client").([]netip.Prefix)
	remove, err := w.DNS().AddRule(dnsstub.Rule{
		Name:        f.Target,
		QTypes:      qtypes,
		Clients:     clients,
		Probability: v.Float("probability"),
		Rand:        w.Rand(),
		Fault:       FaultID(f),
		Action:      action,
	})
	if err != nil {
		return nil, err
	}
	return func() error { remove(); return nil }, nil
}

// fixed is an action builder for kinds without parameters of their own.
func fixed(a func() dnsstub.Action) func(World, Values) (dnsstub.Action, error) {
	return func(World, Values) (dnsstub.Action, error) { return a(), nil }
}
