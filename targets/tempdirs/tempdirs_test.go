package tempdirs

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// The helper process: run as this test binary with envHelper set, it makes
// a directory of each kind named in envHelper under envParent, prints their
// paths, and then waits on standard input (ending when it closes) or exits
// at once without removing them ("exit").
const (
	envHelper = "TEMPDIRS_HELPER"
	envParent = "TEMPDIRS_PARENT"
)

func TestMain(m *testing.M) {
	if kinds := os.Getenv(envHelper); kinds != "" {
		for _, k := range strings.Split(kinds, ",") {
			if k == "exit" {
				os.Exit(0)
			}
			dir, err := Make(os.Getenv(envParent), k)
			if err != nil {
				fmt.Println("error", err)
				os.Exit(1)
			}
			fmt.Println(dir)
		}
		fmt.Println("ready")
		bufio.NewReader(os.Stdin).ReadString('\n')
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// helper starts the helper process making dirs of kinds under parent and
// returns it with the paths it made.
func helper(t *testing.T, parent string, kinds ...string) (*exec.Cmd, []string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envHelper+"="+strings.Join(kinds, ","), envParent+"="+parent)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	var dirs []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if line == "ready" {
			return cmd, dirs
		}
		if strings.HasPrefix(line, "error") {
			t.Fatal(line)
		}
		dirs = append(dirs, line)
	}
	if len(kinds) > 0 && kinds[len(kinds)-1] == "exit" {
		cmd.Wait()
		return cmd, dirs
	}
	t.Fatalf("the helper ended before it was ready (made %v)", dirs)
	return nil, nil
}

func scan(t *testing.T, root string) map[string]Dir {
	t.Helper()
	ds, err := Scan(root, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]Dir{}
	for _, d := range ds {
		m[d.Path] = d
	}
	return m
}

// A directory is marked with the process that made it, and is kept while
// that process runs; once it is killed, the directory is stale, and says
// why.
func TestKilledOwnerIsStaleLiveOwnerIsKept(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	dead, deadDirs := helper(t, root, "sandbox", "run")
	live, liveDirs := helper(t, root, "run")
	for _, d := range append(deadDirs, liveDirs...) {
		if !regexp.MustCompile(`^faultline-(sandbox|run)-[0-9]+$`).MatchString(filepath.Base(d)) || filepath.Dir(d) != root {
			t.Errorf("made %s; want faultline-KIND-NNN in %s", d, root)
		}
		o, err := readMarker(d)
		if err != nil {
			t.Fatal(err)
		}
		if o.PID != dead.Process.Pid && o.PID != live.Process.Pid || o.Start == 0 || o.Boot == "" || o.PIDNS == "" || o.Parent != os.Getpid() || o.Cmd == "" {
			t.Errorf("%s: marker %+v; want the helper's pid, start time, boot, pid namespace, this process as parent, its command", d, o)
		}
	}
	for _, d := range append(deadDirs, liveDirs...) {
		if got := scan(t, root)[d]; got.Stale || !strings.Contains(got.Why, "is running") {
			t.Errorf("before the kill: %s: %+v; want kept, its owner running", d, got)
		}
	}
	dead.Process.Kill()
	dead.Wait()
	found := scan(t, root)
	for _, d := range deadDirs {
		if got := found[d]; !got.Stale || !strings.Contains(got.Why, fmt.Sprintf("pid %d", dead.Process.Pid)) || !strings.Contains(got.Why, "is gone") {
			t.Errorf("after the kill: %s: %+v; want stale, its owner gone", d, got)
		}
		if err := Remove(found[d], time.Now()); err != nil {
			t.Error(err)
		}
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s: still there after Remove (%v)", d, err)
		}
	}
	for _, d := range liveDirs {
		if got := found[d]; got.Stale {
			t.Errorf("a live run's directory is stale: %+v", got)
		}
		if err := Remove(found[d], time.Now()); err == nil || !strings.Contains(err.Error(), "kept") {
			t.Errorf("Remove of a live run's directory: %v; want it refused", err)
		}
		if _, err := os.Stat(filepath.Join(d, Marker)); err != nil {
			t.Errorf("a live run's directory was touched: %v", err)
		}
	}
	if live.ProcessState != nil {
		t.Error("the live helper ended during the test")
	}
}

