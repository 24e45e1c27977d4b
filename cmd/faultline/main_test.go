package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/targets/tempdirs"
)

// The binary, built once for the tests that run it as a user would.
var binary string

func TestMain(m *testing.M) {
	dir, err := tempdirs.Make("", "cli")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "faultline")
	// selfCheck: the binary validates every report.json and trials.json it
	// writes against their schemas and fails if one breaks it, as the
	// reports package does in every test (reports/schema.go).
	build := exec.Command("go", "build", "-ldflags=-X=github.com/faultline-dev/faultline/reports.selfCheck=1", "-o", binary, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		os.RemoveAll(dir)
		panic("building faultline: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// faultline runs the binary and returns its exit code and output.
func faultline(t *testing.T, args ...string) (int, string) {
	t.Helper()
	return faultlineIn(t, "", args...)
}

// faultlineIn runs the binary in dir ("" for the test's own).
func faultlineIn(t *testing.T, dir string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &exit):
		return exit.ExitCode(), string(out)
	}
	t.Fatalf("running faultline %v: %v", args, err)
	return -1, ""
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestUsageAndValidationExitCodes(t *testing.T) {
	bad := writeFile(t, "bad.yaml", "name: x\ntopology:\n  regions:\n    - name: us-east-1\nclients: []\nschedule:\n  duration: soon\n")
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"list"}, 0, "dynamodb-empty-dns"},
		{[]string{"validate", "dynamodb-empty-dns"}, 0, "valid"},
		{[]string{"explain", "dynamodb-2025-10-20"}, 0, "13s  heal race"},
		{[]string{"run", "--dry-run", "dynamodb-empty-dns"}, 0, "3s  apply f1: dns.empty on dynamodb.us-east-1.amazonaws.com."},
		{[]string{"run"}, 2, "usage: faultline run"},
		{[]string{"run", "--trials-nope", "x"}, 2, "flag provided but not defined"},
		{[]string{"run", "no-such-experiment"}, 2, "no such file, and no built-in experiment"},
		{[]string{"validate", bad}, 2, bad + ":7:"},
		{[]string{"run", bad}, 2, "duration"},
		{[]string{"report", "/nonexistent/journal.jsonl"}, 2, "no such file"},
		{[]string{"no-such-command"}, 2, `unknown command "no-such-command"`},
		{[]string{"schema"}, 0, `"$schema": "https://json-schema.org/draft/2020-12/schema"`},
		{[]string{"schema", "x"}, 2, "schema takes no arguments"},
	}
	for _, c := range cases {
		code, out := faultline(t, c.args...)
		if code != c.code || !strings.Contains(out, c.want) {
			t.Errorf("faultline %v: exit %d, want %d; output must contain %q:\n%s", c.args, code, c.code, c.want, out)
		}
	}
}

// SIGINT in the middle of a fault: exit 3, the fault healed in the journal,
// a report marked incomplete.
func TestSIGINTMidFault(t *testing.T) {
	out := t.TempDir()
	exp := writeFile(t, "short.yaml", shortFlagship)
	cmd := exec.Command(binary, "run", "--out", out, exp)
	err := interruptWhenApplied(t, cmd, nil)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("exit = %v, want code 3", err)
	}
	journal, err := os.ReadFile(filepath.Join(out, "journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(journal), `"type":"fault.healed"`); n != 1 {
		t.Errorf("fault healed %d times in the journal, want once", n)
	}
	if !strings.Contains(string(journal), `"status":"incomplete"`) {
		t.Error("the journal does not end the run as incomplete")
	}
	var report struct{ Verdict string }
	data, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &report); err != nil || report.Verdict != "incomplete" {
		t.Errorf("report verdict = %q (%v), want incomplete", report.Verdict, err)
	}
	if n := validateReportsUnder(t, out); n != 1 {
		t.Errorf("validated %d reports, want the report.json", n)
	}
}

// A journal re-renders with the same exit code the run had.
func TestReportRerendersAJournal(t *testing.T) {
	j := writeFile(t, "journal.jsonl", `{"t_ms":0,"type":"run.start","detail":"x"}
{"t_ms":0,"type":"assertion","client":"c","expr":"errors == 0"}
{"t_ms":1,"type":"client.start","client":"c","strategy":"single-region","region":"us-east-1","addr":"127.0.0.11"}
{"t_ms":2,"type":"request","client":"c","region":"us-east-1","op":"GetItem","latency_ms":1,"ok":false,"error":"reset"}
{"t_ms":9,"type":"run.end","status":"complete"}
`)
	out := t.TempDir()
	code, text := faultline(t, "report", "--out", out, j)
	if code != 1 || !strings.Contains(text, "errors == 0") {
		t.Errorf("exit %d, want 1 (the assertion fails):\n%s", code, text)
	}
	if _, err := os.Stat(filepath.Join(out, "report.md")); err != nil {
		t.Error("report.md not written")
	}
	if n := validateReportsUnder(t, out); n != 1 {
		t.Errorf("validated %d reports, want the report.json", n)
	}
}

