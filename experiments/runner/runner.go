// Package runner runs an experiment file on an Engine (experiments/engine):
// it opens the world the experiment describes, starts the clients, applies
// and heals the faults on schedule, checks the steady state and the stop
// conditions, and always rolls back — on success, error, signal or panic
// the Engine heals every applied fault exactly once, the clients stop,
// every listener closes and the journal and reports are written.
package runner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/faultline-dev/faultline/experiments/appclient"
	"github.com/faultline-dev/faultline/experiments/clients"
	"github.com/faultline-dev/faultline/experiments/engine"
	"github.com/faultline-dev/faultline/experiments/fleet"
	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/experiments/measure"
	"github.com/faultline-dev/faultline/experiments/spec"
	"github.com/faultline-dev/faultline/faults"
	"github.com/faultline-dev/faultline/internal/buildinfo"
	"github.com/faultline-dev/faultline/reports"
	"github.com/faultline-dev/faultline/targets/dnsauto"
	"github.com/faultline-dev/faultline/targets/dnscache"
	"github.com/faultline-dev/faultline/targets/nlb"
	"github.com/faultline-dev/faultline/targets/tlsca"
	"github.com/faultline-dev/faultline/targets/topology"
)

// Options of one run.
type Options struct {
	OutDir   string    // receives journal.jsonl, report.json, report.md; "" writes nothing
	Seed     *int64    // overrides the experiment's seed
	Progress io.Writer // one line per step; nil for silence
	// DryRun builds the topology, prints the planned timeline to Progress
	// and tears down again: no client runs, no fault is applied.
	DryRun bool
	// RunID labels everything the run starts in Docker; "" makes one.
	RunID string
	// Backend, when set ("embedded" or "container"), overrides every
	// region's backend.
	Backend string
	// Images overrides image references: "dynamodb" for the container
	// backend, a client's name for that client's image.
	Images map[string]string

	// Live, when set, is called with the run's progress about five times a
	// second and at every change of phase and every fault applied or
	// healed, one call at a time.
	Live func(measure.Progress)

	// Hold, when set, keeps the world up (faultline up): once every
	// application is ready (and the schedule has run once, unless
	// SkipSchedule), Hold is called with the live Session; the clients go on
	// until it returns, then the run ends as usual (every fault healed, the
	// clients stopped, the journal and reports written). A run that reached
	// Hold is complete when its context ends: that is how it is stopped.
	Hold func(ctx context.Context, s *Session) error
	// SkipSchedule, with Hold, applies none of the experiment's faults.
	SkipSchedule bool
	// Sandbox prepares the sandbox (nodes on 80 and 443, the run's CA)
	// even when no client is a command, so Session.StartCommand can start
	// one later. The process must be inside it (sandbox.Reexec).
	Sandbox bool
	// SpareApps reserves application identities for Session.StartCommand.
	SpareApps int

	// onReady, when set (by tests), sees the world once it is built.
	onReady func(*topology.World)
}

// Result of a run. Summary is set whenever the journal could be summarised,
// even when Err is set (a broken run still reports what it measured). The
// run's events are not held: they are in Journal, the file, for whoever
// needs them; Summary and Trace were folded from them as they came.
type Result struct {
	Summary measure.Summary
	Trace   *reports.Trace // what the timelines and charts draw
	Journal string         // the journal.jsonl written ("" without OutDir)
	Err     error          // the environment could not be built or the run broke
}

// clientStopGrace bounds how long clients may take to finish their in-flight
// request after the run ends.
const clientStopGrace = 5 * time.Second

// Run runs one experiment. Cancelling ctx (SIGINT) stops the run early: it
// then rolls back and reports the run as incomplete.
func Run(ctx context.Context, exp *spec.Experiment, opts Options) *Result {
	r := &run{exp: exp, opts: opts, progress: opts.Progress}
	if r.progress == nil {
		r.progress = io.Discard
	}
	return r.run(ctx)
}

