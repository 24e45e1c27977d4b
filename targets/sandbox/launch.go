package sandbox

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// envResolv makes this binary the launcher of a command: the value is the
// resolv.conf the command sees.
const envResolv = "FAULTLINE_SANDBOX_RESOLV"

// The launcher runs before anything else the binary would do (main, or a
// test binary's tests), so it works from faultline and from `go test`
// binaries alike.
func init() {
	if resolv := os.Getenv(envResolv); resolv != "" {
		launch(resolv, os.Args)
	}
}

// Launch makes cmd (built by exec.Command, its Env, Dir and SysProcAttr
// set) start through the launcher: this binary again, in a mount namespace
// of its own, where resolvConf is bind-mounted on /etc/resolv.conf before
// the launcher replaces itself (execve) with the command. So commands that
// share the sandbox's mount namespace each resolve through a DNS server of
// their own. The process keeps its pid, so cmd's process group (Setpgid)
// and parent-death signal (Pdeathsig) are the command's.
func Launch(cmd *exec.Cmd, resolvConf string) error {
	if cmd.Err != nil {
		return cmd.Err
	}
	if cmd.Process != nil {
		return errors.New("sandbox: Launch after Start")
	}
	if !strings.HasPrefix(resolvConf, "/") {
		return fmt.Errorf("sandbox: resolv.conf %q: expected an absolute path", resolvConf)
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("sandbox: finding this binary: %w", err)
	}
	env := cmd.Env
	if env == nil {
		env = os.Environ()
	}
	cmd.Env = append(withoutVar(env, envResolv), envResolv+"="+resolvConf)
	cmd.Args = append([]string{"faultline-launch", cmd.Path}, cmd.Args...)
	cmd.Path = self
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWNS
	return nil
}

// launch is the launcher: args are [launcher, path, argv...]. It never
// returns; a failure exits 127 with the reason on standard error (the
// caller reads it as the command's last words).
func launch(resolv string, args []string) {
	fail := func(err error) {
		fmt.Fprintf(os.Stderr, "faultline's launcher: %v\n", err)
		os.Exit(127)
	}
	if len(args) < 3 {
		fail(errors.New("no command to run"))
	}
	// Mounts private first: the bind mount stays in this namespace.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		fail(fmt.Errorf("making mounts private: %w", err))
	}
	if err := unix.Mount(resolv, "/etc/resolv.conf", "", unix.MS_BIND, ""); err != nil {
		fail(fmt.Errorf("mounting %s on /etc/resolv.conf: %w", resolv, err))
	}
	err := syscall.Exec(args[1], args[2:], withoutVar(os.Environ(), envResolv))
	fail(fmt.Errorf("starting %s: %w", args[1], err))
}

func withoutVar(env []string, name string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}
