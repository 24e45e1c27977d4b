package spec

import (
	"strings"
	"testing"
	"time"
)

func TestMetastableAfter(t *testing.T) {
	exp, err := Parse("x.yaml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if exp.Metrics.MetastableAfter != DefaultMetastableAfter {
		t.Errorf("default window %s, want %s", exp.Metrics.MetastableAfter, DefaultMetastableAfter)
	}
	text := strings.Replace(minimal, "name: x\n", "name: x\nmetrics: {metastable_after: 4s}\n", 1)
	text = strings.Replace(text, "    expr: failover_ms < 2000\n", "    expr: failover_ms < 2000\n  - client: \"*\"\n    expr: metastable == false\n  - client: c\n    expr: recovery_surge < 3\n", 1)
	exp, err = Parse("x.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if exp.Metrics.MetastableAfter != 4*time.Second {
		t.Errorf("window %s, want 4s", exp.Metrics.MetastableAfter)
	}
	if a := exp.Assertions[1]; a.Metric != "metastable" || a.Op != "==" || a.Value != 0 || !a.Holds(0) || a.Holds(1) {
		t.Errorf("metastable == false parsed as %+v", a)
	}
	if a := exp.Assertions[2]; a.Metric != "recovery_surge" || a.Value != 3 {
		t.Errorf("recovery_surge < 3 parsed as %+v", a)
	}
}

func TestBadStormSettingsNamePositionAndExpectation(t *testing.T) {
	for _, c := range []struct{ name, text, pos, phrase string }{
		{"window beyond the run", strings.Replace(minimal, "name: x\n", "name: x\nmetrics: {metastable_after: 10s}\n", 1), "2:29",
			"metrics.metastable_after: 10s is not within the run (schedule.duration 10s)"},
		{"window not a duration", strings.Replace(minimal, "name: x\n", "name: x\nmetrics: {metastable_after: 30}\n", 1), "2:29", "bare number"},
		{"window too short", strings.Replace(minimal, "name: x\n", "name: x\nmetrics: {metastable_after: 100ms}\n", 1), "2:29", "metrics.metastable_after"},
		{"metastable compared with a number", strings.Replace(minimal, "expr: failover_ms < 2000", "expr: metastable < 1", 1), "19:11",
			"metastable is true or false: expected == or !="},
		{"metastable compared with a word", strings.Replace(minimal, "expr: failover_ms < 2000", "expr: metastable == maybe", 1), "19:11", "expected true or false after \"==\", got \"maybe\""},
		{"load metric in stop_when", minimal + "stop_when:\n  - client: c\n    expr: drain_ms > 1000\n", "21:5",
			"stop_when[0].expr: drain_ms is the run's load, measured from the whole run (put it in assertions)"},
		{"metastable aggregated", strings.Replace(minimal, "expr: failover_ms < 2000", "expr: max(metastable) == true", 1), "19:11",
			"metastable is true or false: it has no max across trials"},
	} {
		_, err := Parse("x.yaml", []byte(c.text))
		if err == nil {
			t.Errorf("%s: parsed", c.name)
			continue
		}
		if !strings.Contains(err.Error(), "x.yaml:"+c.pos+":") || !strings.Contains(err.Error(), c.phrase) {
			t.Errorf("%s: %v; want at %s: %q", c.name, err, c.pos, c.phrase)
		}
	}
}