type run struct {
	exp      *spec.Experiment
	opts     Options
	progress io.Writer
	j        *journal.Journal
	file     *os.File
	eng      *engine.Engine  // the open world; nil until it is built
	world    *topology.World // eng's

	// The applications (image or command clients), in client order: each
	// has an identity (the Engine's, apps.go) and a readiness.
	apps      []*appIdentity
	appByName map[string]*appIdentity
	notReady  string // why the run is invalid: an application never got ready

	// The sandbox's, when a client is a command: the run's own directory
	// (CA, events pipes, resolv.conf files) and its CA.
	tmpDir string
	ca     *tlsca.CA

	liveMu  sync.Mutex
	phase   string
	started time.Time // when the clients started

	// Folds of the journal, fed by its observers as events come: the
	// summary and the reports' trace (read once the journal is closed),
	// the live view's tally and the stop conditions' (read while it goes,
	// under foldMu).
	fold      *measure.Fold
	trace     *reports.Trace
	foldMu    sync.Mutex
	tally     *measure.Tally
	stopTally *measure.WindowTally

	mu      sync.Mutex // guards the applications' lastProbe
	tripped string     // the stop condition that ended the run, if one did

	held bool // Hold was called: the context ending is the run's normal end
}

func (r *run) run(ctx context.Context) (res *Result) {
	res = &Result{}
	if err := r.openJournal(); err != nil {
		res.Err = err
		return res
	}
	res.Journal = r.journalPath()
	stopLive := r.startLive()
	seed := r.seed()
	host, _ := os.Hostname()
	r.j.Add(journal.Event{Type: journal.RunStart, Detail: r.exp.Name, Seed: &seed, K: r.exp.Metrics.ConsecutiveSuccesses,
		MetastableAfterMS: float64(r.exp.Metrics.MetastableAfter.Milliseconds()),
		Started:           r.j.Start().UTC().Format(time.RFC3339Nano), Host: host, Version: buildinfo.Version(), Backend: r.backends()})
	for _, a := range r.exp.Assertions {
		r.j.Add(journal.Event{Type: journal.Assertion, Client: a.Client, Expr: a.Expr, Fault: a.Fault})
	}
	for _, a := range r.exp.SteadyState {
		r.j.Add(journal.Event{Type: journal.SteadyState, Client: a.Client, Expr: a.Expr})
	}
	for _, a := range r.exp.StopWhen {
		r.j.Add(journal.Event{Type: journal.StopCondition, Client: a.Client, Expr: a.Expr})
	}

	status, reason := "complete", ""
	func() {
		// A panic anywhere in the run still rolls back and reports.
		defer func() {
			if p := recover(); p != nil {
				res.Err = fmt.Errorf("run panicked: %v", p)
			}
		}()
		res.Err = r.execute(ctx, seed)
	}()
	if r.eng != nil {
		if healErr := r.eng.HealAll("rollback", "rollback"); healErr != nil && res.Err == nil {
			res.Err = healErr
		}
	}
	r.setPhase("tearing down")
	defer r.removeTmp()
	if r.eng != nil {
		r.say("tearing down")
		if err := r.eng.Close(); err != nil && res.Err == nil {
			res.Err = err // the teardown's: every fault is healed already
		}
	}
	switch {
	case res.Err != nil:
		status, reason = "incomplete", res.Err.Error()
	case ctx.Err() != nil && !r.held:
		status, reason = "incomplete", "interrupted"
		res.Err = errors.New("interrupted: the run was stopped before its end")
	case r.notReady != "":
		status, reason = "invalid", r.notReady
	case r.tripped != "":
		status, reason = "stopped", "stop condition tripped: "+r.tripped
	}
	stopLive()
	r.j.Add(journal.Event{Type: journal.RunEnd, Status: status, Detail: reason})
	if err := r.j.Close(); err != nil && res.Err == nil {
		res.Err = fmt.Errorf("writing the journal: %w", err)
	}
	if r.file != nil {
		if err := r.file.Close(); err != nil && res.Err == nil {
			res.Err = fmt.Errorf("writing the journal: %w", err)
		}
	}
	res.Summary, res.Trace = r.fold.Summary(), r.trace
	if err := reports.WriteDir(r.opts.OutDir, res.Summary, res.Trace); err != nil && res.Err == nil {
		res.Err = err
	}
	return res
}

func (r *run) seed() int64 {
	switch {
	case r.opts.Seed != nil:
		return *r.opts.Seed
	case r.exp.Seed != nil:
		return *r.exp.Seed
	}
	return 1
}

func (r *run) openJournal() error {
	if r.opts.OutDir == "" {
		r.j = journal.New(nil)
		r.observe()
		return nil
	}
	if err := os.MkdirAll(r.opts.OutDir, 0o755); err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	f, err := os.Create(filepath.Join(r.opts.OutDir, "journal.jsonl"))
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	r.file = f
	r.j = journal.New(f)
	r.observe()
	return nil
}

// journalPath is the journal file ("" when the run writes none).
func (r *run) journalPath() string {
	if r.file == nil {
		return ""
	}
	return r.file.Name()
}

