package measure

import (
	"container/heap"
	"math"

	"github.com/faultline-dev/faultline/experiments/assert"
	"github.com/faultline-dev/faultline/experiments/journal"
)

// Fold computes a run's Summary from its events one at a time, in memory
// bounded by the world (its clients, faults, regions, names), not by the
// length of the run:
//
//	f := measure.NewFold()
//	for each event e, in journal order: f.Add(e)
//	s := f.Summary()
//
// The Summary is the one the definitions give for the whole journal (the
// README's "Metrics"). What it keeps: per client, its counts, its latencies
// (exact up to ExactSamples, an HDR histogram beyond), and per fault a small
// state machine each for detect/failover and recover, and reach flags; per
// DNS source, the last answer count per name; the harness's maxima; a few
// rejected lines per client.
//
// Two bounded buffers make the order right:
//
//   - Requests are folded in the order their outcomes were known (a
//     request is journaled when it ends, so nearly in that order; an
//     application's lines can come later). Each client's wait in a heap
//     ordered by when their outcome was known, and leave it once the
//     journal's clock (the latest time of any other event) is past their
//     end by requestSettleMS plus the client's timeout: a request that
//     ends later cannot have been known earlier than one that has left.
//     At 100 requests/s with a 2 s timeout that is about 1,200 requests
//     per client; a heap never holds more than maxBuffered.
//   - DNS answers, connections and the harness's measurements are judged
//     against fault windows and the experiment's phases settleMS after
//     their time, in journal order (a FIFO), so that a fault applied a
//     moment after an answer it shaped was journaled still counts it.
//
// An event that came later than these bounds allow is folded in anyway
// and counted in Stats().Late: with none, the Summary is exactly the
// whole-journal definition.
type Fold struct {
	k          int
	experiment string
	seed       *int64
	// what run.start says of the run: its wall-clock start, host,
	// faultline version and backend
	started, host, version, backend string
	status                          string
	reason                          string
	duration                        float64
	runEnded                        bool

	asserts, steady []journal.Event
	windows         []FaultWindow
	faultIndex      map[string]int // fault id → its latest window: a heal closes it

	clients []ClientInfo // in start order (a name started twice is listed twice)
	byName  map[string]*clientFold
	sources map[string]*sourceFold // DNS, by source address
	conns   map[string]*connFold   // connections, by client (an application's views share its own)
	rejects map[string]*rejectFold
	pending []delayed // requests of clients not started yet

	queue          []queued // judged settleMS after their time, in journal order
	qHead          int
	wm             float64 // the journal's clock: the latest time of an event that is not a request
	judgedUpTo     float64 // the latest time of an event judged from the queue
	from, to       float64 // the experiment's phases
	harness        harnessFold
	steadyOn       bool
	smin           float64 // the earliest fault start
	afterE         float64 // the latest heal (the steady state's "after")
	requestsJudged bool

	global          *globalFold
	storm           *stormFold
	metastableAfter float64 // run.start's window (0: the default)

	seq   uint64
	stats FoldStats
	done  bool
}

// FoldStats say how well the journal kept to the order the fold relies on.
type FoldStats struct {
	// Late counts events that came later than the fold's bounds allow
	// (a request more than requestSettleMS after its end, an answer more
	// than settleMS after its time, a fault applied after answers timed in
	// it were judged): the Summary may then differ from the definition.
	Late int
	// Dropped counts events the fold had no room for: DNS sources or
	// client names beyond maxNames, requests of clients that never started
	// beyond maxPending.
	Dropped int
	// MaxBuffered is the most requests any client had waiting at once.
	MaxBuffered int
}

const (
	settleMS        = 2_000.0
	requestSettleMS = 10_000.0
	maxBuffered     = 8_192 // requests per client waiting to be folded in
	maxQueue        = 1 << 16
	maxNames        = 1_024 // clients, DNS sources, names per source
	maxPending      = 4_096
)

