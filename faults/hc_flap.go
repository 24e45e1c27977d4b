package faults

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/faultline-dev/faultline/targets/links"
)

// hc.flap: a region's health checks alternate between failing and passing,
// as on October 20 when new instances passed before their network state had
// propagated: every period starts with duty*period of failing checks (the
// health-check links hold all data), then passing ones. With thresholds of 2
// to 5 checks, targets go unhealthy and come back, again and again.
func init() { Register(hcFlap{}) }

type hcFlap struct{}

func (hcFlap) Name() string { return "hc.flap" }
func (hcFlap) Summary() string {
	return "a region's health checks alternate between failing and passing (period, duty cycle)"
}
func (hcFlap) Target() TargetType { return TargetRegion }
func (hcFlap) Reach() string      { return ReachHealth }
func (hcFlap) Params() []Param {
	return []Param{
		{Name: "period", Type: Duration, Default: "4s", Min: 50, Max: 3_600_000, Doc: "one failing-plus-passing cycle"},
		{Name: "duty", Type: Float, Default: "0.5", Min: 0, Max: 1, Doc: "share of each period the checks fail, which comes first"},
		{Name: "target", Type: Int, Default: "0", Min: 0, Max: 8, Doc: "only this target's checks, from 1 (target t is in AZ t, counting nodes cyclically); 0: every target"},
	}
}

func (hcFlap) Apply(w World, f Fault, v Values) (func() error, error) {
	ls, err := w.RegionHealthLinks(f.Target)
	if err != nil {
		return nil, err
	}
	if n := v.Int("target"); n > 0 {
		if n > len(ls) {
			return nil, fmt.Errorf("hc.flap: region %s has %d targets, not %d", f.Target, len(ls), n)
		}
		ls = ls[n-1 : n]
	}
	toxic := links.Toxic{Name: links.OwnToxic(FaultID(f)), Type: "timeout", Attributes: map[string]any{"timeout": 0}}
	period := v.Duration("period")
	failing := time.Duration(v.Float("duty") * float64(period))
	stop := make(chan struct{})
	done := make(chan struct{})
	var mu sync.Mutex
	on := false
	set := func(fail bool) error {
		mu.Lock()
		defer mu.Unlock()
		if fail == on {
			return nil
		}
		var errs []error
		for _, l := range ls {
			if fail {
				errs = append(errs, l.AddToxic(toxic))
			} else {
				errs = append(errs, l.RemoveToxic(toxic.Name))
			}
		}
		on = fail
		return errors.Join(errs...)
	}
	if err := set(failing > 0); err != nil {
		set(false)
		return nil, err
	}
	go func() {
		defer close(done)
		start := time.Now()
		for {
			// Sleep to the next edge of the cycle, from the fault's start.
			phase := time.Since(start) % period
			next, fail := failing-phase, false
			if phase >= failing {
				next, fail = period-phase, failing > 0
			}
			t := time.NewTimer(next)
			select {
			case <-stop:
				t.Stop()
				return
			case <-t.C:
			}
			set(fail)
		}
	}()
	return func() error {
		close(stop)
		<-done
		return set(false)
	}, nil
}