// observe registers the journal's observers before anything is recorded.
func (r *run) observe() {
	r.fold, r.trace = measure.NewFold(), reports.NewTrace()
	r.j.Observe(r.fold.Add)
	r.j.Observe(r.trace.Add)
	if r.opts.Live == nil && len(r.exp.StopWhen) == 0 {
		return
	}
	r.tally, r.stopTally = measure.NewTally(), measure.NewWindowTally()
	r.j.Observe(func(e journal.Event) {
		r.foldMu.Lock()
		r.tally.Observe(e)
		r.stopTally.Add(e)
		r.foldMu.Unlock()
	})
}

// execute builds the world, runs clients and faults for the experiment's
// duration, and stops the clients. Healing and teardown are the caller's.
func (r *run) execute(ctx context.Context, seed int64) error {
	backends := "embedded backends"
	if n := r.containerRegions(); n > 0 {
		backends = fmt.Sprintf("%d DynamoDB containers (run id %s)", n, r.runID())
	}
	r.say("building topology: %d regions, DNS server, load balancers, %s", len(r.exp.Topology.Regions), backends)
	built := time.Now()
	cfg := r.topologyConfig(seed)
	r.planApps()
	if err := r.prepareSandbox(&cfg); err != nil {
		return err
	}
	apps := len(r.apps)
	if r.opts.Hold != nil {
		apps = min(apps+max(r.opts.SpareApps, 0), topology.MaxAliasSets)
	}
	eng, err := engine.Open(ctx, engine.Config{Topology: cfg, Journal: r.j, Apps: apps, Log: r.say})
	if err != nil {
		return err
	}
	r.eng, r.world = eng, eng.World()
	w := r.world
	for i, c := range r.exp.Clients {
		if !c.App() && c.Fleet == nil { // a fleet's queries and connections are counted, not listed
			eng.AddClient(c.Name, engine.ReferenceIP(i))
		}
	}
	r.say("topology up in %s (DNS %s)", time.Since(built).Round(time.Millisecond), w.DNSAddr())
	if r.opts.onReady != nil {
		r.opts.onReady(w)
	}
	if r.opts.DryRun {
		r.say("dry run: the world is up; nothing runs. Planned timeline:")
		for _, line := range Timeline(r.exp) {
			fmt.Fprintln(r.progress, "  "+line)
		}
		return nil
	}

	clientCtx, stopClients := context.WithCancel(ctx)
	defer stopClients()
	var wg sync.WaitGroup
	errs := make(chan error, 3*len(r.exp.Clients))
	if err := r.startRelays(); err != nil {
		return err
	}
	goRun := func(run func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(clientCtx); err != nil {
				select {
				case errs <- err: // it names the client
				default:
				}
			}
		}()
	}
	// The applications start first; the reference clients start with the
	// schedule, once every application is ready.
	var reference []func(context.Context) error
	for i, c := range r.exp.Clients {
		runs, starts, err := r.clientRunner(i, c)
		if err != nil {
			stopClients()
			wg.Wait()
			return err
		}
		for _, start := range starts {
			start.ObjectiveMS = ms(c.Objective(r.exp.Metrics)) // its views are held to it too
			r.add(start)
		}
		if !c.App() {
			reference = append(reference, runs...)
			continue
		}
		for _, run := range runs {
			goRun(run)
		}
	}
	stopped := func() error {
		stopClients()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(clientStopGrace):
			return errors.New("clients did not stop within " + clientStopGrace.String())
		}
		select {
		case err := <-errs:
			return err
		default:
			return nil
		}
	}

	if err := r.waitReady(ctx, errs); err != nil || r.notReady != "" || ctx.Err() != nil {
		return errors.Join(err, stopped())
	}
	for _, run := range reference {
		goRun(run)
	}
	start := time.Now()
	r.liveMu.Lock()
	r.started = start
	r.liveMu.Unlock()
	r.setPhase("running")
	watchCtx, stopWatching := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() { defer close(watched); watchHarness(watchCtx, r.add) }()
	r.add(journal.Event{Type: journal.Phase, Detail: "experiment"})
	if r.opts.Hold == nil || !r.opts.SkipSchedule {
		r.say("running %s for %s", r.exp.Name, r.exp.Duration)
		err = r.schedule(ctx, start, errs)
	}
	if err == nil && r.opts.Hold != nil && ctx.Err() == nil && r.tripped == "" {
		err = r.hold(ctx, clientCtx, &wg, errs)
	}
	stopWatching()
	<-watched
	if err != nil {
		return errors.Join(err, stopped())
	}
	r.add(journal.Event{Type: journal.Phase, Detail: "stop"})
	r.setPhase("stopping")
	return stopped()
}

