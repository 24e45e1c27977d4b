package faults

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/miekg/dns"

	"github.com/faultline-dev/faultline/targets/dnsstub"
)

// A DNS kind shapes the DNS server's answers for the names its target
// selects: its parameter struct embeds DNSSelect (last, so the selectors
// come after its own parameters) and builds the rule's action. Each DNS kind
// is a file of its own; the selectors every DNS kind shares are here.

// dnsAction is a DNS kind's parameter struct: the action of its rule.
type dnsAction interface {
	Applier
	action(w World) (dnsstub.Action, error)
}

// DNSSelect narrows any DNS kind to some queries.
type DNSSelect struct {
	QType       QTypes  `param:"qtype" default:"any" doc:"query type it shapes: A, AAAA or any"`
	Client      Clients `param:"client" default:"any" doc:"client address or prefix it shapes (loopback), or any"`
	Probability float64 `param:"probability" default:"1" min:"0" max:"1" doc:"share of selected queries shaped, drawn from the run's seed"`
}

func (s DNSSelect) selector() DNSSelect { return s }

// SelectorOf is the selectors of a DNS kind's parameters.
func SelectorOf(a Applier) (DNSSelect, bool) {
	s, ok := a.(interface{ selector() DNSSelect })
	if !ok {
		return DNSSelect{}, false
	}
	return s.selector(), true
}

// QTypes are the query types a DNS fault shapes; none is every type.
type QTypes []uint16

func (q *QTypes) ParseParam(s string) error {
	switch strings.ToUpper(s) {
	case "ANY", "":
		*q = nil
	case "A":
		*q = QTypes{dns.TypeA}
	case "AAAA":
		*q = QTypes{dns.TypeAAAA}
	default:
		return fmt.Errorf("expected A, AAAA or any, got %q", s)
	}
	return nil
}

// Clients are the clients a DNS fault shapes the queries of; none is
// every client.
type Clients []netip.Prefix

func (c *Clients) ParseParam(s string) error {
	if strings.EqualFold(s, "any") || s == "" {
		*c = nil
		return nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		a, aerr := netip.ParseAddr(s)
		if aerr != nil {
			return fmt.Errorf("expected an address like 127.0.0.11 or a prefix like 127.0.0.0/24, got %q", s)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if !p.Addr().IsLoopback() {
		return fmt.Errorf("%s is not a loopback address: faultline's clients live on 127.0.0.0/8", s)
	}
	*c = Clients{p.Masked()}
	return nil
}

// applyDNS adds the rule of a DNS kind's parameters to the DNS server.
func applyDNS(w World, f Fault, p dnsAction) (func() error, error) {
	action, err := p.action(w)
	if err != nil {
		return nil, err
	}
	sel, _ := SelectorOf(p)
	remove, err := w.DNS().AddRule(dnsstub.Rule{
		Name:        f.Target,
		QTypes:      sel.QType,
		Clients:     sel.Client,
		Probability: sel.Probability,
		Rand:        w.Rand(),
		Fault:       FaultID(f),
		Action:      action,
	})
	if err != nil {
		return nil, err
	}
	return func() error { remove(); return nil }, nil
}

// defineDNS is Define for a DNS kind.
func defineDNS[P dnsAction](name, summary string) Kind {
	return Define[P](Meta{Name: name, Summary: summary, Target: TargetDNSName})
}
