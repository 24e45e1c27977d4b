package reports

import (
	"fmt"
	"slices"
	"strings"

	"github.com/faultline-dev/faultline/experiments/assert"
	"github.com/faultline-dev/faultline/experiments/measure"
)

// The load part of the reports (retry storms, issue 17): the backends'
// capacity, the fleets, and the metrics of the herd after the heal; a null
// metric is printed null with why beside it.

// stormRow is one metric of the storm: its assertion name, its value in
// words, and why it is null.
type stormRow struct{ metric, value, why string }

func stormRows(st *measure.Storm) []stormRow {
	rps := func(v *float64) string {
		if v == nil {
			return "null"
		}
		return fmt.Sprintf("%.4g/s", *v)
	}
	times := func(v *float64) string {
		if v == nil {
			return "null"
		}
		return fmt.Sprintf("%.3g×", *v)
	}
	metastable := "null"
	if st.Metastable != nil {
		metastable = fmt.Sprint(*st.Metastable)
	}
	rows := []stormRow{
		{measure.MetricSteadyRPS, rps(st.SteadyRPS), ""},
		{measure.MetricPeakAfterHealRPS, rps(st.PeakAfterHealRPS), ""},
		{measure.MetricRecoverySurge, times(st.RecoverySurge), ""},
		{measure.MetricDrainMS, ms(st.DrainMS), ""},
		{measure.MetricMetastable, metastable + fmt.Sprintf(" (window %s)", ms(&st.MetastableAfterMS)), ""},
		{measure.MetricAmplificationBefore, times(st.Amplification.Before), ""},
		{measure.MetricAmplificationDuring, times(st.Amplification.During), ""},
		{measure.MetricAmplificationAfter, times(st.Amplification.After), ""},
		{measure.MetricGoodputBefore, rps(st.Goodput.Before), ""},
		{measure.MetricGoodputDuring, rps(st.Goodput.During), ""},
		{measure.MetricGoodputAfter, rps(st.Goodput.After), ""},
	}
	for i := range rows {
		rows[i].why = st.Why(rows[i].metric)
	}
	return rows
}

// stormSetup says what ran: each region's capacity and each fleet.
func stormSetup(st *measure.Storm) []string {
	var out []string
	for _, c := range st.Capacity {
		out = append(out, fmt.Sprintf("backend %s: capacity %.4g requests/s, burst %d", c.Region, c.RPS, c.Burst))
	}
	return out
}

// fleetRows: each fleet, what it was and its own amplification and
// goodput (a header row first; nil without fleets).
func fleetRows(st *measure.Storm) [][]string {
	if len(st.Fleets) == 0 {
		return nil
	}
	x := func(v *float64) string {
		if v == nil {
			return "null"
		}
		return fmt.Sprintf("%.3g×", *v)
	}
	rps := func(v *float64) string {
		if v == nil {
			return "null"
		}
		return fmt.Sprintf("%.4g/s", *v)
	}
	rows := [][]string{{"fleet", "retry", "members", "rate", "region", "amplification before", "during", "after", "goodput before", "during", "after"}}
	for _, f := range st.Fleets {
		rows = append(rows, []string{f.Name, f.Retry, fmt.Sprint(f.Size), fmt.Sprintf("%.4g/s", f.Rate), f.Region,
			x(f.Amplification.Before), x(f.Amplification.During), x(f.Amplification.After),
			rps(f.Goodput.Before), rps(f.Goodput.During), rps(f.Goodput.After)})
	}
	return rows
}

// peakThrottled is the most requests the backends throttled in a second.
func peakThrottled(st *measure.Storm) int {
	n := 0
	for _, s := range st.Server {
		n = max(n, s.Throttled)
	}
	return n
}

func stormTerminal(p *printer, s measure.Summary) {
	st := s.Storm
	if st == nil {
		return
	}
	p.f("\n  load (per second at the backends and the fleets; %d s of backend load, %d of fleet load, at most %d throttled in a second)\n",
		len(st.Server), len(st.Clients), peakThrottled(st))
	for _, l := range stormSetup(st) {
		p.f("    %s\n", l)
	}
	if rows := fleetRows(st); rows != nil {
		p.table(rows)
	}
	rows := [][]string{{"metric", "value", "null because"}}
	for _, r := range stormRows(st) {
		rows = append(rows, []string{r.metric, r.value, r.why})
	}
	p.table(rows)
}

func stormMarkdown(p *printer, s measure.Summary) {
	st := s.Storm
	if st == nil {
		return
	}
	p.f("\n## Load\n\n")
	for _, l := range stormSetup(st) {
		p.f("- %s\n", upperFirst(l))
	}
	p.f("\n%d seconds of backend load and %d of fleet load; at most %d requests throttled in a second.\n\n", len(st.Server), len(st.Clients), peakThrottled(st))
	if rows := fleetRows(st); rows != nil {
		p.mdTable(rows)
		p.f("\n")
	}
	p.f("| metric | value | null because |\n|---|---|---|\n")
	for _, r := range stormRows(st) {
		p.f("| %s | %s | %s |\n", r.metric, r.value, r.why)
	}
}