// schedule applies and heals faults at their offsets from start, until the
// experiment's duration has passed, the context ends or a client fails.
func (r *run) schedule(ctx context.Context, start time.Time, clientErrs <-chan error) error {
	type step struct {
		at    time.Duration
		heal  bool
		fault faults.Fault
	}
	var steps []step
	for _, f := range r.exp.Faults {
		steps = append(steps, step{at: f.Start, fault: f}, step{at: f.End(), heal: true, fault: f})
	}
	// In time order; at the same instant a heal goes before an apply.
	slices.SortStableFunc(steps, func(a, b step) int {
		if c := cmp.Compare(a.at, b.at); c != 0 {
			return c
		}
		return cmp.Compare(boolRank(!a.heal), boolRank(!b.heal))
	})
	steps = append(steps, step{at: r.exp.Duration})
	check := time.NewTicker(250 * time.Millisecond) // stop conditions
	defer check.Stop()

	for _, s := range steps {
		timer := time.NewTimer(time.Until(start.Add(s.at)))
	wait:
		for {
			select {
			case <-ctx.Done():
				timer.Stop()
				return nil // the caller reports the interruption
			case err := <-clientErrs:
				timer.Stop()
				return err
			case <-check.C:
				if r.stopConditionTrips() {
					timer.Stop()
					return nil // the caller heals everything and reports the stop
				}
			case <-timer.C:
				break wait
			}
		}
		lag := time.Since(start.Add(s.at)) // the harness's own lateness, journaled with the step
		switch {
		case s.fault.ID == "":
			// the end of the experiment
		case s.heal:
			if err := r.eng.Heal(s.fault.ID, "scheduled", "schedule", engine.Late(lag)); err != nil && !errors.Is(err, engine.ErrHealed) {
				return err
			}
			r.reportLive()
		default:
			if _, err := r.eng.Apply(s.fault, "schedule", engine.Late(lag)); err != nil {
				return err
			}
			r.reportLive() // the live view shows a fault the moment it is on
		}
	}
	return nil
}

// Timeline is an experiment's plan, one line per step in time order.
func Timeline(exp *spec.Experiment) []string {
	type step struct {
		at   time.Duration
		text string
	}
	steps := []step{{0, fmt.Sprintf("%d clients start", len(exp.Clients))}}
	if slices.ContainsFunc(exp.Clients, spec.Client.App) {
		steps[0].text = "the reference clients start; 0s is when every application is ready"
	}
	for _, f := range exp.Faults {
		steps = append(steps, step{f.Start, fmt.Sprintf("apply %s: %s on %s", f.ID, f.Kind, f.Target)},
			step{f.End(), fmt.Sprintf("heal %s", f.ID)})
	}
	steps = append(steps, step{exp.Duration, "clients stop; the world is torn down"})
	slices.SortStableFunc(steps, func(a, b step) int { return cmp.Compare(a.at, b.at) })
	var out []string
	for _, s := range steps {
		out = append(out, fmt.Sprintf("%8s  %s", s.at, s.text))
	}
	return out
}

// stopConditionTrips checks every stop condition on the requests so far
// (of every client and view) and records the first that holds.
func (r *run) stopConditionTrips() bool {
	if len(r.exp.StopWhen) == 0 {
		return false
	}
	for _, cond := range r.exp.StopWhen {
		for _, name := range r.views() { // a client's own, and an application's .server and .probe
			if cond.Client != "*" && cond.Client != name {
				continue
			}
			r.foldMu.Lock()
			m := r.stopTally.Metrics(name)
			r.foldMu.Unlock()
			v, ok := m.Value(cond.Metric)
			if ok && cond.Holds(v) {
				r.tripped = fmt.Sprintf("%s: %s (value %g)", name, cond.Expr, v)
				r.add(journal.Event{Type: journal.StopCondition, Client: name, Expr: cond.Expr, Status: "tripped", Detail: r.tripped})
				r.say("stop condition tripped: %s; healing and stopping", r.tripped)
				return true
			}
		}
	}
	return false
}

// add journals e: through the Engine once the world is open (so its event
// stream has it), straight into the journal before.
func (r *run) add(e journal.Event) {
	if r.eng != nil {
		r.eng.Record(e)
		return
	}
	r.j.Add(e)
}

