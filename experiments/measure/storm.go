package measure

import (
	"fmt"
	"math"
	"sort"

	"github.com/faultline-dev/faultline/experiments/assert"
	"github.com/faultline-dev/faultline/experiments/journal"
)

// Retry storms (issue 17): the load on the backends (ddb.load, per region
// per second) and what the fleets offered and got (fleet.load, per fleet per
// second), and the metrics of the herd after the heal. The definitions
// (README, "Metrics"):
//
//   - a second is the events of the second ending at about s·1000 ms, s =
//     round(T/1000): the backends' second sums the regions' offered,
//     served, throttled and queue, its p99 is the highest region's; the
//     fleets' second sums the fleets' logical, offered (attempts), served,
//     failed and throttled, its p99 the highest fleet's.
//   - periods: only the experiment's whole seconds count (a second that
//     began at or after the experiment phase and ended by its stop): the
//     backends' idle seconds while the world is built or torn down are not
//     a steady state, nor a drain. A second is before the faults when it
//     ends at or before the first fault's start; after them when it ends
//     after the last heal and no fault is left applied; during them
//     otherwise.
//   - steady rate: the backends' mean offered requests per second before
//     the faults; steady p99: the median of those seconds' p99 (seconds
//     that served something).
//   - recovery surge: the peak offered requests per second at the backends
//     after the last heal over the steady rate.
//   - back to steady: a backends' second with nothing throttled, nothing
//     queued and a p99 at most DrainLatencyFactor times the steady p99 (or
//     DrainLatencySlackMS above it, whichever is larger). Overloaded: not
//     back. Time to drain: from the last heal to the start of the first run
//     of DrainSeconds consecutive seconds back to steady (0 when the first
//     seconds after the heal are).
//   - metastable: the backends had not drained the metastable window after
//     the last heal, although nothing was faulted any more (drain_ms greater
//     than the window, or never drained with load measured for the window
//     and DrainSeconds more).
//   - amplification, per period: the fleets' attempts over their logical
//     requests started; goodput, per period: the fleets' successful logical
//     requests per second. Each fleet has its own too, over its seconds.
//
// A metric with nothing to measure it is null, and Nulls says why: no
// ddb.load or fleet.load, no second before the first fault, no heal, a
// fault never healed, load not measured long enough.

// Settings of the definitions.
const (
	// DefaultMetastableAfterMS is the metastable window when the experiment
	// does not set metrics.metastable_after.
	DefaultMetastableAfterMS = 30_000.0
	// DrainSeconds consecutive seconds back to steady make the backends
	// drained: one good second between throttled ones is not recovery.
	DrainSeconds = 3
	// A second's p99 is back when at most DrainLatencyFactor × the steady
	// p99, or DrainLatencySlackMS above it: a factor alone would call a
	// 1 ms steady p99 that became 3 ms overloaded.
	DrainLatencyFactor  = 2.0
	DrainLatencySlackMS = 10.0
	// maxLoadSeconds bounds the per-second series (18 hours).
	maxLoadSeconds = 1 << 16
)

// The metrics of a retry storm, by their assertion names.
const (
	MetricMetastable          = "metastable"
	MetricRecoverySurge       = "recovery_surge"
	MetricDrainMS             = "drain_ms"
	MetricAmplificationBefore = "amplification_before"
	MetricAmplificationDuring = "amplification_during"
	MetricAmplificationAfter  = "amplification_after"
	MetricGoodputBefore       = "goodput_before_rps"
	MetricGoodputDuring       = "goodput_during_rps"
	MetricGoodputAfter        = "goodput_after_rps"
	MetricSteadyRPS           = "steady_rps"
	MetricPeakAfterHealRPS    = "peak_after_heal_rps"
)

