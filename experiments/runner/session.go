package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"

	"github.com/faultline-dev/faultline/experiments/appclient"
	"github.com/faultline-dev/faultline/experiments/clients"
	"github.com/faultline-dev/faultline/experiments/engine"
	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/experiments/spec"
	"github.com/faultline-dev/faultline/targets/topology"
)

// Session is a live world that Options.Hold keeps up: its Engine (faults
// are applied and healed through it, by whoever holds the session), its
// experiment, and the means to start another application in it.
type Session struct {
	r    *run
	ctx  context.Context // the clients': it ends when the hold does
	wg   *sync.WaitGroup // the clients'
	errs <-chan error

	mu     sync.Mutex
	closed bool // Hold returned: no more commands start
}

// hold calls Options.Hold with the live session; when it returns no
// command starts any more, and the run stops its clients.
func (r *run) hold(ctx, clientCtx context.Context, wg *sync.WaitGroup, errs <-chan error) error {
	r.held = true
	r.setPhase("live")
	r.say("the world is up; it stays until it is stopped")
	s := &Session{r: r, ctx: clientCtx, wg: wg, errs: errs}
	defer func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
	}()
	return r.opts.Hold(ctx, s)
}

// Engine is the live world's Engine.
func (s *Session) Engine() *engine.Engine { return s.r.eng }

// World is the live world's topology.
func (s *Session) World() *topology.World { return s.r.world }

// Experiment is what the world was built from.
func (s *Session) Experiment() *spec.Experiment { return s.r.exp }

// Sandboxed reports whether the world is in faultline's sandbox: the real
// endpoint names on ports 80 and 443 (TLS, the run's CA), and commands
// started in it.
func (s *Session) Sandboxed() bool { return s.r.ca != nil }

// CACert is the run's CA certificate file in the sandbox ("" outside).
func (s *Session) CACert() string {
	if s.r.ca == nil {
		return ""
	}
	return s.r.ca.CertFile()
}

// Failed delivers the first error of a client of the experiment (an
// application that exited, a reference client that broke): a run would
// end on it.
func (s *Session) Failed() <-chan error { return s.errs }

// Regions are the world's region names, in the experiment's order.
func (s *Session) Regions() []string { return s.r.regionNames() }

// AppEnv is the environment an application of those regions (all of them
// when none) gets: in the sandbox what StartCommand gives a command (the
// real https endpoints, the run's CA); outside it, the endpoints' URLs with
// their ports, AWS_ENDPOINT_URL_DYNAMODB for the first region, and
// FAULTLINE_DNS, the address of the DNS server the names resolve through.
func (s *Session) AppEnv(name string, regions []string) ([]string, error) {
	r := s.r
	if len(regions) == 0 {
		regions = r.regionNames()
	}
	for _, reg := range regions {
		if !slices.Contains(r.regionNames(), reg) {
			return nil, fmt.Errorf("no region %q; the world has: %v", reg, r.regionNames())
		}
	}
	cfg := clients.Config{Table: r.exp.Topology.Table.Name, Items: r.exp.Topology.Table.Items}
	noSource := func(kv string) bool { return kv == "FAULTLINE_SOURCE_IP=" }
	if s.Sandboxed() {
		env, err := r.commandEnv(spec.Client{Name: name, Regions: regions}, cfg)
		return slices.DeleteFunc(env, noSource), err
	}
	endpoints := map[string]string{}
	for _, reg := range regions {
		u, err := r.world.EndpointURL(reg)
		if err != nil {
			return nil, err
		}
		endpoints[reg] = u
	}
	env := appclient.Env(name, regions, endpoints, cfg.Table, cfg.Items, "", true, map[string]string{"FAULTLINE_DNS": r.world.ClientDNSAddr()})
	return slices.DeleteFunc(env, noSource), nil
}

// Command is an application to start in the live world.
type Command struct {
	Name    string   // its client name: [a-z0-9][a-z0-9_-]*, not a client's already
	Argv    []string // run as is, no shell
	Dir     string   // its working directory ("": faultline's)
	Env     map[string]string
	Regions []string // its regions, the first its primary (none: every region)
	// Output sees every line it prints that is not an outcome line.
	Output func(stream, line string)
	// Exited is called once when it has ended: how (a process state's
	// text) and the error, if it exited before the world went down.
	Exited func(how string, err error)
}