// NewFold starts an empty fold.
func NewFold() *Fold {
	return &Fold{k: DefaultK, status: "incomplete", faultIndex: map[string]int{}, byName: map[string]*clientFold{},
		sources: map[string]*sourceFold{}, conns: map[string]*connFold{}, rejects: map[string]*rejectFold{},
		global: newGlobalFold(), storm: newStormFold(), wm: math.Inf(-1), judgedUpTo: math.Inf(-1), from: math.Inf(-1), to: math.Inf(1), smin: math.Inf(1), afterE: -1}
}

// Stats say whether the journal kept to the order the fold relies on.
func (f *Fold) Stats() FoldStats {
	s := f.stats
	s.Dropped += f.global.dropped + f.storm.dropped
	return s
}

// clientFold is one client's state.
type clientFold struct {
	info    ClientInfo
	slack   float64
	buf     reqHeap
	last    req // the latest request folded in
	folded  bool
	maxT    float64 // of requests folded in
	maxEnd  float64
	window  *Window
	classes map[string]int
	faults  []*clientFault // per window

	before, neg, after *Window // the steady state's windows
}

// clientFault is a client's state relative to one fault.
type clientFault struct {
	// detect and failover
	minServed   float64 // the earliest served request known in the window before the first failure
	failed      bool
	detectKnown float64
	run         int
	runStart    float64
	failedOver  bool
	failoverEnd float64
	// recover
	rrun      int
	rstart    float64
	recovered bool
	recoverAt float64
	// reach, from requests
	carried, failedPast, refusedPast bool
}

// sourceFold is what one DNS source's answers say.
type sourceFold struct {
	last    map[string]int // name → addresses in its latest A answer
	changes int
	byFault map[string]int // answers marked with a fault's id
	perWin  []sourceWin
}

type sourceWin struct{ empty, changes int }

// connFold is what the nodes saw of one client's connections, per fault.
type connFold struct{ perWin []connWin }

type connWin struct{ met, failed, refused bool }

type rejectFold struct {
	n, whileStopping int
	samples          []Rejection
}

type delayed struct {
	e   journal.Event
	seq uint64
}

// queued is what the queue keeps of an event: the fields judge reads,
// under half of an event's size.
type queued struct {
	t, lag, latency                                             float64
	sched                                                       *float64
	answers                                                     *int
	typ, client, addr, name, qtype, fault, region, node, status string
	probe                                                       bool
}

func queueOf(e journal.Event) queued {
	return queued{t: e.T, lag: e.LagMS, latency: e.LatencyMS, sched: e.SchedP99MS, answers: e.Answers, typ: e.Type, client: e.Client,
		addr: e.Addr, name: e.Name, qtype: e.QType, fault: e.Fault, region: e.Region, node: e.Node, status: e.Status, probe: e.Probe}
}

func (q queued) event() journal.Event {
	return journal.Event{T: q.t, LagMS: q.lag, LatencyMS: q.latency, SchedP99MS: q.sched, Answers: q.answers, Type: q.typ, Client: q.client,
		Addr: q.addr, Name: q.name, QType: q.qtype, Fault: q.fault, Region: q.region, Node: q.node, Status: q.status, Probe: q.probe}
}

