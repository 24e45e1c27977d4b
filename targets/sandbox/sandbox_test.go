package sandbox

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The sandboxed child of TestReexecMakesAPrivateNetwork: it checks, from
// inside, what the sandbox promises, and fails the test binary if not.
func TestSandboxChild(t *testing.T) {
	if !Inside() {
		t.Skip("runs only as the sandboxed child of TestReexecMakesAPrivateNetwork")
	}
	if err := Prepare(t.TempDir(), "127.0.99.53"); err != nil {
		t.Fatal(err)
	}
	resolv, err := os.ReadFile("/etc/resolv.conf")
	if err != nil || !strings.Contains(string(resolv), "nameserver 127.0.99.53") {
		t.Errorf("/etc/resolv.conf inside: %q, %v", resolv, err)
	}
	hosts, _ := os.ReadFile("/etc/hosts")
	if strings.Count(string(hosts), "\n") != 2 {
		t.Errorf("/etc/hosts inside: %q; want just localhost", hosts)
	}
	// Loopback is up: a node binds port 443 and port 53 and answers.
	for _, addr := range []string{"127.0.1.1:443", "127.0.99.53:53"} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("binding %s inside: %v", addr, err)
		}
		go func() {
			c, err := ln.Accept()
			if err == nil {
				c.Close()
			}
		}()
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			t.Errorf("dialing %s inside: %v", addr, err)
		} else {
			c.Close()
		}
		ln.Close()
	}
	checkLaunch(t)
	// The host's listener is not reachable: another network.
	if host := os.Getenv("SANDBOX_TEST_HOST_ADDR"); host != "" {
		if c, err := net.DialTimeout("tcp", host, 500*time.Millisecond); err == nil {
			c.Close()
			t.Errorf("the host's %s is reachable from inside", host)
		}
	}
}

// Reexec runs the child in new namespaces; the host's files and network are
// untouched by what it did.
func TestReexecMakesAPrivateNetwork(t *testing.T) {
	if Inside() {
		t.Skip("the parent's test")
	}
	if err := Check(); err != nil {
		t.Skip(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	before, _ := os.ReadFile("/etc/resolv.conf")
	t.Setenv("SANDBOX_TEST_HOST_ADDR", ln.Addr().String())
	code, err := Reexec([]string{"-test.run=^TestSandboxChild$", "-test.v"})
	if err != nil || code != 0 {
		t.Fatalf("the sandboxed child: exit %d, %v", code, err)
	}
	after, _ := os.ReadFile("/etc/resolv.conf")
	if string(before) != string(after) {
		t.Errorf("the host's /etc/resolv.conf changed: %q → %q", before, after)
	}
}

// Without root, a user namespace makes the sandbox (where the kernel allows
// it): the same child, as nobody.
func TestReexecUnprivileged(t *testing.T) {
	if Inside() || os.Geteuid() != 0 {
		t.Skip("needs root to become nobody")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("no setpriv(1)")
	}
	self, _ := os.Executable()
	dir, err := os.MkdirTemp("", "sandbox-test-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	os.Chown(dir, 65534, 65534) // nobody writes its temporary files here
	bin := filepath.Join(dir, "sandbox.test")
	data, err := os.ReadFile(self)
	if err != nil || os.WriteFile(bin, data, 0o755) != nil {
		t.Fatal("copying the test binary")
	}
	// As nobody, the parent test re-executes itself unprivileged.
	cmd := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", bin,
		"-test.run=^TestReexecMakesAPrivateNetwork$", "-test.v")
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "TMPDIR=" + dir}
	out, err := cmd.CombinedOutput()
	if strings.Contains(string(out), "SKIP") && strings.Contains(string(out), "no sandbox can be made") {
		t.Skipf("this kernel refuses unprivileged user namespaces: %s", out)
	}
	if err != nil || !strings.Contains(string(out), "--- PASS: TestReexecMakesAPrivateNetwork") {
		t.Fatalf("as nobody: %v\n%s", err, out)
	}
}

// Where no sandbox can be made, the error says why and what the options
// are: root, user namespaces, the container mode, the Go library.
func TestCheckSaysWhyAndWhatToDo(t *testing.T) {
	dir := t.TempDir()
	off := filepath.Join(dir, "max_user_namespaces")
	os.WriteFile(off, []byte("0\n"), 0o644)
	switches := []struct{ file, bad, why string }{{off, "0", "user namespaces are off (user.max_user_namespaces=0)"}}
	for _, c := range []struct {
		goos string
		euid int
		want string
	}{
		{"darwin", 501, "network namespaces are Linux's and this is darwin"},
		{"linux", 1000, "not root, and user namespaces are off"},
	} {
		err := check(c.goos, c.euid, switches)
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("check(%s, %d) = %v; want ErrUnavailable", c.goos, c.euid, err)
		}
		for _, want := range []string{c.want, "run as root", "clients[].image", "experiments/testbed"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%q does not say %q", err, want)
			}
		}
	}
	if err := check("linux", 0, switches); err != nil {
		t.Errorf("as root: %v", err)
	}
	if err := check("linux", 1000, nil); err != nil {
		t.Errorf("unprivileged with user namespaces allowed: %v", err)
	}
}

