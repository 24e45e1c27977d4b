package main

import (
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/experiments/spec"
	"github.com/faultline-dev/faultline/reports"
)

// faultline schema prints the experiment format's schema; --report and
// --trials the reports'.
func TestSchemaCommand(t *testing.T) {
	for flag, want := range map[string][]byte{"": spec.Schema(), "--report": reports.ReportSchema(), "--trials": reports.TrialsSchema()} {
		args := []string{"schema"}
		if flag != "" {
			args = append(args, flag)
		}
		out, err := exec.Command(binary, args...).Output()
		if err != nil || string(out) != string(want) {
			t.Errorf("faultline %s: %v, and not the schema (%.120s)", strings.Join(args, " "), err, out)
		}
	}
	for _, args := range [][]string{{"schema", "--report", "--trials"}, {"schema", "report"}} {
		if code, out := faultline(t, args...); code != 2 || !strings.Contains(out, "usage: faultline schema") {
			t.Errorf("faultline %s: exit %d, want 2 with the usage:\n%s", strings.Join(args, " "), code, out)
		}
	}
}

// The binary the tests run checks every report.json and trials.json it
// writes (main_test.go builds it with reports.selfCheck): a report that
// breaks the schema fails the run loudly, whatever the test looked at. A
// hand-written journal whose run.end has a status faultline never writes
// is the one way in from outside (the fold copies the status).
func TestTheBinaryChecksItsReports(t *testing.T) {
	j := writeFile(t, "journal.jsonl", `{"t_ms":0,"type":"run.start","detail":"x"}
{"t_ms":9,"type":"run.end","status":"complete"}
`)
	out, err := exec.Command(binary, "report", "--format", "json", j).Output()
	if err != nil {
		t.Fatalf("report --format json: %v\n%s", err, out)
	}
	if err := reports.ValidateReportJSON(out); err != nil {
		t.Errorf("report --format json does not validate: %v\n%s", err, out)
	}
	bad := writeFile(t, "journal.jsonl", `{"t_ms":0,"type":"run.start","detail":"x"}
{"t_ms":9,"type":"run.end","status":"sort-of"}
`)
	code, text := faultline(t, "report", "--format", "json", bad)
	if code == 0 || !strings.Contains(text, "report.json breaks its own schema") || !strings.Contains(text, "/status") {
		t.Errorf("a report with status sort-of: exit %d, want a failure naming the schema and /status:\n%s", code, text)
	}
}

// validateReportsUnder checks every report.json and trials.json under dir
// against its schema, as read back from disk, and returns how many it saw.
func validateReportsUnder(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		validate := map[string]func([]byte) error{"report.json": reports.ValidateReportJSON, "trials.json": reports.ValidateTrialsJSON}[d.Name()]
		if validate == nil {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		n++
		var v struct {
			SchemaVersion string `json:"schema_version"`
		}
		if err := json.Unmarshal(data, &v); err != nil || v.SchemaVersion != reports.SchemaVersion {
			t.Errorf("%s: schema_version %q (%v), want %q", path, v.SchemaVersion, err, reports.SchemaVersion)
		}
		if err := validate(data); err != nil {
			t.Errorf("%s: %v", path, err)
		}
		return nil
	})
	if err != nil {
		t.Errorf("walking %s: %v", dir, err)
	}
	return n
}