// Add folds the next event of the journal in.
func (f *Fold) Add(e journal.Event) {
	if f.done {
		panic("measure: Fold.Add after Summary")
	}
	f.seq++
	switch e.Type {
	case journal.Request:
		f.global.add(e)
		f.request(e, f.seq)
		f.enqueue(e) // the harness's view of it: how late it was sent
		f.settle(false)
		return
	case journal.DNSOther:
		return // not a client's: counted for the charts, nothing here
	}
	if e.T > f.wm {
		f.wm = e.T
	}
	switch e.Type {
	case journal.RunStart:
		f.experiment, f.seed = e.Detail, e.Seed
		f.started, f.host, f.version, f.backend = e.Started, e.Host, e.Version, e.Backend
		f.metastableAfter = e.MetastableAfterMS
		if e.K > 0 {
			if e.K != f.k && f.requestsJudged {
				f.stats.Late++
			}
			f.k = e.K
		}
	case journal.RunEnd:
		f.status, f.reason, f.duration, f.runEnded = e.Status, e.Detail, e.T, true
	case journal.Assertion:
		f.asserts = append(f.asserts, e)
	case journal.SteadyState:
		f.steady = append(f.steady, e)
		if !f.steadyOn {
			f.steadyOn = true
			if f.requestsJudged {
				f.stats.Late++
			}
			for _, c := range f.byName {
				c.startSteady()
				if f.afterE >= 0 {
					c.after = NewWindow(c.info)
				}
			}
		}
	case journal.ClientStart:
		f.clientStart(e)
	case journal.FaultApplied:
		f.applied(e)
		f.enqueue(e)
	case journal.FaultHealed:
		f.healed(e)
		f.enqueue(e)
	case journal.Phase:
		if (e.Detail == "experiment" || e.Detail == "stop") && e.T <= f.judgedUpTo {
			f.stats.Late++
		}
		switch e.Detail {
		case "experiment":
			// The harness's measurements before the experiment are the
			// building's: those judged so far were all before it.
			f.from = e.T
			f.harness = harnessFold{}
		case "stop":
			f.to = e.T
		}
	case journal.OutcomeRejected:
		f.rejected(e)
	case journal.DDBWrite, journal.DDBReplicated, journal.DDBReplication:
		f.global.add(e)
	case journal.DDBCapacity, journal.DDBLoad, journal.FleetStart, journal.FleetLoad:
		f.storm.add(e)
	case journal.DNSQuery, journal.ConnAccepted, journal.ConnFailed, journal.ConnRefused,
		journal.HarnessLag, journal.HCResult:
		f.enqueue(e)
	}
	f.settle(false)
}

// Summary is the run's summary. It ends the fold: Add may not follow.
func (f *Fold) Summary() Summary {
	if !f.done {
		f.settle(true)
		f.done = true
	}
	s := Summary{Experiment: f.experiment, Seed: f.seed, Status: f.status, Reason: f.reason, DurationMS: f.duration, K: f.k,
		Started: f.started, Host: f.host, Version: f.version, Backend: f.backend}
	for _, w := range f.windows {
		s.Faults = append(s.Faults, FaultReport{ID: w.ID, Kind: w.Kind, Target: w.Target, StartMS: w.StartMS, EndMS: w.EndMS,
			AppliedBy: w.AppliedBy, HealedBy: w.HealedBy})
	}
	metricsFor := func(c ClientInfo, faultID string) Metrics {
		for i := range f.windows {
			if f.windows[i].ID == faultID || faultID == "" {
				return f.metrics(c, i)
			}
		}
		return f.metrics(c, -1)
	}
	var unmeasuredReasons []string
	for _, c := range f.clients {
		m := metricsFor(c, "")
		cf := f.byName[c.Name]
		cr := ClientReport{Name: c.Name, Strategy: c.Strategy, Primary: c.Primary, SourceIP: c.SourceIP,
			Requests: m.Requests, Errors: m.Errors, ErrorClasses: map[string]int{}, Metrics: m,
			latency: latencyHistograms{all: cf.window.all.histogram(), ok: cf.window.ok.histogram()}}
		for k, v := range cf.classes {
			cr.ErrorClasses[k] = v
		}
		if r := f.rejects[c.Name]; r != nil {
			cr.Rejected, cr.RejectedSamples, cr.RejectedWhileStopping = r.n, r.samples, r.whileStopping
		}
		if len(f.windows) > 0 && !m.FaultReached {
			cr.Warning = NotReached
		}
		s.Clients = append(s.Clients, cr)
		for _, w := range windowsAfterFirst(f.windows) {
			if s.ByFault == nil {
				s.ByFault = map[string][]Client{}
			}
			s.ByFault[w.ID] = append(s.ByFault[w.ID], Client{Name: c.Name, Metrics: metricsFor(c, w.ID)})
		}
	}
	for i, c := range f.clients {
		viewsMeasured := false
		for _, v := range s.Clients {
			viewsMeasured = viewsMeasured || (v.Name != c.Name && BaseName(v.Name) == c.Name && v.Requests > 0)
		}
		if u := unmeasured(s.Clients[i], c.View(), viewsMeasured); u != "" {
			s.Clients[i].Unmeasured = u
			unmeasuredReasons = append(unmeasuredReasons, u)
		}
	}
	s.Storm = f.storm.summary(f.windows, f.metastableAfter, f.from, f.to)
	for _, a := range f.asserts {
		s.Assertions = append(s.Assertions, evaluate(a, f.clients, f.windows, metricsFor, s.Storm)...)
	}
	s.SteadyState = f.steadyOutcomes()
	s.Harness = f.harness.result(f.clients)
	s.Replication = f.global.replication(f.afterE)
	s.Verdict, s.Reasons = verdict(s, unmeasuredReasons)
	return s
}

