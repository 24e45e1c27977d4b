package main

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// validJUnit checks a junit.xml against reports/junit.xsd with xmllint
// (libxml2-utils; .ci/run installs it; the test skips without it).
func validJUnit(t *testing.T, path string) {
	t.Helper()
	bin, err := exec.LookPath("xmllint")
	if err != nil {
		t.Skip("no xmllint (apt-get install libxml2-utils; .ci/run installs it)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, bin, "--noout", "--schema", "../../reports/junit.xsd", path).CombinedOutput(); err != nil {
		doc, _ := os.ReadFile(path)
		t.Errorf("%s breaks reports/junit.xsd: %v\n%s\n%s", path, err, out, doc)
	}
}

type junitSuite struct {
	Name       string `xml:"name,attr"`
	Tests      int    `xml:"tests,attr"`
	Failures   int    `xml:"failures,attr"`
	Errors     int    `xml:"errors,attr"`
	Timestamp  string `xml:"timestamp,attr"`
	Hostname   string `xml:"hostname,attr"`
	Time       string `xml:"time,attr"`
	Properties []struct {
		Name  string `xml:"name,attr"`
		Value string `xml:"value,attr"`
	} `xml:"properties>property"`
	Cases []struct {
		Name      string `xml:"name,attr"`
		Classname string `xml:"classname,attr"`
		Time      string `xml:"time,attr"`
		SystemOut string `xml:"system-out"`
	} `xml:"testcase"`
	SystemOut string `xml:"system-out"`
}

func readJUnit(t *testing.T, path string) (junitSuite, map[string]string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Suites []junitSuite `xml:"testsuite"`
	}
	if err := xml.Unmarshal(data, &doc); err != nil || len(doc.Suites) != 1 {
		t.Fatalf("%s: %v, %d suites\n%s", path, err, len(doc.Suites), data)
	}
	props := map[string]string{}
	for _, p := range doc.Suites[0].Properties {
		props[p.Name] = p.Value
	}
	return doc.Suites[0], props
}

