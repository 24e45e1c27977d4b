package measure

import (
	"math"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/faultline-dev/faultline/experiments/journal"
)

// ExactSamples is how many latencies a set of requests keeps exactly: up to
// it, percentiles are exact (linear interpolation, montanaflynn/stats);
// beyond it, every latency goes into an HDR histogram (3 significant
// digits, from 1 µs to 1 h) and percentiles are read from it. 10,000 is
// minutes of a fast client; 32 clients × (all, successes) × 10,000 × 8 B
// is 5 MB, where 100,000 would be a quarter of a long run's whole budget.
const ExactSamples = 10_000

// samples are latencies in milliseconds: exact up to ExactSamples, a
// histogram beyond.
type samples struct {
	exact []float64
	hist  *hdrhistogram.Histogram
}

func (s *samples) add(v float64) {
	if s.hist != nil {
		record(s.hist, v)
		return
	}
	s.exact = append(s.exact, v)
	if len(s.exact) > ExactSamples {
		s.hist = newHistogram()
		for _, x := range s.exact {
			record(s.hist, x)
		}
		s.exact = nil
	}
}

func (s *samples) percentile(p float64) *float64 {
	if s.hist != nil {
		return quantile(s.hist, p)
	}
	return percentile(s.exact, p)
}

// histogram is every latency as an HDR histogram (for merging across
// trials).
func (s *samples) histogram() *hdrhistogram.Histogram {
	if s.hist != nil {
		return s.hist
	}
	h := newHistogram()
	for _, x := range s.exact {
		record(h, x)
	}
	return h
}

func record(h *hdrhistogram.Histogram, ms float64) {
	us := int64(math.Round(ms * 1000))
	h.RecordValue(min(max(us, histLowestUS), histHighestUS))
}

// req is what the metrics keep of a request while it waits to be folded
// in: far less than the event.
type req struct {
	t, end, known, latency float64
	region, class          string
	seq                    uint64
	ok, latencyUnknown     bool
}

func (c ClientInfo) req(e journal.Event, seq uint64) req {
	r := req{t: e.T, end: e.End(), latency: e.LatencyMS, region: e.Region, class: e.Error, seq: seq,
		ok: e.Succeeded(), latencyUnknown: e.LatencyUnknown}
	r.known = r.end
	if c.slowReq(r) {
		r.known = r.t + c.ObjectiveMS
	}
	return r
}

func (c ClientInfo) slowReq(r req) bool {
	return c.ObjectiveMS > 0 && !r.latencyUnknown && r.latency > c.ObjectiveMS
}

func (c ClientInfo) servedReq(r req) bool { return r.ok && !c.slowReq(r) }

// Window folds the fault-free metrics of a set of a client's requests
// (counts, availability, latency percentiles) in bounded memory: the whole
// run's, the steady state's windows, a stop condition's.
type Window struct {
	c                              ClientInfo
	requests, errors, slow, served int
	all, ok                        samples
}

// NewWindow starts an empty window of client c's requests.
func NewWindow(c ClientInfo) *Window { return &Window{c: c} }

// Add folds a request in (order does not matter).
func (w *Window) Add(e journal.Event) { w.add(w.c.req(e, 0)) }

func (w *Window) add(r req) {
	w.requests++
	switch {
	case !r.ok:
		w.errors++
	case w.c.slowReq(r):
		w.slow++
	default:
		w.served++
	}
	if r.latencyUnknown {
		return
	}
	w.all.add(r.latency)
	if r.ok {
		w.ok.add(r.latency)
	}
}

// Metrics are the window's: requests, errors, slow requests, availability
// and the latency percentiles (exact up to ExactSamples).
func (w *Window) Metrics() Metrics {
	m := Metrics{Requests: w.requests, Errors: w.errors, Slow: w.slow}
	if w.requests > 0 {
		a := float64(w.served) / float64(w.requests) // a ratio: not rounded
		m.Availability = &a
	}
	m.LatencyP50MS, m.LatencyP99MS = w.all.percentile(50), w.all.percentile(99)
	m.OKLatencyP50MS, m.OKLatencyP99MS = w.ok.percentile(50), w.ok.percentile(99)
	return m
}

// WindowMetrics are the fault-free metrics of some requests of a client.
func WindowMetrics(c ClientInfo, reqs []journal.Event) Metrics {
	w := NewWindow(c)
	for _, r := range reqs {
		w.Add(r)
	}
	return w.Metrics()
}

// WindowTally folds every client's requests so far into its Window, for
// conditions checked while a run goes (stop conditions): feed it every
// event (a journal observer), ask it for a client's metrics at any time.
// It is not safe for concurrent use.
type WindowTally struct {
	windows map[string]*Window
	info    map[string]ClientInfo
}

// NewWindowTally starts an empty tally.
func NewWindowTally() *WindowTally {
	return &WindowTally{windows: map[string]*Window{}, info: map[string]ClientInfo{}}
}

// Add folds an event in: a client's start (its latency objective), its
// requests (probes are not requests).
func (t *WindowTally) Add(e journal.Event) {
	switch e.Type {
	case journal.ClientStart:
		if _, ok := t.info[e.Client]; !ok && len(t.info) < maxNames {
			t.info[e.Client] = clientInfo(e)
		}
	case journal.Request:
		if e.Probe {
			return
		}
		w := t.windows[e.Client]
		if w == nil {
			c, ok := t.info[e.Client]
			if !ok {
				return // not a client of the run
			}
			w = NewWindow(c)
			t.windows[e.Client] = w
		}
		w.Add(e)
	}
}

// Metrics are a client's fault-free metrics over its requests so far.
func (t *WindowTally) Metrics(client string) Metrics {
	if w := t.windows[client]; w != nil {
		return w.Metrics()
	}
	return NewWindow(t.info[client]).Metrics()
}

func clientInfo(e journal.Event) ClientInfo {
	return ClientInfo{Name: e.Client, Strategy: e.Strategy, Primary: e.Region, SourceIP: e.Addr,
		TimeoutMS: e.TimeoutMS, Rate: e.Rate, ObjectiveMS: e.ObjectiveMS}
}
