package reports

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/experiments/measure"
)

// xmllintSchema validates a document against reports/junit.xsd with xmllint
// (libxml2-utils; .ci/run installs it). It returns xmllint's complaint, or
// nil when the document is valid.
func xmllintSchema(t *testing.T, doc []byte) error {
	t.Helper()
	bin, err := exec.LookPath("xmllint")
	if err != nil {
		t.Skip("no xmllint (apt-get install libxml2-utils; .ci/run installs it)")
	}
	path := filepath.Join(t.TempDir(), "junit.xml")
	if err := os.WriteFile(path, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--noout", "--schema", "junit.xsd", path).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("xmllint did not finish: %v", ctx.Err())
	}
	if err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}

// A run's start, host, version and backend as run.start journals them.
func withRunStart(ev []journal.Event) []journal.Event {
	out := append([]journal.Event(nil), ev...)
	out[0].Started, out[0].Host, out[0].Version, out[0].Backend = "2026-12-02T07:35:06.123456Z", "ci-runner-7", "v1.2.3 go1.26.0", "embedded"
	seed := int64(42)
	out[0].Seed = &seed
	return out
}

type junitDoc struct {
	Suites []struct {
		Name       string `xml:"name,attr"`
		Timestamp  string `xml:"timestamp,attr"`
		Hostname   string `xml:"hostname,attr"`
		Time       string `xml:"time,attr"`
		Tests      int    `xml:"tests,attr"`
		Failures   int    `xml:"failures,attr"`
		Skipped    int    `xml:"skipped,attr"`
		Properties []struct {
			Name  string `xml:"name,attr"`
			Value string `xml:"value,attr"`
		} `xml:"properties>property"`
		Cases []struct {
			Name      string `xml:"name,attr"`
			Classname string `xml:"classname,attr"`
			Time      string `xml:"time,attr"`
			SystemOut string `xml:"system-out"`
			Skipped   *struct {
				Attrs []xml.Attr `xml:",any,attr"`
			} `xml:"skipped"`
		} `xml:"testcase"`
		SystemOut string `xml:"system-out"`
	} `xml:"testsuite"`
}

func (d junitDoc) prop(i int, name string) string {
	for _, p := range d.Suites[i].Properties {
		if p.Name == name {
			return p.Value
		}
	}
	return ""
}

// junit.xml says when and where the run went, which run it was, how long
// each case was evaluated over, and carries the numbers behind it.
func TestJUnitCarriesWhatCINeeds(t *testing.T) {
	events := withRunStart(journalOf())
	var buf bytes.Buffer
	if err := JUnit(&buf, measure.Summarize(events), TraceOf(events)); err != nil {
		t.Fatal(err)
	}
	var doc junitDoc
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("junit.xml does not parse: %v\n%s", err, buf.String())
	}
	s := doc.Suites[0]
	if s.Timestamp != "2026-12-02T07:35:06" || s.Hostname != "ci-runner-7" || s.Time != "1.200" {
		t.Errorf("suite timestamp %q hostname %q time %q; want 2026-12-02T07:35:06, ci-runner-7, 1.200", s.Timestamp, s.Hostname, s.Time)
	}
	for name, want := range map[string]string{"seed": "42", "experiment": "dynamodb-empty-dns", "faultline.version": "v1.2.3 go1.26.0",
		"backend": "embedded", "started": "2026-12-02T07:35:06.123456Z", "fault.f1.kind": "dns.empty",
		"fault.f1.target": "dynamodb.us-east-1.amazonaws.com.", "fault.f1.start_ms": "300", "fault.f1.end_ms": "900", "verdict": "pass"} {
		if got := doc.prop(0, name); got != want {
			t.Errorf("property %s = %q, want %q", name, got, want)
		}
	}
	if !strings.Contains(s.SystemOut, "faultline: dynamodb-empty-dns  verdict PASS") {
		t.Errorf("the suite's system-out is not the terminal summary:\n%s", s.SystemOut)
	}
	// failover_ms is measured from the fault's start (300 ms) to the end
	// (1200 ms); availability over the whole run.
	want := map[string]string{"failover_ms < 2000": "0.900", "availability > 0.99": "1.200", "fault reached the client": "0.600"}
	for _, c := range s.Cases {
		if w, ok := want[c.Name]; ok && c.Time != w {
			t.Errorf("case %q: time %s, want %s", c.Name, c.Time, w)
		}
		if v, err := strconv.ParseFloat(c.Time, 64); err != nil || v <= 0 {
			t.Errorf("case %q: time %q, want a real duration", c.Name, c.Time)
		}
		if !strings.HasPrefix(c.Classname, "faultline.dynamodb-empty-dns.") {
			t.Errorf("case %q: classname %q", c.Name, c.Classname)
		}
		if c.Skipped != nil {
			for _, a := range c.Skipped.Attrs {
				if a.Name.Local != "message" {
					t.Errorf("<skipped> carries %s=%q: Ant's skipped has a message only", a.Name.Local, a.Value)
				}
			}
		}
		if c.Name == "failover_ms < 2000" && !strings.Contains(c.SystemOut, "failover (failover, primary us-east-1): 6 requests, 1 errors") {
			t.Errorf("the assertion's case does not carry its client's numbers:\n%s", c.SystemOut)
		}
	}
	if err := xmllintSchema(t, buf.Bytes()); err != nil {
		t.Errorf("junit.xml breaks junit.xsd: %v\n%s", err, buf.String())
	}
}