// Storm is what the journal says of load: per second at the backends and
// the fleets, and the metrics of the herd after the heal.
type Storm struct {
	// Capacity of each region that has one (ddb.capacity); Regions each
	// region's load per second (ddb.load), in the order first journaled;
	// Fleets as they started (fleet.start), each with its own load and
	// metrics.
	Capacity []Capacity   `json:"capacity"`
	Regions  []RegionLoad `json:"regions"`
	Fleets   []Fleet      `json:"fleets"`
	// Server is the backends' load per second, summed over regions;
	// Clients the fleets', summed over fleets. Empty: no such event.
	Server  []LoadSecond `json:"server"`
	Clients []LoadSecond `json:"clients"`
	// MetastableAfterMS is the metastable window (metrics.metastable_after).
	MetastableAfterMS float64 `json:"metastable_after_ms"`

	SteadyRPS        *float64 `json:"steady_rps"`
	SteadyP99MS      *float64 `json:"steady_p99_ms"`
	PeakAfterHealRPS *float64 `json:"peak_after_heal_rps"`
	RecoverySurge    *float64 `json:"recovery_surge"`
	DrainMS          *float64 `json:"drain_ms"`
	Metastable       *bool    `json:"metastable"`
	// Amplification: attempts per logical request; Goodput: successful
	// logical requests per second; each before, during and after the faults.
	Amplification Periods `json:"amplification"`
	Goodput       Periods `json:"goodput_rps"`
	// Nulls says why each null metric is null.
	Nulls []NullMetric `json:"nulls,omitempty"`
}

// Periods are a metric before, during and after the faults.
type Periods struct {
	Before *float64 `json:"before"`
	During *float64 `json:"during"`
	After  *float64 `json:"after"`
}

// NullMetric says why a metric is null.
type NullMetric struct {
	Metric string `json:"metric"`
	Reason string `json:"reason"`
}

// Capacity is a region's backend capacity (ddb.capacity).
type Capacity struct {
	Region string  `json:"region"`
	RPS    float64 `json:"rps"`
	Burst  int     `json:"burst"`
}

// RegionLoad is one region's backend load per second.
type RegionLoad struct {
	Region  string       `json:"region"`
	Seconds []LoadSecond `json:"seconds"`
}

// Fleet is a fleet of light clients as it started (fleet.start; a fleet
// with load but no start has only its name), its load per second and its
// own amplification and goodput (as the storm's, over its seconds only).
type Fleet struct {
	Name          string       `json:"name"`
	Retry         string       `json:"retry"`
	Region        string       `json:"region"`
	Rate          float64      `json:"rate"`
	Size          int          `json:"size"`
	TimeoutMS     float64      `json:"timeout_ms"`
	Seconds       []LoadSecond `json:"seconds"`
	Amplification Periods      `json:"amplification"`
	Goodput       Periods      `json:"goodput_rps"`
	Nulls         []NullMetric `json:"nulls,omitempty"`
}

// LoadSecond is one second of load, ending at TMS.
type LoadSecond struct {
	TMS float64 `json:"t_ms"`
	// Logical requests started and Failed (gave up): the fleets' only.
	Logical   int `json:"logical"`
	Offered   int `json:"offered"`
	Served    int `json:"served"`
	Throttled int `json:"throttled"`
	Failed    int `json:"failed"`
	// Queue: waiting at the end of the second (the backends' only).
	Queue int     `json:"queue"`
	P99MS float64 `json:"p99_ms"`
}

// StormMetrics are the storm's metrics an assertion may use: the run's,
// not a client's (the assertion grammar's list; storm_test checks it names
// the constants above).
var StormMetrics = assert.StormMetrics

// fleetMetric: measured from fleet.load (the others from ddb.load).
func fleetMetric(name string) bool {
	switch name {
	case MetricAmplificationBefore, MetricAmplificationDuring, MetricAmplificationAfter,
		MetricGoodputBefore, MetricGoodputDuring, MetricGoodputAfter:
		return true
	}
	return false
}

// Value returns a storm metric by its assertion name (metastable: 1 true,
// 0 false); ok is false when it is null or the storm has no such metric.
func (s *Storm) Value(name string) (v float64, ok bool) {
	if s == nil {
		return 0, false
	}
	if name == MetricMetastable {
		if s.Metastable == nil {
			return 0, false
		}
		if *s.Metastable {
			return 1, true
		}
		return 0, true
	}
	p := map[string]*float64{MetricRecoverySurge: s.RecoverySurge, MetricDrainMS: s.DrainMS,
		MetricAmplificationBefore: s.Amplification.Before, MetricAmplificationDuring: s.Amplification.During,
		MetricAmplificationAfter: s.Amplification.After, MetricGoodputBefore: s.Goodput.Before,
		MetricGoodputDuring: s.Goodput.During, MetricGoodputAfter: s.Goodput.After,
		MetricSteadyRPS: s.SteadyRPS, MetricPeakAfterHealRPS: s.PeakAfterHealRPS}[name]
	if p == nil {
		return 0, false
	}
	return *p, true
}

