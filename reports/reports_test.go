package reports

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/experiments/measure"
)

// journalOf is a small hand-written run: a failover client that loses one
// request, and a pooled client the DNS fault never reached.
func journalOf() []journal.Event {
	ev := []journal.Event{
		{T: 0, Type: journal.RunStart, Detail: "dynamodb-empty-dns", K: 2},
		{Type: journal.Assertion, Client: "failover", Expr: "failover_ms < 2000"},
		{Type: journal.Assertion, Client: "pooled", Expr: "availability > 0.99"},
		{T: 1, Type: journal.ClientStart, Client: "failover", Strategy: "failover", Region: "us-east-1", Addr: "127.0.0.11"},
		{T: 1, Type: journal.ClientStart, Client: "pooled", Strategy: "single-region", Region: "us-east-1", Addr: "127.0.0.12"},
		{T: 300, Type: journal.FaultApplied, Fault: "f1", Kind: "dns.empty", Target: "dynamodb.us-east-1.amazonaws.com."},
		{T: 310, Type: journal.DNSQuery, Addr: "127.0.0.11:40000", Fault: "f1", Rcode: "NOERROR", Answers: journal.Int(0)},
		{T: 900, Type: journal.FaultHealed, Fault: "f1", Kind: "dns.empty", Target: "dynamodb.us-east-1.amazonaws.com."},
	}
	outcome := []struct {
		t      float64
		region string
		ok     bool
	}{{100, "us-east-1", true}, {305, "us-east-1", false}, {400, "us-west-2", true}, {500, "us-west-2", true},
		{1000, "us-east-1", true}, {1100, "us-east-1", true}}
	for _, o := range outcome {
		e := journal.Event{T: o.t, Type: journal.Request, Client: "failover", Region: o.region, Op: "GetItem", LatencyMS: 2, OK: journal.Bool(o.ok)}
		if !o.ok {
			e.Error = "dns-notfound"
		}
		ev = append(ev, e)
		ev = append(ev, journal.Event{T: o.t, Type: journal.Request, Client: "pooled", Region: "us-east-1", Op: "GetItem", LatencyMS: 1, OK: journal.Bool(true)})
	}
	return append(ev, journal.Event{T: 1200, Type: journal.RunEnd, Status: "complete"})
}

func TestJSONHasTheContractFields(t *testing.T) {
	events := journalOf()
	var buf bytes.Buffer
	if err := JSON(&buf, measure.Summarize(events)); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Experiment string `json:"experiment"`
		Verdict    string `json:"verdict"`
		Faults     []struct {
			Kind    string   `json:"kind"`
			Target  string   `json:"target"`
			StartMS float64  `json:"start_ms"`
			EndMS   *float64 `json:"end_ms"`
		} `json:"faults"`
		Clients []struct {
			Name     string                      `json:"name"`
			Strategy string                      `json:"strategy"`
			Requests int                         `json:"requests"`
			Errors   int                         `json:"errors"`
			Metrics  map[string]*json.RawMessage `json:"metrics"`
		} `json:"clients"`
		Assertions []struct {
			Client, Metric, Expr string
			Value                *float64
			Pass                 bool
		} `json:"assertions"`
	}
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("report.json does not parse: %v\n%s", err, buf.String())
	}
	if got.Experiment != "dynamodb-empty-dns" || got.Verdict != "pass" {
		t.Errorf("experiment/verdict = %q/%q", got.Experiment, got.Verdict)
	}
	if len(got.Faults) != 1 || got.Faults[0].Kind != "dns.empty" || got.Faults[0].StartMS != 300 || got.Faults[0].EndMS == nil || *got.Faults[0].EndMS != 900 {
		t.Errorf("faults = %+v", got.Faults)
	}
	if len(got.Clients) != 2 || got.Clients[0].Name != "failover" || got.Clients[0].Requests != 6 || got.Clients[0].Errors != 1 {
		t.Fatalf("clients = %+v", got.Clients)
	}
	for _, k := range []string{"detect_ms", "failover_ms", "recover_ms", "availability", "latency_p50_ms", "latency_p99_ms", "dns_queries_in_fault"} {
		if _, ok := got.Clients[0].Metrics[k]; !ok {
			t.Errorf("metrics lack %s", k)
		}
	}
	if len(got.Assertions) != 2 || got.Assertions[0].Metric != "failover_ms" || !got.Assertions[0].Pass || got.Assertions[0].Value == nil || *got.Assertions[0].Value != 102 {
		t.Errorf("assertions = %+v", got.Assertions)
	}
}

