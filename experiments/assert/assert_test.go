package assert

import "testing"

func TestParseExpr(t *testing.T) {
	good := map[string]Expr{
		"failover_ms < 2000":      {Metric: "failover_ms", Op: "<", Value: 2000},
		"availability >= 0.99":    {Metric: "availability", Op: ">=", Value: 0.99},
		"errors == 0":             {Metric: "errors", Op: "==", Value: 0},
		"p95(failover_ms) < 1500": {Metric: "failover_ms", Op: "<", Value: 1500, Agg: "p95"},
		"max(detect_ms) < 500":    {Metric: "detect_ms", Op: "<", Value: 500, Agg: "max"},
	}
	for s, want := range good {
		got, err := ParseExpr(s)
		if err != nil || got != want {
			t.Errorf("ParseExpr(%q) = %+v, %v; want %+v", s, got, err, want)
		}
	}
	for _, s := range []string{"", "failover_ms", "speed < 3", "failover_ms =< 3", "failover_ms < soon", "a < 1 b", "p42(failover_ms) < 1", "p95(speed) < 1"} {
		if _, err := ParseExpr(s); err == nil {
			t.Errorf("ParseExpr(%q) succeeded, want an error", s)
		}
	}
	e := Expr{Metric: "x", Op: "<=", Value: 2}
	if !e.Holds(2) || e.Holds(2.1) {
		t.Error("<= compares wrongly")
	}
}

func TestSteadyMetricsAreMetrics(t *testing.T) {
	for _, m := range SteadyMetrics {
		if _, err := ParseExpr(m + " > 0"); err != nil || !SteadyMetric(m) {
			t.Errorf("steady metric %s: %v", m, err)
		}
	}
	if SteadyMetric("failover_ms") {
		t.Error("failover_ms is relative to a fault, not a steady metric")
	}
}