// A pid that now belongs to another process (the start time differs), a
// zombie and a machine since rebooted: the owner is gone. An owner in
// another pid namespace cannot be judged: kept.
func TestReusedPidZombieAndRebootAreGone(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("start times and zombies are read from /proc")
	}
	root := t.TempDir()
	self := Self()

	reused := filepath.Join(root, "faultline-run-1")
	os.Mkdir(reused, 0o700)
	o := self
	o.Start = self.Start + 1
	if err := writeMarker(reused, o); err != nil {
		t.Fatal(err)
	}

	rebooted := filepath.Join(root, "faultline-run-2")
	os.Mkdir(rebooted, 0o700)
	o = self
	o.Boot = "not-this-boot"
	writeMarker(rebooted, o)

	zombie := exec.Command("sh", "-c", "exit 0")
	if err := zombie.Start(); err != nil {
		t.Fatal(err)
	}
	defer zombie.Wait()
	zdir := filepath.Join(root, "faultline-run-3")
	os.Mkdir(zdir, 0o700)
	var zstart uint64
	deadline := time.Now().Add(60 * time.Second)
	for {
		start, z, err := procStart(zombie.Process.Pid)
		if err != nil {
			t.Fatal(err)
		}
		if z {
			zstart = start
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the child did not exit within 60 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	writeMarker(zdir, Owner{PID: zombie.Process.Pid, Start: zstart, Boot: self.Boot, Cmd: "sh -c exit 0"})

	mine := filepath.Join(root, "faultline-run-4")
	os.Mkdir(mine, 0o700)
	writeMarker(mine, self)

	// A dead pid, but in another pid namespace (a container sharing
	// /tmp): pids there say nothing here, so it is kept.
	elsewhere := filepath.Join(root, "faultline-run-5")
	os.Mkdir(elsewhere, 0o700)
	o = self
	o.PID, o.PIDNS = 1<<30, "pid:[1]"
	writeMarker(elsewhere, o)

	found := scan(t, root)
	for path, why := range map[string]string{reused: "now belongs to another process", rebooted: "before the machine last booted", zdir: "zombie"} {
		if d := found[path]; !d.Stale || !strings.Contains(d.Why, why) {
			t.Errorf("%s: %+v; want stale: %s", filepath.Base(path), d, why)
		}
	}
	if d := found[mine]; d.Stale {
		t.Errorf("this process's own directory is stale: %+v", d)
	}
	if d := found[elsewhere]; d.Stale || !strings.Contains(d.Why, "another pid namespace (pid:[1]; this is pid:[") {
		t.Errorf("a directory from another pid namespace: %+v; want kept, and why", d)
	}
}

// A directory without a marker is left alone for an hour after it was last
// modified, then it is stale; an unreadable marker counts as none. Names
// that are not faultline's temporary directories, links and files are not
// looked at.
func TestUnmarkedDirectoriesAndOtherNames(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	now := time.Now()
	mk := func(name string, age time.Duration, marker string) string {
		p := filepath.Join(root, name)
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
		if marker != "" {
			os.WriteFile(filepath.Join(p, Marker), []byte(marker), 0o600)
		}
		if err := os.Chtimes(p, now.Add(-age), now.Add(-age)); err != nil {
			t.Fatal(err)
		}
		return p
	}
	old := mk("faultline-sandbox-11", 2*time.Hour, "")
	legacy := mk("faultline-cli2259632498", 3*time.Hour, "")
	fresh := mk("faultline-sandbox-12", 10*time.Minute, "")
	garbled := mk("faultline-run-13", 2*time.Hour, "pid many\n")
	for _, name := range []string{"faultline-notes", "faultline-run-abc", "faultline-unknown-14", "faultline-run-", "other-run-15"} {
		mk(name, 5*time.Hour, "")
	}
	os.WriteFile(filepath.Join(root, "faultline-run-16"), nil, 0o600)
	os.Symlink(old, filepath.Join(root, "faultline-run-17"))

	found := scan(t, root)
	want := map[string]string{
		old:     "no owner marker, and unmodified for 2h (more than 1h)",
		legacy:  "no owner marker, and unmodified for 3h",
		garbled: "an unreadable owner marker",
	}
	for path, why := range want {
		if d := found[path]; !d.Stale || !strings.Contains(d.Why, why) {
			t.Errorf("%s: %+v; want stale: %s", filepath.Base(path), d, why)
		}
	}
	if d, ok := found[fresh]; !ok || d.Stale || !strings.Contains(d.Why, "less than 1h") {
		t.Errorf("a fresh unmarked directory: %+v; want kept, and why", d)
	}
	if len(found) != 4 {
		t.Errorf("Scan found %d directories; want the 4 of faultline's kinds: %v", len(found), found)
	}
	// Marked between the scan and the removal: kept after all.
	writeMarker(old, Self())
	if err := Remove(found[old], now); err == nil {
		t.Error("a directory marked since the scan by a live process was removed")
	}
	if err := Remove(found[legacy], now); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(legacy); !os.IsNotExist(err) {
		t.Errorf("%s not removed: %v", legacy, err)
	}
}

// A parent removes what its child left when it ended, and only that.
func TestRemoveChildren(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	_, left := helper(t, root, "sandbox", "run", "exit")
	if len(left) != 2 {
		t.Fatalf("the helper made %v", left)
	}
	live, kept := helper(t, root, "run")
	// A dead process's directory that was not this process's child.
	other := filepath.Join(root, "faultline-run-5")
	os.Mkdir(other, 0o700)
	writeMarker(other, Owner{PID: 1 << 30, Parent: 1 << 30, Cmd: "someone else"})

	removed, err := RemoveChildren(root)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, d := range removed {
		paths = append(paths, d.Path)
	}
	slices.Sort(paths)
	slices.Sort(left)
	if strings.Join(paths, " ") != strings.Join(left, " ") {
		t.Errorf("removed %v; want exactly what the ended child left: %v", paths, left)
	}
	for _, p := range append(kept, other) {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: %v; want it kept", p, err)
		}
	}
	if live.ProcessState != nil {
		t.Error("the live helper ended during the test")
	}
}

