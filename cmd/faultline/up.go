package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/faultline-dev/faultline/experiments/control"
	"github.com/faultline-dev/faultline/experiments/dashboard"
	"github.com/faultline-dev/faultline/experiments/library"
	"github.com/faultline-dev/faultline/experiments/linksapi"
	"github.com/faultline-dev/faultline/experiments/prom"
	"github.com/faultline-dev/faultline/experiments/runner"
	"github.com/faultline-dev/faultline/experiments/spec"
	"github.com/faultline-dev/faultline/reports"
	"github.com/faultline-dev/faultline/targets/links"
	"github.com/faultline-dev/faultline/targets/sandbox"
)

// defaultWorldName is the world `faultline up` brings up without an
// experiment: the flagship's topology, no clients, no faults.
const defaultWorldName = "game-day"

// spareApps are the identities kept for `faultline exec`.
const spareApps = 8

// envAPIListener tells the sandboxed `faultline up` that its control API's
// listener, opened on the host before entering the sandbox, is descriptor 3.
const envAPIListener = "FAULTLINE_API_LISTENER"

// envToxiproxyListener likewise passes --toxiproxy-api's listener.
const envToxiproxyListener = "FAULTLINE_TOXIPROXY_LISTENER"

// inheritedListener is a listener passed in as descriptor fd.
func inheritedListener(fd, name string) (net.Listener, error) {
	n, err := strconv.Atoi(fd)
	if err != nil {
		return nil, fmt.Errorf("descriptor %q: %w", fd, err)
	}
	f := os.NewFile(uintptr(n), name)
	defer f.Close()
	return net.FileListener(f)
}

// listenerFiles are the listeners' descriptors (duplicates) for a child;
// the listeners here are closed.
func listenerFiles(lns ...net.Listener) ([]*os.File, error) {
	var files []*os.File
	var first error
	for _, ln := range lns {
		if ln == nil {
			continue
		}
		f, err := ln.(*net.TCPListener).File()
		ln.Close()
		if err != nil && first == nil {
			first = err
		}
		if f != nil {
			files = append(files, f)
		}
	}
	if first != nil {
		for _, f := range files {
			f.Close()
		}
		return nil, first
	}
	return files, nil
}

func upCommand() *cli.Command {
	return &cli.Command{
		Name:      "up",
		Usage:     "bring a world up and keep it for a game day, with a control API (faults on cue, the emergency stop, live metrics, events)",
		ArgsUsage: "[--out DIR] [--listen 127.0.0.1:PORT] [--for-default 10m] [--schedule] [EXPERIMENT]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Usage: "the run's directory: journal.jsonl and the reports, the API's token and the live state (default out/NAME)"},
			&cli.StringFlag{Name: "listen", Value: "127.0.0.1:0", Usage: "the control API's address (a free port unless given; loopback only unless --allow-remote)"},
			&cli.BoolFlag{Name: "allow-remote", Usage: "let --listen name an address that is not on loopback (the token is then all that guards the API)"},
			&cli.DurationFlag{Name: "for-default", Value: control.DefaultBound, Usage: "the bound of a fault applied without --for: it heals by itself after it"},
			&cli.StringFlag{Name: "toxiproxy-api", Usage: "also serve toxiproxy's own HTTP API over the world's links on this loopback address (e.g. 127.0.0.1:8474, toxiproxy-cli's default), each change journaled as link.toxic"},
			&cli.StringFlag{Name: "operator", Usage: "who holds the token: calls are journaled as api:NAME (default the OS user)"},
			&cli.BoolFlag{Name: "schedule", Usage: "run the experiment's schedule of faults once on the live world (without it, faults come only through the API)"},
			&cli.BoolFlag{Name: "sandbox", Usage: "bring the world up in faultline's sandbox (real endpoint names on 80 and 443) so faultline exec can start programs in it"},
			&cli.Int64Flag{Name: "seed", Usage: "seed for random choices (overrides the experiment's)"},
			&cli.StringFlag{Name: "backend", Usage: "every region's DynamoDB: embedded (in process) or container (DynamoDB Local in Docker)"},
			&cli.StringFlag{Name: "run-id", Usage: "label the run's containers dev.faultline.run=ID"},
			&cli.StringSliceFlag{Name: "image", Usage: "override an image: dynamodb=REF, CLIENT=REF (repeatable)"},
		},
		Action: upAction,
	}
}