func (r *run) say(format string, args ...any) {
	t := 0.0
	if r.j != nil {
		t = r.j.Now() / 1000
	}
	fmt.Fprintf(r.progress, "[%6.2fs] %s\n", t, fmt.Sprintf(format, args...))
}

func (r *run) topologyConfig(seed int64) topology.Config {
	t := r.exp.Topology
	cfg := topology.Config{
		Zone: t.Zone, RecordTTL: t.RecordTTL, NegativeTTL: t.NegativeTTL, RunID: r.runID(),
		Table: t.Table.Name, Items: t.Table.Items, Seed: seed,
		Strong: t.Strong(), StrongWitness: t.Witness(), // topology.table.global (spec/global.go)
	}
	if g := t.Table.Global; g != nil {
		cfg.Global = &topology.Global{Lag: g.ReplicationLag, Jitter: g.Jitter}
	}
	if a := t.Automation; a != nil {
		cfg.Automation = &dnsauto.Config{Enactors: a.Enactors, PlanInterval: a.PlanInterval, Fix: a.Fix}
	}
	if t.Resolver != "" {
		p, _ := dnscache.LookupPreset(t.Resolver) // the spec checked the name
		p.ServeStale = t.ServeStale
		cfg.Resolver = &p
	}
	cfg.ResolverExec = t.ResolverExec
	for _, reg := range t.Regions {
		cfg.Regions = append(cfg.Regions, topology.Region{
			Name: reg.Name, Endpoint: t.EndpointName(reg.Name), Nodes: reg.Nodes, Targets: reg.Targets,
			HealthCheck: nlb.HealthCheck(reg.HealthCheck), CrossZone: reg.CrossZone, Velocity: (*nlb.Velocity)(reg.Velocity),
			KeepConnections: reg.KeepConnections, Container: r.container(reg),
			IdleTimeout: reg.IdleTimeout, MaxAge: reg.MaxConnectionAge, Capacity: capacityConfig(reg.Capacity),
		})
	}
	return cfg
}

// containerRegions counts the regions whose backend is a container.
func (r *run) containerRegions() int {
	n := 0
	for _, reg := range r.exp.Topology.Regions {
		if r.container(reg) != nil {
			n++
		}
	}
	return n
}

// backends names the DynamoDB backend of the run: one word when every region
// has the same, else each region's (us-east-1=container,us-west-2=embedded).
func (r *run) backends() string {
	var each []string
	kinds := map[string]bool{}
	for _, reg := range r.exp.Topology.Regions {
		b := spec.BackendEmbedded
		if r.container(reg) != nil {
			b = spec.BackendContainer
		}
		each, kinds[b] = append(each, reg.Name+"="+b), true
	}
	if len(kinds) == 1 {
		_, b, _ := strings.Cut(each[0], "=")
		return b
	}
	return strings.Join(each, ",")
}