// The junit.xml of a real run (a DNS fault, two clients) is valid against
// the schema and says when, where and with what it ran: the timestamp is
// the run's start, the hostname this machine's, the version the binary's,
// each case lasted what it was evaluated over. So is its re-rendering, and
// that of a journal written before run.start said any of it.
func TestJUnitOfARealRun(t *testing.T) {
	out := t.TempDir()
	exp := writeFile(t, "junit.yaml", strings.NewReplacer("duration: 20s", "duration: 4s", "duration: 15s", "duration: 2s",
		"  - name: failover\n", "  - {name: naive, strategy: single-region, regions: [us-east-1]}\n  - name: failover\n").Replace(shortFlagship)+
		"assertions:\n  - {client: failover, expr: \"failover_ms < 2000\"}\n  - {client: naive, expr: \"availability > 0.99\"}\n")
	before := time.Now().UTC().Add(-time.Second)
	// 3 too: on a busy machine the harness may find itself starved, and
	// the run says so (invalid) in a junit.xml all the same.
	if code, text := faultline(t, "run", "-q", "--out", out, exp); code != 0 && code != 1 && code != 3 {
		t.Fatalf("run: exit %d\n%s", code, text)
	}
	path := filepath.Join(out, "junit.xml")
	validJUnit(t, path)
	s, props := readJUnit(t, path)
	started, err := time.Parse("2006-01-02T15:04:05", s.Timestamp)
	if err != nil || started.Before(before.Truncate(time.Second)) || started.After(time.Now().UTC()) {
		t.Errorf("timestamp %q: want the run's start, in UTC (%v)", s.Timestamp, err)
	}
	host, _ := os.Hostname()
	if s.Hostname != host {
		t.Errorf("hostname %q, want %q", s.Hostname, host)
	}
	if d, err := strconv.ParseFloat(s.Time, 64); err != nil || d < 4 {
		t.Errorf("time %q: want the run's duration in seconds (≥ 4)", s.Time)
	}
	_, version := faultline(t, "version")
	if v := props["faultline.version"]; v == "" || "faultline "+v != strings.TrimSpace(version) {
		t.Errorf("property faultline.version %q; faultline version says %q", v, version)
	}
	for name, want := range map[string]string{"experiment": "short-empty-dns", "seed": "1", "backend": "embedded",
		"fault.f1.kind": "dns.empty", "fault.f1.target": "dynamodb.us-east-1.amazonaws.com.", "fault.f1.applied_by": "schedule"} {
		if props[name] != want {
			t.Errorf("property %s = %q, want %q (all: %v)", name, props[name], want, props)
		}
	}
	for _, name := range []string{"fault.f1.start_ms", "fault.f1.end_ms", "started"} {
		if props[name] == "" {
			t.Errorf("no property %s: %v", name, props)
		}
	}
	if len(s.Cases) < 2 {
		t.Fatalf("%d cases, want one per assertion", len(s.Cases))
	}
	for _, c := range s.Cases {
		if d, err := strconv.ParseFloat(c.Time, 64); err != nil || d <= 0 {
			t.Errorf("case %q: time %q, want how long it was evaluated over", c.Name, c.Time)
		}
		if !strings.HasPrefix(c.Classname, "faultline.short-empty-dns") || c.SystemOut == "" {
			t.Errorf("case %q: classname %q, system-out %q", c.Name, c.Classname, c.SystemOut)
		}
	}
	if !strings.Contains(s.SystemOut, "faultline: short-empty-dns  verdict") {
		t.Errorf("the suite's system-out is not the run's summary:\n%s", s.SystemOut)
	}

	// faultline report re-renders it, the same.
	code, text := faultline(t, "report", "--format", "junit", out)
	if code != 0 && code != 1 && code != 3 {
		t.Fatalf("report --format junit: exit %d\n%s", code, text)
	}
	again := filepath.Join(t.TempDir(), "junit.xml")
	if err := os.WriteFile(again, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	validJUnit(t, again)
	if s2, _ := readJUnit(t, again); s2.Timestamp != s.Timestamp || s2.Hostname != s.Hostname {
		t.Errorf("re-rendered: timestamp %s hostname %s, want %s %s", s2.Timestamp, s2.Hostname, s.Timestamp, s.Hostname)
	}

	// A journal from before run.start carried the start and the host.
	old := filepath.Join(t.TempDir(), "journal.jsonl")
	if err := os.WriteFile(old, []byte(`{"t_ms":0,"type":"run.start","detail":"old"}
{"t_ms":0,"type":"assertion","client":"c","expr":"errors == 0"}
{"t_ms":1,"type":"client.start","client":"c","strategy":"single-region","region":"us-east-1","addr":"127.0.0.11"}
{"t_ms":2,"type":"request","client":"c","region":"us-east-1","op":"GetItem","latency_ms":1,"ok":true}
{"t_ms":900,"type":"run.end","status":"complete"}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if code, text := faultline(t, "report", "--out", dir, old); code != 0 {
		t.Fatalf("report of an old journal: exit %d\n%s", code, text)
	}
	validJUnit(t, filepath.Join(dir, "junit.xml"))
	if s3, props := readJUnit(t, filepath.Join(dir, "junit.xml")); s3.Hostname != "localhost" || props["started_estimated"] != "true" {
		t.Errorf("old journal: hostname %q, started_estimated %q; want localhost and true", s3.Hostname, props["started_estimated"])
	}
}

// --trials writes, beside each trial's directory, the aggregate's junit.xml
// (valid, one case per assertion with the verdict across trials, one per
// trial), report.md (the distributions, the pass counts) and report.html (a
// histogram per metric that renders in Chromium without a script error).
func TestTrialsAggregateReports(t *testing.T) {
	out := t.TempDir()
	exp := writeFile(t, "trials.yaml", `name: trials
topology:
  regions: [{name: us-east-1}, {name: us-west-2}]
clients:
  - {name: fo, strategy: failover, regions: [us-east-1, us-west-2]}
schedule:
  duration: 2s
  faults:
    - {kind: dns.empty, target: dynamodb.us-east-1.amazonaws.com, start: 500ms, duration: 1s}
assertions:
  - {client: fo, expr: "p95(failover_ms) < 1000000"}
  - {client: fo, expr: "max(failover_ms) < 0.001"}
`)
	code, text := faultline(t, "run", "-q", "--trials", "3", "--out", out, exp)
	// On a busy machine a trial may find the harness starved: the trials
	// are then invalid (exit 3) and that trial's case is in error.
	if code != 1 && code != 3 || !strings.Contains(text, "3 trials  verdict") || !strings.Contains(text, "junit.xml, report.md, report.html") {
		t.Fatalf("exit %d, want 1 (max(failover_ms) < 0.001 fails), or 3 with a starved trial:\n%s", code, text)
	}
	var summary struct{ Trials []struct{ Verdict string } }
	raw0, err := os.ReadFile(filepath.Join(out, "trials.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw0, &summary); err != nil || len(summary.Trials) != 3 {
		t.Fatalf("trials.json: %v, %d trials", err, len(summary.Trials))
	}
	invalid := 0
	for _, tr := range summary.Trials {
		if tr.Verdict == "invalid" || tr.Verdict == "incomplete" {
			invalid++
		}
	}
	if (code == 3) != (invalid > 0) {
		t.Errorf("exit %d with %d invalid trials", code, invalid)
	}
	for _, f := range []string{"junit.xml", "trial-01/junit.xml", "trial-03/junit.xml"} {
		validJUnit(t, filepath.Join(out, f))
	}
	s, props := readJUnit(t, filepath.Join(out, "junit.xml"))
	if s.Name != "faultline.trials.trials" || s.Tests != 5 || s.Failures != 1 || s.Errors != invalid || props["trials"] != "3" ||
		props["trial.03.seed"] != "3" || props["trial.02.fault.f1.kind"] != "dns.empty" {
		t.Errorf("aggregate suite %s: %d tests, %d failures, %d errors, properties %v; want 5 tests (2 assertions, 3 trials), 1 failure, %d errors",
			s.Name, s.Tests, s.Failures, s.Errors, props, invalid)
	}
	if d, err := strconv.ParseFloat(s.Time, 64); err != nil || d < 6 {
		t.Errorf("aggregate time %q: want at least the three trials' 2 s each", s.Time)
	}

	md, err := os.ReadFile(filepath.Join(out, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# faultline trials: trials", "| fo | failover_ms | 3 |", "`max(failover_ms) < 0.001` |", "of 3 trials |", "| 03 | 3 |"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q:\n%s", want, md)
		}
	}

	page, err := os.ReadFile(filepath.Join(out, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	if loads := regexp.MustCompile(`(?i)<(script|img|iframe)[^>]+src=|<link[^>]+href=`).FindAll(page, -1); len(loads) > 0 {
		t.Errorf("report.html loads external resources: %q", loads)
	}
	raw := regexp.MustCompile(`(?s)<script id="trials-data" type="application/json">(.*?)</script>`).FindSubmatch(page)
	if raw == nil {
		t.Fatal("the page has no trials-data")
	}
	var data struct {
		Histograms []struct {
			Client, Metric string
			Values         []float64
		}
	}
	if err := json.Unmarshal(raw[1], &data); err != nil {
		t.Fatal(err)
	}
	var failover bool
	for _, h := range data.Histograms {
		if h.Client == "fo" && h.Metric == "failover_ms" && len(h.Values) == 3 {
			failover = true
		}
	}
	if !failover {
		t.Errorf("no failover_ms histogram of the three trials: %+v", data.Histograms)
	}
	t.Run("chromium", func(t *testing.T) {
		dom := headless(t, chromium(t))("--dump-dom", "file://"+filepath.Join(out, "report.html"))
		checkCharts(t, dom, len(data.Histograms))
		if !strings.Contains(string(dom), "fo · failover_ms") {
			t.Error("the rendered page lacks the failover_ms histogram's title")
		}
	})
}
