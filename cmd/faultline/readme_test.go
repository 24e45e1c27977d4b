package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/experiments/applog"
	"github.com/faultline-dev/faultline/experiments/library"
	"github.com/faultline-dev/faultline/experiments/measure"
	"github.com/faultline-dev/faultline/experiments/spec"
	"github.com/faultline-dev/faultline/reports"
)

// block is one fenced code block of the README.
type block struct {
	lang, text string
	line       int
}

func readmeBlocks(t *testing.T) []block {
	t.Helper()
	f, err := os.Open("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []block
	var cur *block
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		l := sc.Text()
		switch {
		case cur == nil && strings.HasPrefix(l, "```"):
			cur = &block{lang: strings.TrimPrefix(l, "```"), line: n}
		case cur != nil && l == "```":
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.text += l + "\n"
		}
	}
	return out
}

// minimalExperiment is a valid experiment that snippets are set into.
const minimalExperiment = `name: readme
topology:
  regions:
    - name: us-east-1
    - name: us-west-2
clients:
  - name: ref
    strategy: failover
    regions: [us-east-1, us-west-2]
schedule:
  duration: 10s
  faults:
`

// Every snippet the README shows is real: experiments parse, the flagship
// shown is the built-in one, fault and client snippets parse inside an
// experiment, outcome lines follow the schema, the commands exist with the
// flags shown, the validate example prints what the README says it prints,
// the report.json sample's keys are report.json's, and the Go example is
// the example test's.
func TestReadmeSnippets(t *testing.T) {
	blocks := readmeBlocks(t)
	if len(blocks) < 10 {
		t.Fatalf("found %d code blocks in the README", len(blocks))
	}
	_, flagship, _ := library.Get("dynamodb-empty-dns")
	_, help := faultline(t, "help")
	var sawFlagship, sawValidate, sawBadYAML, sawExport bool
	var badYAML string
	for i, b := range blocks {
		where := func(format string, args ...any) {
			t.Helper()
			t.Errorf("README.md:%d: "+format, append([]any{b.line}, args...)...)
		}
		switch {
		case b.lang == "yaml" && strings.Contains(b.text, "\nschedule:") && strings.Contains(b.text, "name: "):
			if _, err := spec.Parse("readme.yaml", []byte(b.text)); err != nil && !strings.Contains(b.text, "dns.gone") {
				where("the experiment does not parse: %v", err)
			}
			if strings.Contains(b.text, "name: dynamodb-empty-dns") {
				sawFlagship = true
				if b.text != string(flagship) {
					where("the flagship shown is not experiments/library/dynamodb-empty-dns.yaml")
				}
			}
			if strings.Contains(b.text, "dns.gone") {
				badYAML, sawBadYAML = b.text, true
			}
		case b.lang == "yaml" && strings.HasPrefix(strings.TrimSpace(b.text), "- kind:"):
			for _, item := range strings.Split("\n"+dedent(b.text), "\n- ")[1:] { // each example on its own
				text := minimalExperiment + indent("- "+item+"\n", "    ")
				if _, err := spec.Parse("readme.yaml", []byte(text)); err != nil {
					where("a fault example does not parse in an experiment: %v", err)
				}
			}
		case b.lang == "yaml" && strings.HasPrefix(b.text, "clients:"):
			text := strings.Replace(minimalExperiment, "clients:\n", b.text, 1) + "    []\n"
			if _, err := spec.Parse("readme.yaml", []byte(text)); err != nil {
				where("the client snippet does not parse in an experiment: %v", err)
			}
		case b.lang == "json" && strings.HasPrefix(b.text, `{"time"`):
			for _, l := range strings.Split(strings.TrimSpace(b.text), "\n") {
				if _, err := applog.Parse([]byte(l)); err != nil {
					where("an outcome line breaks the schema: %v: %s", err, l)
				}
			}
		case b.lang == "json" && strings.Contains(b.text, `"experiment"`):
			checkReportKeys(t, b)
		case b.lang == "" && strings.HasPrefix(b.text, "faultline: bad.yaml:"):
			sawValidate = true
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte(badYAML), 0o644); err != nil {
				t.Fatal(err)
			}
			code, out := faultlineIn(t, dir, "validate", "bad.yaml")
			if code != 2 || strings.TrimSpace(out) != strings.TrimSpace(b.text) {
				where("faultline validate bad.yaml: exit %d and\n%s\nwant exit 2 and what the README shows", code, out)
			}
		case b.lang == "" && strings.HasPrefix(b.text, "faultline export: "):
			sawExport = true
			checkExportExample(t, b)
		case b.lang == "" && strings.HasPrefix(b.text, "faultline run [--out DIR]"):
			for _, l := range strings.Split(strings.TrimSpace(b.text), "\n") {
				if len(strings.Fields(l)) < 2 {
					continue // a blank line between groups of commands
				}
				cmd := strings.Fields(l)[1]
				if !regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(cmd) + `[ ,]`).MatchString(help) {
					where("faultline %s is not a command (faultline help):\n%s", cmd, help)
				}
			}
		case b.lang == "sh":
			checkCommandLines(t, b)
		case b.lang == "go":
			example, err := os.ReadFile("../../experiments/testbed/example_test.go")
			if err != nil {
				t.Fatal(err)
			}
			if line, ok := excerpt(b.text, string(example)); !ok {
				where("the Go example's line %q is not in experiments/testbed/example_test.go (in this order)", line)
			}
		}
		_ = i
	}
	if !sawExport {
		t.Errorf("the README lost the export example's output (faultline export: ...)")
	}
	if !sawFlagship || !sawValidate || !sawBadYAML {
		t.Errorf("the README lost a snippet this test checks: flagship %v, validate %v, bad.yaml %v", sawFlagship, sawValidate, sawBadYAML)
	}
}