// Why says why a storm metric is null ("" when it is not, or unknown).
func (s *Storm) Why(name string) string {
	if s == nil {
		return "no load in the journal (no ddb.load or fleet.load event: no backend with a capacity, no fleet)"
	}
	for _, n := range s.Nulls {
		if n.Metric == name {
			return n.Reason
		}
	}
	return ""
}

// stormFold folds the load events in journal order: per second, the sums.
type stormFold struct {
	seen            bool
	capacity        []Capacity
	fleets          []Fleet
	fleetIndex      map[string]int // name → its place in fleets
	started         map[string]bool
	fleetSecs       []map[int]*LoadSecond
	regions         []string
	regionSecs      map[string]map[int]*LoadSecond
	server, clients map[int]*LoadSecond
	dropped         int
}

func newStormFold() *stormFold {
	return &stormFold{server: map[int]*LoadSecond{}, clients: map[int]*LoadSecond{}, fleetIndex: map[string]int{}, started: map[string]bool{},
		regionSecs: map[string]map[int]*LoadSecond{}}
}

// fleet is the fleet named name, added when first seen (nil: too many).
func (g *stormFold) fleet(name string) *Fleet {
	i, ok := g.fleetIndex[name]
	if !ok {
		if len(g.fleets) >= maxNames {
			g.dropped++
			return nil
		}
		i = len(g.fleets)
		g.fleetIndex[name] = i
		g.fleets = append(g.fleets, Fleet{Name: name})
		g.fleetSecs = append(g.fleetSecs, map[int]*LoadSecond{})
	}
	return &g.fleets[i]
}

// region is a region's seconds, added when first seen (nil: too many).
func (g *stormFold) region(name string) map[int]*LoadSecond {
	m := g.regionSecs[name]
	if m == nil {
		if len(g.regions) >= maxNames {
			g.dropped++
			return nil
		}
		m = map[int]*LoadSecond{}
		g.regionSecs[name] = m
		g.regions = append(g.regions, name)
	}
	return m
}

// loadSecond is the index of the second ending at about t.
func loadSecond(t float64) int { return int(math.Round(t / 1000)) }

func (g *stormFold) add(e journal.Event) {
	switch e.Type {
	case journal.DDBCapacity:
		g.seen = true
		if e.Load != nil && len(g.capacity) < maxNames {
			g.capacity = append(g.capacity, Capacity{Region: e.Region, RPS: e.Load.CapacityRPS, Burst: e.Load.Burst})
		}
	case journal.FleetStart:
		g.seen = true
		if f := g.fleet(e.Client); f != nil && !g.started[e.Client] { // started twice: the first start says
			g.started[e.Client] = true
			f.Retry, f.Region, f.Rate, f.Size, f.TimeoutMS = e.Strategy, e.Region, e.Rate, e.Size, e.TimeoutMS
		}
	case journal.DDBLoad:
		g.seen = true
		if e.Load == nil {
			return
		}
		g.second(g.server, e)
		if m := g.region(e.Region); m != nil {
			g.second(m, e)
		}
	case journal.FleetLoad:
		g.seen = true
		if e.Load == nil {
			return
		}
		g.second(g.clients, e)
		if f := g.fleet(e.Client); f != nil {
			g.second(g.fleetSecs[g.fleetIndex[e.Client]], e)
		}
	}
}

func (g *stormFold) second(m map[int]*LoadSecond, e journal.Event) {
	if e.Load == nil {
		return
	}
	s := loadSecond(e.T)
	ls := m[s]
	if ls == nil {
		if len(m) >= maxLoadSeconds {
			g.dropped++
			return
		}
		ls = &LoadSecond{TMS: float64(s) * 1000}
		m[s] = ls
	}
	l := e.Load
	ls.Logical += l.Logical
	ls.Offered += l.Offered
	ls.Served += l.Served
	ls.Throttled += l.Throttled
	ls.Failed += l.Failed
	ls.Queue += l.Queue
	ls.P99MS = max(ls.P99MS, l.P99MS)
}

func sortedSeconds(m map[int]*LoadSecond) []LoadSecond {
	out := make([]LoadSecond, 0, len(m))
	for _, ls := range m {
		out = append(out, *ls)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TMS < out[j].TMS })
	return out
}

