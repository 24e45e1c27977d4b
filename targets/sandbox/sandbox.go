// Package sandbox runs faultline, and the applications it tests, in a
// private network and mount namespace: loopback up and nothing else, so the
// real endpoint names resolve through faultline's DNS server on port 53
// (/etc/resolv.conf is replaced inside), the NLB nodes own their addresses
// on ports 80 and 443, and nothing touches the host's network.
//
// A process enters it by running its own binary again (Reexec) in new
// namespaces: as root a network and a mount namespace; otherwise a user
// namespace too, where the kernel allows unprivileged ones. The child calls
// Prepare before anything else.
package sandbox

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// envInside marks the sandboxed child.
const envInside = "FAULTLINE_SANDBOX"

// Inside reports whether this process runs in the sandbox.
func Inside() bool { return os.Getenv(envInside) == "1" }

// ErrUnavailable wraps every reason a sandbox cannot be made here.
var ErrUnavailable = errors.New("no sandbox can be made here")

// options is what to do instead, for the error messages.
const options = "run as root, enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1 or user.max_user_namespaces>0; on Ubuntu also kernel.apparmor_restrict_unprivileged_userns=0), run the application as a container (clients[].image, see README \"Containers\"), or test a Go application with the library (experiments/testbed)"

// Check says whether a sandbox can be made, and if not, why and what the
// options are.
func Check() error { return check(runtime.GOOS, os.Geteuid(), userNSSwitches) }

// userNSSwitches are the kernel settings that forbid unprivileged user
// namespaces when they hold the value given.
var userNSSwitches = []struct{ file, bad, why string }{
	{"/proc/sys/kernel/unprivileged_userns_clone", "0", "unprivileged user namespaces are off (kernel.unprivileged_userns_clone=0)"},
	{"/proc/sys/user/max_user_namespaces", "0", "user namespaces are off (user.max_user_namespaces=0)"},
	{"/proc/sys/kernel/apparmor_restrict_unprivileged_userns", "1", "AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns=1)"},
}

func check(goos string, euid int, switches []struct{ file, bad, why string }) error {
	if goos != "linux" {
		return fmt.Errorf("%w: network namespaces are Linux's and this is %s; %s", ErrUnavailable, goos, options)
	}
	if euid == 0 {
		return nil
	}
	for _, c := range switches {
		if b, err := os.ReadFile(c.file); err == nil && strings.TrimSpace(string(b)) == c.bad {
			return fmt.Errorf("%w: not root, and %s; %s", ErrUnavailable, c.why, options)
		}
	}
	return nil
}

// Reexec runs this binary again with args inside new namespaces, with its
// standard streams, passing SIGINT, SIGTERM and SIGHUP on, and returns its
// exit status.
func Reexec(args []string) (int, error) { return ReexecFiles(args, nil) }

// ReexecFiles is Reexec with files passed on to the child as descriptors
// 3, 4, ...: a listener opened here stays in this network namespace, so
// the sandboxed child can serve on it to the host (faultline up's control
// API).
func ReexecFiles(args []string, files []*os.File) (int, error) {
	if err := Check(); err != nil {
		return 0, err
	}
	self, err := os.Executable()
	if err != nil {
		return 0, fmt.Errorf("sandbox: finding this binary: %w", err)
	}
	cmd := exec.Command(self, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.ExtraFiles = files
	cmd.Env = append(os.Environ(), envInside+"=1")
	attr := &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET | syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
	if os.Geteuid() != 0 {
		attr.Cloneflags |= syscall.CLONE_NEWUSER
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
		attr.GidMappingsEnableSetgroups = false
	}
	cmd.SysProcAttr = attr
	signals := make(chan os.Signal, 2)
	forward := []os.Signal{os.Interrupt, syscall.SIGTERM}
	if !signal.Ignored(syscall.SIGHUP) { // under nohup it stays ignored, here and in the child
		forward = append(forward, syscall.SIGHUP)
	}
	signal.Notify(signals, forward...)
	defer signal.Stop(signals)
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("%w: starting in new namespaces: %v; %s", ErrUnavailable, err, options)
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-signals:
				cmd.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()
	err = cmd.Wait()
	close(done)
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return exit.ExitCode(), nil
	}
	return 0, err
}

// Prepare readies the sandbox from inside: mounts private (nothing leaks to
// the host), loopback up, /etc/resolv.conf naming nameserver (port 53) and a
// clean /etc/hosts. dir receives the replacement files.
func Prepare(dir, nameserver string) error {
	if !Inside() {
		return errors.New("sandbox: Prepare outside the sandbox")
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("sandbox: making mounts private: %w", err)
	}
	if err := loopbackUp(); err != nil {
		return fmt.Errorf("sandbox: loopback: %w", err)
	}
	files := map[string]string{
		"/etc/resolv.conf": fmt.Sprintf("# faultline's sandbox: every name resolves through faultline's DNS server\nnameserver %s\noptions timeout:2 attempts:2\n", nameserver),
		"/etc/hosts":       "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
	}
	for target, text := range files {
		src := filepath.Join(dir, filepath.Base(target))
		if err := os.WriteFile(src, []byte(text), 0o644); err != nil {
			return fmt.Errorf("sandbox: %w", err)
		}
		if err := unix.Mount(src, target, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("sandbox: replacing %s: %w", target, err)
		}
	}
	return nil
}

// loopbackUp brings lo up; a new network namespace starts with it down.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP | unix.IFF_RUNNING)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}