const shortFlagship = `name: short-empty-dns
topology:
  regions:
    - name: us-east-1
    - name: us-west-2
clients:
  - name: failover
    strategy: failover
    regions: [us-east-1, us-west-2]
schedule:
  duration: 20s
  faults:
    - kind: dns.empty
      target: dynamodb.us-east-1.amazonaws.com
      start: 1s
      duration: 15s
`

// A run writes junit.xml and, under GitHub Actions, appends its Markdown
// report to the job summary; report re-renders a run directory in each format.
func TestJUnitAndStepSummary(t *testing.T) {
	var out, summary string
	exp := writeFile(t, "quick.yaml", `name: quick
topology:
  regions: [{name: us-east-1}]
clients:
  - {name: c, strategy: single-region, regions: [us-east-1]}
schedule:
  duration: 1s
assertions:
  - {client: c, expr: "errors > 100"}
`)
	code, text, starved := unstarved(t, func() (int, string) {
		out, summary = t.TempDir(), filepath.Join(t.TempDir(), "summary.md")
		cmd := exec.Command(binary, "run", "-q", "--out", out, exp)
		cmd.Env = append(os.Environ(), "GITHUB_STEP_SUMMARY="+summary)
		text, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode(), string(text)
		}
		return 0, string(text)
	})
	if starved {
		validateReportsUnder(t, out)
		return
	}
	if code != 1 {
		t.Fatalf("exit %d, want 1 (the assertion fails):\n%s", code, text)
	}
	junit, _ := os.ReadFile(filepath.Join(out, "junit.xml"))
	if !strings.Contains(string(junit), `failures="1"`) || !strings.Contains(string(junit), "errors = 0, want errors &gt; 100") {
		t.Errorf("junit.xml:\n%s", junit)
	}
	md, _ := os.ReadFile(summary)
	if !strings.Contains(string(md), "# faultline report: quick") {
		t.Errorf("step summary:\n%s", md)
	}
	for format, want := range map[string]string{"json": `"verdict": "fail"`, "md": "**Verdict: FAIL**", "junit": "<testsuites "} {
		code, text := faultline(t, "report", "--format", format, out)
		if code != 1 || !strings.Contains(text, want) {
			t.Errorf("report --format %s: exit %d, want 1 and %q:\n%s", format, code, want, text)
		}
	}
	if code, _ := faultline(t, "report", "--format", "pdf", out); code != 2 {
		t.Errorf("--format pdf: exit %d, want 2", code)
	}
	if n := validateReportsUnder(t, out); n != 1 {
		t.Errorf("validated %d reports, want the report.json", n)
	}
}

// --trials runs the experiment N times and checks aggregated assertions on
// the distributions.
func TestTrials(t *testing.T) {
	var out string
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
  - {client: fo, expr: "max(failover_ms) < 0.001"}
`)
	code, text, starved := unstarved(t, func() (int, string) {
		out = t.TempDir()
		return faultline(t, "run", "-q", "--trials", "2", "--out", out, exp)
	})
	switch {
	case starved:
	case code != 1 || !strings.Contains(text, "2 trials  verdict FAIL") || !strings.Contains(text, "✗ fo: max(failover_ms) < 0.001"):
		t.Errorf("exit %d, want 1 with the aggregated assertion failing:\n%s", code, text)
	}
	for _, f := range []string{"trials.json", "trial-01/journal.jsonl", "trial-02/report.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if n := validateReportsUnder(t, out); n != 3 {
		t.Errorf("validated %d reports, want trials.json and two trials' report.json", n)
	}
	if code, _ := faultline(t, "run", "--trials", "0", exp); code != 2 {
		t.Errorf("--trials 0: exit %d, want 2", code)
	}
}

// unstarved makes a run until its harness was not starved, at most three
// times, and returns the last one's exit code and output, and whether it
// was starved still. On a machine too busy to measure, a run's harness is
// starved and its verdict invalid (exit 3), as it must be; the test can
// then check only what holds whatever the verdict.
func unstarved(t *testing.T, run func() (int, string)) (code int, text string, starved bool) {
	t.Helper()
	for attempt := 1; attempt <= 3; attempt++ {
		code, text = run()
		starved = code == 3 && strings.Contains(text, "verdict INVALID") && strings.Contains(text, "the harness was starved")
		if !starved {
			return code, text, false
		}
		t.Logf("attempt %d: the harness was starved, the verdict invalid as it must be", attempt)
	}
	t.Log("every attempt was starved: this machine is too busy for the verdict to be checked")
	return code, text, true
}

// interruptWhenApplied starts cmd (a faultline run), sends it SIGINT once it
// says "applied f1" (calling before first, if set), and returns how it
// exited; the test fails if it has not stopped within 60 s.
func interruptWhenApplied(t *testing.T, cmd *exec.Cmd, before func()) error {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		signalled := false
		for sc.Scan() {
			if !signalled && strings.Contains(sc.Text(), "applied f1") {
				if before != nil {
					before()
				}
				cmd.Process.Signal(syscall.SIGINT)
				signalled = true
			}
		}
		done <- cmd.Wait()
	}()
	select {
	case err = <-done:
		return err
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatal("faultline did not stop within 60 s of SIGINT")
		return nil
	}
}
