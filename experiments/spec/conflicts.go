package spec

import (
	"net/netip"
	"strings"

	"github.com/miekg/dns"
	"go.yaml.in/yaml/v3"

	"github.com/faultline-dev/faultline/faults"
	"github.com/faultline-dev/faultline/targets/dnsstub"
)

// dnsConflicts refuses two DNS faults that would answer the same query at
// the same time: the DNS server gives a query one answer (the newest rule's),
// so the other fault would silently not happen — dns.empty and dns.nxdomain
// on one name at once is a typo in the schedule, not an experiment. Faults
// that select disjoint names, query types or clients, or that shape only a
// share of the queries (probability: the rest falls through to the older
// rule, a deliberate layering), do not conflict.
func (d *decoder) dnsConflicts(exp *Experiment, kindNodes []*yaml.Node) {
	type rule struct {
		i      int
		f      faults.Fault
		names  map[string]bool
		qtypes string // "A", "AAAA" or "any"
		client netip.Prefix
	}
	var rules []rule
	for i, f := range exp.Faults {
		kind, ok := faults.Lookup(f.Kind)
		if !ok || kind.Target() != faults.TargetDNSName || i >= len(kindNodes) {
			continue
		}
		params, err := kind.Parse(f.Params)
		if err != nil {
			continue // reported where the parameters are
		}
		sel, ok := faults.SelectorOf(params)
		if !ok {
			continue // it slows the automation; it shapes no answer itself
		}
		if sel.Probability != 1 {
			continue
		}
		matches, err := dnsstub.NamePattern(f.Target)
		if err != nil {
			continue
		}
		r := rule{i: i, f: f, names: map[string]bool{}, qtypes: "any"}
		if len(sel.QType) > 0 {
			r.qtypes = dns.TypeToString[sel.QType[0]]
		}
		if len(sel.Client) > 0 {
			r.client = sel.Client[0]
		}
		for _, reg := range exp.Topology.Regions {
			if name := exp.Topology.EndpointName(reg.Name); name == f.Target || matches(name) {
				r.names[name] = true
			}
		}
		rules = append(rules, r)
	}
	for b := range rules {
		for a := 0; a < b; a++ {
			x, y := rules[a], rules[b]
			if !overlapInTime(x.f, y.f) || !(x.qtypes == "any" || y.qtypes == "any" || x.qtypes == y.qtypes) ||
				!prefixesMeet(x.client, y.client) {
				continue
			}
			for name := range y.names {
				if x.names[name] {
					d.errorf(kindNodes[y.i], "schedule.faults[%d]: %s on %s from %s to %s overlaps fault %s (%s, from %s to %s) on %s: a query gets one answer, so one of them would silently not happen; shift one in time, or narrow one with qtype or client (or give one a probability below 1 to layer them)",
						y.i, y.f.Kind, strings.TrimSuffix(y.f.Target, "."), y.f.Start, y.f.End(), x.f.ID, x.f.Kind, x.f.Start, x.f.End(), strings.TrimSuffix(name, "."))
					break
				}
			}
		}
	}
}

func overlapInTime(a, b faults.Fault) bool { return a.Start < b.End() && b.Start < a.End() }

// prefixesMeet: two client selectors can select the same client (an unset
// one selects every client).
func prefixesMeet(a, b netip.Prefix) bool {
	if !a.IsValid() || !b.IsValid() {
		return true
	}
	return a.Overlaps(b)
}
