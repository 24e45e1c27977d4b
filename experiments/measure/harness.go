package measure

import (
	"fmt"
	"math"

	"github.com/faultline-dev/faultline/experiments/journal"
)

// The harness watches itself: faultline's clients, its servers and its
// schedule share the machine with the application under test, and on a
// starved machine their own lateness shows up in the numbers as if the
// client were slow. These bounds say how late faultline may be before its
// numbers can no longer be trusted.
//
// A client's detect, failover and recover times are sampled by its
// requests, one every 1/rate: that interval is their resolution. A lag
// longer than one interval can move them by more than that (a request sent
// late has swapped places with the next one; a timer that fired late
// stretched a request past its deadline), so it is the bound — but never
// below MinLagBoundMS, the ordinary scheduling jitter of a shared machine,
// which no number here claims to resolve.
const (
	MinLagBoundMS     = 20.0
	DefaultLagBoundMS = 50.0 // when no reference client states its rate (applications only)
)

// Harness is what the harness measured of itself, and whether it was
// starved.
type Harness struct {
	// BoundMS is the run's bound for the harness's own lags (the smallest
	// client bound); each client's requests are held to their own.
	BoundMS float64 `json:"bound_ms"`
	// TimerLagMaxMS: how late faultline's own sampling timer woke at worst;
	// SchedP99MaxMS: the Go runtime's scheduling-latency p99, worst window.
	TimerLagMaxMS *float64 `json:"timer_lag_max_ms"`
	SchedP99MaxMS *float64 `json:"sched_p99_max_ms"`
	// RequestLagMaxMS: a reference client's request sent that late at worst;
	// DeadlineOverrunMaxMS: a request ended that long past its own deadline.
	RequestLagMaxMS      *float64 `json:"request_lag_max_ms"`
	DeadlineOverrunMaxMS *float64 `json:"deadline_overrun_max_ms"`
	// FaultLagMaxMS: a fault applied or healed that late against the schedule.
	FaultLagMaxMS *float64 `json:"fault_lag_max_ms"`
	// HealthCheckLagMaxMS: a health check ran that late; the ones later than
	// their timeout were discarded, not counted against their target.
	HealthCheckLagMaxMS   *float64 `json:"health_check_lag_max_ms"`
	HealthChecksDiscarded int      `json:"health_checks_discarded"`
	Starved               bool     `json:"starved"`
	Reasons               []string `json:"reasons,omitempty"`
}

// clientLagBound is the lag a client's numbers tolerate: one request
// interval, at least MinLagBoundMS.
func clientLagBound(c ClientInfo) float64 {
	if c.Rate <= 0 {
		return DefaultLagBoundMS
	}
	return math.Max(1000/c.Rate, MinLagBoundMS)
}

// worst keeps the largest value seen and where.
type worst struct {
	v     *float64
	at    float64
	label string
}

func (w *worst) see(v, at float64, label string) {
	if w.v == nil || v > *w.v {
		w.v, w.at, w.label = ptr(v), at, label
	}
}

// harnessFold folds the harness's self-measurements inside the experiment
// (from its start to its stop: building and teardown move no metric), in
// journal order.
type harnessFold struct {
	timer, sched, req, overrun, fault, hc worst
	reqOver, overOver                     worst // the worst beyond each client's own bound
	discarded                             int
}

// see weighs one event; f says the experiment's window and the clients.
func (h *harnessFold) see(f *Fold, e journal.Event) {
	if e.T < f.from || e.T > f.to {
		return
	}
	switch e.Type {
	case journal.HarnessLag:
		h.timer.see(e.LagMS, e.T, "")
		if e.SchedP99MS != nil {
			h.sched.see(*e.SchedP99MS, e.T, "")
		}
	case journal.FaultApplied, journal.FaultHealed:
		verb := "applied"
		if e.Type == journal.FaultHealed {
			verb = "healed"
		}
		h.fault.see(e.LagMS, e.T, fmt.Sprintf("fault %s was %s", e.Fault, verb))
	case journal.HCResult:
		h.hc.see(e.LagMS, e.T, "")
		if e.Status == journal.HCDiscarded {
			h.discarded++
		}
	case journal.Request:
		cf := f.byName[e.Client]
		if cf == nil || cf.info.Rate <= 0 || e.Probe {
			return
		}
		c := cf.info
		b := clientLagBound(c)
		h.req.see(e.LagMS, e.T, e.Client)
		if e.LagMS > b {
			h.reqOver.see(e.LagMS-b, e.T, e.Client)
		}
		if c.TimeoutMS > 0 {
			over := e.LatencyMS - e.LagMS - c.TimeoutMS
			h.overrun.see(math.Max(over, 0), e.T, e.Client)
			if over > b {
				h.overOver.see(over-b, e.T, e.Client)
			}
		}
	}
}

// result is what the harness measured of itself, and whether it was
// starved, against the bounds of the run's clients.
func (hf *harnessFold) result(clients []ClientInfo) Harness {
	h := Harness{BoundMS: DefaultLagBoundMS, HealthChecksDiscarded: hf.discarded}
	first := true
	for _, c := range clients {
		if c.Rate <= 0 {
			continue
		}
		if b := clientLagBound(c); first || b < h.BoundMS {
			h.BoundMS, first = b, false
		}
	}
	timer, sched, fault, reqOver, overOver := hf.timer, hf.sched, hf.fault, hf.reqOver, hf.overOver
	h.TimerLagMaxMS, h.SchedP99MaxMS, h.RequestLagMaxMS = timer.v, sched.v, hf.req.v
	h.DeadlineOverrunMaxMS, h.FaultLagMaxMS, h.HealthCheckLagMaxMS = hf.overrun.v, fault.v, hf.hc.v

	starved := func(format string, args ...any) {
		h.Starved = true
		h.Reasons = append(h.Reasons, fmt.Sprintf(format, args...))
	}
	if timer.v != nil && *timer.v > h.BoundMS {
		starved("faultline's own timers woke up to %s late (at %s; bound %s)", msText(*timer.v), msText(timer.at), msText(h.BoundMS))
	}
	if sched.v != nil && *sched.v > h.BoundMS {
		starved("1 in 100 of faultline's goroutines waited over %s to run (Go's scheduling latency p99, at %s; bound %s): every server and client of the world shares that wait",
			msText(*sched.v), msText(sched.at), msText(h.BoundMS))
	}
	if fault.v != nil && *fault.v > h.BoundMS {
		starved("%s %s late (bound %s)", fault.label, msText(*fault.v), msText(h.BoundMS))
	}
	if reqOver.v != nil {
		c := clientByName(clients, reqOver.label)
		starved("requests of %s were sent up to %s late (at %s; bound %s, one request interval)",
			reqOver.label, msText(*reqOver.v+clientLagBound(c)), msText(reqOver.at), msText(clientLagBound(c)))
	}
	if overOver.v != nil {
		c := clientByName(clients, overOver.label)
		starved("a request of %s ended %s past its own %s deadline (at %s): its timer fired late (bound %s)",
			overOver.label, msText(*overOver.v+clientLagBound(c)), msText(c.TimeoutMS), msText(overOver.at), msText(clientLagBound(c)))
	}
	return h
}

func clientByName(clients []ClientInfo, name string) ClientInfo {
	for _, c := range clients {
		if c.Name == name {
			return c
		}
	}
	return ClientInfo{Name: name}
}

// msText writes milliseconds for a sentence: "190 ms", "2.4 s".
func msText(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%.1f s", v/1000)
	}
	return fmt.Sprintf("%.0f ms", v)
}