func upAction(c *cli.Context) error {
	if c.NArg() > 1 {
		return usage(c, "up takes at most one experiment, got %d arguments", c.NArg())
	}
	var exp *spec.Experiment
	var err error
	if c.NArg() == 1 {
		exp, err = loadExperiment(c.Args().First())
	} else {
		exp, err = defaultWorld()
	}
	if err != nil {
		return cli.Exit(err.Error(), exitUsage)
	}
	if err := control.CheckListen(c.String("listen"), c.Bool("allow-remote")); err != nil {
		return cli.Exit(err.Error(), exitUsage)
	}
	if addr := c.String("toxiproxy-api"); addr != "" {
		if err := links.CheckAPIAddr(addr); err != nil {
			return cli.Exit("--toxiproxy-api: "+strings.TrimPrefix(err.Error(), "links: "), exitUsage)
		}
	}
	if d := c.Duration("for-default"); d <= 0 || d > control.MaxBound {
		return usage(c, "--for-default %s: expected a duration longer than 0s and at most %s", d, control.MaxBound)
	}
	outDir := c.String("out")
	if outDir == "" {
		outDir = filepath.Join("out", exp.Name)
	}
	if outDir, err = filepath.Abs(outDir); err != nil {
		return cli.Exit(err.Error(), exitUsage)
	}
	opts := runner.Options{OutDir: outDir, Progress: os.Stderr, SkipSchedule: !c.Bool("schedule"), Sandbox: c.Bool("sandbox"), SpareApps: spareApps}
	if c.IsSet("seed") {
		seed := c.Int64("seed")
		opts.Seed = &seed
	}
	if err := containerOptions(c, exp, &opts); err != nil {
		return err
	}
	sandboxed := runner.NeedsSandbox(exp) || opts.Sandbox

	// The API's listener: opened here, before the sandbox, so that the
	// sandboxed world serves it on the host's loopback.
	var ln, toxiLn net.Listener
	if fd := os.Getenv(envAPIListener); fd != "" && sandbox.Inside() {
		if ln, err = inheritedListener(fd, "api-listener"); err != nil {
			return cli.Exit("the control API's listener: "+err.Error(), exitBrokenRun)
		}
		if fd := os.Getenv(envToxiproxyListener); fd != "" {
			if toxiLn, err = inheritedListener(fd, "toxiproxy-listener"); err != nil {
				return cli.Exit("toxiproxy's API listener: "+err.Error(), exitBrokenRun)
			}
		}
	} else {
		if st, err := control.ReadState(outDir); err == nil && processAlive(st.PID) {
			return cli.Exit(fmt.Sprintf("a live world already runs in %s (pid %d, API %s): bring it down with `faultline down --run %s` first, or give another --out", outDir, st.PID, st.API, outDir), exitBrokenRun)
		}
		if ln, err = net.Listen("tcp", c.String("listen")); err != nil {
			return cli.Exit("the control API: "+err.Error(), exitBrokenRun)
		}
		if addr := c.String("toxiproxy-api"); addr != "" {
			if toxiLn, err = net.Listen("tcp", addr); err != nil {
				ln.Close()
				return cli.Exit("toxiproxy's API: "+err.Error(), exitBrokenRun)
			}
		}
		if sandboxed && !sandbox.Inside() {
			// The listeners stay in the host's network namespace: the
			// sandboxed child serves on them (descriptors 3 and 4).
			files, err := listenerFiles(ln, toxiLn)
			if err != nil {
				return cli.Exit("the control API's listener: "+err.Error(), exitBrokenRun)
			}
			os.Setenv(envAPIListener, "3")
			if toxiLn != nil {
				os.Setenv(envToxiproxyListener, "4")
			}
			code, err := sandbox.ReexecFiles(os.Args[1:], files)
			for _, f := range files {
				f.Close()
			}
			removeWhatTheChildLeft()
			if err != nil {
				return cli.Exit(err.Error(), exitBrokenRun)
			}
			if code != 0 {
				return cli.Exit("", code)
			}
			return nil
		}
	}
	defer ln.Close()
	if toxiLn != nil {
		defer toxiLn.Close()
	}
	if sandboxed {
		remove, err := prepareSandbox()
		if err != nil {
			return cli.Exit(err.Error(), exitBrokenRun)
		}
		defer remove()
	}

	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return cli.Exit("output directory: "+err.Error(), exitBrokenRun)
	}
	token, err := control.NewToken()
	if err != nil {
		return cli.Exit(err.Error(), exitBrokenRun)
	}
	tokenFile := filepath.Join(outDir, control.TokenFile)
	if err := control.WriteToken(tokenFile, token); err != nil {
		return cli.Exit("the API's token: "+err.Error(), exitBrokenRun)
	}
	defer os.Remove(tokenFile)
	defer os.Remove(filepath.Join(outDir, control.StateFile))

	operator := c.String("operator")
	if operator == "" {
		operator = osUser()
	}
	signalIsTheEnd.Store(true)                 // Ctrl-C, SIGTERM: the game day is over
	ctx, stop := context.WithCancel(c.Context) // cancelled by SIGINT or SIGTERM since the start (main)
	defer stop()
	up := &liveWorld{ln: ln, toxiLn: toxiLn, token: token, tokenFile: tokenFile, operator: operator, outDir: outDir, defaultBound: c.Duration("for-default"),
		out: os.Stdout}
	opts.Hold = up.hold
	res := runner.Run(ctx, exp, opts)
	// The reports are written: the run is no longer live.
	os.Remove(filepath.Join(outDir, control.StateFile))
	os.Remove(tokenFile)
	if err := reports.Terminal(os.Stdout, res.Summary, res.Trace); err != nil {
		return cli.Exit("writing the summary: "+err.Error(), exitBrokenRun)
	}
	fmt.Printf("\n  the game day's record: %s (journal.jsonl, report.json, report.md, junit.xml, report.html); `faultline report %s` renders it again\n", outDir, outDir)
	if res.Err != nil {
		return cli.Exit("the live world broke: "+res.Err.Error(), exitBrokenRun)
	}
	if res.Summary.Status != "complete" {
		return cli.Exit(fmt.Sprintf("the world did not come up: %s", res.Summary.Reason), exitBrokenRun)
	}
	return nil
}