func TestRound(t *testing.T) {
	for d, want := range map[time.Duration]string{time.Hour: "1h", 2*time.Hour + 90*time.Second: "2h1m30s", 10 * time.Minute: "10m",
		3*time.Hour + 20*time.Minute: "3h20m", 59*time.Second + 900*time.Millisecond: "59s", 0: "0s"} {
		if got := Round(d); got != want {
			t.Errorf("Round(%s) = %q; want %q", d, got, want)
		}
	}
}

func TestMakeRefusesAnUnknownKind(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	if _, err := Make(root, "notes"); err == nil || !strings.Contains(err.Error(), `unknown kind "notes"`) {
		t.Errorf("Make(notes): %v; want an error naming the kind", err)
	}
	if left, _ := os.ReadDir(root); len(left) != 0 {
		t.Errorf("Make of an unknown kind left %v", left)
	}
}

// faultline's temporary directories are made here and nowhere else: no Go
// file outside this package calls os.MkdirTemp with a faultline- pattern
// (a directory cleanup could not judge).
func TestEveryFaultlineTempDirIsMadeHere(t *testing.T) {
	t.Parallel()
	root := filepath.Join("..", "..")
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatal("the module root is not two levels up:", err)
	}
	direct := regexp.MustCompile(`(os\.MkdirTemp|os\.CreateTemp)\([^)]*"faultline-`)
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || filepath.Base(filepath.Dir(path)) == "tempdirs" {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		checked++
		for i, line := range strings.Split(string(src), "\n") {
			if direct.MatchString(line) {
				t.Errorf("%s:%d: %s; make it with tempdirs.Make so that faultline cleanup can tell whose it is", path, i+1, strings.TrimSpace(line))
			}
		}
		return nil
	})
	if err != nil || checked < 50 {
		t.Fatalf("walked %d Go files: %v", checked, err)
	}
}
