package nlb

import (
	"fmt"
	"time"
)

// healthLoop checks one target every interval until the load balancer closes.
func (lb *LB) healthLoop(t *target) {
	defer lb.wg.Done()
	hc := lb.cfg.HealthCheck
	ticker := time.NewTicker(hc.Interval)
	defer ticker.Stop()
	for {
		err := hc.check(lb.ctx, t.health.Addr())
		if lb.ctx.Err() != nil {
			return
		}
		lb.record(t, err)
		select {
		case <-lb.ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// record counts one check result and moves the target's state when a
// threshold is reached: unhealthy after exactly UnhealthyThreshold failures in
// a row, healthy after exactly HealthyThreshold successes in a row.
func (lb *LB) record(t *target, err error) {
	hc := lb.cfg.HealthCheck
	ev := Event{Kind: "hc.result", Target: t.addr, OK: err == nil}
	if err != nil {
		ev.Detail = err.Error()
	}
	lb.emit(ev)

	t.mu.Lock()
	from := t.state
	if from == StateDraining || from == StateUnused {
		t.mu.Unlock() // a deregistered target's checks no longer count
		return
	}
	if err == nil {
		t.okRun++
		t.badRun = 0
		if t.state != StateHealthy && t.okRun >= hc.HealthyThreshold {
			t.state = StateHealthy
		}
	} else {
		t.badRun++
		t.okRun = 0
		if t.state != StateUnhealthy && t.badRun >= hc.UnhealthyThreshold {
			t.state = StateUnhealthy
		}
	}
	to := t.state
	runs := fmt.Sprintf("%d ok, %d failed in a row", t.okRun, t.badRun)
	t.mu.Unlock()

	if from == to {
		return
	}
	lb.emit(Event{Kind: "target.state", Target: t.addr, From: from, To: to, Detail: runs})
	if to == StateHealthy {
		lb.propagate(t)
	}
	lb.republish()
	if to == StateUnhealthy && !lb.cfg.KeepConnectionsOnUnhealthy {
		if n := lb.terminate(t); n > 0 {
			lb.emit(Event{Kind: "conn.failed", Target: t.addr, Detail: fmt.Sprintf("reset %d connections: target unhealthy", n)})
		}
	}
}
