package measure

import (
	"testing"

	"github.com/faultline-dev/faultline/experiments/journal"
)

func (e j) req(client, region string, t, latency float64, ok bool, class string) j {
	return append(e, journal.Event{T: t, Type: journal.Request, Client: client, Region: region, LatencyMS: latency, OK: journal.Bool(ok), Error: class})
}

// A client that times out must not look fast: latency_p99_ms is over every
// request, ok_latency_p99_ms over the successes.
func TestLatencyOverAllRequestsAndOverSuccesses(t *testing.T) {
	ev := j{}.client("c", "us-east-1", "127.0.0.11")
	for i := 0; i < 98; i++ {
		ev = ev.req("c", "us-east-1", float64(i*50), 2, true, "")
	}
	ev = ev.req("c", "us-east-1", 5000, 1000, false, "timeout").req("c", "us-east-1", 5050, 1000, false, "timeout")
	m := metricsOf(t, ev, 5)
	if m.LatencyP99MS == nil || *m.LatencyP99MS < 900 {
		t.Errorf("latency_p99_ms = %s, want the timeouts in it (about 1000)", str(m.LatencyP99MS))
	}
	eq(t, "ok_latency_p99_ms", m.OKLatencyP99MS, f(2))
	eq(t, "ok_latency_p50_ms", m.OKLatencyP50MS, f(2))
}

// An application line without latency_ms has no latency: it counts in no
// percentile, and with none known the percentiles are null, not 0.
func TestUnknownLatencyIsNotZero(t *testing.T) {
	ev := j{}.app("orders")
	for i := 0; i < 5; i++ {
		ev = append(ev, journal.Event{T: float64(i * 100), Type: journal.Request, Client: "orders", Region: "us-east-1", OK: journal.Bool(true), LatencyUnknown: true})
	}
	m := metricsOf(t, ev, 5)
	eq(t, "latency_p99_ms", m.LatencyP99MS, nil)
	eq(t, "ok_latency_p50_ms", m.OKLatencyP50MS, nil)
	eq(t, "availability", m.Availability, f(1))
}

// Stock boto3 rides out an 8 s DNS fault with one 12.8 s call: with a
// latency objective that call is unavailable from the moment it passed the
// objective, in availability and in detect, failover and recover.
func TestLatencyObjective(t *testing.T) {
	start := journal.Event{Type: journal.ClientStart, Client: "boto3", Strategy: "app", Region: "us-east-1", Addr: "127.0.99.54", ObjectiveMS: 2000}
	ev := j{start}.fault("f1", "dns.empty", "x.", 1000, f(9000))
	for i := 0; i < 10; i++ { // every 100 ms until 1000
		ev = ev.req("boto3", "us-east-1", float64(i*100), 5, true, "")
	}
	ev = ev.req("boto3", "us-east-1", 1000, 12800, true, "") // known slow at 3000
	for i := 0; i < 10; i++ {                                // after it, from 13800
		ev = ev.req("boto3", "us-east-1", 13800+float64(i*100), 5, true, "")
	}
	m := metricsOf(t, ev, 5)
	eq(t, "detect_ms", m.DetectMS, f(2000)) // 1000 + 2000 − the fault's start
	eq(t, "failover_ms", m.FailoverMS, nil) // never served during the fault
	eq(t, "recover_ms", m.RecoverMS, f(4805))
	eq(t, "availability", m.Availability, f(20.0/21.0))
	if m.Errors != 0 || m.Slow != 1 {
		t.Errorf("errors %d, slow %d; want 0 and 1 (slow is not an error)", m.Errors, m.Slow)
	}
	// Without an objective the same call is served: availability 100 %.
	start.ObjectiveMS = 0
	ev[0] = start
	m = metricsOf(t, ev, 5)
	eq(t, "availability", m.Availability, f(1))
	eq(t, "detect_ms", m.DetectMS, nil)
}

// --trials: the p99 across trials is the p99 of all their requests, not the
// p99 of the trials' p99s.
func TestTrialsPoolLatencyHistograms(t *testing.T) {
	trial := func(latencies ...float64) Summary {
		ev := j{}.client("c", "us-east-1", "127.0.0.11")
		for i, l := range latencies {
			ev = ev.req("c", "us-east-1", float64(i*10), l, true, "")
		}
		return run(ev)
	}
	fast := make([]float64, 100)
	for i := range fast {
		fast[i] = 1
	}
	slow := append(append([]float64(nil), fast[:90]...), 500, 500, 500, 500, 500, 500, 500, 500, 500, 500)
	ts := SummarizeTrials([]Summary{trial(fast...), trial(fast...), trial(fast...), trial(slow...)})
	d := ts.Metrics["c"]["latency_p99_ms"]
	if d.Pooled == nil || *d.Max < 499 {
		t.Fatalf("latency_p99_ms across trials = %+v", d)
	}
	// 10 slow of 400 requests: the pooled p99 is 500 (the top 1 % is all
	// slow), the pooled p50 is 1; the median of the per-trial p99s is 1.
	if *d.Pooled < 499 || *d.Pooled > 501 || *d.Median != 1 {
		t.Errorf("pooled p99 %v (want ≈500), median of p99s %v", *d.Pooled, *d.Median)
	}
	if p50 := ts.Metrics["c"]["latency_p50_ms"].Pooled; p50 == nil || *p50 != 1 {
		t.Errorf("pooled p50 = %s, want 1", str(p50))
	}
}
