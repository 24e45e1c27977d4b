package reports

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/faultline-dev/faultline/experiments/assert"
	"github.com/faultline-dev/faultline/experiments/measure"
)

// The reports of `faultline run --trials N`, beside each trial's own in
// trial-NN/: trials.json (the distributions), junit.xml (the across-trials
// verdict of every assertion), report.md and report.html (a histogram per
// metric and client). Pure functions of the trials' summaries.

var (
	//go:embed assets/trials.js
	trialsJS string
	//go:embed assets/trials.html.tmpl
	trialsTemplate string
)

var trialsPage = template.Must(template.New("trials").Parse(trialsTemplate))

// WriteTrialsDir writes the trials' aggregate into dir ("" writes nothing):
// trials.json, junit.xml, report.md and report.html. The trials' own
// directories are already there.
func WriteTrialsDir(dir string, ts measure.TrialsSummary) error {
	if dir == "" {
		return nil
	}
	write := func(name string, render func(io.Writer) error) error { return writeFile(dir, name, render) }
	return errors.Join(
		write("trials.json", func(w io.Writer) error { return TrialsJSON(w, ts) }),
		write("junit.xml", func(w io.Writer) error { return TrialsJUnit(w, ts) }),
		write("report.md", func(w io.Writer) error { return TrialsMarkdown(w, ts) }),
		write("report.html", func(w io.Writer) error { return TrialsHTML(w, ts) }),
	)
}

// distMetrics are the metrics the trials' reports show a distribution of,
// in this order; the latency percentiles also pooled over every request.
var distMetrics = []string{"detect_ms", "failover_ms", "recover_ms", "availability", "latency_p50_ms", "latency_p99_ms",
	"ok_latency_p50_ms", "ok_latency_p99_ms", "dns_queries_in_fault", "dns_answer_changes", "requests", "errors"}

// histMetrics get a histogram on the page.
// stormHistMetrics are the load's metrics drawn as histograms over the trials.
var stormHistMetrics = []string{measure.MetricRecoverySurge, measure.MetricDrainMS, measure.MetricAmplificationAfter}

var histMetrics = []string{"detect_ms", "failover_ms", "recover_ms", "availability", "latency_p50_ms", "latency_p99_ms"}

// TrialsTerminal writes the trials' summary: each metric's distribution per
// client, the pooled latency percentiles, the invalid trials' reasons and
// the assertions with their across-trials verdict.
func TrialsTerminal(w io.Writer, ts measure.TrialsSummary) error {
	p := &printer{w: w}
	p.f("\nfaultline: %s, %d trials  verdict %s\n\n", ts.Experiment, len(ts.Trials), strings.ToUpper(ts.Verdict))
	p.f("  %-10s %-16s %4s %9s %9s %9s %9s %9s\n", "client", "metric", "n", "min", "median", "p90", "p95", "max")
	clients := sortedKeys(ts.Metrics)
	for _, client := range clients {
		for _, m := range []string{"detect_ms", "failover_ms", "recover_ms", "availability"} {
			d := ts.Metrics[client][m]
			p.f("  %-10s %-16s %4d %9s %9s %9s %9s %9s\n", client, m, d.N, g5(d.Min), g5(d.Median), g5(d.P90), g5(d.P95), g5(d.Max))
		}
	}
	// Latency percentiles pool every trial's requests (merged histograms):
	// the p99 across trials, not a statistic of per-trial p99s.
	p.f("\n  %-10s %14s %14s %14s %14s   (every trial's requests pooled)\n", "client", "latency p50", "latency p99", "ok p50", "ok p99")
	for _, client := range clients {
		m := ts.Metrics[client]
		p.f("  %-10s %14s %14s %14s %14s\n", client, g5(m["latency_p50_ms"].Pooled), g5(m["latency_p99_ms"].Pooled),
			g5(m["ok_latency_p50_ms"].Pooled), g5(m["ok_latency_p99_ms"].Pooled))
	}
	if len(ts.Storm) > 0 {
		p.f("\n  %-22s %4s %9s %9s %9s %9s %9s   (the run's load)\n", "load metric", "n", "min", "median", "mean", "p95", "max")
		for _, m := range measure.StormMetrics {
			d := ts.Storm[m]
			p.f("  %-22s %4d %9s %9s %9s %9s %9s\n", m, d.N, g5(d.Min), g5(d.Median), g5(d.Mean), g5(d.P95), g5(d.Max))
		}
	}
	for _, t := range ts.Trials {
		if t.Verdict == measure.Invalid {
			for _, r := range t.Reasons {
				p.f("\n  ! a trial was invalid: %s", r)
			}
		}
	}
	for _, a := range ts.Assertions {
		mark := "✓"
		if !a.Pass {
			mark = "✗"
		}
		held, of := ts.Held(a.Client, a.Expr)
		p.f("\n  %s %s: %s (value %s) %s[held in %d of %d trials]", mark, a.Client, a.Expr, assertionValue(ts, a), note(a.Note), held, of)
	}
	p.f("\n")
	return p.err
}