func windowsAfterFirst(ws []FaultWindow) []FaultWindow {
	if len(ws) < 2 {
		return nil
	}
	return ws[1:]
}

// metrics are client c's relative to window i (-1: none).
func (f *Fold) metrics(c ClientInfo, i int) Metrics {
	cf := f.byName[c.Name]
	m := cf.window.Metrics()
	src := f.sources[c.SourceIP]
	if c.SourceIP == "" {
		src = nil
	}
	if src != nil {
		m.DNSAnswerChanges = src.changes
	}
	f.global.apply(c.Name, &m, f.afterE)
	if i < 0 {
		return m
	}
	w := &f.windows[i]
	if src != nil {
		m.DNSQueriesInFault = src.byFault[w.ID]
		if w.Reach == ReachDNSEmpty {
			m.DNSQueriesInFault += src.perWin[i].empty
		}
	}
	st := cf.faults[i]
	var conn connWin
	if cs := f.conns[c.Base()]; cs != nil {
		conn = cs.perWin[i]
	}
	switch w.Reach {
	case ReachDNS, ReachDNSEmpty:
		m.FaultReached = m.DNSQueriesInFault > 0
	case ReachNode:
		m.FaultReached = conn.refused || (trusted(c) && st.refusedPast)
	case ReachHealth:
		m.FaultReached = conn.failed || (trusted(c) && st.failedPast) || (src != nil && src.perWin[i].changes > 0)
	default:
		m.FaultReached = conn.met || (trusted(c) && st.carried)
	}
	if !m.FaultReached {
		return m
	}
	if !st.failed {
		if st.minServed < math.Inf(1) && (w.EndMS == nil || st.minServed <= *w.EndMS) {
			m.FailoverMS = ptr(0)
		}
	} else {
		m.DetectMS = ptr(st.detectKnown - w.StartMS)
		if st.failedOver && (w.EndMS == nil || st.failoverEnd <= *w.EndMS) {
			m.FailoverMS = ptr(st.failoverEnd - w.StartMS)
		}
	}
	if w.EndMS != nil && st.recovered {
		m.RecoverMS = ptr(st.recoverAt - *w.EndMS)
	}
	return m
}

func (f *Fold) clientStart(e journal.Event) {
	c := clientInfo(e)
	if cf := f.byName[c.Name]; cf != nil {
		f.clients = append(f.clients, cf.info) // started twice: listed twice, one state
		return
	}
	if len(f.byName) >= maxNames {
		f.stats.Dropped++
		return
	}
	f.clients = append(f.clients, c)
	cf := &clientFold{info: c, slack: requestSettleMS + c.TimeoutMS, window: NewWindow(c), classes: map[string]int{},
		maxT: math.Inf(-1), maxEnd: math.Inf(-1)}
	for range f.windows {
		cf.faults = append(cf.faults, newClientFault())
	}
	if f.steadyOn {
		cf.startSteady()
		if f.afterE >= 0 {
			cf.after = NewWindow(c)
		}
	}
	f.byName[c.Name] = cf
	if c.SourceIP != "" {
		f.source(c.SourceIP)
	}
	f.conn(c.Base())
	// Requests that came before their client's start.
	kept := f.pending[:0]
	for _, r := range f.pending {
		if r.e.Client == c.Name {
			f.request(r.e, r.seq)
		} else {
			kept = append(kept, r)
		}
	}
	f.pending = kept
}

