package faults

import "fmt"

// nlb.node-down: one node of a region's load balancer stops accepting (its
// address refuses connections) while DNS still hands it out: clients that
// pick it fail until they try the other address.
func init() { Register(nodeDown{}) }

type nodeDown struct{}

func (nodeDown) Name() string { return "nlb.node-down" }
func (nodeDown) Summary() string {
	return "one NLB node of the region stops accepting connections (still published in DNS)"
}
func (nodeDown) Target() TargetType { return TargetRegion }
func (nodeDown) Reach() string      { return ReachNode }
func (nodeDown) Params() []Param {
	return []Param{{Name: "node", Type: Int, Default: "1", Min: 1, Max: 8, Doc: "which node, from 1"}}
}

func (nodeDown) Apply(w World, f Fault, v Values) (func() error, error) {
	undo, err := w.NodeDown(f.Target, v.Int("node")-1)
	if err != nil {
		return nil, fmt.Errorf("nlb.node-down: %w", err)
	}
	return undo, nil
}
