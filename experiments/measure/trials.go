package measure

import (
	"slices"
	"sort"

	"github.com/montanaflynn/stats"

	"github.com/faultline-dev/faultline/experiments/assert"
)

// Dist is a metric across trials: failover time is a distribution, not a
// number.
type Dist struct {
	N      int      `json:"n"` // trials where the metric had a value
	Min    *float64 `json:"min"`
	Median *float64 `json:"median"`
	P90    *float64 `json:"p90"`
	P95    *float64 `json:"p95"`
	Max    *float64 `json:"max"`
	Mean   *float64 `json:"mean"`
	P99    *float64 `json:"p99"`
	// Pooled, for a latency percentile, is that percentile over every
	// trial's requests together (their histograms merged): what "the p99
	// across trials" means, which the p99 of per-trial p99s is not.
	Pooled *float64 `json:"pooled,omitempty"`
}

// Distribute summarises values (nulls already left out).
func Distribute(vs []float64) Dist {
	d := Dist{N: len(vs)}
	if len(vs) == 0 {
		return d
	}
	s := append([]float64(nil), vs...)
	sort.Float64s(s)
	d.Min, d.Max = ptr(s[0]), ptr(s[len(s)-1])
	d.Median, d.P90, d.P95, d.P99 = percentile(s, 50), percentile(s, 90), percentile(s, 95), percentile(s, 99)
	if m, err := stats.Mean(s); err == nil {
		d.Mean = ptr(m)
	}
	return d
}

// Of returns one aggregation of the distribution.
func (d Dist) Of(agg string) *float64 {
	return map[string]*float64{"min": d.Min, "max": d.Max, "median": d.Median, "mean": d.Mean, "p90": d.P90, "p95": d.P95, "p99": d.P99}[agg]
}

// TrialsSummary is the outcome of repeated runs of one experiment.
type TrialsSummary struct {
	Experiment string                     `json:"experiment"`
	Verdict    string                     `json:"verdict"`
	Trials     []Summary                  `json:"trials"`
	Metrics    map[string]map[string]Dist `json:"metrics"` // client → metric → distribution
	// Storm: the run's load metrics (retry storms) across the trials that
	// measured them, metric → distribution (metastable as 1 or 0: its mean
	// is the share of trials that were metastable); absent without load.
	Storm      map[string]Dist    `json:"storm,omitempty"`
	Assertions []AssertionOutcome `json:"assertions"`
}

// SummarizeTrials aggregates runs: every metric of every client becomes a
// distribution; an assertion with an aggregation (p95(failover_ms) < 1500)
// is checked on the distribution, one without on every trial.
func SummarizeTrials(trials []Summary) TrialsSummary {
	ts := TrialsSummary{Trials: trials, Metrics: map[string]map[string]Dist{}, Verdict: Pass}
	if len(trials) == 0 {
		ts.Verdict = Incomplete
		return ts
	}
	ts.Experiment = trials[0].Experiment
	values := map[string]map[string][]float64{}
	latency := map[string]*latencyHistograms{}
	for _, t := range trials {
		if t.Verdict == Incomplete || t.Verdict == Invalid {
			ts.Verdict = t.Verdict
		}
		for _, c := range t.Clients {
			if latency[c.Name] == nil {
				latency[c.Name] = &latencyHistograms{}
			}
			latency[c.Name].merge(c.latency)
			if values[c.Name] == nil {
				values[c.Name] = map[string][]float64{}
			}
			for _, m := range assert.MetricNames {
				if v, ok := c.Metrics.Value(m); ok {
					values[c.Name][m] = append(values[c.Name][m], v)
				}
			}
		}
	}
	stormValues := map[string][]float64{}
	for _, t := range trials {
		for _, m := range StormMetrics {
			if v, ok := t.Storm.Value(m); ok {
				stormValues[m] = append(stormValues[m], v)
			}
		}
	}
	for m, vs := range stormValues {
		if ts.Storm == nil {
			ts.Storm = map[string]Dist{}
		}
		ts.Storm[m] = Distribute(vs)
	}
	for client, ms := range values {
		ts.Metrics[client] = map[string]Dist{}
		for m, vs := range ms {
			d := Distribute(vs)
			if h := latency[client]; h != nil {
				d.Pooled, _ = h.pooled(m)
			}
			ts.Metrics[client][m] = d
		}
	}
	// The assertions are the same in every trial: take the first trial's.
	seen := map[string]bool{}
	for _, a := range trials[0].Assertions {
		key := a.Client + "\x00" + a.Expr
		if seen[key] {
			continue
		}
		seen[key] = true
		expr, err := assert.ParseExpr(a.Expr)
		if err != nil {
			continue
		}
		o := AssertionOutcome{Client: a.Client, Metric: expr.Metric, Expr: a.Expr, Fault: a.Fault, Pass: true}
		if expr.Agg != "" {
			dist := ts.Metrics[a.Client][expr.Metric]
			if slices.Contains(StormMetrics, expr.Metric) {
				dist = ts.Storm[expr.Metric] // the run's, whatever the client
			}
			if v := dist.Of(expr.Agg); v != nil {
				o.Value, o.Pass = v, expr.Holds(*v)
			} else {
				o.Pass, o.Note = false, expr.Metric+" had no value in any trial"
			}
		} else {
			for _, t := range trials {
				for _, ta := range t.Assertions {
					if ta.Client == a.Client && ta.Expr == a.Expr && !ta.Pass {
						o.Pass, o.Value, o.Note = false, ta.Value, "failed in at least one trial"
					}
				}
			}
		}
		if !o.Pass && ts.Verdict == Pass {
			ts.Verdict = Fail
		}
		ts.Assertions = append(ts.Assertions, o)
	}
	return ts
}

// Held counts the trials whose own assertion (client and expression) held
// on that trial's value, and the trials that checked it.
func (ts TrialsSummary) Held(client, expr string) (held, checked int) {
	for _, t := range ts.Trials {
		for _, a := range t.Assertions {
			if a.Client == client && a.Expr == expr {
				checked++
				if a.Pass {
					held++
				}
				break
			}
		}
	}
	return held, checked
}