// stormWindows is what the metrics need of the faults: the first start
// (+Inf: none), the last heal (-1: none), a fault left applied, the window.
type stormWindows struct {
	from, to        float64 // the experiment's phase (±Inf: the journal has none)
	first, lastHeal float64
	open            string // a fault never healed ("": none)
	metastableAfter float64
}

func stormWindowsOf(windows []FaultWindow, metastableAfter, from, to float64) stormWindows {
	w := stormWindows{from: from, to: to, first: math.Inf(1), lastHeal: -1, metastableAfter: metastableAfter}
	for _, f := range windows {
		w.first = min(w.first, f.StartMS)
		if f.EndMS == nil {
			if w.open == "" {
				w.open = f.ID
			}
			continue
		}
		w.lastHeal = max(w.lastHeal, *f.EndMS)
	}
	if w.metastableAfter <= 0 {
		w.metastableAfter = DefaultMetastableAfterMS
	}
	return w
}

// period of a second ending at t: "before", "during" or "after"; "" when
// it is not one of the experiment's.
func (w stormWindows) period(t float64) string {
	switch {
	case t-1000 < w.from || t > w.to:
		return ""
	case t <= w.first:
		return "before"
	case w.open == "" && w.lastHeal >= 0 && t > w.lastHeal:
		return "after"
	}
	return "during"
}

func (g *stormFold) summary(windows []FaultWindow, metastableAfter, from, to float64) *Storm {
	if !g.seen {
		return nil
	}
	st := &Storm{Capacity: g.capacity, Regions: []RegionLoad{}, Fleets: []Fleet{}, Server: sortedSeconds(g.server), Clients: sortedSeconds(g.clients)}
	if st.Capacity == nil {
		st.Capacity = []Capacity{}
	}
	for _, r := range g.regions {
		st.Regions = append(st.Regions, RegionLoad{Region: r, Seconds: sortedSeconds(g.regionSecs[r])})
	}
	for i, f := range g.fleets {
		f.Seconds = sortedSeconds(g.fleetSecs[i])
		st.Fleets = append(st.Fleets, f)
	}
	stormMetrics(st, stormWindowsOf(windows, metastableAfter, from, to))
	return st
}

// stormMetrics computes the metrics of st's series.
func stormMetrics(st *Storm, w stormWindows) {
	st.MetastableAfterMS = w.metastableAfter
	null := func(metric, reason string) { st.Nulls = append(st.Nulls, NullMetric{metric, reason}) }
	serverMetrics(st, w, null)
	clientMetrics(st, w, null)
}

func serverMetrics(st *Storm, w stormWindows, null func(metric, reason string)) {
	after := []string{MetricPeakAfterHealRPS, MetricRecoverySurge, MetricDrainMS, MetricMetastable}
	nullAll := func(metrics []string, reason string) {
		for _, m := range metrics {
			null(m, reason)
		}
	}
	if len(st.Server) == 0 {
		nullAll(append([]string{MetricSteadyRPS}, after...), "no backend load in the journal (no ddb.load: no region has a capacity)")
		return
	}
	var offered float64
	var p99s []float64
	n := 0
	for _, s := range st.Server {
		if w.period(s.TMS) != "before" {
			continue
		}
		n++
		offered += float64(s.Offered)
		if s.Served > 0 {
			p99s = append(p99s, s.P99MS)
		}
	}
	if n == 0 {
		nullAll(append([]string{MetricSteadyRPS}, after...), "no backend load measured before the first fault: the steady rate is unknown")
		return
	}
	st.SteadyRPS = ptr(offered / float64(n))
	st.SteadyP99MS = percentile(p99s, 50)
	switch {
	case math.IsInf(w.first, 1):
		nullAll(after, "no fault was applied")
		return
	case w.open != "":
		nullAll(after, fmt.Sprintf("fault %s was never healed: nothing is measured after the faults", w.open))
		return
	}
	var afterHeal []LoadSecond
	for _, s := range st.Server {
		if w.period(s.TMS) == "after" {
			afterHeal = append(afterHeal, s)
		}
	}
	if len(afterHeal) == 0 {
		nullAll(after, "no backend load measured after the last heal")
		return
	}
	peak := 0
	for _, s := range afterHeal {
		peak = max(peak, s.Offered)
	}
	st.PeakAfterHealRPS = ptr(float64(peak))
	if *st.SteadyRPS > 0 {
		st.RecoverySurge = ptr(float64(peak) / *st.SteadyRPS)
	} else {
		null(MetricRecoverySurge, "no request reached the backends before the first fault (steady rate 0)")
	}
	if st.SteadyP99MS == nil {
		nullAll(after[2:], "the backends served nothing before the first fault: no steady latency to come back to")
		return
	}
	bound := max(DrainLatencyFactor**st.SteadyP99MS, *st.SteadyP99MS+DrainLatencySlackMS)
	back := func(s LoadSecond) bool { return s.Throttled == 0 && s.Queue == 0 && s.P99MS <= bound }
	run := 0
	for i, s := range afterHeal {
		if !back(s) {
			run = 0
			continue
		}
		run++
		if run == DrainSeconds {
			start := afterHeal[i-DrainSeconds+1].TMS - 1000
			st.DrainMS = ptr(max(0, start-w.lastHeal))
			break
		}
	}
	measured := afterHeal[len(afterHeal)-1].TMS - w.lastHeal
	switch {
	case st.DrainMS != nil:
		st.Metastable = boolPtr(*st.DrainMS > w.metastableAfter)
	case measured >= w.metastableAfter+DrainSeconds*1000:
		null(MetricDrainMS, fmt.Sprintf("the backends were still overloaded (throttling, queueing or slow) when the load ended, %s after the last heal", seconds(measured)))
		st.Metastable = boolPtr(true)
	default:
		null(MetricDrainMS, fmt.Sprintf("the backends were still overloaded when the load ended, %s after the last heal", seconds(measured)))
		null(MetricMetastable, fmt.Sprintf("the load was measured for %s after the last heal: too short for the metastable window (%s, and %d s to see a drain)",
			seconds(measured), seconds(w.metastableAfter), DrainSeconds))
	}
}

