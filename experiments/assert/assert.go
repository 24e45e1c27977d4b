// Package assert is the assertion grammar of an experiment: METRIC OP NUMBER
// ("failover_ms < 2000"), optionally aggregated across trials
// ("p95(failover_ms) < 1500"), as k6 thresholds read, and the names of the
// metrics it may use. experiments/spec parses an experiment's assertions,
// steady state and stop conditions with it; experiments/measure evaluates
// them. It knows nothing about journals or runs.
package assert

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// MetricNames are the metrics an assertion may use.
var MetricNames = []string{"detect_ms", "failover_ms", "recover_ms", "availability", "latency_p50_ms",
	"latency_p99_ms", "ok_latency_p50_ms", "ok_latency_p99_ms", "dns_queries_in_fault", "dns_answer_changes",
	"requests", "errors", "slow_requests",
	"replication_lag_p50_ms", "replication_lag_p99_ms", "replication_lag_max_ms", "writes_at_risk", "rpo_ms",
	"stale_reads_after_failover", "lost_writes", "conflicting_writes", "convergence_ms",
	"metastable", "recovery_surge", "drain_ms", "amplification_before", "amplification_during", "amplification_after",
	"goodput_before_rps", "goodput_during_rps", "goodput_after_rps", "steady_rps", "peak_after_heal_rps"}

// StormMetrics are the metrics of the run's load (retry storms, issue 17):
// the backends' and the fleets', not one client's. An assertion on one is
// checked once, whatever its client.
var StormMetrics = []string{"metastable", "recovery_surge", "drain_ms", "amplification_before", "amplification_during",
	"amplification_after", "goodput_before_rps", "goodput_during_rps", "goodput_after_rps", "steady_rps", "peak_after_heal_rps"}

// BooleanMetrics are true or false: an assertion compares them with == or
// != and true or false ("metastable == false"); true is 1, false 0.
var BooleanMetrics = []string{"metastable"}

// SteadyMetrics are the metrics a window of requests has: those the steady
// state and stop conditions may use (no fault-relative ones).
var SteadyMetrics = []string{"availability", "latency_p50_ms", "latency_p99_ms", "ok_latency_p50_ms", "ok_latency_p99_ms",
	"requests", "errors", "slow_requests"}

// SteadyMetric reports whether the steady state may use metric.
func SteadyMetric(metric string) bool { return slices.Contains(SteadyMetrics, metric) }

// Aggregations an assertion may apply across trials.
var Aggregations = []string{"min", "max", "median", "mean", "p90", "p95", "p99"}

// Expr is a parsed assertion expression: METRIC OP NUMBER, as k6 thresholds read.
type Expr struct {
	Metric, Op string
	Value      float64
	Agg        string // across trials: min, max, median, mean, p90, p95, p99; "" means every trial
}

// ParseExpr parses "failover_ms < 2000".
func ParseExpr(s string) (Expr, error) {
	fields := strings.Fields(s)
	if len(fields) != 3 {
		return Expr{}, fmt.Errorf("expected METRIC OP NUMBER, like \"failover_ms < 2000\", got %q", s)
	}
	e := Expr{Metric: fields[0], Op: fields[1]}
	if open := strings.IndexByte(e.Metric, '('); open > 0 && strings.HasSuffix(e.Metric, ")") {
		e.Agg, e.Metric = e.Metric[:open], e.Metric[open+1:len(e.Metric)-1]
		if !slices.Contains(Aggregations, e.Agg) {
			return Expr{}, fmt.Errorf("unknown aggregation %q; expected one of: %s", e.Agg, strings.Join(Aggregations, ", "))
		}
	}
	if !slices.Contains(MetricNames, e.Metric) {
		return Expr{}, fmt.Errorf("unknown metric %q; expected one of: %s", e.Metric, strings.Join(MetricNames, ", "))
	}
	switch e.Op {
	case "<", "<=", ">", ">=", "==", "!=":
	default:
		return Expr{}, fmt.Errorf("unknown comparison %q; expected one of: < <= > >= == !=", e.Op)
	}
	if slices.Contains(BooleanMetrics, e.Metric) {
		switch {
		case e.Op != "==" && e.Op != "!=":
			return Expr{}, fmt.Errorf("%s is true or false: expected == or !=, got %q", e.Metric, e.Op)
		case e.Agg != "":
			return Expr{}, fmt.Errorf("%s is true or false: it has no %s across trials (every trial is checked)", e.Metric, e.Agg)
		case fields[2] == "true":
			e.Value = 1
		case fields[2] == "false":
			e.Value = 0
		default:
			return Expr{}, fmt.Errorf("%s is true or false: expected true or false after %q, got %q", e.Metric, e.Op, fields[2])
		}
		return e, nil
	}
	v, err := strconv.ParseFloat(fields[2], 64)
	if err != nil {
		return Expr{}, fmt.Errorf("expected a number after %q, got %q", e.Op, fields[2])
	}
	e.Value = v
	return e, nil
}

// Holds compares v with the expression's value.
func (e Expr) Holds(v float64) bool {
	switch e.Op {
	case "<":
		return v < e.Value
	case "<=":
		return v <= e.Value
	case ">":
		return v > e.Value
	case ">=":
		return v >= e.Value
	case "==":
		return v == e.Value
	case "!=":
		return v != e.Value
	}
	return false
}
