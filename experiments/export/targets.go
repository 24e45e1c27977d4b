package export

import (
	"strings"

	"github.com/faultline-dev/faultline/experiments/spec"
	"github.com/faultline-dev/faultline/faults"
	"github.com/faultline-dev/faultline/targets/dnsstub"
)

// What a fault's target stands for outside faultline's world: the endpoint
// names a DNS fault selects, with the regions they belong to.

// endpoint is one region's endpoint name, without the final dot.
type endpoint struct {
	Region, Name string
}

// selected lists the endpoints of the experiment that a DNS fault's target
// selects (spec.Parse made the target an fqdn or a pattern), and whether the
// target was a pattern (a suffix or * labels) rather than one name.
func selected(exp *spec.Experiment, f faults.Fault) (eps []endpoint, pattern bool) {
	target := f.Target
	pattern = strings.HasPrefix(target, ".") || strings.Contains(target, "*")
	matches, err := dnsstub.NamePattern(target)
	if err != nil {
		return nil, pattern // spec.Parse accepted it; cannot happen
	}
	for _, r := range exp.Topology.Regions {
		name := exp.Topology.EndpointName(r.Name)
		if (pattern && matches(name)) || name == target {
			eps = append(eps, endpoint{Region: r.Name, Name: strings.TrimSuffix(name, ".")})
		}
	}
	return eps, pattern
}

// names lists the endpoints' names.
func names(eps []endpoint) []string {
	out := make([]string, len(eps))
	for i, e := range eps {
		out[i] = e.Name
	}
	return out
}

// isDNSKind reports whether a kind acts on DNS names.
func isDNSKind(kind string) bool {
	k, ok := faults.Lookup(kind)
	return ok && k.Target() == faults.TargetDNSName
}