var commandName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// ErrNoSandbox is StartCommand's answer outside the sandbox.
var ErrNoSandbox = errors.New("the live world is not in faultline's sandbox, so it cannot start a command in it: bring it up with `faultline up --sandbox` (an experiment with command clients enters it by itself)")

// StartCommand starts an application in the live sandbox, as a command
// client of an experiment starts: with an identity of its own in the
// Engine (a DNS relay, an alias set of the nodes, one of the
// Options.SpareApps), the environment of an application, and its JSON
// outcome lines journaled as client c.Name. It runs until it exits, stop
// is called (SIGTERM to its process group, SIGKILL after a grace period)
// or the world goes down.
func (s *Session) StartCommand(c Command) (app engine.App, stop func(), err error) {
	r := s.r
	switch {
	case !s.Sandboxed():
		return engine.App{}, nil, ErrNoSandbox
	case !commandName.MatchString(c.Name):
		return engine.App{}, nil, fmt.Errorf("name %q: expected lowercase letters, digits, '_' and '-', starting with a letter or digit, at most 63", c.Name)
	case len(c.Argv) == 0 || c.Argv[0] == "":
		return engine.App{}, nil, errors.New("no command to run")
	}
	regions := c.Regions
	if len(regions) == 0 {
		regions = r.regionNames()
	}
	for _, reg := range regions {
		if !slices.Contains(r.regionNames(), reg) {
			return engine.App{}, nil, fmt.Errorf("no region %q; the world has: %v", reg, r.regionNames())
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.ctx.Err() != nil {
		return engine.App{}, nil, errors.New("the live world is going down")
	}
	if r.appByName[c.Name] != nil || slices.ContainsFunc(r.exp.Clients, func(cl spec.Client) bool { return cl.Name == c.Name }) {
		return engine.App{}, nil, fmt.Errorf("a client named %q runs already; give the program another name", c.Name)
	}
	id := &appIdentity{name: c.Name, tail: appclient.NewTail(5), ready: make(chan struct{})}
	app, err = r.eng.AddApp(c.Name, func() { r.markReady(id, readyRequest) })
	if err != nil {
		return engine.App{}, nil, err
	}
	id.dns, id.source = app.DNS, app.Source
	id.resolv = filepath.Join(r.tmpDir, c.Name+".resolv.conf")
	text := fmt.Sprintf("# faultline: client %s resolves through its own relay\nnameserver %s\noptions timeout:2 attempts:2\n", c.Name, id.dns)
	if err := os.WriteFile(id.resolv, []byte(text), 0o644); err != nil {
		return engine.App{}, nil, err
	}
	r.appByName[c.Name] = id
	env, err := r.commandEnv(spec.Client{Name: c.Name, Regions: regions, Env: c.Env},
		clients.Config{Table: r.exp.Topology.Table.Name, Items: r.exp.Topology.Table.Items, SourceIP: app.Source})
	if err != nil {
		return engine.App{}, nil, err
	}
	for _, name := range []string{c.Name, c.Name + spec.ServerView} {
		r.add(journal.Event{Type: journal.ClientStart, Client: name, Strategy: spec.StrategyApp, Region: regions[0], Addr: id.source})
	}
	dir := c.Dir
	if dir == "" {
		dir = r.commandDir()
	}
	var how string
	cmd := appclient.Command{
		Name: c.Name, Argv: c.Argv, Dir: dir, Env: env,
		EventsPipe: filepath.Join(r.tmpDir, c.Name+".events"), ResolvConf: id.resolv, Tail: id.tail, Regions: r.regionNames(),
		Record: r.appRecord(id, readyLine), Since: r.j.Since,
		Output: func(stream, line string) {
			r.say("%s %s: %s", c.Name, stream, line)
			if c.Output != nil {
				c.Output(stream, line)
			}
		},
		Exited: func(state *os.ProcessState, err error) {
			how = exitText(state, err)
		},
	}
	r.say("client %s: starting %q in the sandbox", c.Name, c.Argv)
	ctx, cancel := context.WithCancel(s.ctx)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer cancel()
		err := cmd.Run(ctx)
		if how == "" {
			how = "not started"
		}
		r.say("client %s: ended (%s)", c.Name, how)
		if c.Exited != nil {
			c.Exited(how, err)
		}
	}()
	return app, cancel, nil
}

func exitText(state *os.ProcessState, err error) string {
	switch {
	case state != nil:
		return state.String()
	case err != nil:
		return err.Error()
	}
	return "exit status 0"
}
