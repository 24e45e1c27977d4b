package faults

// hc.propagation-delay: a target that turns healthy passes its health checks
// for delay before its data path accepts connections (its network state has
// not propagated), so the NLB sends traffic to a target that refuses it —
// with hc.flap, health alternates and clients see resets again and again.
func init() { Register(hcPropagation{}) }

type hcPropagation struct{}

func (hcPropagation) Name() string { return "hc.propagation-delay" }
func (hcPropagation) Summary() string {
	return "targets turning healthy refuse data connections for a while: health passes before the data path works"
}
func (hcPropagation) Target() TargetType { return TargetRegion }
func (hcPropagation) Reach() string      { return ReachHealth }
func (hcPropagation) Params() []Param {
	return []Param{{Name: "delay", Type: Duration, Default: "2s", Min: 1, Max: 600_000, Doc: "how long the data path lags behind health"}}
}

func (hcPropagation) Apply(w World, f Fault, v Values) (func() error, error) {
	set, err := w.PropagationDelay(f.Target)
	if err != nil {
		return nil, err
	}
	set(v.Duration("delay"))
	return func() error { set(0); return nil }, nil
}
