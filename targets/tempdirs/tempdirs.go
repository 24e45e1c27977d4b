// Package tempdirs makes faultline's temporary directories, each marked with
// the process that owns it, and finds those whose owner is gone: what a
// killed run left behind, which `faultline cleanup` removes, never a live
// run's.
//
// A directory is named faultline-KIND-NNN (os.MkdirTemp's random digits) for
// one of the Kinds, and holds a small text file, owner, naming the process
// that made it: its pid, its start time (/proc/PID/stat field 22, so a
// reused pid is not mistaken for the owner), the boot it ran in, its parent
// and its command line. The owner is gone when no process has that pid and
// start time in this boot (a zombie counts as gone: it runs no more code).
// A directory made in another pid namespace (a container sharing /tmp) is
// kept: its pid means nothing here.
//
// A directory without a readable marker (from an older faultline, or one
// caught between its creation and its marker) is stale once it has not been
// modified for UnmarkedAge.
package tempdirs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Kinds are the temporary directories faultline makes, as faultline-KIND-NNN.
var Kinds = []string{
	"sandbox",       // a sandboxed run's /etc/hosts and /etc/resolv.conf (cmd/faultline)
	"run",           // a sandboxed run's files: its CA's certificate, each command's resolv.conf and events (experiments/runner)
	"ca",            // a CA's certificate (targets/tlsca), inside a run's directory unless made alone
	"soak",          // the soak benchmark (cmd/faultline-bench)
	"bench-dns",     // the DNS benchmark's peer (cmd/faultline-bench)
	"bench-harness", // the harness CPU benchmark's run (cmd/faultline-bench)
	"bench-fleet",   // the fleet benchmark's runs (cmd/faultline-bench)
	"haproxy",       // the NLB benchmark's peer (cmd/faultline-bench)
	"sdks",          // the SDK benchmark's applications (cmd/faultline-bench)
	"image",         // a container test's image build context (containertest)
	"cli",           // the CLI tests' binary (cmd/faultline tests)
	"resolver",      // a real resolver's configuration (targets/dnsexec)
}

// Marker is the owner's file in each directory.
const Marker = "owner"

// UnmarkedAge is how long a directory without a marker is left alone.
const UnmarkedAge = time.Hour

// names matches faultline's temporary directories: faultline-KIND-NNN, and
// faultline-KINDNNN as some were named before the kinds were listed here.
var names = regexp.MustCompile(`^faultline-(` + strings.Join(quoted(Kinds), "|") + `)-?[0-9]+$`)

func quoted(ss []string) []string {
	var out []string
	for _, s := range ss {
		out = append(out, regexp.QuoteMeta(s))
	}
	return out
}

// Make creates a directory faultline-KIND-NNN under parent ("" for
// os.TempDir(), which reads TMPDIR) and marks it as this process's. kind is
// one of Kinds.
func Make(parent, kind string) (string, error) {
	if !slices.Contains(Kinds, kind) {
		return "", fmt.Errorf("tempdirs: unknown kind %q (expected one of %v)", kind, Kinds)
	}
	dir, err := os.MkdirTemp(parent, "faultline-"+kind+"-")
	if err != nil {
		return "", err
	}
	if err := writeMarker(dir, Self()); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("tempdirs: marking %s: %w", dir, err)
	}
	return dir, nil
}

// Owner is the process that made a directory.
type Owner struct {
	PID    int
	Start  uint64 // clock ticks after boot (/proc/PID/stat field 22); 0 when unknown
	Boot   string // /proc/sys/kernel/random/boot_id; "" when unknown
	PIDNS  string // its pid namespace (/proc/self/ns/pid's link); "" when unknown
	Parent int    // its parent's pid
	PStart uint64 // its parent's start time
	Cmd    string // its command line, for people
}