func newClientFault() *clientFault { return &clientFault{minServed: math.Inf(1)} }

func (c *clientFold) startSteady() {
	c.before, c.neg = NewWindow(c.info), NewWindow(c.info)
}

func (f *Fold) applied(e journal.Event) {
	w := FaultWindow{ID: e.Fault, Kind: e.Kind, Target: e.Target, StartMS: e.T, Reach: e.Reach, Node: e.Node, Name: e.Name, AppliedBy: e.By}
	if w.Reach == "" {
		w.Reach = reachOfKind(e.Kind)
	}
	if e.T <= f.judgedUpTo {
		f.stats.Late++ // answers or connections timed in it were judged before it came
	}
	f.faultIndex[e.Fault] = len(f.windows)
	f.windows = append(f.windows, w)
	f.smin = min(f.smin, e.T)
	for _, c := range f.byName {
		if c.folded && c.maxEnd >= e.T {
			f.stats.Late++
		}
		c.faults = append(c.faults, newClientFault())
	}
	for _, s := range f.sources {
		s.perWin = append(s.perWin, sourceWin{})
	}
	for _, c := range f.conns {
		c.perWin = append(c.perWin, connWin{})
	}
}

func (f *Fold) healed(e journal.Event) {
	i, ok := f.faultIndex[e.Fault]
	if !ok || f.windows[i].EndMS != nil {
		return
	}
	t := e.T
	f.windows[i].EndMS, f.windows[i].HealedBy = &t, e.By
	if e.T <= f.judgedUpTo {
		f.stats.Late++
	}
	for _, c := range f.byName {
		if c.folded && c.maxT >= e.T {
			f.stats.Late++
		}
	}
	if t > f.afterE {
		f.afterE = t
		f.global.healed(t)
		if f.steadyOn {
			for _, c := range f.byName {
				c.after = NewWindow(c.info)
			}
		}
	}
}

func (f *Fold) rejected(e journal.Event) {
	r := f.rejects[e.Client]
	if r == nil {
		if len(f.rejects) >= maxNames {
			f.stats.Dropped++
			return
		}
		r = &rejectFold{}
		f.rejects[e.Client] = r
	}
	r.n++
	if e.T > f.to {
		r.whileStopping++ // the experiment had ended: the app was being stopped
	}
	if len(r.samples) >= maxRejectedSamples {
		return
	}
	for _, s := range r.samples {
		if s.Reason == e.Detail {
			return
		}
	}
	r.samples = append(r.samples, Rejection{Reason: e.Detail, Line: e.Line})
}

// request takes a request in: into its client's heap, to be folded in
// once nothing can come before it.
func (f *Fold) request(e journal.Event, seq uint64) {
	if e.Probe {
		return
	}
	c := f.byName[e.Client]
	if c == nil {
		if len(f.pending) < maxPending {
			f.pending = append(f.pending, delayed{e: e, seq: seq})
		} else {
			f.stats.Dropped++
		}
		return
	}
	r := c.info.req(e, seq)
	if !r.ok {
		class := r.class
		if class == "" {
			class = "other"
		}
		c.classes[class]++
	}
	if c.folded && before(r, c.last) {
		f.stats.Late++
	}
	heap.Push(&c.buf, r)
	f.stats.MaxBuffered = max(f.stats.MaxBuffered, len(c.buf))
	for len(c.buf) > maxBuffered {
		f.fold(c, heap.Pop(&c.buf).(req))
	}
}

// settle folds in what can no longer be preceded: requests whose end the
// journal's clock has passed by their client's slack, queued events
// settleMS old; everything when all is true.
func (f *Fold) settle(all bool) {
	for f.qHead < len(f.queue) {
		d := f.queue[f.qHead]
		if !all && d.t >= f.wm-settleMS && len(f.queue)-f.qHead <= maxQueue {
			break
		}
		f.queue[f.qHead] = queued{}
		f.qHead++
		f.judge(d.event())
	}
	if f.qHead > 1024 && f.qHead*2 > len(f.queue) {
		f.queue = append(f.queue[:0], f.queue[f.qHead:]...)
		f.qHead = 0
	}
	for _, c := range f.byName {
		for len(c.buf) > 0 && (all || c.buf[0].end < f.wm-c.slack) {
			f.fold(c, heap.Pop(&c.buf).(req))
		}
	}
}

