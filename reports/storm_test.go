package reports

import (
	"bytes"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/experiments/measure"
)

// stormEvents: a backend of 100 requests/s and a fleet, steady at 50 for
// 10 s, the record empty from 10 s to 20 s, then 400 offered and 300
// throttled a second until lastBad, steady after it, to 60 s.
func stormEvents(lastBad int) []journal.Event {
	evs := []journal.Event{
		{T: 0.001, Type: journal.RunStart, Detail: "storm", Started: "2026-12-02T08:00:00Z"},
		{T: 0.002, Type: journal.Assertion, Client: "*", Expr: "metastable == false"},
		{T: 0.5, Type: journal.DDBCapacity, Region: "us-east-1", Load: &journal.Load{CapacityRPS: 100, Burst: 20}},
		{T: 0.6, Type: journal.FleetStart, Client: "herd", Strategy: "legacy", Region: "us-east-1", Rate: 50, Size: 2000, TimeoutMS: 1000},
	}
	for s := 1; s <= 60; s++ {
		t := float64(s * 1000)
		switch s {
		case 10:
			evs = append(evs, journal.Event{T: 10_000, Type: journal.FaultApplied, Fault: "f1", Kind: "dns.empty", Target: "dynamodb.us-east-1.amazonaws.com.", Reach: "dns"})
		case 20:
			evs = append(evs, journal.Event{T: 20_000, Type: journal.FaultHealed, Fault: "f1", Kind: "dns.empty"})
		}
		server := journal.Load{Offered: 50, Served: 50, P99MS: 5}
		fleet := journal.Load{Logical: 50, Offered: 50, Served: 50}
		switch {
		case s > 10 && s <= 20:
			server, fleet = journal.Load{}, journal.Load{Logical: 50, Offered: 150, Failed: 50}
		case s > 20 && s <= lastBad:
			server = journal.Load{Offered: 400, Served: 100, Throttled: 300, Queue: 50, P99MS: 900}
			fleet = journal.Load{Logical: 50, Offered: 400, Served: 10, Throttled: 300, Failed: 40}
		}
		evs = append(evs, journal.Event{T: t + 2, Type: journal.DDBLoad, Region: "us-east-1", Load: &server},
			journal.Event{T: t + 4, Type: journal.FleetLoad, Client: "herd", Load: &fleet})
	}
	return append(evs, journal.Event{T: 60_100, Type: journal.RunEnd, Status: "complete"})
}

func render(t *testing.T, f func(*bytes.Buffer) error) string {
	t.Helper()
	var b bytes.Buffer
	if err := f(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestReportsCarryTheLoad(t *testing.T) {
	s := measure.Summarize(stormEvents(25)) // drained 5 s after the heal
	md := render(t, func(b *bytes.Buffer) error { return Markdown(b, s, nil) })
	for _, want := range []string{"## Load", "| drain_ms | 5000ms |", "| metastable | false (window 30.0s) |", "| herd | legacy | 2000 |",
		"| *: | ", "recovery_surge: peak over steady"} {
		if want == "| *: | " {
			want = "| * | `metastable == false` | false | pass |"
		}
		if !strings.Contains(md, want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	junit := render(t, func(b *bytes.Buffer) error { return JUnit(b, s, nil) })
	for _, want := range []string{`name="storm.drain_ms" value="5000"`, `name="storm.metastable" value="false"`, `name="capacity.us-east-1.rps" value="100"`,
		"drain_ms: 5000ms"} {
		if !strings.Contains(junit, want) {
			t.Errorf("junit.xml lacks %q", want)
		}
	}
	if err := JSON(&bytes.Buffer{}, s); err != nil { // checked against the schema in tests
		t.Fatal(err)
	}
	c := chartData(s, nil)
	if c.Load == nil || len(c.Load.T) != 60 || len(c.Load.Series) != 5 || c.Load.Capacity == nil || *c.Load.Capacity != 100 {
		t.Fatalf("load lane: %+v", c.Load)
	}
	for _, sr := range c.Load.Series {
		if len(sr.Values) != 60 {
			t.Errorf("series %s has %d values for 60 seconds", sr.Label, len(sr.Values))
		}
	}
	if v := c.Load.Series[2].Values[21]; c.Load.Series[2].Label != "throttled" || v == nil || *v != 300 {
		t.Errorf("throttled at 22 s: %v", v)
	}

	// Without load: no section, no lane.
	plain := measure.Summarize(journalOf())
	if md := render(t, func(b *bytes.Buffer) error { return Markdown(b, plain, nil) }); strings.Contains(md, "## Load") {
		t.Error("report.md of a run without load has a Load section")
	}
	if c := chartData(plain, nil); c.Load != nil || c.LoadTable != nil {
		t.Error("report.html of a run without load has a load lane")
	}
}

func TestTrialsCarryTheLoad(t *testing.T) {
	// Drained 2 s and 8 s after the heal, and never (metastable).
	ts := measure.SummarizeTrials([]measure.Summary{measure.Summarize(stormEvents(22)), measure.Summarize(stormEvents(28)), measure.Summarize(stormEvents(60))})
	md := render(t, func(b *bytes.Buffer) error { return TrialsMarkdown(b, ts) })
	for _, want := range []string{"| load metric | n |", "| drain_ms | 2 | 2000 |", "| metastable | 3 | 0 | 0 | 0.333 | 0.9 | 1 |", "| ❌ | * | `metastable == false` | true | 2 of 3 trials |"} {
		if !strings.Contains(md, want) {
			t.Errorf("trials report.md lacks %q:\n%s", want, md)
		}
	}
	if err := TrialsJSON(&bytes.Buffer{}, ts); err != nil {
		t.Fatal(err)
	}
	d := trialsChartData(ts)
	found := false
	for _, h := range d.Histograms {
		if h.Client == "load" && h.Metric == measure.MetricDrainMS {
			found = len(h.Values) == 2 && h.Nulls == 1
		}
	}
	if !found {
		t.Errorf("no histogram of drain_ms over the trials (2 values, 1 null): %+v", d.Histograms)
	}
	term := render(t, func(b *bytes.Buffer) error { return TrialsTerminal(b, ts) })
	if !strings.Contains(term, "metastable == false") || !strings.Contains(term, "held in 2 of 3 trials") {
		t.Errorf("trials terminal:\n%s", term)
	}
}
