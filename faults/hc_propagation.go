package faults

import "time"

// HCPropagationDelay is hc.propagation-delay: a target that turns healthy
// passes its health checks for delay before its data path accepts
// connections (its network state has not propagated), so the NLB sends
// traffic to a target that refuses it — with hc.flap, health alternates and
// clients see resets again and again.
type HCPropagationDelay struct {
	Delay time.Duration `param:"delay" default:"2s" min:"1ms" max:"10m" doc:"how long the data path lags behind health"`
}

func init() {
	Register(Define[HCPropagationDelay](Meta{Name: "hc.propagation-delay", Target: TargetRegion, Reach: ReachHealth,
		Summary: "targets turning healthy refuse data connections for a while: health passes before the data path works"}))
}

func (p HCPropagationDelay) Apply(w World, f Fault) (func() error, error) {
	set, err := w.PropagationDelay(f.Target)
	if err != nil {
		return nil, err
	}
	set(p.Delay)
	return func() error { set(0); return nil }, nil
}