func TestEveryReportFlagsTheClientTheFaultMissed(t *testing.T) {
	events := journalOf()
	s := measure.Summarize(events)
	var js, md, term bytes.Buffer
	if err := JSON(&js, s); err != nil {
		t.Fatal(err)
	}
	if err := Markdown(&md, s, TraceOf(events)); err != nil {
		t.Fatal(err)
	}
	if err := Terminal(&term, s, TraceOf(events)); err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"json": js.String(), "markdown": md.String(), "terminal": term.String()} {
		if !strings.Contains(out, "fault did not reach this client") {
			t.Errorf("%s report does not flag the pooled client:\n%s", name, out)
		}
		if name != "json" && strings.Contains(out, "failover: fault did not reach") {
			t.Errorf("%s report flags the failover client, which the fault reached", name)
		}
	}
	if !strings.Contains(md.String(), "| failover | failover | 6 | 1 |") {
		t.Errorf("markdown client row missing:\n%s", md.String())
	}
}

func TestTimelineMarksFaultAndOutcomes(t *testing.T) {
	events := journalOf()
	tl := timelines(measure.Summarize(events), TraceOf(events), 12) // 100 ms per cell
	lines := strings.Split(tl, "\n")
	if len(lines) < 3 {
		t.Fatalf("timeline too short:\n%s", tl)
	}
	want := map[string]string{
		"faults":   "|   ^^^^^^   |",
		"failover": "| . xss    ..|",
		"pooled":   "| . ...    ..|",
	}
	for _, l := range lines[:3] {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		w, ok := want[f[0]]
		if !ok {
			t.Errorf("unexpected row %q", l)
			continue
		}
		if !strings.Contains(l, w) {
			t.Errorf("row %s = %q, want it to contain %q", f[0], l, w)
		}
	}
}

func TestJUnit(t *testing.T) {
	events := journalOf()
	// A failing assertion too.
	events = append(events, journal.Event{Type: journal.Assertion, Client: "failover", Expr: "failover_ms < 10"})
	var buf bytes.Buffer
	if err := JUnit(&buf, measure.Summarize(events), TraceOf(events)); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Suites []struct {
			Name     string `xml:"name,attr"`
			Tests    int    `xml:"tests,attr"`
			Failures int    `xml:"failures,attr"`
			Skipped  int    `xml:"skipped,attr"`
			Cases    []struct {
				Name    string `xml:"name,attr"`
				Failure *struct {
					Message string `xml:"message,attr"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("junit.xml does not parse: %v\n%s", err, buf.String())
	}
	s := doc.Suites[0]
	if s.Name != "faultline.dynamodb-empty-dns" || s.Tests != 4 || s.Failures != 1 || s.Skipped != 1 {
		t.Errorf("suite %s: %d tests, %d failures, %d skipped; want 4, 1, 1\n%s", s.Name, s.Tests, s.Failures, s.Skipped, buf.String())
	}
	for _, c := range s.Cases {
		if c.Name == "failover_ms < 10" && (c.Failure == nil || !strings.Contains(c.Failure.Message, "failover_ms = 102")) {
			t.Errorf("the failing case does not carry the measured value: %+v", c.Failure)
		}
	}
}

// A game day's faults say who applied and healed them, in every report.
func TestReportsSayWhoAppliedAndHealed(t *testing.T) {
	events := []journal.Event{
		{T: 0, Type: journal.RunStart, Detail: "game-day"},
		{T: 100, Type: journal.FaultApplied, Fault: "f1", Kind: "dns.empty", Target: "dynamodb.us-east-1.amazonaws.com.", By: "api:alice", Addr: "127.0.0.1:5000"},
		{T: 2100, Type: journal.FaultHealed, Fault: "f1", Kind: "dns.empty", Target: "dynamodb.us-east-1.amazonaws.com.", By: "bound", Detail: "bound of 2s reached"},
		{T: 2200, Type: journal.RunEnd, Status: "complete"},
	}
	s := measure.Summarize(events)
	if len(s.Faults) != 1 || s.Faults[0].AppliedBy != "api:alice" || s.Faults[0].HealedBy != "bound" {
		t.Fatalf("faults: %+v", s.Faults)
	}
	var term, md, js bytes.Buffer
	Terminal(&term, s, TraceOf(events))
	Markdown(&md, s, TraceOf(events))
	JSON(&js, s)
	if !strings.Contains(term.String(), "(applied by api:alice, healed by bound)") {
		t.Errorf("terminal:\n%s", term.String())
	}
	if !strings.Contains(md.String(), "| api:alice | bound |") {
		t.Errorf("markdown:\n%s", md.String())
	}
	if !strings.Contains(js.String(), `"applied_by": "api:alice"`) || !strings.Contains(js.String(), `"healed_by": "bound"`) {
		t.Errorf("json:\n%s", js.String())
	}
}