// Self is this process.
func Self() Owner {
	o := Owner{PID: os.Getpid(), Parent: os.Getppid(), Boot: bootID(), PIDNS: pidNS()}
	o.Start, _, _ = procStart(o.PID)
	o.PStart, _, _ = procStart(o.Parent)
	cmd := strings.Join(os.Args, " ")
	cmd = strings.Map(func(r rune) rune {
		if r < ' ' {
			return ' '
		}
		return r
	}, cmd)
	if r := []rune(cmd); len(r) > 200 {
		cmd = string(r[:200]) + "…"
	}
	o.Cmd = cmd
	return o
}

// Alive reports whether the owner still runs, and if not, why.
func (o Owner) Alive() (bool, string) {
	if o.Boot != "" {
		if b := bootID(); b != "" && b != o.Boot {
			return false, "it ran before the machine last booted"
		}
	}
	start, zombie, err := procStart(o.PID)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return false, "no process has its pid"
	case err != nil:
		// No /proc (not Linux): the pid is all there is.
		if e := syscall.Kill(o.PID, 0); e == nil || errors.Is(e, syscall.EPERM) {
			return true, ""
		}
		return false, "no process has its pid"
	case o.Start != 0 && start != o.Start:
		return false, "its pid now belongs to another process"
	case zombie:
		return false, "it has exited (a zombie)"
	}
	return true, ""
}

func (o Owner) String() string {
	if o.Cmd == "" {
		return "pid " + strconv.Itoa(o.PID)
	}
	return fmt.Sprintf("pid %d (%s)", o.PID, o.Cmd)
}

// procStart reads a process's start time and whether it is a zombie from
// /proc/PID/stat.
func procStart(pid int) (start uint64, zombie bool, err error) {
	if pid <= 0 {
		return 0, false, os.ErrNotExist
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false, err
	}
	// "PID (COMM) STATE PPID ...": COMM may hold spaces and parentheses,
	// so the fields are counted from the last ')'. STATE is field 3.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false, fmt.Errorf("/proc/%d/stat: no command", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 22-2 {
		return 0, false, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	start, err = strconv.ParseUint(f[22-3], 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("/proc/%d/stat: start time: %w", pid, err)
	}
	return start, f[0] == "Z" || f[0] == "X", nil
}

// pidNS names this process's pid namespace: pids are only comparable
// within one (a run in a container sharing /tmp has pids of its own).
func pidNS() string {
	ns, _ := os.Readlink("/proc/self/ns/pid")
	return ns
}

func bootID() string {
	b, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	return strings.TrimSpace(string(b))
}

// writeMarker writes the owner file: whole or not at all (a rename), so a
// sweep never reads half of one.
func writeMarker(dir string, o Owner) error {
	text := fmt.Sprintf("# this directory is faultline's: `faultline cleanup` removes it once its owner is gone\n"+
		"pid %d\nstart %d\nboot %s\npidns %s\nparent %d\nparent_start %d\ncmd %s\n", o.PID, o.Start, o.Boot, o.PIDNS, o.Parent, o.PStart, o.Cmd)
	tmp := filepath.Join(dir, "."+Marker+".tmp")
	if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, Marker))
}

// readMarker reads a directory's owner file.
func readMarker(dir string) (Owner, error) {
	b, err := os.ReadFile(filepath.Join(dir, Marker))
	if err != nil {
		return Owner{}, err
	}
	var o Owner
	seen := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		key, val, _ := strings.Cut(line, " ")
		var err error
		switch key {
		case "pid":
			o.PID, err = strconv.Atoi(val)
		case "start":
			o.Start, err = strconv.ParseUint(val, 10, 64)
		case "boot":
			o.Boot = val
		case "pidns":
			o.PIDNS = val
		case "parent":
			o.Parent, err = strconv.Atoi(val)
		case "parent_start":
			o.PStart, err = strconv.ParseUint(val, 10, 64)
		case "cmd":
			o.Cmd = val
		default:
			continue
		}
		if err != nil {
			return Owner{}, fmt.Errorf("%s: %s: %w", Marker, key, err)
		}
		seen[key] = true
	}
	if !seen["pid"] || o.PID <= 0 {
		return Owner{}, fmt.Errorf("%s: no pid", Marker)
	}
	return o, nil
}