// Every shape of junit.xml (pass, a failed assertion, a steady state that
// did not hold, a run that broke, a starved harness, a client the fault did
// not reach, a fault never healed) is valid against junit.xsd.
func TestJUnitShapesAreValid(t *testing.T) {
	failing := append(withRunStart(journalOf()), journal.Event{Type: journal.Assertion, Client: "failover", Expr: "failover_ms < 10"})
	steady := withRunStart(journalOf())
	steady = append(steady[:1], append([]journal.Event{{Type: journal.SteadyState, Client: "failover", Expr: "availability > 0.999"}}, steady[1:]...)...)
	broken := withRunStart(journalOf())
	broken = broken[:len(broken)-1]
	broken = append(broken[:7], journal.Event{T: 800, Type: journal.RunEnd, Status: "incomplete", Detail: "interrupted <by> SIGINT & \x01"})
	starved := append(withRunStart(journalOf()[:len(journalOf())-1]),
		journal.Event{T: 500, Type: journal.HarnessLag, LagMS: 900},
		journal.Event{T: 1200, Type: journal.RunEnd, Status: "complete"})
	for name, ev := range map[string][]journal.Event{"pass": withRunStart(journalOf()), "failing": failing, "steady": steady,
		"broken": broken, "starved": starved} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := JUnit(&buf, measure.Summarize(ev), TraceOf(ev)); err != nil {
				t.Fatal(err)
			}
			if err := xmllintSchema(t, buf.Bytes()); err != nil {
				t.Errorf("junit.xml breaks junit.xsd: %v\n%s", err, buf.String())
			}
			if name == "starved" && !strings.Contains(buf.String(), `<testcase name="harness was not starved" classname="faultline.dynamodb-empty-dns" time="1.200">
      <error message=`) {
				t.Errorf("a starved run has no case in error:\n%s", buf.String())
			}
			if name == "broken" && !strings.Contains(buf.String(), `type="incomplete"`) {
				t.Errorf("a broken run has no case in error:\n%s", buf.String())
			}
		})
	}
}

// A journal written before run.start said when and where it ran still
// renders a valid junit.xml: the timestamp is estimated from the file (and
// the started_estimated property says so), the hostname is localhost.
func TestJUnitOfAnOldJournal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	var lines bytes.Buffer
	for _, e := range journalOf() {
		line, _ := json.Marshal(e)
		lines.Write(append(line, '\n'))
	}
	if err := os.WriteFile(path, lines.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	ended := time.Date(2025, 10, 20, 7, 0, 1, 200e6, time.UTC)
	if err := os.Chtimes(path, ended, ended); err != nil {
		t.Fatal(err)
	}
	s, tr, err := ReadJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := JUnit(&buf, s, tr); err != nil {
		t.Fatal(err)
	}
	var doc junitDoc
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if got := doc.Suites[0]; got.Timestamp != "2025-10-20T07:00:00" || got.Hostname != "localhost" {
		t.Errorf("timestamp %q hostname %q; want the file's time less the run (2025-10-20T07:00:00) and localhost", got.Timestamp, got.Hostname)
	}
	if doc.prop(0, "started_estimated") != "true" || doc.prop(0, "faultline.version") != "" {
		t.Errorf("properties %+v: want started_estimated=true and no version", doc.Suites[0].Properties)
	}
	if err := xmllintSchema(t, buf.Bytes()); err != nil {
		t.Errorf("junit.xml breaks junit.xsd: %v\n%s", err, buf.String())
	}
}

// junit.xsd is strict: it rejects what CI readers would choke on.
func TestJUnitXSDRejectsBadDocuments(t *testing.T) {
	var buf bytes.Buffer
	events := withRunStart(journalOf())
	if err := JUnit(&buf, measure.Summarize(events), TraceOf(events)); err != nil {
		t.Fatal(err)
	}
	good := buf.String()
	if err := xmllintSchema(t, []byte(good)); err != nil {
		t.Fatalf("the good document is not valid: %v", err)
	}
	for name, bad := range map[string]string{
		"testcase without name":       strings.Replace(good, `<testcase name="failover_ms &lt; 2000" `, `<testcase `, 1),
		"skipped with a type":         strings.Replace(good, `<skipped message=`, `<skipped type="not-reached" message=`, 1),
		"testsuite without timestamp": strings.Replace(good, `timestamp="2026-12-02T07:35:06" hostname=`, `hostname=`, 1),
		"negative time":               strings.Replace(good, `time="1.200"`, `time="-1"`, 1),
		"an unknown element":          strings.Replace(good, `<system-err>`, `<flaky/><system-err>`, 1),
	} {
		if bad == good {
			t.Fatalf("%s: the replacement did not apply", name)
		}
		if err := xmllintSchema(t, []byte(bad)); err == nil {
			t.Errorf("junit.xsd accepts a document with %s", name)
		}
	}
	failing := append(withRunStart(journalOf()), journal.Event{Type: journal.Assertion, Client: "failover", Expr: "failover_ms < 10"})
	buf.Reset()
	if err := JUnit(&buf, measure.Summarize(failing), TraceOf(failing)); err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(buf.String(), ` type="assertion"`, ``, 1)
	if bad == buf.String() {
		t.Fatal("no failure to strip the type from")
	}
	if err := xmllintSchema(t, []byte(bad)); err == nil {
		t.Error("junit.xsd accepts a failure without a type")
	}
}

// report.md says when, where and with what the run went.
func TestMarkdownSaysWhichRun(t *testing.T) {
	events := withRunStart(journalOf())
	var md bytes.Buffer
	if err := Markdown(&md, measure.Summarize(events), TraceOf(events)); err != nil {
		t.Fatal(err)
	}
	if want := "Started 2026-12-02T07:35:06.123456Z, on ci-runner-7, by faultline v1.2.3 go1.26.0, backend embedded."; !strings.Contains(md.String(), want) {
		t.Errorf("report.md lacks %q:\n%s", want, md.String())
	}
}