// liveWorld is `faultline up`'s hold: the control API on the live world
// until a signal or `faultline down`.
type liveWorld struct {
	ln               net.Listener
	token, tokenFile string
	operator, outDir string
	defaultBound     time.Duration
	toxiLn           net.Listener // toxiproxy's own API over the links (nil: not served)
	out              io.Writer
}

func (u *liveWorld) hold(ctx context.Context, s *runner.Session) error {
	world, err := u.world(s)
	if err != nil {
		return err
	}
	down := make(chan struct{})
	metrics, err := prom.New(s.Engine())
	if err != nil {
		return fmt.Errorf("the Prometheus metrics: %w", err)
	}
	defer metrics.Close()
	if u.toxiLn != nil {
		api := linksapi.ServeOn(s.Engine(), u.toxiLn)
		defer api.Close() // before the Engine closes: no toxic added on a world going down
		world.ToxiproxyAPI = api.URL()
	}
	srv, err := control.New(control.Options{
		Handlers: map[string]http.Handler{
			"/metrics": metrics,
			"/":        dashboard.Handler(s.Engine(), control.Prefix+"/events", dashboard.Title(world.Experiment)),
		},
		Engine: s.Engine(), Token: u.token, Operator: u.operator, DefaultBound: u.defaultBound, World: world,
		StartApp: func(req control.AppRequest, h control.AppHooks) (string, func(), error) {
			app, stop, err := s.StartCommand(runner.Command{Name: req.Name, Argv: req.Argv, Dir: req.Dir, Env: req.Env, Regions: req.Regions,
				Output: h.Output, Exited: h.Exited})
			if err != nil {
				return "", nil, fmt.Errorf("%w: %w", err, control.ErrAppRefused)
			}
			return app.DNS, stop, nil
		},
		Shutdown: func() { close(down) },
		Log: func(format string, args ...any) {
			fmt.Fprintf(os.Stderr, "[%6.2fs] api: %s\n", s.Engine().Journal().Now()/1000, fmt.Sprintf(format, args...))
		},
	})
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(u.ln) }()
	defer srv.Close()
	st := control.State{PID: os.Getpid(), API: world.API, TokenFile: u.tokenFile, Experiment: world.Experiment, RunDir: u.outDir,
		Started: time.Now().UTC(), Sandboxed: world.Sandboxed}
	if err := control.WriteState(u.outDir, st); err != nil {
		return fmt.Errorf("the live state file: %w", err)
	}
	u.print(world)
	select {
	case <-ctx.Done():
		fmt.Fprintln(os.Stderr, "faultline: stopping: every fault heals, the clients stop, the reports are written")
	case <-down:
		fmt.Fprintln(os.Stderr, "faultline: `faultline down`: every fault heals, the clients stop, the reports are written")
	case err := <-s.Failed():
		return err
	case err := <-served:
		return fmt.Errorf("the control API stopped: %v", err)
	}
	// No API once the world goes down: the state file goes first.
	os.Remove(filepath.Join(u.outDir, control.StateFile))
	return nil
}

