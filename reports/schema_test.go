package reports

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/experiments/measure"
)

// reportDoc is journalOf's report.json as a generic document to break.
func reportDoc(t *testing.T) map[string]any {
	t.Helper()
	var buf bytes.Buffer
	if err := JSON(&buf, measure.Summarize(journalOf())); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

func trialsDoc(t *testing.T) map[string]any {
	t.Helper()
	s := measure.Summarize(journalOf())
	var buf bytes.Buffer
	if err := TrialsJSON(&buf, measure.SummarizeTrials([]measure.Summary{s, s})); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

func marshal(t *testing.T, doc any) []byte {
	t.Helper()
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// at walks a document by keys and indices ("clients", 0, "metrics").
func at(doc any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			doc = doc.(map[string]any)[k]
		case int:
			doc = doc.([]any)[k]
		}
	}
	return doc
}

// schema_version opens both files, and is the constant.
func TestSchemaVersionComesFirst(t *testing.T) {
	s := measure.Summarize(journalOf())
	var report, trials bytes.Buffer
	if err := JSON(&report, s); err != nil {
		t.Fatal(err)
	}
	if err := TrialsJSON(&trials, measure.SummarizeTrials([]measure.Summary{s})); err != nil {
		t.Fatal(err)
	}
	want := "{\n  \"schema_version\": \"" + SchemaVersion + "\",\n  \"experiment\": "
	for name, out := range map[string]string{"report.json": report.String(), "trials.json": trials.String()} {
		if !strings.HasPrefix(out, want) {
			t.Errorf("%s does not open with schema_version %s:\n%.200s", name, SchemaVersion, out)
		}
	}
	var ts struct {
		Trials []struct {
			SchemaVersion string `json:"schema_version"`
			Verdict       string `json:"verdict"`
		} `json:"trials"`
	}
	if err := json.Unmarshal(trials.Bytes(), &ts); err != nil || len(ts.Trials) != 1 || ts.Trials[0].SchemaVersion != SchemaVersion || ts.Trials[0].Verdict != measure.Pass {
		t.Errorf("trials.json's trials are not whole report.json documents: %+v, %v", ts, err)
	}
}

// An empty list is [], not null: a consumer iterates it without a check.
func TestEmptyListsAreLists(t *testing.T) {
	s := measure.Summarize([]journal.Event{{T: 0, Type: journal.RunStart, Detail: "x"}})
	var buf bytes.Buffer
	if err := JSON(&buf, s); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{`"faults": []`, `"clients": []`, `"assertions": []`} {
		if !strings.Contains(buf.String(), k) {
			t.Errorf("report.json lacks %s:\n%s", k, buf.String())
		}
	}
	buf.Reset()
	if err := TrialsJSON(&buf, measure.SummarizeTrials(nil)); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{`"trials": []`, `"metrics": {}`, `"assertions": []`} {
		if !strings.Contains(buf.String(), k) {
			t.Errorf("trials.json lacks %s:\n%s", k, buf.String())
		}
	}
}

// The schemas are draft 2020-12 documents with their ids (compiling them,
// as every test does, checks them against the draft's metaschema), and a metric
// that can be null is typed as a number or null.
func TestSchemasDeclareThemselves(t *testing.T) {
	for id, b := range map[string][]byte{ReportSchemaID: ReportSchema(), TrialsSchemaID: TrialsSchema()} {
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if doc["$schema"] != "https://json-schema.org/draft/2020-12/schema" || doc["$id"] != id {
			t.Errorf("%s: $schema %v, $id %v", id, doc["$schema"], doc["$id"])
		}
		metrics := at(doc, "$defs", "Metrics", "properties").(map[string]any)
		for _, m := range []string{"detect_ms", "failover_ms", "recover_ms", "availability", "latency_p50_ms", "latency_p99_ms", "ok_latency_p50_ms", "ok_latency_p99_ms"} {
			got, _ := json.Marshal(metrics[m])
			if string(got) != `{"oneOf":[{"type":"number"},{"type":"null"}]}` {
				t.Errorf("%s: metric %s is %s, want a number or null", id, m, got)
			}
		}
		if got, _ := json.Marshal(metrics["requests"]); string(got) != `{"type":"integer"}` {
			t.Errorf("%s: metric requests is %s, want an integer", id, got)
		}
	}
}

// What faultline writes validates, nulls included; fields added later
// within the version (an unknown key) do not break a consumer's schema.
func TestReportSchemaAcceptsReports(t *testing.T) {
	doc := reportDoc(t)
	if at(doc, "clients", 1, "metrics", "detect_ms") != nil {
		t.Fatalf("the pooled client was expected to have no detect_ms: %v", at(doc, "clients", 1, "metrics"))
	}
	if err := ValidateReportJSON(marshal(t, doc)); err != nil {
		t.Fatalf("report.json does not validate: %v", err)
	}
	doc["steady_state"] = []any{
		map[string]any{"client": "failover", "expr": "availability > 0.9", "when": "before", "value": nil, "holds": false},
		map[string]any{"client": "failover", "expr": "availability > 0.9", "when": "after", "value": 1, "holds": true},
	}
	doc["a_field_added_later"] = map[string]any{"x": 1}
	at(doc, "clients", 0, "metrics").(map[string]any)["a_metric_added_later"] = 3
	at(doc, "faults", 0).(map[string]any)["end_ms"] = nil
	if err := ValidateReportJSON(marshal(t, doc)); err != nil {
		t.Errorf("report.json with steady-state outcomes, a null end_ms and added fields does not validate: %v", err)
	}
	// A run that broke: no run.end, the fault never healed.
	broke := measure.Summarize(journalOf()[:7])
	var buf bytes.Buffer
	if err := JSON(&buf, broke); err != nil {
		t.Fatal(err)
	}
	if broke.Verdict != measure.Incomplete || broke.Faults[0].EndMS != nil {
		t.Fatalf("the cut journal was expected to be incomplete with an open fault: %+v", broke)
	}
	if err := ValidateReportJSON(buf.Bytes()); err != nil {
		t.Errorf("an incomplete run's report.json does not validate: %v", err)
	}
}

// A schema that accepts everything proves nothing: each of these breaks.
func TestReportSchemaRejects(t *testing.T) {
	cases := []struct {
		want, name string // want: where the validator says it broke
		break_     func(doc map[string]any)
	}{
		{"at '/verdict'", "an unknown verdict", func(d map[string]any) { d["verdict"] = "mostly-pass" }},
		{"at '/status'", "an unknown status", func(d map[string]any) { d["status"] = "done" }},
		{"missing property 'verdict'", "no verdict", func(d map[string]any) { delete(d, "verdict") }},
		{"missing property 'schema_version'", "no schema_version", func(d map[string]any) { delete(d, "schema_version") }},
		{"at '/schema_version'", "another schema_version", func(d map[string]any) { d["schema_version"] = "2" }},
		{"at '/schema_version'", "schema_version as a number", func(d map[string]any) { d["schema_version"] = 1 }},
		{"missing property 'harness'", "no harness", func(d map[string]any) { delete(d, "harness") }},
		{"at '/faults'", "faults as null", func(d map[string]any) { d["faults"] = nil }},
		{"at '/clients/0/metrics/failover_ms'", "a metric as a string", func(d map[string]any) { at(d, "clients", 0, "metrics").(map[string]any)["failover_ms"] = "102" }},
		{"at '/clients/0/metrics/availability'", "availability as a boolean", func(d map[string]any) { at(d, "clients", 0, "metrics").(map[string]any)["availability"] = true }},
		{"at '/clients/0/requests'", "a count with a fraction", func(d map[string]any) { at(d, "clients", 0).(map[string]any)["requests"] = 6.5 }},
		{"at '/clients/0/metrics/dns_queries_in_fault'", "a null count", func(d map[string]any) { at(d, "clients", 0, "metrics").(map[string]any)["dns_queries_in_fault"] = nil }},
		{"missing property 'detect_ms'", "a metric missing", func(d map[string]any) { delete(at(d, "clients", 0, "metrics").(map[string]any), "detect_ms") }},
		{"at '/clients/1/metrics/fault_reached'", "fault_reached as a string", func(d map[string]any) { at(d, "clients", 1, "metrics").(map[string]any)["fault_reached"] = "no" }},
		{"at '/faults/0/start_ms'", "a fault's start as null", func(d map[string]any) { at(d, "faults", 0).(map[string]any)["start_ms"] = nil }},
		{"at '/clients/0/error_classes/dns-notfound'", "an error class counted in words", func(d map[string]any) {
			at(d, "clients", 0).(map[string]any)["error_classes"] = map[string]any{"dns-notfound": "one"}
		}},
		{"at '/assertions/0/pass'", "an assertion's pass as a string", func(d map[string]any) { at(d, "assertions", 0).(map[string]any)["pass"] = "true" }},
		{"at '/harness/timer_lag_max_ms'", "a harness lag as a string", func(d map[string]any) { at(d, "harness").(map[string]any)["timer_lag_max_ms"] = "0.4" }},
		{"at '/steady_state/0/when'", "a steady state at an unknown time", func(d map[string]any) {
			d["steady_state"] = []any{map[string]any{"client": "failover", "expr": "availability > 0.9", "when": "during", "value": 1, "holds": true}}
		}},
		{"at '/clients'", "clients as an object", func(d map[string]any) { d["clients"] = map[string]any{} }},
	}
	for _, c := range cases {
		doc := reportDoc(t)
		c.break_(doc)
		if err := ValidateReportJSON(marshal(t, doc)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("report.json with %s: %v, want an error %s", c.name, err, c.want)
		}
	}
	if err := ValidateReportJSON([]byte(`{"schema_version": "1",`)); err == nil {
		t.Error("a torn report.json validates")
	}
}

func TestTrialsSchema(t *testing.T) {
	if err := ValidateTrialsJSON(marshal(t, trialsDoc(t))); err != nil {
		t.Fatalf("trials.json does not validate: %v", err)
	}
	cases := []struct {
		want, name string // want: where the validator says it broke
		break_     func(doc map[string]any)
	}{
		{"at '/verdict'", "an unknown verdict", func(d map[string]any) { d["verdict"] = "flaky" }},
		{"missing property 'schema_version'", "no schema_version", func(d map[string]any) { delete(d, "schema_version") }},
		{"at '/trials/1/verdict'", "a trial with an unknown verdict", func(d map[string]any) { at(d, "trials", 1).(map[string]any)["verdict"] = "flaky" }},
		{"at '/trials/0'", "a trial without its schema_version", func(d map[string]any) { delete(at(d, "trials", 0).(map[string]any), "schema_version") }},
		{"at '/metrics/failover/failover_ms/median'", "a median as a string", func(d map[string]any) {
			at(d, "metrics", "failover").(map[string]any)["failover_ms"].(map[string]any)["median"] = "102"
		}},
		{"at '/metrics/failover/failover_ms/n'", "a distribution's n with a fraction", func(d map[string]any) {
			at(d, "metrics", "failover").(map[string]any)["failover_ms"].(map[string]any)["n"] = 1.5
		}},
		{"at '/trials'", "trials as null", func(d map[string]any) { d["trials"] = nil }},
	}
	for _, c := range cases {
		doc := trialsDoc(t)
		c.break_(doc)
		if err := ValidateTrialsJSON(marshal(t, doc)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("trials.json with %s: %v, want an error %s", c.name, err, c.want)
		}
	}
	// A report.json is no trials.json, and the other way round.
	if err := ValidateTrialsJSON(marshal(t, reportDoc(t))); err == nil {
		t.Error("a report.json validates as trials.json")
	}
	if err := ValidateReportJSON(marshal(t, trialsDoc(t))); err == nil {
		t.Error("a trials.json validates as report.json")
	}
}

// In a test, a writer that would write a report breaking its schema
// panics, whoever calls it: no caller can drop the failure.
func TestWritingAReportThatBreaksTheSchemaPanics(t *testing.T) {
	for name, write := range map[string]func() error{
		"report.json": func() error { return JSON(io.Discard, measure.Summary{Verdict: "maybe", Status: "complete"}) },
		"trials.json": func() error { return TrialsJSON(io.Discard, measure.TrialsSummary{Verdict: "maybe"}) },
	} {
		func() {
			defer func() {
				if r, _ := recover().(string); !strings.Contains(r, name+" breaks its own schema") || !strings.Contains(r, "maybe") {
					t.Errorf("%s: recovered %q, want a panic naming the file and the schema", name, r)
				}
			}()
			write()
		}()
	}
}
