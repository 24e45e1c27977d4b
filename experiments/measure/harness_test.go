package measure

import (
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/experiments/journal"
)

// reference adds a reference client with its rate and timeout, and the
// experiment's phases from 0 to 3000 ms.
func reference(name string, rate, timeoutMS float64) j {
	return j{{T: 0, Type: journal.Phase, Detail: "experiment"},
		{Type: journal.ClientStart, Client: name, Strategy: "failover", Region: "us-east-1", Addr: "127.0.0.11", Rate: rate, TimeoutMS: timeoutMS},
		{T: 2990, Type: journal.Phase, Detail: "stop"}}
}

func (e j) lagging(client string, t, lag, latency float64) j {
	return append(e, journal.Event{T: t, Type: journal.Request, Client: client, Region: "us-east-1", OK: journal.Bool(true), LagMS: lag, LatencyMS: latency})
}

func TestStarvedHarnessIsInvalidNeverFail(t *testing.T) {
	healthy := reference("c", 20, 1000).reqs("c", 0, strings.Repeat(".", 29))
	cases := []struct {
		name   string
		events j
		reason string // "" for not starved
	}{
		{"quiet", healthy, ""},
		{"a request sent 40 ms late is within one 50 ms interval", append(j{}, healthy...).lagging("c", 1000, 40, 45), ""},
		{"a request sent 190 ms late", append(j{}, healthy...).lagging("c", 1000, 190, 195), "requests of c were sent up to 190 ms late"},
		{"a timer that fired 2.4 s late", append(j{}, healthy...).lagging("c", 1000, 0, 3400), "ended 2.4 s past its own 1.0 s deadline"},
		{"the sampling timer", append(append(j{}, healthy...), journal.Event{T: 1500, Type: journal.HarnessLag, LagMS: 400}), "timers woke up to 400 ms late"},
		{"the Go scheduler", append(append(j{}, healthy...), journal.Event{T: 1500, Type: journal.HarnessLag, LagMS: 3, SchedP99MS: f(167.8)}), "waited over 168 ms to run"},
		{"a fault applied late", append(append(j{}, healthy...), journal.Event{T: 1000, Type: journal.FaultApplied, Fault: "f1", Kind: "dns.empty", Target: "x.", LagMS: 190}), "fault f1 was applied 190 ms late"},
		{"lag while building is not the experiment's", append(append(j{}, healthy...), journal.Event{T: -5, Type: journal.HarnessLag, LagMS: 900}), ""},
		{"a discarded health check alone", append(append(j{}, healthy...), journal.Event{T: 100, Type: journal.HCResult, LagMS: 300, Status: journal.HCDiscarded}), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// An assertion that fails: starvation must turn it into invalid, not fail.
			s := run(c.events, "c: availability < 0.5")
			if c.reason == "" {
				if s.Harness.Starved || s.Verdict != Fail {
					t.Errorf("starved %v, verdict %s (%q): want not starved, fail", s.Harness.Starved, s.Verdict, s.Reasons)
				}
				return
			}
			if !s.Harness.Starved || s.Verdict != Invalid {
				t.Fatalf("starved %v, verdict %s: want starved and invalid", s.Harness.Starved, s.Verdict)
			}
			if got := strings.Join(s.Reasons, "; "); !strings.Contains(got, "the harness was starved: ") || !strings.Contains(got, c.reason) {
				t.Errorf("reasons %q, want %q", got, c.reason)
			}
		})
	}
}

func TestHarnessFigures(t *testing.T) {
	ev := reference("c", 20, 1000).reqs("c", 0, ".....").lagging("c", 600, 12, 14)
	ev = append(ev, journal.Event{T: 700, Type: journal.HarnessLag, LagMS: 3, SchedP99MS: f(0.4)},
		journal.Event{T: 800, Type: journal.HCResult, LagMS: 2}, journal.Event{T: 900, Type: journal.HCResult, LagMS: 260, Status: journal.HCDiscarded})
	h := run(ev).Harness
	eq(t, "bound_ms", &h.BoundMS, f(50))
	eq(t, "timer_lag_max_ms", h.TimerLagMaxMS, f(3))
	eq(t, "sched_p99_max_ms", h.SchedP99MaxMS, f(0.4))
	eq(t, "request_lag_max_ms", h.RequestLagMaxMS, f(12))
	eq(t, "health_check_lag_max_ms", h.HealthCheckLagMaxMS, f(260))
	if h.HealthChecksDiscarded != 1 || h.Starved {
		t.Errorf("discarded %d, starved %v; want 1, false", h.HealthChecksDiscarded, h.Starved)
	}
	// A fast client's interval is below the floor: the floor holds.
	if b := clientLagBound(ClientInfo{Rate: 1000}); b != MinLagBoundMS {
		t.Errorf("bound at 1000/s = %v, want the floor %v", b, MinLagBoundMS)
	}
}