// g5: a value with five significant digits, or null.
func g5(v *float64) string {
	if v == nil {
		return "null"
	}
	return fmt.Sprintf("%.5g", *v)
}

// TrialsJUnit writes the trials' junit.xml: one suite, one test case per
// assertion and client with its across-trials verdict (an aggregation
// checked on the distribution, a plain assertion in every trial), and one
// case per trial, in error when the trial broke or proved nothing. So CI
// shows what the exit code says: a trial whose own value missed
// p95(failover_ms) < 1500 is no failure when the p95 across trials held.
// Each trial's own junit.xml is in trial-NN/.
func TrialsJUnit(w io.Writer, ts measure.TrialsSummary) error {
	exp := ts.Experiment
	if exp == "" {
		exp = "unnamed"
	}
	var term bytes.Buffer
	if err := TrialsTerminal(&term, ts); err != nil {
		return err
	}
	suite := jSuite{Name: "faultline." + exp + ".trials", SystemOut: jOut{Text: xmlText(term.String())}}
	suite.prop("experiment", ts.Experiment)
	suite.prop("verdict", ts.Verdict)
	suite.prop("trials", fmt.Sprint(len(ts.Trials)))
	var total float64 // every trial's run, one after another
	first, last := time.Time{}, time.Time{}
	for i, t := range ts.Trials {
		total += t.DurationMS
		if st, err := time.Parse(time.RFC3339Nano, t.Started); err == nil {
			end := st.Add(time.Duration(t.DurationMS * float64(time.Millisecond)))
			if first.IsZero() || st.Before(first) {
				first = st
			}
			if end.After(last) {
				last = end
			}
		}
		if i == 0 {
			suite.Timestamp, suite.Hostname = antTimestamp(t.Started), hostname(t.Host)
			suite.prop("faultline.version", t.Version)
			suite.prop("backend", t.Backend)
		}
		runProperties(&suite, fmt.Sprintf("trial.%02d.", i+1), t)
	}
	// time: from the first trial's start to the last one's end (building
	// and tearing down each world included), else the trials' runs summed.
	suite.Time = seconds(total)
	if !first.IsZero() && last.After(first) {
		suite.Time = seconds(float64(last.Sub(first).Microseconds()) / 1000)
	}
	if suite.Hostname == "" {
		suite.Hostname = hostname("")
	}
	for _, a := range ts.Assertions {
		held, of := ts.Held(a.Client, a.Expr)
		var evaluated float64 // the assertion was evaluated over every trial
		for _, t := range ts.Trials {
			evaluated += evalWindow(t, a.Metric, a.Fault)
		}
		d := trialsDist(ts, a.Client, a.Metric)
		tc := jCase{Classname: "faultline." + exp + "." + a.Client, Name: a.Expr, Time: seconds(evaluated),
			SystemOut: out(fmt.Sprintf("held in %d of %d trials (each on its own value)\n%s across %d trials: %s\n",
				held, of, a.Metric, len(ts.Trials), distText(d)))}
		if !a.Pass {
			msg := fmt.Sprintf("%s = %s, want %s", a.Metric, metricValue(a.Metric, a.Value), a.Expr)
			if a.Note != "" {
				msg += " (" + a.Note + ")"
			}
			tc.Failure = &jFailure{Message: msg, Type: "assertion", Text: xmlText(fmt.Sprintf("%s; held in %d of %d trials", msg, held, of))}
		}
		suite.add(tc)
	}
	for i, t := range ts.Trials {
		tc := jCase{Classname: "faultline." + exp + ".trials", Name: fmt.Sprintf("trial %02d", i+1), Time: seconds(t.DurationMS),
			SystemOut: out(trialLine(t))}
		switch t.Verdict {
		case measure.Invalid, measure.Incomplete:
			msg := strings.Join(t.Reasons, "; ")
			if msg == "" {
				msg = t.Reason
			}
			tc.Error = &jFailure{Message: msg, Type: t.Verdict, Text: xmlText("this trial proves nothing, so neither do the trials: " + msg)}
		}
		suite.add(tc)
	}
	return writeJUnit(w, jSuites{Name: suite.Name, Tests: suite.Tests, Failures: suite.Failures, Errors: suite.Errors,
		Skipped: suite.Skipped, Time: suite.Time, Timestamp: suite.Timestamp, Suites: []jSuite{suite}})
}

