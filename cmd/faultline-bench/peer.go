package main

import (
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"time"

	"github.com/faultline-dev/faultline/internal/tailbuf"
)

// A peer is a third-party program a benchmark measures beside ours. A ratio
// is only worth its peer's figure, so a peer must start every time: on a
// port it can really bind (UDP and TCP alike, for DNS servers), with a
// readiness check that has a bound, tried again on a fresh port when it
// could not start, and with its own words shown when it never does.

// peerAttempts is how many times a peer is started on a fresh port before
// the benchmark gives up on it.
const peerAttempts = 3

// peerSpec says how to run a peer on a port and how to know it serves.
type peerSpec struct {
	name  string
	cmd   func(port int) (*exec.Cmd, error)
	ready func(port int) error // nil once the peer answers
	// within bounds the wait for ready (a peer loading a large zone on a
	// busy machine needs longer than one that only listens).
	within time.Duration
}

// runningPeer is a started peer; stop ends it.
type runningPeer struct {
	port int
	cmd  *exec.Cmd
	out  *tailbuf.Buffer
	done chan struct{}
}

func (p *runningPeer) stop() {
	p.cmd.Process.Kill()
	<-p.done
}

// startPeer starts spec on a free port and waits until it is ready.
func startPeer(spec peerSpec) (*runningPeer, error) {
	var errs []error
	for attempt := 1; attempt <= peerAttempts; attempt++ {
		p, err := startPeerOnce(spec)
		if err == nil {
			return p, nil
		}
		errs = append(errs, fmt.Errorf("attempt %d: %w", attempt, err))
	}
	return nil, fmt.Errorf("%s did not start in %d attempts: %w", spec.name, peerAttempts, errors.Join(errs...))
}

func startPeerOnce(spec peerSpec) (*runningPeer, error) {
	port, err := freeDualPort()
	if err != nil {
		return nil, err
	}
	cmd, err := spec.cmd(port)
	if err != nil {
		return nil, err
	}
	out := &tailbuf.Buffer{Max: 4096}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &runningPeer{port: port, cmd: cmd, out: out, done: make(chan struct{})}
	var exitErr error
	go func() { exitErr = cmd.Wait(); close(p.done) }()
	deadline := time.Now().Add(spec.within)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return nil, fmt.Errorf("exited (%v) on port %d: %s", exitErr, port, peerWords(out))
		default:
		}
		if last = spec.ready(port); last == nil {
			return p, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.stop()
	return nil, fmt.Errorf("not ready on port %d within %s (%v); its output: %s", port, spec.within, last, peerWords(out))
}

// freeDualPort is a loopback port free for both TCP and UDP at the time of
// asking (a DNS server binds both; a port free for UDP alone is not enough).
func freeDualPort() (int, error) {
	for i := 0; i < 50; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		ln.Close()
		if err != nil {
			continue
		}
		pc.Close()
		return port, nil
	}
	return 0, errors.New("no loopback port free for both TCP and UDP in 50 tries")
}

// peerWords is what a peer last wrote (its error, not its whole log).
func peerWords(out *tailbuf.Buffer) string {
	if s := strings.TrimSpace(out.String()); s != "" {
		return s
	}
	return "(no output)"
}
