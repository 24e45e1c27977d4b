package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/targets/sandbox"
	"github.com/faultline-dev/faultline/targets/tempdirs"
)

// sandboxedExp writes an experiment whose client is a command, so that
// `faultline run` enters the sandbox, lasting duration; tag is in the
// command's arguments, to find its processes.
func sandboxedExp(t *testing.T, duration, tag string) string {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "app.sh"), []byte(`while :; do
  printf '{"time":%s,"operation":"GetItem","region":"us-east-1","ok":true}\n' "$(date +%s.%N)"
  sleep 0.1
done
`), 0o644)
	exp := filepath.Join(dir, "exp.yaml")
	os.WriteFile(exp, []byte(`name: sandbox-tempdirs
topology:
  regions: [{name: us-east-1}, {name: us-west-2}]
clients:
  - name: app
    command: [sh, app.sh, `+tag+`]
schedule:
  duration: `+duration+`
`), 0o644)
	return exp
}

// startRun starts `faultline run` of exp with TMPDIR=tmp, its output
// collected in the returned buffer (read it once the process has exited).
func startRun(t *testing.T, tmp, exp string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(binary, "run", "--quiet", "--out", filepath.Join(t.TempDir(), "out"), exp)
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd, &out
}

// dirsOf waits until the sandboxed child of the faultline process parent
// has made its two temporary directories in tmp (the sandbox's files, the
// run's), and returns them.
func dirsOf(t *testing.T, tmp string, parent int) []tempdirs.Dir {
	t.Helper()
	var dirs []tempdirs.Dir
	eventually(t, 90*time.Second, fmt.Sprintf("the temporary directories of pid %d's sandboxed child in %s", parent, tmp), func() bool {
		all, err := tempdirs.Scan(tmp, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		dirs = nil
		kinds := map[string]bool{}
		for _, d := range all {
			if d.Owner != nil && d.Owner.Parent == parent {
				dirs = append(dirs, d)
				kinds[strings.TrimRight(filepath.Base(d.Path), "0123456789")] = true
			}
		}
		return kinds["faultline-sandbox-"] && kinds["faultline-run-"]
	})
	return dirs
}

// leftIn lists what is in tmp.
func leftIn(tmp string) []string {
	var names []string
	entries, _ := os.ReadDir(tmp)
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// exitOf is how a finished command ended: its exit code, or -1.
func exitOf(err error) int {
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// cleanupWithoutDocker runs `faultline cleanup ARGS` with TMPDIR=tmp where
// no Docker daemon can be found (a mount namespace with empty /run and
// /var/run, a HOME of its own, as in TestContainerBackendWithoutDocker):
// the test must not touch the containers of anyone else's runs on this
// machine, and cleanup must do its part without Docker.
func cleanupWithoutDocker(t *testing.T, tmp string, args ...string) (int, string) {
	t.Helper()
	script := `mount -t tmpfs none /run && { [ -L /var/run ] || mount -t tmpfs none /var/run; } && exec "$@"`
	cmd := exec.Command("unshare", append([]string{"--mount", "--propagation", "private", "sh", "-c", script, "sh",
		binary, "cleanup"}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "DOCKER_HOST=unix:///nonexistent/docker.sock", "TMPDIR=" + tmp}
	out, err := cmd.CombinedOutput()
	if code := exitOf(err); code >= 0 {
		return code, string(out)
	}
	t.Fatalf("faultline cleanup %v: %v\n%s", args, err, out)
	return -1, ""
}

func requireSandboxAndRoot(t *testing.T) {
	t.Helper()
	if err := sandbox.Check(); err != nil {
		t.Skip(err)
	}
	if os.Geteuid() != 0 {
		t.Skip("hiding Docker from faultline cleanup takes a mount namespace: run as root")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("no unshare(1)")
	}
}

// A sandboxed `faultline run` SIGKILLed (its sandboxed child killed with
// it, as the kernel does) cannot remove its temporary directories; a live
// `faultline up --sandbox` has its own in the same TMPDIR. `faultline
// cleanup --dry-run` lists the killed run's, says why, and removes nothing;
// `faultline cleanup` removes them, and keeps the live world's, which go
// when it goes down. Docker is not there: cleanup says it skipped it.
func TestSandboxCleanupRemovesAKilledRunsDirectoriesNotALiveOnes(t *testing.T) {
	requireSandboxAndRoot(t)
	t.Parallel()
	tmp := t.TempDir()
	live := startUpEnv(t, []string{"TMPDIR=" + tmp}, "--sandbox")
	liveDirs := dirsOf(t, tmp, live.cmd.Process.Pid)

	tag := fmt.Sprintf("faultline-killed-%d", time.Now().UnixNano())
	killed, killedOut := startRun(t, tmp, sandboxedExp(t, "120s", tag))
	killedDirs := dirsOf(t, tmp, killed.Process.Pid)
	killed.Process.Kill()
	killed.Wait()
	eventually(t, 60*time.Second, "the killed run's sandboxed child to be gone", func() bool {
		for _, d := range killedDirs {
			if alive, _ := d.Owner.Alive(); alive {
				return false
			}
		}
		return true
	})
	for _, d := range killedDirs {
		if _, err := os.Stat(d.Path); err != nil {
			t.Fatalf("the killed run's %s: %v (a SIGKILLed run cannot remove it: the test proves nothing)\n%s", d.Path, err, killedOut)
		}
	}

	check := func(out, verb string, removed bool) {
		t.Helper()
		for _, d := range killedDirs {
			want := fmt.Sprintf("%s %s: its owner, pid %d (", verb, d.Path, d.Owner.PID)
			if !strings.Contains(out, want) || !strings.Contains(out, "is gone: ") {
				t.Errorf("the output does not say %q ... is gone:\n%s", want, out)
			}
			if _, err := os.Stat(d.Path); removed != os.IsNotExist(err) {
				t.Errorf("%s: %v after %s", d.Path, err, verb)
			}
		}
		for _, d := range liveDirs {
			want := fmt.Sprintf("kept %s: its owner, pid %d (", d.Path, d.Owner.PID)
			if !strings.Contains(out, want) || !strings.Contains(out, "is running") {
				t.Errorf("the output does not say %q ... is running:\n%s", want, out)
			}
			if _, err := os.Stat(filepath.Join(d.Path, tempdirs.Marker)); err != nil {
				t.Errorf("the live world's %s: %v", d.Path, err)
			}
		}
		if !strings.Contains(out, "Docker: skipped: no Docker daemon answers") {
			t.Errorf("the output does not say Docker was skipped, and why:\n%s", out)
		}
	}
	code, out := cleanupWithoutDocker(t, tmp, "--dry-run")
	t.Logf("faultline cleanup --dry-run:\n%s", out)
	if code != 0 {
		t.Errorf("cleanup --dry-run: exit %d\n%s", code, out)
	}
	check(out, "would remove", false)
	code, out = cleanupWithoutDocker(t, tmp)
	if code != 0 {
		t.Errorf("cleanup: exit %d\n%s", code, out)
	}
	check(out, "removed", true)
	code, out = cleanupWithoutDocker(t, tmp)
	if code != 0 || !strings.Contains(out, "no temporary directory of a killed run is left in "+tmp) {
		t.Errorf("cleanup again: exit %d; want 0 and nothing to remove\n%s", code, out)
	}
	eventually(t, 30*time.Second, "the killed run's application to be gone", func() bool {
		ps, _ := exec.Command("pgrep", "-f", tag).Output()
		return len(ps) == 0
	})

	// The live world still answers, and going down it leaves nothing.
	if code, out := live.verb("status"); code != 0 {
		t.Errorf("status of the live world after cleanup: %d %s", code, out)
	}
	if code, out := live.verb("down"); code != 0 {
		t.Fatalf("down: %d %s", code, out)
	}
	if code := live.wait(90 * time.Second); code != 0 {
		t.Errorf("faultline up exited %d", code)
	}
	if left := leftIn(tmp); len(left) > 0 {
		t.Errorf("faultline up, gone down, left %v in its TMPDIR", left)
	}
}

// Every end of a sandboxed run leaves nothing in TMPDIR: the normal end, a
// run that fails (an application never ready), SIGTERM or SIGHUP (a closed
// terminal) in the middle, and
// its sandboxed child killed (the parent removes what the child left, and
// says so). SIGINT: TestSandboxSIGINT.
func TestSandboxedRunsLeaveNothingInTMPDIR(t *testing.T) {
	if err := sandbox.Check(); err != nil {
		t.Skip(err)
	}
	t.Parallel()
	check := func(t *testing.T, tmp string) {
		t.Helper()
		if left := leftIn(tmp); len(left) > 0 {
			t.Errorf("the run left %v in its TMPDIR", left)
		}
	}
	t.Run("normal end", func(t *testing.T) {
		tmp := t.TempDir()
		cmd, out := startRun(t, tmp, sandboxedExp(t, "2s", "normal-end"))
		if err := cmd.Wait(); err != nil {
			t.Fatalf("faultline run: %v\n%s", err, out)
		}
		check(t, tmp)
	})
	t.Run("failed run", func(t *testing.T) {
		tmp := t.TempDir()
		exp := writeFile(t, "exp.yaml", `name: never-ready
topology:
  regions: [{name: us-east-1}, {name: us-west-2}]
clients:
  - name: quiet
    command: [sh, -c, 'exec sleep 60']
schedule:
  duration: 5s
  ready_timeout: 2s
`)
		cmd, out := startRun(t, tmp, exp)
		if code := exitOf(cmd.Wait()); code != 3 || !strings.Contains(out.String(), "was not ready within 2s") {
			t.Fatalf("exit %d; want 3, the app not ready\n%s", code, out)
		}
		check(t, tmp)
	})
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			tmp := t.TempDir()
			cmd, out := startRun(t, tmp, sandboxedExp(t, "120s", "signal"))
			dirsOf(t, tmp, cmd.Process.Pid)
			cmd.Process.Signal(sig)
			if code := exitOf(cmd.Wait()); code != 3 {
				t.Errorf("exit %d after %v; want 3 (interrupted)\n%s", code, sig, out)
			}
			check(t, tmp)
		})
	}
	t.Run("sandboxed child killed", func(t *testing.T) {
		tmp := t.TempDir()
		cmd, out := startRun(t, tmp, sandboxedExp(t, "120s", "child-killed"))
		dirs := dirsOf(t, tmp, cmd.Process.Pid)
		if err := syscall.Kill(dirs[0].Owner.PID, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		if code := exitOf(cmd.Wait()); code != 128+int(syscall.SIGKILL) {
			t.Errorf("exit %d after the sandboxed child was killed; want %d\n%s", code, 128+int(syscall.SIGKILL), out)
		}
		for _, d := range dirs {
			if want := "faultline: removed " + d.Path + ", which the sandboxed run left"; !strings.Contains(out.String(), want) {
				t.Errorf("the output does not say %q:\n%s", want, out)
			}
		}
		check(t, tmp)
	})
}

// A directory without an owner file (an older faultline's) is removed once
// an hour old, and cleanup says why; with --run, cleanup leaves directories
// alone (they carry no run id), and without Docker it fails, since it could
// not do what --run asked.
func TestCleanupUnmarkedDirectoriesAndRun(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("hiding Docker from faultline cleanup takes a mount namespace: run as root")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("no unshare(1)")
	}
	t.Parallel()
	tmp := t.TempDir()
	old, fresh := filepath.Join(tmp, "faultline-sandbox-1008236878"), filepath.Join(tmp, "faultline-run-42")
	for _, d := range []string{old, fresh} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(old, "resolv.conf"), []byte("nameserver 127.0.99.53\n"), 0o644)
	then := time.Now().Add(-3 * time.Hour)
	if err := os.Chtimes(old, then, then); err != nil {
		t.Fatal(err)
	}
	mine := filepath.Join(tmp, "notes")
	os.Mkdir(mine, 0o700)

	code, out := cleanupWithoutDocker(t, tmp, "--run", "some-run")
	if code != 3 || !strings.Contains(out, "temporary directories: left alone") || !strings.Contains(out, "no Docker daemon answers") {
		t.Errorf("cleanup --run without Docker: exit %d; want 3, the directories left alone, and why it failed\n%s", code, out)
	}
	if _, err := os.Stat(old); err != nil {
		t.Errorf("cleanup --run removed a directory: %v", err)
	}
	code, out = cleanupWithoutDocker(t, tmp)
	if code != 0 || !strings.Contains(out, "removed "+old+": no owner marker, and unmodified for 3h") ||
		!regexp.MustCompile(`kept `+regexp.QuoteMeta(fresh)+`: no owner marker, but modified \d+s ago \(less than 1h`).MatchString(out) {
		t.Errorf("cleanup: exit %d; want 0, the old unmarked directory removed and the fresh one kept, each with why\n%s", code, out)
	}
	for path, want := range map[string]bool{old: false, fresh: true, mine: true} {
		if _, err := os.Stat(path); (err == nil) != want {
			t.Errorf("%s: %v; want it there: %v", path, err, want)
		}
	}
}