// container is a region's container backend, or nil for the embedded one.
func (r *run) container(reg spec.Region) *topology.Container {
	backend := reg.Backend
	if r.opts.Backend != "" {
		backend = r.opts.Backend
	}
	if backend != spec.BackendContainer {
		return nil
	}
	image := r.exp.Topology.DynamoDBImage
	if over := r.opts.Images["dynamodb"]; over != "" {
		image = over
	}
	return &topology.Container{Image: image}
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

// clientRunner is how client i runs (with its health probe, for an
// application that has one) and its client.start events: an application's
// probe and server-side views are clients of their own ("app.probe",
// "app.server"), so each gets its metrics.
func (r *run) clientRunner(i int, c spec.Client) ([]func(context.Context) error, []journal.Event, error) {
	cfg, err := r.clientConfig(i, c)
	if err != nil {
		return nil, nil, err
	}
	if c.Fleet != nil {
		fc := r.fleetConfig(i, c, cfg)
		return []func(context.Context) error{func(ctx context.Context) error { return fleet.Run(ctx, fc) }}, nil, nil
	}
	if !c.App() {
		return []func(context.Context) error{func(ctx context.Context) error { return clients.Run(ctx, cfg) }}, []journal.Event{cfg.StartEvent()}, nil
	}
	// An application's DNS queries reach the server through its relay, so
	// the relay's source address is how the journal tells them apart.
	id := r.appByName[c.Name]
	appStart := func(name string) journal.Event {
		return journal.Event{Type: journal.ClientStart, Client: name, Strategy: spec.StrategyApp, Region: c.Regions[0], Addr: id.source}
	}
	starts := []journal.Event{appStart(c.Name), appStart(c.Name + spec.ServerView)}
	output := func(stream, line string) { r.say("%s %s: %s", c.Name, stream, line) }
	var runs []func(context.Context) error
	if c.Image != "" {
		image := c.Image
		if over := r.opts.Images[c.Name]; over != "" {
			image = over
		}
		runs = append(runs, appclient.Container{
			Name: c.Name, Image: image, DNS: id.dns, RunID: r.runID(), Tail: id.tail, Regions: r.regionNames(),
			Env:    appclient.Env(c.Name, c.Regions, cfg.Endpoints, cfg.Table, cfg.Items, cfg.SourceIP, true, c.Env),
			Record: r.appRecord(id, readyLine), Since: r.j.Since, Output: output,
		}.Run)
	} else {
		env, err := r.commandEnv(c, cfg)
		if err != nil {
			return nil, nil, err
		}
		runs = append(runs, appclient.Command{
			Name: c.Name, Argv: c.Command, Dir: r.commandDir(), Env: env,
			EventsPipe: filepath.Join(r.tmpDir, c.Name+".events"), ResolvConf: id.resolv, Tail: id.tail, Regions: r.regionNames(),
			Record: r.appRecord(id, readyLine), Since: r.j.Since, Output: output,
		}.Run)

	}
	if h := c.Health; h != nil {
		starts = append(starts, appStart(c.Name+spec.ProbeView))
		runs = append(runs, appclient.Probe{Name: c.Name + spec.ProbeView, URL: h.URL, Region: c.Regions[0], Interval: h.Interval,
			Timeout: h.Timeout, Record: r.appRecord(id, readyHealth), Now: r.j.Now,
			Starting: func(e journal.Event) { r.mu.Lock(); id.lastProbe = e.Detail; r.mu.Unlock() }}.Run)
	}
	return runs, starts, nil
}

// regionNames are the experiment's regions: an application's outcome line
// must name one of them.
func (r *run) regionNames() []string {
	var names []string
	for _, reg := range r.exp.Topology.Regions {
		names = append(names, reg.Name)
	}
	return names
}

// runID is the run's label in Docker.
func (r *run) runID() string {
	if r.opts.RunID == "" {
		r.opts.RunID = fmt.Sprintf("%s-%s", r.exp.Name, time.Now().UTC().Format("20060102T150405.000000"))
	}
	return r.opts.RunID
}

func (r *run) clientConfig(i int, c spec.Client) (clients.Config, error) {
	endpoints := map[string]string{}
	for _, reg := range c.Regions {
		u, err := r.world.EndpointURL(reg)
		if err != nil {
			return clients.Config{}, fmt.Errorf("client %s: %w", c.Name, err)
		}
		endpoints[reg] = u
	}
	return clients.Config{
		Name: c.Name, Strategy: c.Strategy, Regions: c.Regions, Endpoints: endpoints,
		DNSServer: r.world.ClientDNSAddr(), SourceIP: engine.ReferenceIP(i),
		Rate: c.Rate, Operations: c.Operations, Workload: c.Workload, Timeout: c.Timeout, KeepAlive: c.KeepAlive,
		ProbeInterval: c.ProbeInterval, Table: r.exp.Topology.Table.Name, Items: r.exp.Topology.Table.Items,
		Record: r.add, Now: r.j.Now,
	}, nil
}

// startLive calls Options.Live with the progress until the returned stop.
func (r *run) startLive() (stop func()) {
	if r.opts.Live == nil {
		return func() {}
	}
	r.setPhase("building")
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				r.reportLive()
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			<-finished
			r.reportLive()
		})
	}
}

// setPhase names what the run is doing, for the live view.
func (r *run) setPhase(phase string) {
	r.liveMu.Lock()
	r.phase = phase
	r.liveMu.Unlock()
	r.reportLive()
}

func (r *run) reportLive() {
	if r.opts.Live == nil || r.j == nil {
		return
	}
	r.liveMu.Lock()
	defer r.liveMu.Unlock()
	p := measure.Progress{Experiment: r.exp.Name, Phase: r.phase, Duration: r.exp.Duration}
	if !r.started.IsZero() {
		p.Elapsed = min(time.Since(r.started), r.exp.Duration)
	}
	r.foldMu.Lock()
	p.Clients, p.Faults = r.tally.Snapshot()
	p.Load = r.tally.Load()
	r.foldMu.Unlock()
	r.opts.Live(p)
}
