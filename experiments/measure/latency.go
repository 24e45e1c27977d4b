package measure

import (
	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/montanaflynn/stats"
)

// percentile of a run's own latencies: exact, linear interpolation
// (montanaflynn/stats); nil when there are none.
func percentile(xs []float64, p float64) *float64 {
	if len(xs) == 0 {
		return nil
	}
	v, err := stats.Percentile(xs, p)
	if err != nil {
		return nil
	}
	return ptr(v)
}

// Latency histograms merge across trials: the p99 of several runs is the
// p99 of all their requests, not the p99 of their p99s. HDR histograms
// (HdrHistogram/hdrhistogram-go) hold any number of requests in bounded
// memory, to three significant digits, from a microsecond to an hour.
const (
	histLowestUS  = 1
	histHighestUS = 3600 * 1e6
	histDigits    = 3
)

// latencyHistograms are a client's latencies: every request, and the
// successful ones.
type latencyHistograms struct {
	all, ok *hdrhistogram.Histogram
}

func newHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(histLowestUS, histHighestUS, histDigits)
}

// merge adds o's counts to h.
func (h *latencyHistograms) merge(o latencyHistograms) {
	if h.all == nil {
		*h = latencyHistograms{all: newHistogram(), ok: newHistogram()}
	}
	if o.all != nil {
		h.all.Merge(o.all)
		h.ok.Merge(o.ok)
	}
}

// quantile is a percentile of a histogram in milliseconds; nil when empty.
func quantile(h *hdrhistogram.Histogram, p float64) *float64 {
	if h == nil || h.TotalCount() == 0 {
		return nil
	}
	return ptr(float64(h.ValueAtPercentile(p)) / 1000)
}

// pooled is the value of a latency metric over histograms' requests; ok is
// false for a metric that is not a latency percentile.
func (h latencyHistograms) pooled(metric string) (v *float64, ok bool) {
	switch metric {
	case "latency_p50_ms":
		return quantile(h.all, 50), true
	case "latency_p99_ms":
		return quantile(h.all, 99), true
	case "ok_latency_p50_ms":
		return quantile(h.ok, 50), true
	case "ok_latency_p99_ms":
		return quantile(h.ok, 99), true
	}
	return nil, false
}