// stormProperties are junit.xml's properties of the load: every metric, null
// with its reason.
func stormProperties(p func(name, value string), st *measure.Storm) {
	if st == nil {
		return
	}
	for _, c := range st.Capacity {
		p("capacity."+c.Region+".rps", trimNum(c.RPS))
	}
	for _, f := range st.Fleets {
		p("fleet."+f.Name, fmt.Sprintf("%d members, %s requests/s, %s retries", f.Size, trimNum(f.Rate), f.Retry))
		pre := "fleet." + f.Name + "."
		p(pre+measure.MetricAmplificationBefore, plainNum(f.Amplification.Before))
		p(pre+measure.MetricAmplificationDuring, plainNum(f.Amplification.During))
		p(pre+measure.MetricAmplificationAfter, plainNum(f.Amplification.After))
		p(pre+measure.MetricGoodputAfter, plainNum(f.Goodput.After))
	}
	for _, r := range stormRows(st) {
		v, ok := st.Value(r.metric)
		switch {
		case !ok:
			p("storm."+r.metric, "null ("+r.why+")")
		case r.metric == measure.MetricMetastable:
			p("storm."+r.metric, fmt.Sprint(v == 1))
		default:
			p("storm."+r.metric, trimNum(v))
		}
	}
}

// stormNumbers are the load's metrics in one line each, for a case about one.
func stormNumbers(st *measure.Storm) string {
	if st == nil {
		return "no load in the journal (no ddb.load or fleet.load)\n"
	}
	var b strings.Builder
	for _, r := range stormRows(st) {
		fmt.Fprintf(&b, "%s: %s", r.metric, r.value)
		if r.why != "" {
			fmt.Fprintf(&b, " (%s)", r.why)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func isStormMetric(m string) bool { return slices.Contains(measure.StormMetrics, m) }

const stormDefinitions = `- load: per second, the backends' offered, served, throttled and queued requests (ddb.load, summed over regions) and the fleets' logical requests, attempts, successes and failures (fleet.load, summed over fleets). Only the experiment's whole seconds count. Before the faults: seconds ending at or before the first fault's start; after: ending after the last heal.
- steady_rps: the backends' mean offered requests/s before the first fault. peak_after_heal_rps: the most offered in a second after the last heal. recovery_surge: peak over steady.
- drain_ms: from the last heal to the start of the first 3 consecutive seconds with nothing throttled, nothing queued and p99 within 2× the steady p99 (or 10 ms above it); null when the backends never got there.
- metastable: the backends had not drained the metastable window (metrics.metastable_after) after the last heal, with nothing faulted.
- amplification_before/during/after: the fleets' attempts over logical requests started; goodput_before/during/after_rps: their successful logical requests per second.
`

// loadChart is the timeline's load lane: per second, what the backends
// were offered, served and throttled, and what the fleets sent (attempts)
// and got (successful logical requests); null where a side journaled
// nothing that second.
type loadChart struct {
	T      []float64    `json:"t"` // each second's end, in seconds
	Series []loadSeries `json:"series"`
	// Capacity: the regions' capacities summed, requests/s (null: none).
	Capacity *float64 `json:"capacity,omitempty"`
	Note     string   `json:"note"`
}

type loadSeries struct {
	Label  string     `json:"label"`
	Side   string     `json:"side"` // server or clients
	Values []*float64 `json:"values"`
}

func loadLane(st *measure.Storm) *loadChart {
	if st == nil || len(st.Server)+len(st.Clients) == 0 {
		return nil
	}
	var ts []float64
	for _, s := range st.Server {
		ts = append(ts, s.TMS)
	}
	for _, s := range st.Clients {
		ts = append(ts, s.TMS)
	}
	slices.Sort(ts)
	ts = slices.Compact(ts)
	at := make(map[float64]int, len(ts))
	c := &loadChart{}
	for i, t := range ts {
		at[t] = i
		c.T = append(c.T, t/1000)
	}
	column := func(label, side string, secs []measure.LoadSecond, v func(measure.LoadSecond) int) {
		if len(secs) == 0 {
			return
		}
		vals := make([]*float64, len(ts))
		for _, s := range secs {
			x := float64(v(s))
			vals[at[s.TMS]] = &x
		}
		c.Series = append(c.Series, loadSeries{Label: label, Side: side, Values: vals})
	}
	column("offered at the backends", "server", st.Server, func(s measure.LoadSecond) int { return s.Offered })
	column("served", "server", st.Server, func(s measure.LoadSecond) int { return s.Served })
	column("throttled", "server", st.Server, func(s measure.LoadSecond) int { return s.Throttled })
	column("fleet attempts", "clients", st.Clients, func(s measure.LoadSecond) int { return s.Offered })
	column("fleet successes", "clients", st.Clients, func(s measure.LoadSecond) int { return s.Served })
	if len(st.Capacity) > 0 {
		sum := 0.0
		for _, cp := range st.Capacity {
			sum += cp.RPS
		}
		c.Capacity = &sum
	}
	var parts []string
	for _, r := range stormRows(st) {
		switch r.metric {
		case measure.MetricRecoverySurge, measure.MetricDrainMS, measure.MetricMetastable:
			parts = append(parts, r.metric+" "+r.value)
		}
	}
	c.Note = "requests per second; dashed: the fleets' side; grey line: capacity · " + strings.Join(parts, " · ")
	return c
}

func loadTable(st *measure.Storm) [][]string {
	if st == nil {
		return nil
	}
	rows := [][]string{{"load metric", "value", "null because"}}
	for _, r := range stormRows(st) {
		rows = append(rows, []string{r.metric, r.value, r.why})
	}
	return rows
}

// metricValue is an assertion's value in words: true or false for a
// boolean metric (metastable), else the number.
func metricValue(metric string, v *float64) string {
	if v != nil && slices.Contains(assert.BooleanMetrics, metric) {
		return fmt.Sprint(*v == 1)
	}
	return num(v)
}

// plainNum is a number as a property holds it, or null.
func plainNum(v *float64) string {
	if v == nil {
		return "null"
	}
	return trimNum(*v)
}