// trialLine: one trial in words.
func trialLine(t measure.Summary) string {
	var b strings.Builder
	fmt.Fprintf(&b, "verdict %s, %s", t.Verdict, ms(&t.DurationMS))
	if t.Seed != nil {
		fmt.Fprintf(&b, ", seed %d", *t.Seed)
	}
	for _, f := range t.Faults {
		fmt.Fprintf(&b, ", fault %s %s from %s to %s", f.ID, f.Kind, ms(&f.StartMS), ms(f.EndMS))
	}
	for _, r := range t.Reasons {
		fmt.Fprintf(&b, "\n  %s", r)
	}
	return b.String() + "\n"
}

// assertionValue: the value an across-trials assertion was checked on (an
// aggregation's, or the failing trial's), else the range of the trials'
// values it held on (min … max).
func assertionValue(ts measure.TrialsSummary, a measure.AssertionOutcome) string {
	v := g5
	if slices.Contains(assert.BooleanMetrics, a.Metric) {
		v = func(x *float64) string { return metricValue(a.Metric, x) }
	}
	if a.Value != nil {
		return v(a.Value)
	}
	if d := trialsDist(ts, a.Client, a.Metric); d.N > 0 {
		if *d.Min == *d.Max {
			return v(d.Min)
		}
		return v(d.Min) + " … " + v(d.Max)
	}
	return "null"
}

func distText(d measure.Dist) string {
	s := fmt.Sprintf("n %d, min %s, p50 %s, p95 %s, max %s", d.N, g5(d.Min), g5(d.Median), g5(d.P95), g5(d.Max))
	if d.Pooled != nil {
		s += ", pooled " + g5(d.Pooled)
	}
	return s
}

