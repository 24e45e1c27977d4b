package appclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/targets/sandbox"
)

// Command is a client application run as a process in faultline's sandbox.
type Command struct {
	Name string
	Argv []string
	Dir  string   // its working directory: the experiment file's
	Env  []string // see Env, plus the sandbox's (CA bundle, ...)
	// EventsPipe, when set, is a named pipe faultline creates and reads:
	// the application may write its JSON outcome lines there instead of to
	// standard output (a line written to both counts twice).
	EventsPipe string
	// ResolvConf, when set, is the /etc/resolv.conf the command sees (its
	// own DNS relay): it starts through sandbox.Launch.
	ResolvConf string
	// Tail, when set, keeps the application's last lines (logging and
	// rejected outcome lines) for the caller's messages too.
	Tail *Tail
	// Regions are the experiment's: an outcome line naming another is
	// rejected. None: any region is taken.
	Regions []string

	Record func(journal.Event)
	Since  func(time.Time) float64
	Output func(stream, line string) // every other line it prints; nil drops them
	// Exited, when set, sees how the process ended (its state, or the
	// error waiting for it), whoever ended it.
	Exited func(state *os.ProcessState, err error)
}

// Run starts the application and journals its outcomes until ctx ends;
// then it sends SIGTERM to its process group, SIGKILL after stopGrace, and
// reads the rest of its output. An application that exits before ctx ends
// is an error, with its last words.
func (c Command) Run(ctx context.Context) error {
	if len(c.Argv) == 0 {
		return fmt.Errorf("client %s: no command", c.Name)
	}
	o := newOutcomes(c.Name, c.Record, c.Since, c.Output, c.Tail, c.Regions)
	tail := o.tail
	var readers sync.WaitGroup
	if c.EventsPipe != "" {
		if err := unix.Mkfifo(c.EventsPipe, 0o600); err != nil {
			return fmt.Errorf("client %s: events pipe: %w", c.Name, err)
		}
		defer os.Remove(c.EventsPipe)
		// Read-write, so opening does not wait for a writer and the reader
		// sees no end of file between writers.
		pipe, err := os.OpenFile(c.EventsPipe, os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("client %s: events pipe: %w", c.Name, err)
		}
		readers.Add(1)
		go func() { defer readers.Done(); o.scan("events", pipe) }()
		defer func() { pipe.Close(); readers.Wait() }()
	}
	cmd := exec.Command(c.Argv[0], c.Argv[1:]...)
	cmd.Dir, cmd.Env = c.Dir, c.Env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if c.ResolvConf != "" {
		if err := sandbox.Launch(cmd, c.ResolvConf); err != nil {
			return fmt.Errorf("client %s: %w", c.Name, err)
		}
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("client %s: starting %q: %w", c.Name, c.Argv[0], err)
	}
	var streams sync.WaitGroup
	streams.Add(2)
	go func() { defer streams.Done(); o.scan("stdout", stdout) }()
	go func() { defer streams.Done(); o.scan("stderr", stderr) }()
	exited := make(chan error, 1)
	go func() {
		streams.Wait() // the pipes first: Wait closes them
		err := cmd.Wait()
		if c.Exited != nil {
			c.Exited(cmd.ProcessState, err)
		}
		exited <- err
	}()

	select {
	case err := <-exited:
		if ctx.Err() == nil {
			return fmt.Errorf("client %s: the application exited (%v) before the run ended; its last lines: %s", c.Name, exitText(err), tail)
		}
		return nil
	case <-ctx.Done():
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(stopGrace):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}
	return nil
}

func exitText(err error) string {
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ProcessState.String()
	}
	if err == nil {
		return "status 0"
	}
	return err.Error()
}

// Probe polls an application's health endpoint every Interval and journals
// each probe as a request of client Name (an "app.probe"), in region Region
// (the application's primary: a probe says whether the application serves,
// not where).
type Probe struct {
	Name, URL, Region string
	Interval          time.Duration
	// Timeout bounds one probe; 0 is DefaultProbeTimeout. It is not the
	// interval: on a busy machine a healthy application may take longer to
	// answer than the probes' pace.
	Timeout time.Duration
	Record  func(journal.Event)
	Now     func() float64
	// Starting, when set, sees the probes that fail before the first
	// success: the application is starting, so they are not journaled,
	// but a caller may say why it never got healthy.
	Starting func(journal.Event)
}

// DefaultProbeTimeout bounds a health probe unless the experiment says.
const DefaultProbeTimeout = time.Second

// Run probes until ctx ends, one probe at a time: a probe slower than the
// interval delays the next. Probes count from the first one that succeeds.
func (p Probe) Run(ctx context.Context) error {
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = DefaultProbeTimeout
	}
	client := &http.Client{Timeout: timeout, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	tick := time.NewTicker(p.Interval)
	defer tick.Stop()
	up := false // probes count from the first success: before it the application is starting
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		start := p.Now()
		resp, err := client.Get(p.URL)
		e := journal.Event{T: start, Type: journal.Request, Client: p.Name, Region: p.Region, Op: "health", LatencyMS: p.Now() - start}
		switch {
		case err != nil:
			e.OK, e.Error, e.Detail = journal.Bool(false), "unhealthy", err.Error()
		default:
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			ok := resp.StatusCode >= 200 && resp.StatusCode < 300
			e.OK = journal.Bool(ok)
			if !ok {
				e.Error, e.Detail = "unhealthy", resp.Status
			}
		}
		if ctx.Err() != nil && !e.Succeeded() {
			return nil // stopping: not the application's failure
		}
		if !up && !e.Succeeded() {
			if p.Starting != nil {
				p.Starting(e)
			}
			continue // still starting: not yet the application's failure
		}
		up = true
		p.Record(e)
	}
}
