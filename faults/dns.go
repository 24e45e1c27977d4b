package faults

import (
	"errors"
	"fmt"
	"math/rand"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/faultline-dev/faultline/targets/dnsstub"
	"github.com/faultline-dev/faultline/targets/links"
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
	Client      Clients `param:"client" default:"any" doc:"client address or prefix it shapes (loopback here; pod addresses in CoreDNS), or any"`
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
	// Any address or prefix: the CoreDNS plugin selects pods by theirs
	// (10.244.1.7, 10.244.0.0/16). In faultline's own world, whose clients
	// live on 127.0.0.0/8, such a selector simply selects nothing.
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

// DNSRule is the rule a DNS fault puts in front of a DNS server other than
// the world's own (the CoreDNS plugin's rule set): f's parameters parsed and
// checked by its kind, as Apply would. A kind that needs more of the world
// than a rule (dns.plan-race's automation, dns.redirect's region) or is no
// DNS kind is refused.
func DNSRule(f Fault, rng *rand.Rand) (dnsstub.Rule, error) {
	k, ok := Lookup(f.Kind)
	if !ok {
		return dnsstub.Rule{}, fmt.Errorf("unknown fault kind %q", f.Kind)
	}
	a, err := k.Parse(f.Params)
	if err != nil {
		return dnsstub.Rule{}, err
	}
	p, ok := a.(dnsAction)
	if !ok {
		return dnsstub.Rule{}, fmt.Errorf("%s is not a DNS fault kind that shapes answers", f.Kind)
	}
	if rng == nil {
		rng = rand.New(rand.NewSource(1))
	}
	action, err := p.action(ruleWorld{rng})
	if err != nil {
		return dnsstub.Rule{}, err
	}
	sel, _ := SelectorOf(p)
	return dnsstub.Rule{Name: f.Target, QTypes: sel.QType, Clients: sel.Client, Probability: sel.Probability,
		Rand: rng, Fault: FaultID(f), Action: action}, nil
}

// ruleWorld is the world of DNSRule: a seed, no topology.
type ruleWorld struct{ rng *rand.Rand }

var errNoWorld = errors.New("not available outside faultline's own world")

func (w ruleWorld) DNS() DNSRules                                   { return nil }
func (w ruleWorld) RegionLinks(string) ([]*links.Link, error)       { return nil, errNoWorld }
func (w ruleWorld) RegionHealthLinks(string) ([]*links.Link, error) { return nil, errNoWorld }
func (w ruleWorld) PropagationDelay(string) (func(time.Duration), error) {
	return nil, errNoWorld
}
func (w ruleWorld) NodeDown(string, int) (func() error, error) { return nil, errNoWorld }
func (w ruleWorld) ResetConnections(string) (int, error)       { return 0, errNoWorld }
func (w ruleWorld) Rand() *rand.Rand                           { return w.rng }
func (w ruleWorld) Endpoint(string) (string, bool)             { return "", false }
func (w ruleWorld) Automation(string) (DNSAutomation, bool)    { return nil, false }
func (w ruleWorld) PauseReplication(string, string, string) (func() error, error) {
	return nil, errNoWorld
}
func (w ruleWorld) LagReplication(string, string, time.Duration, time.Duration, string) (func() error, error) {
	return nil, errNoWorld
}