// TrialsMarkdown writes the trials' report.md: the trials, each metric's
// distribution per client, and the assertions with how many trials each
// held in.
func TrialsMarkdown(w io.Writer, ts measure.TrialsSummary) error {
	p := &printer{w: w}
	p.f("# faultline trials: %s\n\n", ts.Experiment)
	p.f("**Verdict: %s** over %d trials (each trial's own report in `trial-NN/`).\n\n", strings.ToUpper(ts.Verdict), len(ts.Trials))
	for i, t := range ts.Trials {
		if t.Verdict == measure.Invalid || t.Verdict == measure.Incomplete {
			for _, r := range t.Reasons {
				p.f("- ⚠ trial %02d was %s: %s\n", i+1, t.Verdict, mdCell(r))
			}
		}
	}
	p.f("\n## Trials\n\n| trial | seed | verdict | duration | faults |\n|---|---|---|---|---|\n")
	for i, t := range ts.Trials {
		seed := "–"
		if t.Seed != nil {
			seed = fmt.Sprint(*t.Seed)
		}
		var faults []string
		for _, f := range t.Faults {
			faults = append(faults, fmt.Sprintf("%s %s %s–%s", f.ID, f.Kind, ms(&f.StartMS), ms(f.EndMS)))
		}
		p.f("| %02d | %s | %s | %s | %s |\n", i+1, seed, t.Verdict, ms(&t.DurationMS), mdCell(strings.Join(faults, "; ")))
	}
	p.f("\n## Metrics\n\nEach metric's distribution over the trials (n: the trials where it had a value); for the latency\n" +
		"percentiles, *pooled* is the percentile of every trial's requests together.\n\n")
	p.f("| client | metric | n | min | p50 | p95 | max | pooled |\n|---|---|---:|---:|---:|---:|---:|---:|\n")
	for _, client := range sortedKeys(ts.Metrics) {
		for _, m := range distMetrics {
			d := ts.Metrics[client][m] // absent: null in every trial (n 0)
			pooled := "–"
			if d.Pooled != nil {
				pooled = g5(d.Pooled)
			}
			p.f("| %s | %s | %d | %s | %s | %s | %s | %s |\n", client, m, d.N, g5(d.Min), g5(d.Median), g5(d.P95), g5(d.Max), pooled)
		}
	}
	if len(ts.Storm) > 0 {
		p.f("\nThe load's metrics are the run's, not a client's (metastable: 1 or 0, its mean the share of metastable trials).\n\n")
		p.f("| load metric | n | min | p50 | mean | p95 | max |\n|---|---:|---:|---:|---:|---:|---:|\n")
		for _, m := range measure.StormMetrics {
			d := ts.Storm[m]
			p.f("| %s | %d | %s | %s | %s | %s | %s |\n", m, d.N, g5(d.Min), g5(d.Median), g5(d.Mean), g5(d.P95), g5(d.Max))
		}
	}
	if len(ts.Assertions) > 0 {
		p.f("\n## Assertions\n\nAn aggregation (`p95(failover_ms) < 1500`) is checked on the distribution; an assertion without\n" +
			"one must hold in every trial. *Held in* counts the trials where it held on that trial's own value.\n\n")
		p.f("| | client | assertion | value | held in | note |\n|---|---|---|---:|---|---|\n")
		for _, a := range ts.Assertions {
			mark := "✅"
			if !a.Pass {
				mark = "❌"
			}
			held, of := ts.Held(a.Client, a.Expr)
			p.f("| %s | %s | `%s` | %s | %d of %d trials | %s |\n", mark, a.Client, a.Expr, assertionValue(ts, a), held, of, mdCell(a.Note))
		}
	}
	return p.err
}

func mdCell(s string) string { return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s) }

// trialsData is the page's data.
type trialsData struct {
	Experiment string           `json:"experiment"`
	Verdict    string           `json:"verdict"`
	Trials     []trialRow       `json:"trials"`
	Histograms []histogram      `json:"histograms"`
	Table      [][]string       `json:"table"` // the distributions: a header row, then a row per client and metric
	Assertions []trialAssertion `json:"assertions"`
	Notices    []string         `json:"notices,omitempty"`
}

type trialRow struct {
	N          int      `json:"n"`
	Seed       *int64   `json:"seed,omitempty"`
	Verdict    string   `json:"verdict"`
	DurationMS float64  `json:"duration_ms"`
	Reasons    []string `json:"reasons,omitempty"`
}

// histogram is one metric of one client over the trials: the trials'
// values (nulls left out) in equal-width bins.
type histogram struct {
	Client string    `json:"client"`
	Metric string    `json:"metric"`
	Values []float64 `json:"values"`
	Nulls  int       `json:"nulls"` // trials where the metric had no value
	Edges  []float64 `json:"edges"` // len(Counts)+1
	Counts []int     `json:"counts"`
	Dist   string    `json:"dist"`
}

type trialAssertion struct {
	Client string `json:"client"`
	Expr   string `json:"expr"`
	Value  string `json:"value"`
	Pass   bool   `json:"pass"`
	Note   string `json:"note,omitempty"`
	Held   int    `json:"held"`
	Of     int    `json:"of"`
}

// bins puts values (not empty) in Sturges' number of equal-width bins
// (ceil(log2 n) + 1; one bin when every value is the same).
func bins(vs []float64) (edges []float64, counts []int) {
	lo, hi := slices.Min(vs), slices.Max(vs)
	if lo == hi {
		return []float64{lo - 0.5, hi + 0.5}, []int{len(vs)}
	}
	k := int(math.Ceil(math.Log2(float64(len(vs))))) + 1
	width := (hi - lo) / float64(k)
	for i := 0; i <= k; i++ {
		edges = append(edges, lo+float64(i)*width)
	}
	counts = make([]int, k)
	for _, v := range vs {
		i := min(int((v-lo)/width), k-1)
		counts[i]++
	}
	return edges, counts
}

