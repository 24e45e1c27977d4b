package nlb

import (
	"fmt"
	"time"
)

// healthLoop checks one target every interval until the load balancer
// closes. Each check has a due time on a fixed grid from the start; a check
// whose own timing the machine spoiled is discarded (see lateness).
func (lb *LB) healthLoop(t *target) {
	defer lb.wg.Done()
	hc := lb.cfg.HealthCheck
	timer := time.NewTimer(0)
	defer timer.Stop()
	for due := time.Now(); ; {
		select {
		case <-lb.ctx.Done():
			return
		case <-timer.C:
		}
		if dueHook != nil {
			due = dueHook(t.addr, due)
		}
		began := time.Now()
		err := hc.check(lb.ctx, t.health.Addr())
		ended := time.Now()
		if lb.ctx.Err() != nil {
			return
		}
		lb.record(t, err, lateness(due, began, ended, hc.Timeout))
		// The next check on the grid; checks the machine made us miss are
		// skipped, as a ticker drops ticks, not run in a burst.
		due = due.Add(hc.Interval)
		if now := time.Now(); due.Before(now) {
			due = due.Add(now.Sub(due).Truncate(hc.Interval) + hc.Interval)
		}
		timer.Reset(time.Until(due))
	}
}

// dueHook, when set (by tests), may move a check's due time: a due time in
// the past is a timer that fired late.
var dueHook func(target string, due time.Time) time.Time

// lateness is how late the harness ran a check that was due at due, began
// at began and ended at ended: the larger of how late it began (its timer
// fired late, or the goroutine ran late) and how far past its deadline it
// ended (its deadline timer fired late, or its result was read late). A
// check that ends on time has no lateness of the second kind however slow
// the target, and a target cannot make the check begin late: both are the
// machine's.
func lateness(due, began, ended time.Time, timeout time.Duration) time.Duration {
	return max(began.Sub(due), ended.Sub(began.Add(timeout)), 0)
}

// record counts one check result and moves the target's state when a
// threshold is reached: unhealthy after exactly UnhealthyThreshold failures in
// a row, healthy after exactly HealthyThreshold successes in a row. A check
// the harness ran later than the check's timeout is reported as discarded
// and not counted: its result says more about the machine than the target.
func (lb *LB) record(t *target, err error, lag time.Duration) {
	hc := lb.cfg.HealthCheck
	ev := Event{Kind: "hc.result", Target: t.addr, OK: err == nil, Lag: lag, Discarded: lag > hc.Timeout}
	if err != nil {
		ev.Detail = err.Error()
	}
	lb.emit(ev)
	if ev.Discarded {
		return
	}

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
		if n := lb.terminate(t, ClosedTerminated); n > 0 {
			lb.emit(Event{Kind: "conn.failed", Target: t.addr, Detail: fmt.Sprintf("reset %d connections: target unhealthy", n)})
		}
	}
}