// readmeExportCommand is the export the README shows with its output.
const readmeExportCommand = "faultline export --to fis --role-arn arn:aws:iam::123456789012:role/fis-experiments --subnet arn:aws:ec2:us-east-1:123456789012:subnet/subnet-0123456789abcdef0 --approximate --time-scale 60 --out template.json dynamodb-2025-10-20"

// checkExportExample: the README's export command, run, prints what the
// README shows and writes the template.
func checkExportExample(t *testing.T, b block) {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "\n"+readmeExportCommand+"\n") {
		t.Errorf("README.md:%d: the output shown is not of a command the README shows: %s", b.line, readmeExportCommand)
	}
	dir := t.TempDir()
	code, out := faultlineIn(t, dir, strings.Fields(readmeExportCommand)[1:]...)
	if code != 0 || strings.TrimSpace(out) != strings.TrimSpace(b.text) {
		t.Errorf("README.md:%d: %s: exit %d and\n%s\nwant exit 0 and what the README shows", b.line, readmeExportCommand, code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "template.json")); err != nil {
		t.Errorf("README.md:%d: the export wrote no template.json: %v", b.line, err)
	}
}

// checkCommandLines: every `faultline CMD --flag` a shell snippet shows is a
// command that takes that flag.
func checkCommandLines(t *testing.T, b block) {
	t.Helper()
	for _, l := range strings.Split(b.text, "\n") {
		l = strings.TrimSpace(strings.SplitN(l, "#", 2)[0])
		fields := strings.Fields(l)
		for i, f := range fields {
			if f != "faultline" && !strings.HasSuffix(f, "/cmd/faultline") || i+1 >= len(fields) {
				continue
			}
			cmd := fields[i+1]
			code, help := faultline(t, "help", cmd)
			if code != 0 {
				t.Errorf("README.md:%d: faultline %s: no such command", b.line, cmd)
				break
			}
			for _, arg := range fields[i+2:] {
				if name, ok := strings.CutPrefix(arg, "--"); ok {
					name, _, _ = strings.Cut(name, "=")
					if !strings.Contains(help, "--"+name) {
						t.Errorf("README.md:%d: faultline %s takes no --%s", b.line, cmd, name)
					}
				}
			}
			break
		}
	}
}

// checkReportKeys: the report.json sample's keys are report.json's.
func checkReportKeys(t *testing.T, b block) {
	t.Helper()
	var sample map[string]any
	text := regexp.MustCompile(`"\(only [^"]*\)"`).ReplaceAllString(b.text, `""`)
	if err := json.Unmarshal([]byte(text), &sample); err != nil {
		t.Errorf("README.md:%d: the report.json sample is not JSON: %v", b.line, err)
		return
	}
	real := map[string]any{}
	seed := int64(1)
	data, _ := json.Marshal(reports.NewReport(measure.Summary{Seed: &seed, Clients: []measure.ClientReport{{}}, Assertions: []measure.AssertionOutcome{{}},
		Started: "t", Host: "h", Version: "v", Backend: "b"})) // what run.start recorded (omitted when it did not)
	json.Unmarshal(data, &real)
	for k := range sample {
		if _, ok := real[k]; !ok && k != "faults" && k != "by_fault" && k != "reasons" && k != "steady_state" {
			t.Errorf("README.md:%d: report.json has no key %q", b.line, k)
		}
	}
	client, _ := sample["clients"].([]any)
	realClient := real["clients"].([]any)[0].(map[string]any)
	if len(client) > 0 {
		for k := range client[0].(map[string]any) {
			if _, ok := realClient[k]; !ok && k != "warning" && k != "unmeasured" && k != "rejected_samples" {
				t.Errorf("README.md:%d: a report.json client has no key %q", b.line, k)
			}
		}
		metrics := client[0].(map[string]any)["metrics"].(map[string]any)
		realMetrics := realClient["metrics"].(map[string]any)
		for k := range metrics {
			if _, ok := realMetrics[k]; !ok {
				t.Errorf("README.md:%d: report.json's metrics have no %q", b.line, k)
			}
		}
	}
}

// dedent removes the indentation every line of s shares.
func dedent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	common := -1
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		n := len(l) - len(strings.TrimLeft(l, " "))
		if common < 0 || n < common {
			common = n
		}
	}
	for i, l := range lines {
		if len(l) >= common && common > 0 {
			lines[i] = l[common:]
		}
	}
	return strings.Join(lines, "\n")
}

func indent(s, by string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if l != "" && l != "\n" {
			b.WriteString(by)
		}
		b.WriteString(l)
	}
	return b.String()
}

// squash drops all white space, for comparing code laid out differently.
func squash(s string) string { return strings.Join(strings.Fields(s), "") }

// excerpt reports whether every line of code in snippet (comments and
// closing braces aside) is in file, in order; if not, the first that is not.
func excerpt(snippet, file string) (string, bool) {
	code := func(l string) string {
		if i := strings.Index(l, "//"); i >= 0 {
			l = l[:i]
		}
		return squash(l)
	}
	var body strings.Builder
	for _, l := range strings.Split(file, "\n") {
		body.WriteString(code(l))
	}
	rest := body.String()
	for _, l := range strings.Split(snippet, "\n") {
		c := code(l)
		if c == "" || c == "}" {
			continue
		}
		i := strings.Index(rest, c)
		if i < 0 {
			return l, false
		}
		rest = rest[i+len(c):]
	}
	return "", true
}