func trialsChartData(ts measure.TrialsSummary) trialsData {
	d := trialsData{Experiment: ts.Experiment, Verdict: ts.Verdict,
		Table: [][]string{{"client", "metric", "n", "min", "p50", "p95", "max", "pooled"}}}
	for i, t := range ts.Trials {
		d.Trials = append(d.Trials, trialRow{N: i + 1, Seed: t.Seed, Verdict: t.Verdict, DurationMS: t.DurationMS, Reasons: t.Reasons})
		if t.Verdict == measure.Invalid || t.Verdict == measure.Incomplete {
			for _, r := range t.Reasons {
				d.Notices = append(d.Notices, fmt.Sprintf("trial %02d was %s: %s", i+1, t.Verdict, r))
			}
		}
	}
	for _, client := range sortedKeys(ts.Metrics) {
		for _, m := range distMetrics {
			dist := ts.Metrics[client][m]
			pooled := "–"
			if dist.Pooled != nil {
				pooled = g5(dist.Pooled)
			}
			d.Table = append(d.Table, []string{client, m, fmt.Sprint(dist.N), g5(dist.Min), g5(dist.Median), g5(dist.P95), g5(dist.Max), pooled})
		}
		for _, m := range histMetrics {
			h := histogram{Client: client, Metric: m, Values: []float64{}, Dist: distText(ts.Metrics[client][m])}
			for _, t := range ts.Trials {
				i := slices.IndexFunc(t.Clients, func(c measure.ClientReport) bool { return c.Name == client })
				if i < 0 {
					continue
				}
				if v, ok := t.Clients[i].Metrics.Value(m); ok {
					h.Values = append(h.Values, v)
				} else {
					h.Nulls++
				}
			}
			if len(h.Values) == 0 {
				continue // null in every trial: nothing to draw (the table says n 0)
			}
			h.Edges, h.Counts = bins(h.Values)
			d.Histograms = append(d.Histograms, h)
		}
	}
	// The run's load: its metrics under "load", whatever the client.
	if len(ts.Storm) > 0 {
		for _, m := range measure.StormMetrics {
			dist := ts.Storm[m]
			d.Table = append(d.Table, []string{"load", m, fmt.Sprint(dist.N), g5(dist.Min), g5(dist.Median), g5(dist.P95), g5(dist.Max), "–"})
		}
		for _, m := range stormHistMetrics {
			h := histogram{Client: "load", Metric: m, Values: []float64{}, Dist: distText(ts.Storm[m])}
			for _, t := range ts.Trials {
				if v, ok := t.Storm.Value(m); ok {
					h.Values = append(h.Values, v)
				} else {
					h.Nulls++
				}
			}
			if len(h.Values) == 0 {
				continue
			}
			h.Edges, h.Counts = bins(h.Values)
			d.Histograms = append(d.Histograms, h)
		}
	}
	for _, a := range ts.Assertions {
		held, of := ts.Held(a.Client, a.Expr)
		d.Assertions = append(d.Assertions, trialAssertion{Client: a.Client, Expr: a.Expr, Value: assertionValue(ts, a), Pass: a.Pass, Note: a.Note, Held: held, Of: of})
	}
	return d
}

// TrialsHTML writes the trials' report.html: one self-contained page (uPlot
// inlined, as in report.html) with the trials, a histogram of each metric
// per client over the trials, the distributions and the assertions.
func TrialsHTML(w io.Writer, ts measure.TrialsSummary) error {
	data, err := json.Marshal(trialsChartData(ts)) // escapes <, > and &: safe inside <script>
	if err != nil {
		return err
	}
	return trialsPage.Execute(w, map[string]any{
		"Title":        ts.Experiment,
		"Verdict":      ts.Verdict,
		"N":            len(ts.Trials),
		"Data":         string(data),
		"UPlotJS":      uplotJS,
		"UPlotCSS":     uplotCSS,
		"UPlotLicense": uplotLicense,
		"TrialsJS":     trialsJS,
		"ReportCSS":    reportCSS,
	})
}

// trialsDist is a metric's distribution across the trials: a client's, or
// the run's load metric's whatever the client.
func trialsDist(ts measure.TrialsSummary, client, metric string) measure.Dist {
	if isStormMetric(metric) {
		return ts.Storm[metric]
	}
	return ts.Metrics[client][metric]
}
