package reports

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/experiments/measure"
)

// trialJournal is journalOf with the failover client's first successes in
// us-west-2 delay ms later (failover_ms = 102 + delay), started at the
// given second of the hour, with a stricter assertion on the distribution.
func trialJournal(delay float64, second int) []journal.Event {
	ev := withRunStart(journalOf())
	ev[0].Started = fmt.Sprintf("2026-12-02T08:00:%02d.5Z", second)
	seed := int64(second)
	ev[0].Seed = &seed
	for i, e := range ev {
		if e.Type == journal.Request && e.Client == "failover" && e.Region == "us-west-2" {
			ev[i].T += delay
		}
	}
	return append(ev[:1], append([]journal.Event{{Type: journal.Assertion, Client: "failover", Expr: "max(failover_ms) < 150"}}, ev[1:]...)...)
}

func threeTrials() measure.TrialsSummary {
	var trials []measure.Summary
	for i, delay := range []float64{0, 20, 60} { // failover_ms 102, 122, 162
		trials = append(trials, measure.Summarize(trialJournal(delay, 10*i)))
	}
	return measure.SummarizeTrials(trials)
}

// The trials' junit.xml has one case per assertion with its across-trials
// verdict and one per trial, says which trials they were, and is valid.
func TestTrialsJUnit(t *testing.T) {
	ts := threeTrials()
	if ts.Verdict != measure.Fail {
		t.Fatalf("verdict %s, want fail (max(failover_ms) is 162)", ts.Verdict)
	}
	var buf bytes.Buffer
	if err := TrialsJUnit(&buf, ts); err != nil {
		t.Fatal(err)
	}
	var doc junitDoc
	var cases struct {
		Cases []struct {
			Name    string `xml:"name,attr"`
			Time    string `xml:"time,attr"`
			Out     string `xml:"system-out"`
			Failure *struct {
				Message string `xml:"message,attr"`
				Text    string `xml:",chardata"`
			} `xml:"failure"`
		} `xml:"testsuite>testcase"`
	}
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("junit.xml does not parse: %v\n%s", err, buf.String())
	}
	if err := xml.Unmarshal(buf.Bytes(), &cases); err != nil {
		t.Fatal(err)
	}
	s := doc.Suites[0]
	// Three assertions (one per client of journalOf, and the strict one),
	// three trials; the trials ran from 08:00:00.5 to 08:00:21.7.
	if s.Name != "faultline.dynamodb-empty-dns.trials" || s.Tests != 6 || s.Failures != 1 || s.Timestamp != "2026-12-02T08:00:00" ||
		s.Hostname != "ci-runner-7" || s.Time != "21.200" {
		t.Errorf("suite %s: %d tests, %d failures, timestamp %s, hostname %s, time %s; want 6, 1, 2026-12-02T08:00:00, ci-runner-7, 21.200",
			s.Name, s.Tests, s.Failures, s.Timestamp, s.Hostname, s.Time)
	}
	for name, want := range map[string]string{"trials": "3", "trial.02.seed": "10", "trial.03.fault.f1.start_ms": "300",
		"faultline.version": "v1.2.3 go1.26.0", "verdict": "fail"} {
		if got := doc.prop(0, name); got != want {
			t.Errorf("property %s = %q, want %q", name, got, want)
		}
	}
	var sawStrict bool
	for _, c := range cases.Cases {
		if c.Name == "max(failover_ms) < 150" {
			sawStrict = true
			if c.Failure == nil || !strings.Contains(c.Failure.Message, "failover_ms = 162") || !strings.Contains(c.Failure.Text, "held in 2 of 3 trials") {
				t.Errorf("the failing aggregate: %+v", c.Failure)
			}
			if c.Time != "2.700" { // 0.9 s from the fault to the end, in each of three trials
				t.Errorf("the aggregate's time %s, want 2.700", c.Time)
			}
			if !strings.Contains(c.Out, "n 3, min 102, p50 122") {
				t.Errorf("the aggregate's system-out lacks the distribution:\n%s", c.Out)
			}
		}
		if c.Name == "failover_ms < 2000" && c.Failure != nil {
			t.Errorf("an assertion that held in every trial failed: %+v", c.Failure)
		}
	}
	if !sawStrict {
		t.Errorf("no case for the aggregated assertion:\n%s", buf.String())
	}
	if !strings.Contains(s.SystemOut, "3 trials  verdict FAIL") {
		t.Errorf("system-out is not the trials' summary:\n%s", s.SystemOut)
	}
	if err := xmllintSchema(t, buf.Bytes()); err != nil {
		t.Errorf("the trials' junit.xml breaks junit.xsd: %v\n%s", err, buf.String())
	}
}

