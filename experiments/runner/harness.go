package runner

import (
	"context"
	"math"
	"runtime/metrics"
	"time"

	"github.com/faultline-dev/faultline/experiments/journal"
)

// The harness watches itself while the experiment runs: a timer of its own,
// due every harnessTick, and how late it woke (the machine's scheduler
// starving faultline shows here first), and the Go runtime's scheduling
// latency; both journaled as harness.lag once per harnessWindow. measure
// judges them against each client's resolution.
const (
	harnessTick   = 10 * time.Millisecond
	harnessWindow = 500 * time.Millisecond
)

const schedLatencies = "/sched/latencies:seconds"

// watchHarness samples until ctx ends, then journals the last window.
func watchHarness(ctx context.Context, record func(journal.Event)) {
	sample := []metrics.Sample{{Name: schedLatencies}}
	metrics.Read(sample)
	prev := histogramOf(sample[0])
	timer := time.NewTimer(harnessTick)
	defer timer.Stop()
	due := time.Now().Add(harnessTick)
	windowEnd := time.Now().Add(harnessWindow)
	worst := time.Duration(0)
	flush := func() {
		metrics.Read(sample)
		cur := histogramOf(sample[0])
		e := journal.Event{Type: journal.HarnessLag, LagMS: ms(worst)}
		if p99, ok := p99Between(prev, cur); ok {
			e.SchedP99MS = &p99
		}
		record(e)
		prev, worst = cur, 0
	}
	for {
		select {
		case <-ctx.Done():
			flush()
			return
		case now := <-timer.C:
			worst = max(worst, now.Sub(due))
			if now.After(windowEnd) {
				flush()
				windowEnd = now.Add(harnessWindow)
			}
			// The next tick is due a tick after this wake-up: a late wake-up
			// is measured once, not carried into every later tick.
			due = time.Now().Add(harnessTick)
			timer.Reset(harnessTick)
		}
	}
}

func histogramOf(s metrics.Sample) *metrics.Float64Histogram {
	if s.Value.Kind() != metrics.KindFloat64Histogram {
		return nil
	}
	h := s.Value.Float64Histogram()
	return &metrics.Float64Histogram{Counts: append([]uint64(nil), h.Counts...), Buckets: h.Buckets}
}

// p99Between is the 99th percentile, in milliseconds, of the scheduling
// latencies recorded between two readings (the upper edge of its bucket).
func p99Between(prev, cur *metrics.Float64Histogram) (float64, bool) {
	if prev == nil || cur == nil || len(prev.Counts) != len(cur.Counts) {
		return 0, false
	}
	var total uint64
	delta := make([]uint64, len(cur.Counts))
	for i := range cur.Counts {
		delta[i] = cur.Counts[i] - prev.Counts[i]
		total += delta[i]
	}
	if total == 0 {
		return 0, false
	}
	need := uint64(math.Ceil(0.99 * float64(total)))
	var seen uint64
	for i, n := range delta {
		seen += n
		if seen >= need {
			edge := cur.Buckets[i+1]
			if math.IsInf(edge, 1) {
				edge = cur.Buckets[i]
			}
			return math.Round(edge*1e6) / 1e3, true
		}
	}
	return 0, false
}

// ms is d in milliseconds, to the microsecond.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