func (f *Fold) enqueue(e journal.Event) {
	if e.Type == journal.Request && e.Probe {
		return // the harness does not weigh probes
	}
	f.queue = append(f.queue, queueOf(e))
}

// judge weighs a queued event against the fault windows and phases.
func (f *Fold) judge(e journal.Event) {
	if e.Type != journal.Request {
		f.judgedUpTo = max(f.judgedUpTo, e.T)
	}
	f.harness.see(f, e)
	switch e.Type {
	case journal.DNSQuery:
		f.dns(e)
	case journal.ConnAccepted, journal.ConnFailed, journal.ConnRefused:
		if e.Client == "" {
			return
		}
		c := f.conn(e.Client)
		if c == nil {
			return
		}
		for i := range f.windows {
			w := &f.windows[i]
			if !w.overlaps(e.T, e.T) {
				continue
			}
			if e.Region == w.Target {
				c.perWin[i].met = true
				if e.Type == journal.ConnFailed {
					c.perWin[i].failed = true
				}
			}
			if e.Type == journal.ConnRefused && (w.Node == "" || hostOf(e.Node) == hostOf(w.Node)) {
				c.perWin[i].refused = true
			}
		}
	}
}

func (f *Fold) dns(e journal.Event) {
	s := f.source(hostOf(e.Addr))
	if s == nil {
		return
	}
	if e.Fault != "" {
		if _, ok := s.byFault[e.Fault]; ok || len(s.byFault) < maxNames {
			s.byFault[e.Fault]++
		}
	}
	for i := range f.windows {
		w := &f.windows[i]
		if w.Reach == ReachDNSEmpty && e.Fault != w.ID && e.Name == w.Target && e.QType == "A" && e.Answers != nil && *e.Answers == 0 &&
			e.T >= w.StartMS && (w.EndMS == nil || e.T <= *w.EndMS) {
			s.perWin[i].empty++
		}
	}
	if e.QType != "A" || e.Answers == nil {
		return
	}
	prev, seen := s.last[e.Name]
	if seen && prev != *e.Answers {
		s.changes++
		for i := range f.windows {
			w := &f.windows[i]
			if w.overlaps(e.T, e.T) && (w.Name == "" || e.Name == w.Name) {
				s.perWin[i].changes++
			}
		}
	}
	if seen || len(s.last) < maxNames {
		s.last[e.Name] = *e.Answers
	}
}

func (f *Fold) source(ip string) *sourceFold {
	s := f.sources[ip]
	if s == nil {
		if len(f.sources) >= maxNames {
			f.stats.Dropped++
			return nil
		}
		s = &sourceFold{last: map[string]int{}, byFault: map[string]int{}, perWin: make([]sourceWin, len(f.windows))}
		f.sources[ip] = s
	}
	return s
}

func (f *Fold) conn(name string) *connFold {
	c := f.conns[name]
	if c == nil {
		if len(f.conns) >= maxNames {
			f.stats.Dropped++
			return nil
		}
		c = &connFold{perWin: make([]connWin, len(f.windows))}
		f.conns[name] = c
	}
	return c
}