// checkLaunch, inside the sandbox: two commands launched at once each see
// the resolv.conf they were given, the sandbox's own stays, the launcher's
// variable does not reach them, and a command's process group (children
// included) stops as a whole.
func checkLaunch(t *testing.T) {
	dir := t.TempDir()
	before, _ := os.ReadFile("/etc/resolv.conf")
	var cmds []*exec.Cmd
	var outs []*strings.Builder
	for i := range 2 {
		resolv := filepath.Join(dir, fmt.Sprintf("resolv-%d.conf", i))
		os.WriteFile(resolv, []byte(fmt.Sprintf("nameserver 127.53.0.%d\n", i+1)), 0o644)
		cmd := exec.Command("sh", "-c", `sleep 0.3; cat /etc/resolv.conf; echo "launcher var: ${FAULTLINE_SANDBOX_RESOLV:-unset}"`)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if err := Launch(cmd, resolv); err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, outs = append(cmds, cmd), append(outs, &out)
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("launched command %d: %v: %s", i, err, outs[i])
		}
		want := fmt.Sprintf("nameserver 127.53.0.%d\nlauncher var: unset\n", i+1)
		if outs[i].String() != want {
			t.Errorf("launched command %d printed %q; want %q", i, outs[i], want)
		}
	}
	if after, _ := os.ReadFile("/etc/resolv.conf"); string(after) != string(before) {
		t.Errorf("the sandbox's /etc/resolv.conf changed: %q → %q", before, after)
	}
	// The process group is the command's: SIGTERM to it stops the shell and
	// its child.
	cmd := exec.Command("sh", "-c", "sleep 30 & sleep 30; wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := Launch(cmd, filepath.Join(dir, "resolv-0.conf")); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if pgid, err := syscall.Getpgid(cmd.Process.Pid); err != nil || pgid != cmd.Process.Pid {
		t.Errorf("process group %d, %v; want the command's own, %d", pgid, err, cmd.Process.Pid)
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the launched command's group did not stop on SIGTERM")
	}
	// Its children die with it (reaped by init: allow a moment).
	for deadline := time.Now().Add(5 * time.Second); syscall.Kill(-cmd.Process.Pid, 0) == nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Error("a process of the launched command's group outlived SIGTERM by 5 s")
			break
		}
	}
	// A command that cannot start says why, as its last words.
	bad := exec.Command(filepath.Join(dir, "no-such-program"))
	if err := Launch(bad, filepath.Join(dir, "resolv-0.conf")); err != nil {
		t.Fatal(err)
	}
	out, err := bad.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no-such-program") {
		t.Errorf("a missing program: %v, %q; want it named", err, out)
	}
}