// A trial that proves nothing is a case in error.
func TestTrialsJUnitInvalidTrial(t *testing.T) {
	ev := trialJournal(0, 5)
	ev[len(ev)-1] = journal.Event{T: 1200, Type: journal.RunEnd, Status: "invalid", Detail: "an application never got ready"}
	ts := measure.SummarizeTrials([]measure.Summary{measure.Summarize(trialJournal(0, 1)), measure.Summarize(ev)})
	var buf bytes.Buffer
	if err := TrialsJUnit(&buf, ts); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `errors="1"`) || !strings.Contains(buf.String(), `<error message="the run is invalid`) &&
		!strings.Contains(buf.String(), "an application never got ready") {
		t.Errorf("the invalid trial is not in error:\n%s", buf.String())
	}
	if err := xmllintSchema(t, buf.Bytes()); err != nil {
		t.Errorf("breaks junit.xsd: %v\n%s", err, buf.String())
	}
}

func TestTrialsMarkdown(t *testing.T) {
	var buf bytes.Buffer
	if err := TrialsMarkdown(&buf, threeTrials()); err != nil {
		t.Fatal(err)
	}
	md := buf.String()
	for _, want := range []string{
		"# faultline trials: dynamodb-empty-dns", "**Verdict: FAIL** over 3 trials",
		"| failover | failover_ms | 3 | 102 | 122 | 158 | 162 | – |",
		"| ❌ | failover | `max(failover_ms) < 150` | 162 | 2 of 3 trials |",
		"| ✅ | failover | `failover_ms < 2000` | 102 … 162 | 3 of 3 trials |",
		"| pooled | detect_ms | 0 | null | null | null | null | – |",
		"| 03 | 20 | fail | 1200ms | f1 dns.empty 300ms–900ms |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md lacks %q:\n%s", want, md)
		}
	}
	if !regexp.MustCompile(`\| failover \| latency_p99_ms \| 3 \| [^|]+ \| [^|]+ \| [^|]+ \| [^|]+ \| [0-9.]+ \|`).MatchString(md) {
		t.Errorf("report.md does not give the pooled latency p99:\n%s", md)
	}
}

// The page carries its data: a histogram per metric and client whose bins
// hold every trial's value, and the assertions' pass counts; it loads
// nothing from elsewhere.
func TestTrialsHTMLData(t *testing.T) {
	var buf bytes.Buffer
	if err := TrialsHTML(&buf, threeTrials()); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	if loads := regexp.MustCompile(`(?i)<(script|img|iframe)[^>]+src=|<link[^>]+href=`).FindAllString(page, -1); len(loads) > 0 {
		t.Errorf("the page loads external resources: %q", loads)
	}
	if !strings.Contains(page, "Copyright (c)") || !strings.Contains(page, "uPlot.paths.bars") {
		t.Error("the page lacks uPlot's notice or the histograms' script")
	}
	raw := regexp.MustCompile(`(?s)<script id="trials-data" type="application/json">(.*?)</script>`).FindStringSubmatch(page)
	if raw == nil {
		t.Fatal("no trials-data in the page")
	}
	var data trialsData
	if err := json.Unmarshal([]byte(raw[1]), &data); err != nil {
		t.Fatal(err)
	}
	var failover *histogram
	for i, h := range data.Histograms {
		sum := 0
		for _, c := range h.Counts {
			sum += c
		}
		if sum != len(h.Values) || len(h.Edges) != len(h.Counts)+1 || sum+h.Nulls != 3 {
			t.Errorf("%s %s: counts %v (sum %d), %d values, %d nulls, edges %v", h.Client, h.Metric, h.Counts, sum, len(h.Values), h.Nulls, h.Edges)
		}
		if h.Client == "failover" && h.Metric == "failover_ms" {
			failover = &data.Histograms[i]
		}
	}
	if failover == nil || fmt.Sprint(failover.Values) != "[102 122 162]" || failover.Edges[0] != 102 || failover.Edges[len(failover.Edges)-1] != 162 {
		t.Errorf("the failover_ms histogram: %+v", failover)
	}
	if len(data.Assertions) != 3 || data.Trials[2].Verdict != "fail" {
		t.Errorf("assertions %+v, trials %+v", data.Assertions, data.Trials)
	}
	for _, a := range data.Assertions {
		if a.Expr == "max(failover_ms) < 150" && (a.Held != 2 || a.Of != 3 || a.Pass) {
			t.Errorf("%+v: want held in 2 of 3, failing", a)
		}
	}
}

func TestBins(t *testing.T) {
	for _, vs := range [][]float64{{5}, {5, 5, 5}, {1, 2}, {0, 0.1, 0.5, 0.99, 1}, {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5}} {
		edges, counts := bins(vs)
		sum := 0
		for _, c := range counts {
			sum += c
		}
		if sum != len(vs) || len(edges) != len(counts)+1 {
			t.Errorf("bins(%v) = %v, %v: every value in one bin", vs, edges, counts)
		}
		for i := 1; i < len(edges); i++ {
			if edges[i] <= edges[i-1] {
				t.Errorf("bins(%v): edges %v not increasing", vs, edges)
			}
		}
	}
}
