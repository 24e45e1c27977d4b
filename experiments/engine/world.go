package engine

import (
	"github.com/faultline-dev/faultline/faults"
	"github.com/faultline-dev/faultline/targets/topology"
)

// faultWorld is the fault catalogue's view of the world (faults.World) over
// the topology's plain methods: the targets know nothing of faults.
type faultWorld struct{ *topology.World }

var _ faults.World = faultWorld{}

// DNS is the DNS server's rule table.
func (w faultWorld) DNS() faults.DNSRules { return w.World.DNS() }

// Automation is the DNS automation publishing name, when there is one.
func (w faultWorld) Automation(name string) (faults.DNSAutomation, bool) {
	a, ok := w.World.Automation(name)
	if !ok {
		return nil, false
	}
	return a, true
}