// fold folds one request into its client's metrics, in the order the
// outcomes were known.
func (f *Fold) fold(c *clientFold, r req) {
	f.requestsJudged = true
	c.last, c.folded = r, true
	c.maxT, c.maxEnd = max(c.maxT, r.t), max(c.maxEnd, r.end)
	c.window.add(r)
	served := c.info.servedReq(r)
	for i, st := range c.faults {
		w := &f.windows[i]
		// detect, then failover: the first run of k served requests after it
		switch {
		case !st.failed:
			if served && r.known >= w.StartMS {
				st.minServed = min(st.minServed, r.known)
			}
			if r.known >= w.StartMS && !served && (w.EndMS == nil || r.t < *w.EndMS) {
				st.failed, st.detectKnown = true, r.known
			}
		case !st.failedOver:
			st.run, st.runStart = runStep(st.run, st.runStart, served, r)
			if st.run == f.k {
				st.failedOver, st.failoverEnd = true, st.runStart
			}
		}
		// recover: among requests started after the heal, the first run of
		// k served on the primary
		if w.EndMS != nil && r.t >= *w.EndMS && !st.recovered {
			st.rrun, st.rstart = runStep(st.rrun, st.rstart, served && r.region == c.info.Primary, r)
			if st.rrun == f.k {
				st.recovered, st.recoverAt = true, st.rstart
			}
		}
		// reach: a request to the region in the window past name resolution
		if r.region == w.Target && w.overlaps(r.t, r.end) && !dnsClass(r.class) {
			st.carried = true
			if !r.ok {
				st.failedPast = true
				st.refusedPast = st.refusedPast || r.class == "connect-refused"
			}
		}
	}
	if f.steadyOn {
		if b := min(f.smin, f.endOrInf()); r.known < b {
			c.before.add(r)
		}
		if r.known < 0 {
			c.neg.add(r)
		}
		if c.after != nil && r.t >= f.afterE {
			c.after.add(r)
		}
	}
}

// runStep advances a run of consecutive served requests; start is the end
// of the run's first.
func runStep(run int, start float64, served bool, r req) (int, float64) {
	if !served {
		return 0, start
	}
	if run == 0 {
		start = r.end
	}
	return run + 1, start
}

func (f *Fold) endOrInf() float64 {
	if f.runEnded {
		return f.duration
	}
	return math.Inf(1)
}

// steadyOutcomes checks each hypothesis on the requests known before the
// first fault and on those started after the last heal (the whole run, as
// "before", when there is no fault).
func (f *Fold) steadyOutcomes() []SteadyOutcome {
	if len(f.steady) == 0 {
		return nil
	}
	var out []SteadyOutcome
	for _, st := range f.steady {
		expr, err := assert.ParseExpr(st.Expr)
		if err != nil {
			continue
		}
		for _, c := range f.clients {
			if st.Client != "*" && st.Client != c.Name {
				continue
			}
			cf := f.byName[c.Name]
			check := func(when string, w *Window) {
				if w == nil {
					w = NewWindow(c)
				}
				o := SteadyOutcome{Client: c.Name, Expr: st.Expr, When: when}
				if v, ok := w.Metrics().Value(expr.Metric); ok {
					o.Value, o.Holds = &v, expr.Holds(v)
				}
				out = append(out, o)
			}
			// Before the first fault, and before the run's end (0 when the
			// journal has none).
			before := cf.before
			if !f.runEnded && !(len(f.windows) > 0 && f.smin < 0) {
				before = cf.neg
			}
			check("before", before)
			if f.afterE >= 0 {
				check("after", cf.after)
			}
		}
	}
	return out
}

// before orders requests as the metrics read them: by when their outcome
// was known, then by their end, then in journal order.
func before(a, b req) bool {
	if a.known != b.known {
		return a.known < b.known
	}
	if a.end != b.end {
		return a.end < b.end
	}
	return a.seq < b.seq
}

type reqHeap []req

func (h reqHeap) Len() int           { return len(h) }
func (h reqHeap) Less(i, j int) bool { return before(h[i], h[j]) }
func (h reqHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *reqHeap) Push(x any)        { *h = append(*h, x.(req)) }
func (h *reqHeap) Pop() any {
	old := *h
	r := old[len(old)-1]
	*h = old[:len(old)-1]
	return r
}

// Summarize computes the summary of a whole journal held in memory.
func summarizeEvents(events []journal.Event) Summary {
	f := NewFold()
	for _, e := range events {
		f.Add(e)
	}
	return f.Summary()
}

// SummarizeFile streams a journal.jsonl through a Fold.
func SummarizeFile(path string) (Summary, error) {
	f := NewFold()
	if err := journal.ScanFile(path, func(e journal.Event) error { f.Add(e); return nil }); err != nil {
		return Summary{}, err
	}
	return f.Summary(), nil
}
