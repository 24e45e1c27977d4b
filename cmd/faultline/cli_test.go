package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// The CLI behaves like its neighbours: help as a command, long flags named
// as typed, extra arguments refused, the catalogue and the version printed.
func TestCLIBehavesLikeItsNeighbours(t *testing.T) {
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"help"}, 0, "COMMANDS:"},
		{[]string{"help", "run"}, 0, "--seed value"},
		{[]string{"nope"}, 2, `unknown command "nope"; expected one of: run, validate, list, kinds`},
		{[]string{"run", "--seed", "x", "dynamodb-empty-dns"}, 2, "flag --seed"},
		{[]string{"list", "extra"}, 2, "list takes no arguments"},
		{[]string{"version"}, 0, "faultline "},
		{[]string{"kinds"}, 0, "dns.empty (on a dns-name)"},
		{[]string{"kinds", "--format", "yaml"}, 2, `--format "yaml": expected text or json`},
		{[]string{"completion", "tcsh"}, 2, `unknown shell "tcsh"`},
		{[]string{"run", "--help"}, 0, "journal.jsonl, report.json, report.md, junit.xml and report.html"},
	}
	for _, c := range cases {
		code, out := faultline(t, c.args...)
		if code != c.code || !strings.Contains(out, c.want) {
			t.Errorf("faultline %s: exit %d, want %d and %q in:\n%s", strings.Join(c.args, " "), code, c.code, c.want, out)
		}
	}
	// run --help says what the seed defaults to, not 0.
	if _, out := faultline(t, "help", "run"); strings.Contains(out, "(default: 0)") {
		t.Errorf("run's help shows a seed of 0:\n%s", out)
	}
}

func TestListAligns(t *testing.T) {
	_, out := faultline(t, "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	col := -1
	for _, l := range lines {
		i := regexp.MustCompile(`^\S+\s+`).FindStringIndex(l)
		if i == nil {
			t.Fatalf("line %q has no description", l)
		}
		if col >= 0 && i[1] != col {
			t.Errorf("descriptions start at columns %d and %d:\n%s", col, i[1], out)
		}
		col = i[1]
	}
}

func TestKindsJSON(t *testing.T) {
	code, out := faultline(t, "kinds", "--format", "json")
	var kinds []kindInfo
	if code != 0 || json.Unmarshal([]byte(out), &kinds) != nil {
		t.Fatalf("exit %d, not JSON:\n%s", code, out)
	}
	found := false
	for _, k := range kinds {
		if k.Name == "dns.delay" {
			found = true
			if len(k.Params) == 0 || k.Params[0].Name != "delay" || !k.Params[0].Required || k.Params[0].Unit == "" {
				t.Errorf("dns.delay's parameters: %+v", k.Params)
			}
		}
	}
	if !found || len(kinds) < 20 {
		t.Errorf("%d kinds, dns.delay among them: %v", len(kinds), found)
	}
}

func TestCompletionScripts(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		code, out := faultline(t, "completion", shell)
		if code != 0 || !strings.Contains(out, "faultline") {
			t.Errorf("completion %s: exit %d:\n%s", shell, code, out)
		}
		if shell == "bash" {
			check := exec.Command("bash", "-n")
			check.Stdin = strings.NewReader(out)
			if b, err := check.CombinedOutput(); err != nil {
				t.Errorf("the bash script does not parse: %v\n%s", err, b)
			}
		}
	}
	// What the scripts ask faultline: the commands, then a command's flags.
	code, out := faultline(t, "--generate-bash-completion")
	if code != 0 || !strings.Contains(out, "run") || !strings.Contains(out, "kinds") {
		t.Errorf("completion of commands: exit %d:\n%s", code, out)
	}
}

func TestReportOfAnEmptyJournalIsBadInput(t *testing.T) {
	empty := writeFile(t, "journal.jsonl", "")
	if code, out := faultline(t, "report", empty); code != 2 || !strings.Contains(out, "has no events") {
		t.Errorf("exit %d:\n%s", code, out)
	}
}

// A crash is exit 4 with its stack, never 2 (bad usage) or a verdict.
func TestACrashIsNotBadUsage(t *testing.T) {
	code := func() (code int) {
		defer crashed(&code)
		var m map[string]int
		m["x"] = 1 // a nil map: a bug
		return 0
	}()
	if code != exitCrash {
		t.Errorf("exit %d after a panic; want %d", code, exitCrash)
	}
}

// A signal is heard from the start, and one that comes while a command is
// ending still makes the exit say it was interrupted.
func TestSignalsAtTheEdges(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if code := run(ctx, []string{"faultline", "version"}); code != exitBrokenRun {
		t.Errorf("a command that ended after a signal: exit %d, want %d", code, exitBrokenRun)
	}
	// Early: SIGINT as soon as the dry run says anything (it is reading the
	// experiment and building the world), long before any handler of the
	// run itself would have been installed before.
	cmd := exec.Command(binary, "run", "--dry-run", "dynamodb-empty-dns")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	first := make([]byte, 1)
	out.Read(first)
	cmd.Process.Signal(os.Interrupt)
	go io.Copy(io.Discard, out)
	err = cmd.Wait()
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		t.Fatalf("killed by the signal itself (%v): it was not handled", err)
	}
	if code := cmd.ProcessState.ExitCode(); code != exitBrokenRun && code != exitPass {
		t.Errorf("an early SIGINT: exit %d; want %d (interrupted)", code, exitBrokenRun)
	}
}
