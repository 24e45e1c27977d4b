package faults

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/faultline-dev/faultline/targets/links"
)

// HCFlap is hc.flap: a region's health checks alternate between failing and passing,
// as on October 20 when new instances passed before their network state had
// propagated: every period starts with duty*period of failing checks (the
// health-check links hold all data), then passing ones. With thresholds of 2
// to 5 checks, targets go unhealthy and come back, again and again.
type HCFlap struct {
	Period time.Duration `param:"period" default:"4s" min:"50ms" max:"1h" doc:"one failing-plus-passing cycle"`
	Duty   float64       `param:"duty" default:"0.5" min:"0" max:"1" doc:"share of each period the checks fail, which comes first"`
	Target int           `param:"target" default:"0" min:"0" max:"8" doc:"only this target's checks, from 1 (target t is in AZ t, counting nodes cyclically); 0: every target"`
}

func init() {
	Register(Define[HCFlap](Meta{Name: "hc.flap", Target: TargetRegion, Reach: ReachHealth,
		Summary: "a region's health checks alternate between failing and passing (period, duty cycle)"}))
}

func (p HCFlap) Apply(w World, f Fault) (func() error, error) {
	ls, err := w.RegionHealthLinks(f.Target)
	if err != nil {
		return nil, err
	}
	if n := p.Target; n > 0 {
		if n > len(ls) {
			return nil, fmt.Errorf("hc.flap: region %s has %d targets, not %d", f.Target, len(ls), n)
		}
		ls = ls[n-1 : n]
	}
	toxic := links.Toxic{Name: links.OwnToxic(FaultID(f)), Type: "timeout", Attributes: map[string]any{"timeout": 0}}
	period := p.Period
	failing := time.Duration(p.Duty * float64(period))
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