// Round writes a duration to the second without zero units: 1h, 2h1m5s.
func Round(d time.Duration) string {
	s := d.Truncate(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Dir is one of faultline's temporary directories.
type Dir struct {
	Path  string
	Owner *Owner // nil: no marker could be read
	Stale bool   // its owner is gone (or it has no marker and is old): remove it
	Why   string // why it is stale, or why it is kept
}

// Scan finds faultline's temporary directories directly under root (""
// for os.TempDir()) and says of each whether it is stale and why. Only
// directories of this user are considered (every one's, for root).
func Scan(root string, now time.Time) ([]Dir, error) {
	if root == "" {
		root = os.TempDir()
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	var out []Dir
	for _, e := range entries {
		if !names.MatchString(e.Name()) || !e.IsDir() { // a symbolic link is not a directory here
			continue
		}
		path := filepath.Join(root, e.Name())
		info, err := e.Info()
		if err != nil {
			continue // gone meanwhile
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok && os.Geteuid() != 0 && int(st.Uid) != os.Geteuid() {
			continue // another user's: not ours to judge, nor to remove
		}
		out = append(out, judge(path, info.ModTime(), now))
	}
	return out, nil
}

func judge(path string, mod, now time.Time) Dir {
	d := Dir{Path: path}
	o, err := readMarker(path)
	if err != nil {
		age := now.Sub(mod)
		what := "no owner marker"
		if !errors.Is(err, os.ErrNotExist) {
			what = "an unreadable owner marker (" + err.Error() + ")"
		}
		if age >= UnmarkedAge {
			d.Stale, d.Why = true, fmt.Sprintf("%s, and unmodified for %s (more than %s)", what, Round(age), Round(UnmarkedAge))
		} else {
			d.Why = fmt.Sprintf("%s, but modified %s ago (less than %s: it may be a run's being made)", what, Round(age), Round(UnmarkedAge))
		}
		return d
	}
	d.Owner = &o
	if ns := pidNS(); o.PIDNS != "" && ns != "" && ns != o.PIDNS {
		d.Why = fmt.Sprintf("its owner, %s, ran in another pid namespace (%s; this is %s): whether it runs cannot be told from here (remove it by hand once it does not)", o, o.PIDNS, ns)
		return d
	}
	if alive, why := o.Alive(); alive {
		d.Why = fmt.Sprintf("its owner, %s, is running", o)
	} else {
		d.Stale, d.Why = true, fmt.Sprintf("its owner, %s, is gone: %s", o, why)
	}
	return d
}

// Remove deletes a stale directory, judging it once more first (a directory
// seen without a marker may have been given one since).
func Remove(d Dir, now time.Time) error {
	info, err := os.Lstat(d.Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !info.IsDir() {
		return fmt.Errorf("%s: no longer a directory", d.Path)
	}
	if again := judge(d.Path, info.ModTime(), now); !again.Stale {
		return fmt.Errorf("%s: kept after all: %s", d.Path, again.Why)
	}
	return os.RemoveAll(d.Path)
}

// RemoveChildren removes the directories under root ("" for os.TempDir())
// that this process's children made and left when they ended (a child that
// was killed, or that crashed, cannot remove its own), and returns them. A
// parent calls it once its child has exited.
func RemoveChildren(root string) ([]Dir, error) {
	self := Self()
	all, err := Scan(root, time.Now())
	var removed []Dir
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	for _, d := range all {
		if !d.Stale || d.Owner == nil || d.Owner.Parent != self.PID || (d.Owner.PStart != 0 && d.Owner.PStart != self.Start) {
			continue
		}
		if err := os.RemoveAll(d.Path); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, d)
	}
	return removed, errors.Join(errs...)
}
