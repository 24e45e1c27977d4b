// Package dnsexec runs a real caching resolver — unbound or dnsmasq from
// Debian, CoreDNS with its cache plugin built from its Go module — as a
// child process on loopback, configured to send the queries for one zone to
// faultline's authoritative server. Each instance listens on an address and
// a free port of its own and sends its upstream queries from a source
// address of its own, so the authoritative server's journal tells which
// instance asked. The process runs in a process group of its own, which
// Close kills; nothing is left running whatever ends the run.
package dnsexec

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/miekg/dns"

	"github.com/faultline-dev/faultline/internal/tailbuf"
	"github.com/faultline-dev/faultline/targets/dnsrelay"
	"github.com/faultline-dev/faultline/targets/netbind"
	"github.com/faultline-dev/faultline/targets/tempdirs"
)

// CoreDNSVersion is the CoreDNS release faultline builds (as `make
// bench-deps` and `make resolver-deps` do).
const CoreDNSVersion = "v1.15.0"

// Kind is one real resolver faultline can run.
type Kind struct {
	Name    string
	Binary  string // the executable's name
	Install string // how to get it, for the error when it is missing
	Doc     string
}

// Kinds are the resolvers `topology.resolver.exec` accepts.
var Kinds = map[string]Kind{
	"unbound": {Name: "unbound", Binary: "unbound", Install: "apt-get install -y unbound (Debian package unbound)",
		Doc: "unbound with the zone as a stub-zone pointing at faultline's server (iterator only, no DNSSEC)"},
	"dnsmasq": {Name: "dnsmasq", Binary: "dnsmasq", Install: "apt-get install -y dnsmasq-base (Debian package dnsmasq-base, or dnsmasq)",
		Doc: "dnsmasq forwarding the zone to faultline's server (its cache, defaults)"},
	"coredns": {Name: "coredns", Binary: "coredns",
		Install: "make resolver-deps (GOBIN=~/.cache/faultline/coredns-" + CoreDNSVersion + " go install github.com/coredns/coredns@" + CoreDNSVersion + ", about 4 minutes), or put coredns on PATH or in FAULTLINE_COREDNS",
		Doc:     "CoreDNS with the cache plugin (defaults) and forward to faultline's server"},
}

