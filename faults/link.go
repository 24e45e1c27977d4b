package faults

import (
	"errors"
	"fmt"

	"github.com/faultline-dev/faultline/targets/links"
)

// link.latency adds latency (and jitter) to every data link of a region's
// load balancer: the NLB's connections to its targets go through it.
func init() { Register(linkLatency{}) }

type linkLatency struct{}

func (linkLatency) Name() string { return "link.latency" }
func (linkLatency) Summary() string {
	return "adds latency to a region's NLB-to-target data links (toxiproxy latency toxic)"
}
func (linkLatency) Target() TargetType { return TargetRegion }
func (linkLatency) Params() []Param {
	return []Param{
		{Name: "latency", Type: Duration, Required: true, Min: 0, Max: 60_000, Doc: "added latency per direction, e.g. 200ms"},
		{Name: "jitter", Type: Duration, Default: "0s", Min: 0, Max: 60_000, Doc: "random extra latency up to this"},
	}
}

func (linkLatency) Apply(w World, f Fault, v Values) (func() error, error) {
	toxic := links.Toxic{
		Name:     FaultID(f),
		Type:     "latency",
		Stream:   "downstream",
		Toxicity: 1,
		Attributes: map[string]any{
			"latency": v.Duration("latency").Milliseconds(),
			"jitter":  v.Duration("jitter").Milliseconds(),
		},
	}
	return applyToLinks(w, f.Target, func(l *links.Link) (func() error, error) {
		if err := l.AddToxic(toxic); err != nil {
			return nil, err
		}
		return func() error { return l.RemoveToxic(toxic.Name) }, nil
	})
}

// link.down stops a region's data links: new connections from the NLB to its
// targets are refused (health checks use links of their own and still pass).
func init() { Register(linkDown{}) }

type linkDown struct{}

func (linkDown) Name() string { return "link.down" }
func (linkDown) Summary() string {
	return "takes a region's NLB-to-target data links down: connections refused"
}
func (linkDown) Target() TargetType { return TargetRegion }
func (linkDown) Params() []Param    { return nil }

func (linkDown) Apply(w World, f Fault, _ Values) (func() error, error) {
	return applyToLinks(w, f.Target, func(l *links.Link) (func() error, error) {
		if err := l.Down(); err != nil {
			return nil, err
		}
		return l.Up, nil
	})
}

// applyToLinks applies one change to every data link of a region, undoing the
// ones already done if any fails so nothing is left applied.
func applyToLinks(w World, region string, apply func(*links.Link) (func() error, error)) (func() error, error) {
	ls, err := w.RegionLinks(region)
	if err != nil {
		return nil, err
	}
	var heals []func() error
	healAll := func() error {
		var errs []error
		for _, h := range heals {
			errs = append(errs, h())
		}
		return errors.Join(errs...)
	}
	for _, l := range ls {
		h, err := apply(l)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("link %s: %w", l.Name(), err), healAll())
		}
		heals = append(heals, h)
	}
	return healAll, nil
}