func clientMetrics(st *Storm, w stormWindows, null func(metric, reason string)) {
	fleetPeriods(st.Clients, w, &st.Amplification, &st.Goodput, null)
	for i := range st.Fleets {
		f := &st.Fleets[i]
		fleetPeriods(f.Seconds, w, &f.Amplification, &f.Goodput, func(metric, reason string) {
			f.Nulls = append(f.Nulls, NullMetric{metric, reason})
		})
	}
}

// fleetPeriods are the amplification and goodput of a fleet's seconds (or
// the fleets' together) in each period.
func fleetPeriods(secs []LoadSecond, w stormWindows, amp, good *Periods, null func(metric, reason string)) {
	type sums struct{ logical, offered, served, n int }
	var by = map[string]*sums{"before": {}, "during": {}, "after": {}}
	for _, s := range secs {
		p := by[w.period(s.TMS)]
		if p == nil {
			continue // not the experiment's
		}
		p.logical += s.Logical
		p.offered += s.Offered
		p.served += s.Served
		p.n++
	}
	for _, p := range []struct {
		name         string
		amp, goodput string
		dst          [2]**float64
		what         string
	}{
		{"before", MetricAmplificationBefore, MetricGoodputBefore, [2]**float64{&amp.Before, &good.Before}, "before the first fault"},
		{"during", MetricAmplificationDuring, MetricGoodputDuring, [2]**float64{&amp.During, &good.During}, "during the faults"},
		{"after", MetricAmplificationAfter, MetricGoodputAfter, [2]**float64{&amp.After, &good.After}, "after the last heal"},
	} {
		s := by[p.name]
		var why string
		switch {
		case len(secs) == 0:
			why = "no fleet load in the journal (no fleet.load: no fleet ran)"
		case p.name != "before" && math.IsInf(w.first, 1):
			why = "no fault was applied"
		case p.name == "after" && w.open != "":
			why = fmt.Sprintf("fault %s was never healed", w.open)
		case s.n == 0:
			why = "no fleet load measured " + p.what
		}
		if why != "" {
			null(p.amp, why)
			null(p.goodput, why)
			continue
		}
		*p.dst[1] = ptr(float64(s.served) / float64(s.n))
		if s.logical > 0 {
			*p.dst[0] = ptr(float64(s.offered) / float64(s.logical))
		} else {
			null(p.amp, "the fleets started no logical request "+p.what)
		}
	}
}

func boolPtr(b bool) *bool { return &b }

// seconds writes a duration in ms as seconds ("12.5 s").
func seconds(ms float64) string { return fmt.Sprintf("%.3g s", ms/1000) }
