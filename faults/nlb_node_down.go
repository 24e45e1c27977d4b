package faults

import "fmt"

// NLBNodeDown is nlb.node-down: one node of a region's load balancer stops
// accepting (its address refuses connections) while DNS still hands it out:
// clients that pick it fail until they try the other address.
type NLBNodeDown struct {
	Node int `param:"node" default:"1" min:"1" max:"8" doc:"which node, from 1"`
}

func init() {
	Register(Define[NLBNodeDown](Meta{Name: "nlb.node-down", Target: TargetRegion, Reach: ReachNode,
		Summary: "one NLB node of the region stops accepting connections (still published in DNS)"}))
}

// NodeIndex is the node it takes down, from 0 (a NodeFault).
func (p NLBNodeDown) NodeIndex() int { return p.Node - 1 }

func (p NLBNodeDown) Apply(w World, f Fault) (func() error, error) {
	undo, err := w.NodeDown(f.Target, p.NodeIndex())
	if err != nil {
		return nil, fmt.Errorf("nlb.node-down: %w", err)
	}
	return undo, nil
}
