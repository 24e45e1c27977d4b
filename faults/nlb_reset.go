package faults

import (
	"fmt"
	"sync"
	"time"
)

// nlb.reset-connections: every connection a region's load balancer carries
// is reset at once, as when its hosts are replaced or its nodes move; the
// clients' pooled connections end, and their next request dials again, and
// so looks the name up again. With every, it happens again at that interval
// while the fault is applied (a rolling replacement). Healing stops the
// repetitions; what was reset stays reset.
func init() { Register(resetConnections{}) }

type resetConnections struct{}

func (resetConnections) Name() string { return "nlb.reset-connections" }
func (resetConnections) Summary() string {
	return "resets every open client connection of the region's NLB at once (hosts replaced, nodes moved)"
}
func (resetConnections) Target() TargetType { return TargetRegion }
func (resetConnections) Params() []Param {
	return []Param{{Name: "every", Type: Duration, Default: "0s", Min: 0, Max: 3600000,
		Doc: "0s: once, as the fault starts; else again at this interval while applied (at least 50ms)"}}
}

func (resetConnections) check(v Values) error {
	if e := v.Duration("every"); e > 0 && e < 50*time.Millisecond {
		return &ParamError{Param: "every", Msg: fmt.Sprintf("must be 0s (once) or at least 50ms, got %s", e)}
	}
	return nil
}

func (resetConnections) Apply(w World, f Fault, v Values) (func() error, error) {
	if _, err := w.ResetConnections(f.Target); err != nil {
		return nil, fmt.Errorf("nlb.reset-connections: %w", err)
	}
	every := v.Duration("every")
	if every <= 0 {
		return func() error { return nil }, nil
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				w.ResetConnections(f.Target)
			}
		}
	}()
	return func() error { close(stop); wg.Wait(); return nil }, nil
}