// world is what the API and the banner say of the world.
func (u *liveWorld) world(s *runner.Session) (control.World, error) {
	w := s.World()
	env, err := s.AppEnv("app", nil)
	if err != nil {
		return control.World{}, err
	}
	cw := control.World{Experiment: s.Experiment().Name, Sandboxed: s.Sandboxed(), DNS: w.DNSAddr(), ClientDNS: w.ClientDNSAddr(),
		Environment: env, CACert: s.CACert(), Automation: s.Experiment().Topology.Automation != nil, RunDir: u.outDir,
		Journal: filepath.Join(u.outDir, "journal.jsonl"), TokenFile: u.tokenFile, API: control.URL(u.ln.Addr()),
		Table: s.Experiment().Topology.Table.Name}
	if g := s.Experiment().Topology.Table.Global; g != nil {
		cw.Global = &control.GlobalTable{Consistency: g.Consistency, Witness: g.Witness,
			ReplicationLagMS: g.ReplicationLag.Milliseconds(), JitterMS: g.Jitter.Milliseconds()}
	}
	for _, name := range s.Regions() {
		r := control.Region{Name: name}
		r.Endpoint, _ = w.Endpoint(name)
		r.Endpoint = strings.TrimSuffix(r.Endpoint, ".")
		if r.URL, err = w.EndpointURL(name); err != nil {
			return control.World{}, err
		}
		if s.Sandboxed() {
			r.HTTPSURL, _ = w.HTTPSURL(name)
		}
		if lb, ok := w.NLB(name); ok {
			r.Nodes = lb.NodeAddrs()
		}
		cw.Regions = append(cw.Regions, r)
	}
	return cw, nil
}

// print is the banner: what applications need, and how to drive the world.
func (u *liveWorld) print(w control.World) {
	p := func(format string, args ...any) { fmt.Fprintf(u.out, format+"\n", args...) }
	p("\nfaultline: the world %s is up", w.Experiment)
	if w.Sandboxed {
		p("  in faultline's sandbox: programs reach it through `faultline exec -- CMD` (real endpoint names, TLS with the run's CA %s)", w.CACert)
	}
	p("  DNS           %s (the endpoint names resolve here; clients' queries: %s)", w.DNS, w.ClientDNS)
	for _, r := range w.Regions {
		url := r.URL
		if r.HTTPSURL != "" {
			url = r.HTTPSURL
		}
		p("  %-13s %s  nodes %s", r.Name, url, strings.Join(r.Nodes, " "))
	}
	if g := w.Global; g != nil {
		if g.Consistency == "strong" {
			p("  table         %s, a global table (strong consistency%s)", w.Table, map[bool]string{true: ", witness " + g.Witness, false: ""}[g.Witness != ""])
		} else {
			p("  table         %s, a global table (eventual consistency, replication lag %dms ± %dms)", w.Table, g.ReplicationLagMS, g.JitterMS)
		}
	}
	p("  environment   an application's (what `faultline exec` and `faultline run` give it; FAULTLINE_CLIENT is its name):")
	for _, kv := range w.Environment {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER", "FAULTLINE_CLIENT", "FAULTLINE_EVENTS":
			continue // the host's, or each program's own
		}
		p("                  %s", kv)
	}
	p("  control API   %s%s (described at %s%s/openapi.yaml)", w.API, control.Prefix, w.API, control.Prefix)
	p("  token         %s (mode 0600): Authorization: Bearer $(cat %s)", w.TokenFile, w.TokenFile)
	p("  dashboard     %s/?token=$(cat %s) (live charts in a browser); Prometheus metrics at %s/metrics (the same token)", w.API, w.TokenFile, w.API)
	if w.ToxiproxyAPI != "" {
		p("  toxiproxy     %s (toxiproxy's own API over the links: toxiproxy-cli -h %s list)", w.ToxiproxyAPI, w.ToxiproxyAPI)
	}
	p("  try           faultline inject dns.empty %s --for 30s --run %s", firstEndpoint(w), w.RunDir)
	p("                faultline status --run %s; faultline heal --all --run %s (the emergency stop)", w.RunDir, w.RunDir)
	p("  Ctrl-C or `faultline down --run %s` heals every fault, stops the clients and writes the record in %s", w.RunDir, w.RunDir)
	if f, ok := u.out.(*os.File); ok {
		f.Sync()
	}
}

func firstEndpoint(w control.World) string {
	if len(w.Regions) == 0 {
		return "ENDPOINT"
	}
	return w.Regions[0].Endpoint
}

// defaultWorld is the flagship's topology without clients or faults.
func defaultWorld() (*spec.Experiment, error) {
	file, data, ok := library.Get("dynamodb-empty-dns")
	if !ok {
		return nil, errors.New("the built-in flagship is missing")
	}
	exp, err := spec.Parse(file, data)
	if err != nil {
		return nil, err
	}
	exp.Name, exp.Description, exp.File = defaultWorldName, "the flagship's topology for a game day: no clients, no scheduled faults", ""
	exp.Clients, exp.Faults, exp.Assertions, exp.SteadyState, exp.StopWhen = nil, nil, nil, nil, nil
	return exp, nil
}

func osUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "operator"
}

// processAlive reports whether pid is a running process.
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
