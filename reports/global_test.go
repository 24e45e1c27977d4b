package reports

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/experiments/measure"
)

func i64(n int64) *int64     { return &n }
func f64(v float64) *float64 { return &v }

// globalJournal: a writing client fails over from us-east-1 with v2 still
// in the paused replication's backlog, reads v1 in us-west-2, and the heal
// lets the replicas agree.
func globalJournal() []journal.Event {
	req := func(t float64, region, op string, v *int64) journal.Event {
		return journal.Event{T: t, Type: journal.Request, Client: "writer", Region: region, Op: op, LatencyMS: 5,
			OK: journal.Bool(true), Item: "writer/k0", ItemVersion: v}
	}
	write := func(t float64, region string, v int64) journal.Event {
		return journal.Event{T: t, Type: journal.DDBWrite, Region: region, Name: "orders", Item: "writer/k0", ItemVersion: i64(v), Op: "PutItem"}
	}
	repl := func(t, written float64, from, to string, v int64, status string) journal.Event {
		return journal.Event{T: t, Type: journal.DDBReplicated, Region: from, To: to, Name: "orders", Item: "writer/k0",
			ItemVersion: i64(v), WrittenMS: f64(written), Status: status}
	}
	return []journal.Event{
		{T: 0, Type: journal.RunStart, Detail: "dynamodb-global-table-failover"},
		{Type: journal.Assertion, Client: "writer", Expr: "lost_writes == 0"},
		{T: 1, Type: journal.ClientStart, Client: "writer", Strategy: "failover", Region: "us-east-1", Addr: "127.0.0.11"},
		req(100, "us-east-1", "PutItem", i64(1)), write(102, "us-east-1", 1), repl(250, 102, "us-east-1", "us-west-2", 1, "applied"),
		req(200, "us-east-1", "PutItem", i64(2)), write(202, "us-east-1", 2),
		{T: 300, Type: journal.FaultApplied, Fault: "f1", Kind: "dns.empty", Target: "dynamodb.us-east-1.amazonaws.com."},
		{T: 300, Type: journal.DDBReplication, Region: "us-east-1", To: "us-west-2", Status: "paused", Fault: "f1"},
		req(400, "us-west-2", "GetItem", i64(1)),
		{T: 900, Type: journal.FaultHealed, Fault: "f1", Kind: "dns.empty", Target: "dynamodb.us-east-1.amazonaws.com."},
		{T: 900, Type: journal.DDBReplication, Region: "us-east-1", To: "us-west-2", Status: "resumed", Fault: "f1"},
		repl(950, 202, "us-east-1", "us-west-2", 2, "applied"),
		{T: 1200, Type: journal.RunEnd, Status: "complete"},
	}
}

func TestReportsCarryTheGlobalTable(t *testing.T) {
	s := measure.Summarize(globalJournal())
	m := s.Clients[0].Metrics
	if m.WritesAtRisk == nil || *m.WritesAtRisk != 1 || m.LostWrites == nil || *m.LostWrites != 0 || s.Replication == nil {
		t.Fatalf("metrics = %+v", m)
	}
	var buf bytes.Buffer
	if err := JSON(&buf, s); err != nil {
		t.Fatal(err)
	}
	if err := ValidateReportJSON(buf.Bytes()); err != nil {
		t.Fatalf("report.json with a global table does not validate: %v", err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"writes_at_risk":1`, `"rpo_ms":195`, `"replication":{"directions":[{"from":"us-east-1","to":"us-west-2"`, `"convergence_ms":50`} {
		if !strings.Contains(compact.String(), want) {
			t.Errorf("report.json lacks %s", want)
		}
	}
	buf.Reset()
	if err := Markdown(&buf, s, nil); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## Global table", "| writer | 1 | 195ms | 1 | 0 | 0 | 50.0ms |", "- writes_at_risk:"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("report.md lacks %q:\n%s", want, buf.String())
		}
	}
	buf.Reset()
	if err := Terminal(&buf, s, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "global table: 1 items") {
		t.Errorf("the terminal summary lacks the global table:\n%s", buf.String())
	}
	buf.Reset()
	if err := JUnit(&buf, s, nil); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`name="replication.us-east-1&gt;us-west-2.lag_max_ms"`, "writes at risk 1"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("junit.xml lacks %s", want)
		}
	}
}

func TestReportsSayWhyTheGlobalMetricsAreNull(t *testing.T) {
	// The writing client without any ddb.* event: no global table.
	var ev []journal.Event
	for _, e := range globalJournal() {
		if !strings.HasPrefix(e.Type, "ddb.") {
			ev = append(ev, e)
		}
	}
	s := measure.Summarize(ev)
	var buf bytes.Buffer
	if err := Markdown(&buf, s, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "no global table in the journal") || !strings.Contains(buf.String(), "| writer | null | null | 1 | null | null | null |") {
		t.Errorf("report.md does not say why:\n%s", buf.String())
	}
	// The default workload: no global-table section at all.
	buf.Reset()
	if err := Markdown(&buf, measure.Summarize(journalOf()), nil); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "Global table") {
		t.Error("a run without a global table or versioned writes has a global-table section")
	}
}

// The replication lane: per direction the slowest lag per bucket, the pause
// as a band closed by the resume; the page's global table.
func TestHTMLCarriesTheReplicationLane(t *testing.T) {
	events := globalJournal()
	s := measure.Summarize(events)
	c := chartData(s, TraceOf(events))
	r := c.Replication
	if r == nil || len(r.Directions) != 1 {
		t.Fatalf("replication lane = %+v", r)
	}
	d := r.Directions[0]
	if d.From != "us-east-1" || d.To != "us-west-2" || len(d.Pauses) != 1 || d.Pauses[0].From != 0.3 || d.Pauses[0].To == nil || *d.Pauses[0].To != 0.9 {
		t.Errorf("direction = %+v", d)
	}
	var lags []float64
	for _, v := range d.Lag {
		if v != nil {
			lags = append(lags, *v)
		}
	}
	if len(lags) != 2 || lags[0] != 148 || lags[1] != 748 || len(d.Lag) != len(r.T) {
		t.Errorf("lags = %v over %d buckets of %d", lags, len(d.Lag), len(r.T))
	}
	if len(c.GlobalTable) != 2 || c.GlobalTable[1][1] != "1" {
		t.Errorf("global table = %v", c.GlobalTable)
	}
	// Without replication: no lane.
	if c := chartData(measure.Summarize(journalOf()), TraceOf(journalOf())); c.Replication != nil || c.GlobalTable != nil {
		t.Errorf("a run without a global table has a lane: %+v %v", c.Replication, c.GlobalTable)
	}
}
