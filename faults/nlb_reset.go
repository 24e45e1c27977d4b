package faults

import (
	"fmt"
	"sync"
	"time"
)

// NLBResetConnections is nlb.reset-connections: every connection a region's
// load balancer carries is reset at once, as when its hosts are replaced or
// its nodes move; the clients' pooled connections end, and their next
// request dials again, and so looks the name up again. With every, it
// happens again at that interval while the fault is applied (a rolling
// replacement). Healing stops the repetitions; what was reset stays reset.
type NLBResetConnections struct {
	Every time.Duration `param:"every" default:"0s" min:"0s" max:"1h" doc:"0s: once, as the fault starts; else again at this interval while applied (at least 50ms)"`
}

func init() {
	Register(Define[NLBResetConnections](Meta{Name: "nlb.reset-connections", Target: TargetRegion,
		Summary: "resets every open client connection of the region's NLB at once (hosts replaced, nodes moved)"}))
}

func (p *NLBResetConnections) check() error {
	if p.Every > 0 && p.Every < 50*time.Millisecond {
		return &ParamError{Param: "every", Msg: fmt.Sprintf("must be 0s (once) or at least 50ms, got %s", p.Every)}
	}
	return nil
}

func (p NLBResetConnections) Apply(w World, f Fault) (func() error, error) {
	if _, err := w.ResetConnections(f.Target); err != nil {
		return nil, fmt.Errorf("nlb.reset-connections: %w", err)
	}
	if p.Every <= 0 {
		return func() error { return nil }, nil
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(p.Every)
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