// Names lists the kinds, sorted.
func Names() []string {
	var names []string
	for n := range Kinds {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// LookupKind finds a kind by name.
func LookupKind(name string) (Kind, error) {
	k, ok := Kinds[name]
	if !ok {
		return Kind{}, fmt.Errorf("unknown resolver %q; expected one of: %s", name, strings.Join(Names(), ", "))
	}
	return k, nil
}

// ErrMissing is wrapped by Binary's error when the executable is not there.
var ErrMissing = errors.New("resolver binary not found")

// Binary finds the kind's executable: PATH, then /usr/sbin and /sbin (where
// Debian puts unbound and dnsmasq, often outside a user's PATH); for
// CoreDNS, $FAULTLINE_COREDNS, then the build cache of make resolver-deps.
func Binary(name string) (string, error) {
	k, err := LookupKind(name)
	if err != nil {
		return "", err
	}
	var tried []string
	if k.Name == "coredns" {
		if p := os.Getenv("FAULTLINE_COREDNS"); p != "" {
			if executable(p) {
				return p, nil
			}
			tried = append(tried, p+" ($FAULTLINE_COREDNS)")
		}
	}
	if p, err := exec.LookPath(k.Binary); err == nil {
		return p, nil
	}
	tried = append(tried, "$PATH")
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := filepath.Join(dir, k.Binary)
		if executable(p) {
			return p, nil
		}
		tried = append(tried, p)
	}
	if k.Name == "coredns" {
		p := CoreDNSCachePath()
		if executable(p) {
			return p, nil
		}
		tried = append(tried, p)
	}
	return "", fmt.Errorf("%w: %s is not installed (looked in %s); install it: %s", ErrMissing, k.Binary, strings.Join(tried, ", "), k.Install)
}

// CoreDNSCachePath is where make resolver-deps (and make bench-deps)
// build CoreDNS: ~/.cache/faultline/coredns-VERSION/coredns.
func CoreDNSCachePath() string {
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	return filepath.Join(cache, "faultline", "coredns-"+CoreDNSVersion, "coredns")
}

func executable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// Config of one instance.
type Config struct {
	Kind     string // "unbound", "dnsmasq", "coredns"
	Listen   string // the IP it listens on (UDP and TCP, a free port)
	Source   string // the IP its upstream queries leave from
	Upstream string // faultline's authoritative server, "127.0.0.1:PORT"
	Zone     string // the zone sent upstream, "amazonaws.com."
	Port     int    // the port it listens on; 0: a free one
	// Extra adds to the configuration: unbound server: lines, dnsmasq
	// options, lines of CoreDNS's server block.
	Extra []string
	// StartTimeout bounds the start (default 20 s: CoreDNS's 100 MB binary
	// on a busy machine).
	StartTimeout time.Duration
}

// Instance is a running resolver process.
type Instance struct {
	cfg    Config
	bin    string
	dir    string
	addr   string
	cmd    *exec.Cmd
	out    *tailbuf.Buffer
	exited chan struct{}
	relay  *dnsrelay.Relay // CoreDNS's upstream hop: forward cannot pick a source address

	closeOnce sync.Once
	closeErr  error
}

// Start runs the resolver and returns once it answers on its address. Every
// error names the binary and quotes what it said; on an error nothing is
// left running.
func Start(ctx context.Context, cfg Config) (*Instance, error) {
	k, err := LookupKind(cfg.Kind)
	if err != nil {
		return nil, err
	}
	if cfg.Listen == "" || cfg.Source == "" || cfg.Upstream == "" || cfg.Zone == "" {
		return nil, errors.New("dnsexec: Listen, Source, Upstream and Zone are required")
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 20 * time.Second
	}
	bin, err := Binary(k.Name)
	if err != nil {
		return nil, err
	}
	// The port is picked free on both protocols, then handed to the process:
	// another process may take it in between, so a failure to bind is
	// retried on a new port, a few times.
	var lastErr error
	for try := 0; try < 4; try++ {
		inst, err := start(ctx, k, bin, cfg)
		if err == nil {
			return inst, nil
		}
		lastErr = err
		var be *bindError
		if !errors.As(err, &be) || ctx.Err() != nil || cfg.Port != 0 {
			return nil, err
		}
	}
	return nil, lastErr
}

// bindError is a start that failed because the address was taken.
type bindError struct{ err error }

func (b *bindError) Error() string { return b.err.Error() }
func (b *bindError) Unwrap() error { return b.err }

func start(ctx context.Context, k Kind, bin string, cfg Config) (_ *Instance, err error) {
	port := cfg.Port
	if port == 0 {
		pc, ln, err := netbind.UDPAndTCP(net.JoinHostPort(cfg.Listen, "0"))
		if err != nil {
			return nil, fmt.Errorf("%s: no free port on %s: %w", k.Binary, cfg.Listen, err)
		}
		port = pc.LocalAddr().(*net.UDPAddr).Port
		pc.Close()
		ln.Close()
	}
	addr := net.JoinHostPort(cfg.Listen, strconv.Itoa(port))

	dir, err := tempdirs.Make("", "resolver")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", k.Binary, err)
	}
	i := &Instance{cfg: cfg, bin: bin, dir: dir, addr: addr, out: &tailbuf.Buffer{Max: 8 << 10}, exited: make(chan struct{})}
	defer func() {
		if err != nil {
			i.Close()
		}
	}()
	upstream := cfg.Upstream
	if k.Name == "coredns" {
		// CoreDNS's forward plugin cannot choose the source address of its
		// queries: a relay of faultline's (forwarding unchanged) sends them
		// from Source instead.
		i.relay, err = dnsrelay.Start(dnsrelay.Config{Addr: net.JoinHostPort(cfg.Listen, "0"), Upstream: cfg.Upstream, Source: cfg.Source})
		if err != nil {
			return nil, fmt.Errorf("coredns: its upstream relay: %w", err)
		}
		upstream = i.relay.Addr()
	}
	args, err := configure(k.Name, dir, cfg, port, upstream)
	if err != nil {
		return nil, err
	}
	i.cmd = exec.Command(bin, args...)
	i.cmd.Dir = dir
	i.cmd.Stdout, i.cmd.Stderr = i.out, i.out
	// A process group of its own, killed on Close; and killed with
	// faultline if faultline dies first.
	i.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// Pdeathsig belongs to the thread that forked, not to the process: the
	// process is started from a goroutine locked to its own thread, which
	// lives until the process ends (golang/go#27505), so that the runtime
	// never retires that thread (and kills the resolver) mid-run.
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := i.cmd.Start(); err != nil {
			started <- err
			close(i.exited)
			return // the locked thread ends with this goroutine
		}
		started <- nil
		i.cmd.Wait()
		close(i.exited)
	}()
	if err := <-started; err != nil {
		i.cmd = nil
		return nil, fmt.Errorf("%s: starting %s: %w", k.Binary, bin, err)
	}
	if err := i.waitReady(ctx, k); err != nil {
		return nil, err
	}
	return i, nil
}

// waitReady asks the probe name until the resolver answers, it exits, or
// the start times out.
func (i *Instance) waitReady(ctx context.Context, k Kind) error {
	deadline := time.Now().Add(i.cfg.StartTimeout)
	// localhost., which each answers without asking upstream (unbound from
	// its built-in local zone, dnsmasq and CoreDNS refuse it: any answer
	// will do): the start leaves nothing in the cache, as a fresh resolver
	// has nothing there.
	probe := "localhost."
	c := &dns.Client{Net: "udp", Timeout: 200 * time.Millisecond}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(probe), dns.TypeA)
	for {
		select {
		case <-i.exited:
			said := strings.TrimSpace(i.out.String())
			err := fmt.Errorf("%s (%s) exited at start (%s); it said: %q", k.Binary, i.bin, i.cmd.ProcessState, said)
			if bindFailure(said) {
				return &bindError{fmt.Errorf("%s could not bind %s: %w", k.Binary, i.addr, err)}
			}
			return err
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", k.Binary, ctx.Err())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s (%s) did not answer on %s within %s; it said: %q", k.Binary, i.bin, i.addr, i.cfg.StartTimeout, strings.TrimSpace(i.out.String()))
		}
		if r, _, err := c.Exchange(m, i.addr); err == nil && r != nil {
			return nil
		}
		select {
		case <-i.exited:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func bindFailure(said string) bool {
	s := strings.ToLower(said)
	return strings.Contains(s, "address already in use") || strings.Contains(s, "could not open ports") ||
		strings.Contains(s, "failed to create listening socket")
}

// Addr is "ip:port" for UDP and TCP.
func (i *Instance) Addr() string { return i.addr }

// Source is the address its upstream queries come from.
func (i *Instance) Source() string { return i.cfg.Source }

// Pid is the process's id (its process group's too).
func (i *Instance) Pid() int {
	if i.cmd == nil || i.cmd.Process == nil {
		return 0
	}
	return i.cmd.Process.Pid
}

// Output is the tail of what the process printed.
func (i *Instance) Output() string { return i.out.String() }

// Exited is closed once the process has ended.
func (i *Instance) Exited() <-chan struct{} { return i.exited }

// Close kills the process group, waits for the process, removes its
// directory. It is idempotent.
func (i *Instance) Close() error {
	i.closeOnce.Do(func() {
		if i.cmd != nil && i.cmd.Process != nil {
			syscall.Kill(-i.cmd.Process.Pid, syscall.SIGKILL)
			select {
			case <-i.exited:
			case <-time.After(10 * time.Second):
				i.closeErr = fmt.Errorf("%s (pid %d) did not end within 10 s of SIGKILL", i.cfg.Kind, i.cmd.Process.Pid)
			}
		}
		if i.relay != nil {
			i.relay.Close()
		}
		if i.dir != "" {
			os.RemoveAll(i.dir)
		}
	})
	return i.closeErr
}
