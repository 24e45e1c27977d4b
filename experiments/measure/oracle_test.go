package measure

// The oracle: the metrics as they were computed before the fold, over the
// whole journal held in memory (sort, filter, scan). It is the definition
// the Fold must agree with; the tests check that they do, on every
// hand-written journal and on random ones.

import (
	"fmt"
	"math"
	"sort"

	"github.com/faultline-dev/faultline/experiments/assert"
	"github.com/faultline-dev/faultline/experiments/journal"
)

// oracleRequestsOf is Requests ordered by when the client knew each outcome,
// which its latency objective can bring forward.
func oracleRequestsOf(events []journal.Event, c ClientInfo) []journal.Event {
	reqs := Requests(events, c.Name)
	if c.ObjectiveMS > 0 {
		sort.SliceStable(reqs, func(i, j int) bool { return c.knownAt(reqs[i]) < c.knownAt(reqs[j]) })
	}
	return reqs
}

// oracleForClient computes a client's metrics relative to fault f (nil: a run
// without faults, where only the fault-free metrics have values). k is the
// number of consecutive successes that count as serving again.
func oracleForClient(events []journal.Event, c ClientInfo, f *FaultWindow, k int) Metrics {
	if k < 1 {
		k = DefaultK
	}
	reqs := oracleRequestsOf(events, c)
	m := oracleWindowMetrics(c, reqs)
	m.DNSAnswerChanges = oracleAnswerChanges(events, c, nil)
	if f == nil {
		return m
	}
	m.DNSQueriesInFault = oracleDnsQueriesShaped(events, c, f)
	m.FaultReached = oracleReached(events, reqs, c, f, m.DNSQueriesInFault)
	if !m.FaultReached {
		// Nothing shows the fault touched the client: how fast it noticed,
		// failed over and recovered from it measured nothing.
		return m
	}
	m.DetectMS, m.FailoverMS = oracleDetectAndFailover(c, reqs, f, k)
	m.RecoverMS = oracleRecoverTime(c, reqs, f, k)
	return m
}

// oracleWindowMetrics are the metrics any set of requests has: counts,
// availability and latency percentiles.
func oracleWindowMetrics(c ClientInfo, reqs []journal.Event) Metrics {
	m := Metrics{Requests: len(reqs)}
	var all, ok []float64
	served := 0
	for _, r := range reqs {
		switch {
		case !r.Succeeded():
			m.Errors++
		case c.slow(r):
			m.Slow++
		default:
			served++
		}
		if r.LatencyUnknown {
			continue
		}
		all = append(all, r.LatencyMS)
		if r.Succeeded() {
			ok = append(ok, r.LatencyMS)
		}
	}
	if len(reqs) > 0 {
		a := float64(served) / float64(len(reqs)) // a ratio: not rounded
		m.Availability = &a
	}
	m.LatencyP50MS, m.LatencyP99MS = percentile(all, 50), percentile(all, 99)
	m.OKLatencyP50MS, m.OKLatencyP99MS = percentile(ok, 50), percentile(ok, 99)
	return m
}

// oracleDetectAndFailover: detect is the first request not served (by when that
// was known) that started before the fault was healed, minus the fault
// start; failover is the first success of the first run of k consecutive
// served requests after it, minus the fault start, provided that success
// came while the fault was still applied. No request failed: detect null,
// and failover 0 only if the client went on serving while the fault was
// applied (a request served inside its window); a client that served
// nothing then (it sent nothing, or one call stalled through the whole
// fault) did not fail over: null.
func oracleDetectAndFailover(c ClientInfo, reqs []journal.Event, f *FaultWindow, k int) (detect, failover *float64) {
	first, servedInWindow := -1, false
	for i, r := range reqs {
		known := c.knownAt(r)
		if c.served(r) && known >= f.StartMS && (f.EndMS == nil || known <= *f.EndMS) {
			servedInWindow = true
		}
		if known >= f.StartMS && !c.served(r) && (f.EndMS == nil || r.T < *f.EndMS) {
			first = i
			break
		}
	}
	if first < 0 {
		if !servedInWindow {
			return nil, nil
		}
		return nil, ptr(0)
	}
	detect = ptr(c.knownAt(reqs[first]) - f.StartMS)
	start := oracleFirstRun(c, reqs[first+1:], k, func(journal.Event) bool { return true })
	if start == nil || (f.EndMS != nil && start.End() > *f.EndMS) {
		return detect, nil
	}
	return detect, ptr(start.End() - f.StartMS)
}

// oracleRecoverTime: after the heal, the first success of the first run of k
// consecutive served requests on the client's primary region, minus the
// heal time. Null when the fault was never healed or the client never got
// back.
func oracleRecoverTime(c ClientInfo, reqs []journal.Event, f *FaultWindow, k int) *float64 {
	if f.EndMS == nil {
		return nil
	}
	var after []journal.Event
	for _, r := range reqs {
		if r.T >= *f.EndMS {
			after = append(after, r)
		}
	}
	start := oracleFirstRun(c, after, k, func(r journal.Event) bool { return r.Region == c.Primary })
	if start == nil {
		return nil
	}
	return ptr(start.End() - *f.EndMS)
}

// oracleFirstRun finds the first request that begins a run of k consecutive
// served requests that all satisfy on; any other request breaks a run.
func oracleFirstRun(c ClientInfo, reqs []journal.Event, k int, on func(journal.Event) bool) *journal.Event {
	run := 0
	for i, r := range reqs {
		if c.served(r) && on(r) {
			run++
			if run == k {
				return &reqs[i-k+1]
			}
			continue
		}
		run = 0
	}
	return nil
}

// oracleDnsQueriesShaped counts DNS queries from the client's source address whose
// answers the fault changed: answers marked with its id, or, for the
// automation's race (which empties the record by itself), empty A answers
// for its target while it was applied.
func oracleDnsQueriesShaped(events []journal.Event, c ClientInfo, f *FaultWindow) int {
	if c.SourceIP == "" {
		return 0
	}
	n := 0
	for _, e := range events {
		if e.Type != journal.DNSQuery || hostOf(e.Addr) != c.SourceIP {
			continue
		}
		switch {
		case e.Fault != "" && e.Fault == f.ID:
			n++
		case f.Reach == ReachDNSEmpty && e.Name == f.Target && e.QType == "A" && e.Answers != nil && *e.Answers == 0 &&
			e.T >= f.StartMS && (f.EndMS == nil || e.T <= *f.EndMS):
			n++
		}
	}
	return n
}

// oracleAnswerChanges counts how often the number of addresses the client got for
// a name changed between its successive A queries; within, when not nil,
// keeps the changes inside a fault's window.
func oracleAnswerChanges(events []journal.Event, c ClientInfo, within *FaultWindow) int {
	if c.SourceIP == "" {
		return 0
	}
	last := map[string]int{}
	n := 0
	for _, e := range events {
		if e.Type != journal.DNSQuery || e.QType != "A" || e.Answers == nil || hostOf(e.Addr) != c.SourceIP {
			continue
		}
		if prev, seen := last[e.Name]; seen && prev != *e.Answers && (within == nil || within.overlaps(e.T, e.T)) &&
			(within == nil || within.Name == "" || e.Name == within.Name) {
			n++
		}
		last[e.Name] = *e.Answers
	}
	return n
}

// oracleReached says whether anything in the journal shows that fault f touched
// client c. "Reached" means touched, not merely "running at the time": a
// pooled connection that carried on past a node going down was not reached,
// and neither was a client whose DNS answers the fault left unchanged.
func oracleReached(events []journal.Event, reqs []journal.Event, c ClientInfo, f *FaultWindow, dnsShaped int) bool {
	switch f.Reach {
	case ReachDNS, ReachDNSEmpty:
		return dnsShaped > 0
	case ReachNode:
		return oracleRefusedAtNode(events, c, f) || (trusted(c) && oracleFailedPastDNS(reqs, f, "connect-refused"))
	case ReachHealth:
		return oracleConnFailed(events, c, f) || (trusted(c) && oracleFailedPastDNS(reqs, f, "")) || oracleAnswerChanges(events, c, f) > 0
	default: // ReachRegion: the region's links carry every connection through its nodes
		return oracleConnectionsMet(events, c, f) || (trusted(c) && oracleCarriedPastDNS(reqs, f))
	}
}

// oracleClientEvent: a connection event of c's (an application's views share its
// connections).
func oracleClientEvent(e journal.Event, c ClientInfo) bool {
	return e.Client != "" && e.Client == c.Base()
}

// oracleConnectionsMet: a connection of c's at the region's nodes was accepted,
// failed or refused while the fault was applied.
func oracleConnectionsMet(events []journal.Event, c ClientInfo, f *FaultWindow) bool {
	for _, e := range events {
		switch e.Type {
		case journal.ConnAccepted, journal.ConnFailed, journal.ConnRefused:
			if oracleClientEvent(e, c) && e.Region == f.Target && f.overlaps(e.T, e.T) {
				return true
			}
		}
	}
	return false
}

// oracleConnFailed: a connection of c's at the region's nodes failed (no target
// could carry it, or it was reset) while the fault was applied.
func oracleConnFailed(events []journal.Event, c ClientInfo, f *FaultWindow) bool {
	for _, e := range events {
		if e.Type == journal.ConnFailed && oracleClientEvent(e, c) && e.Region == f.Target && f.overlaps(e.T, e.T) {
			return true
		}
	}
	return false
}

// oracleRefusedAtNode: a connection attempt of c's was refused at the fault's node.
func oracleRefusedAtNode(events []journal.Event, c ClientInfo, f *FaultWindow) bool {
	for _, e := range events {
		if e.Type == journal.ConnRefused && oracleClientEvent(e, c) && f.overlaps(e.T, e.T) &&
			(f.Node == "" || hostOf(e.Node) == hostOf(f.Node)) {
			return true
		}
	}
	return false
}

// oracleCarriedPastDNS: a request of c's to the region, in the fault's window,
// got past name resolution (so a connection through the region's nodes
// carried it, or was tried).
func oracleCarriedPastDNS(reqs []journal.Event, f *FaultWindow) bool {
	for _, r := range reqs {
		if r.Region == f.Target && f.overlaps(r.T, r.End()) && !dnsClass(r.Error) {
			return true
		}
	}
	return false
}

// oracleFailedPastDNS: a request of c's to the region failed in the fault's
// window after name resolution; class, when set, is the only failure that
// counts.
func oracleFailedPastDNS(reqs []journal.Event, f *FaultWindow, class string) bool {
	for _, r := range reqs {
		if r.Region == f.Target && f.overlaps(r.T, r.End()) && !r.Succeeded() && !dnsClass(r.Error) &&
			(class == "" || r.Error == class) {
			return true
		}
	}
	return false
}

// oracleHarnessLag reads the harness's self-measurements inside the experiment
// (from its start to its stop: building and teardown move no metric).
func oracleHarnessLag(events []journal.Event, clients []ClientInfo) Harness {
	from, to := oracleExperimentWindow(events)
	in := func(t float64) bool { return t >= from && t <= to }
	h := Harness{BoundMS: DefaultLagBoundMS}
	bounds := map[string]float64{}
	first := true
	for _, c := range clients {
		if c.Rate <= 0 {
			continue
		}
		b := clientLagBound(c)
		bounds[c.Name] = b
		if first || b < h.BoundMS {
			h.BoundMS, first = b, false
		}
	}
	var timer, sched, req, overrun, fault, hc worst
	var reqOver, overOver worst // the worst beyond each client's own bound
	for _, e := range events {
		if !in(e.T) {
			continue
		}
		switch e.Type {
		case journal.HarnessLag:
			timer.see(e.LagMS, e.T, "")
			if e.SchedP99MS != nil {
				sched.see(*e.SchedP99MS, e.T, "")
			}
		case journal.FaultApplied, journal.FaultHealed:
			verb := "applied"
			if e.Type == journal.FaultHealed {
				verb = "healed"
			}
			fault.see(e.LagMS, e.T, fmt.Sprintf("fault %s was %s", e.Fault, verb))
		case journal.HCResult:
			hc.see(e.LagMS, e.T, "")
			if e.Status == journal.HCDiscarded {
				h.HealthChecksDiscarded++
			}
		case journal.Request:
			b, reference := bounds[e.Client]
			if !reference || e.Probe {
				continue
			}
			req.see(e.LagMS, e.T, e.Client)
			if e.LagMS > b {
				reqOver.see(e.LagMS-b, e.T, e.Client)
			}
			c := clientByName(clients, e.Client)
			if c.TimeoutMS > 0 {
				over := e.LatencyMS - e.LagMS - c.TimeoutMS
				overrun.see(math.Max(over, 0), e.T, e.Client)
				if over > b {
					overOver.see(over-b, e.T, e.Client)
				}
			}
		}
	}
	h.TimerLagMaxMS, h.SchedP99MaxMS, h.RequestLagMaxMS = timer.v, sched.v, req.v
	h.DeadlineOverrunMaxMS, h.FaultLagMaxMS, h.HealthCheckLagMaxMS = overrun.v, fault.v, hc.v

	starved := func(format string, args ...any) {
		h.Starved = true
		h.Reasons = append(h.Reasons, fmt.Sprintf(format, args...))
	}
	if timer.v != nil && *timer.v > h.BoundMS {
		starved("faultline's own timers woke up to %s late (at %s; bound %s)", msText(*timer.v), msText(timer.at), msText(h.BoundMS))
	}
	if sched.v != nil && *sched.v > h.BoundMS {
		starved("1 in 100 of faultline's goroutines waited over %s to run (Go's scheduling latency p99, at %s; bound %s): every server and client of the world shares that wait",
			msText(*sched.v), msText(sched.at), msText(h.BoundMS))
	}
	if fault.v != nil && *fault.v > h.BoundMS {
		starved("%s %s late (bound %s)", fault.label, msText(*fault.v), msText(h.BoundMS))
	}
	if reqOver.v != nil {
		c := clientByName(clients, reqOver.label)
		starved("requests of %s were sent up to %s late (at %s; bound %s, one request interval)",
			reqOver.label, msText(*reqOver.v+clientLagBound(c)), msText(reqOver.at), msText(clientLagBound(c)))
	}
	if overOver.v != nil {
		c := clientByName(clients, overOver.label)
		starved("a request of %s ended %s past its own %s deadline (at %s): its timer fired late (bound %s)",
			overOver.label, msText(*overOver.v+clientLagBound(c)), msText(c.TimeoutMS), msText(overOver.at), msText(clientLagBound(c)))
	}
	return h
}

// oracleExperimentWindow is from the experiment's start to its stop (phase
// events); the whole journal when it has none.
func oracleExperimentWindow(events []journal.Event) (from, to float64) {
	from, to = math.Inf(-1), math.Inf(1)
	for _, e := range events {
		if e.Type != journal.Phase {
			continue
		}
		switch e.Detail {
		case "experiment":
			from = e.T
		case "stop":
			to = e.T
		}
	}
	return from, to
}

// oracleRejections tallies the rejected outcome lines of each client: how many,
// and the first few distinct reasons with a line each.
func oracleRejections(events []journal.Event) (count, whileStopping map[string]int, samples map[string][]Rejection) {
	count, whileStopping, samples = map[string]int{}, map[string]int{}, map[string][]Rejection{}
	_, stop := oracleExperimentWindow(events)
	for _, e := range events {
		if e.Type != journal.OutcomeRejected {
			continue
		}
		count[e.Client]++
		if e.T > stop {
			whileStopping[e.Client]++
		}
		s := samples[e.Client]
		if len(s) >= maxRejectedSamples {
			continue
		}
		dup := false
		for _, r := range s {
			dup = dup || r.Reason == e.Detail
		}
		if !dup {
			samples[e.Client] = append(s, Rejection{Reason: e.Detail, Line: e.Line})
		}
	}
	return count, whileStopping, samples
}

// oracleHistogramsOf records requests' latencies (those that have one).
func oracleHistogramsOf(reqs []journal.Event) latencyHistograms {
	h := latencyHistograms{all: newHistogram(), ok: newHistogram()}
	for _, r := range reqs {
		if r.LatencyUnknown {
			continue
		}
		us := int64(math.Round(r.LatencyMS * 1000))
		us = min(max(us, histLowestUS), histHighestUS)
		h.all.RecordValue(us)
		if r.Succeeded() {
			h.ok.RecordValue(us)
		}
	}
	return h
}

// oracleSummarize computes the summary of a journal: the whole report is a pure
// function of the events.
func oracleSummarize(events []journal.Event) Summary {
	s := Summary{Status: "incomplete", K: DefaultK}
	var asserts, steady []journal.Event
	for _, e := range events {
		switch e.Type {
		case journal.RunStart:
			s.Experiment, s.Seed = e.Detail, e.Seed
			if e.K > 0 {
				s.K = e.K
			}
		case journal.RunEnd:
			s.Status, s.Reason, s.DurationMS = e.Status, e.Detail, e.T
		case journal.Assertion:
			asserts = append(asserts, e)
		case journal.SteadyState:
			steady = append(steady, e)
		}
	}
	windows := Faults(events)
	for _, w := range windows {
		s.Faults = append(s.Faults, FaultReport{ID: w.ID, Kind: w.Kind, Target: w.Target, StartMS: w.StartMS, EndMS: w.EndMS})
	}
	clients := Clients(events)
	lastHeal := oracleLastHeal(windows)
	metricsFor := func(c ClientInfo, faultID string) Metrics {
		var m Metrics
		found := false
		for i := range windows {
			if windows[i].ID == faultID || faultID == "" {
				m, found = oracleForClient(events, c, &windows[i], s.K), true
				break
			}
		}
		if !found {
			m = oracleForClient(events, c, nil, s.K)
		}
		oracleGlobal(events, c, &m, lastHeal)
		return m
	}
	rejected, stopping, samples := oracleRejections(events)
	var unmeasuredReasons []string
	for _, c := range clients {
		m := metricsFor(c, "")
		cr := ClientReport{Name: c.Name, Strategy: c.Strategy, Primary: c.Primary, SourceIP: c.SourceIP,
			Requests: m.Requests, Errors: m.Errors, ErrorClasses: oracleErrorClasses(events, c.Name), Metrics: m,
			Rejected: rejected[c.Name], RejectedSamples: samples[c.Name], RejectedWhileStopping: stopping[c.Name],
			latency: oracleHistogramsOf(Requests(events, c.Name))}
		if len(windows) > 0 && !m.FaultReached {
			cr.Warning = NotReached
		}
		s.Clients = append(s.Clients, cr)
		for _, w := range windowsAfterFirst(windows) {
			if s.ByFault == nil {
				s.ByFault = map[string][]Client{}
			}
			s.ByFault[w.ID] = append(s.ByFault[w.ID], Client{Name: c.Name, Metrics: metricsFor(c, w.ID)})
		}
	}
	for i, c := range clients {
		viewsMeasured := false
		for _, v := range s.Clients {
			viewsMeasured = viewsMeasured || (v.Name != c.Name && BaseName(v.Name) == c.Name && v.Requests > 0)
		}
		if u := unmeasured(s.Clients[i], c.View(), viewsMeasured); u != "" {
			s.Clients[i].Unmeasured = u
			unmeasuredReasons = append(unmeasuredReasons, u)
		}
	}
	for _, a := range asserts {
		s.Assertions = append(s.Assertions, evaluate(a, clients, windows, metricsFor, oracleStorm(events, windows))...)
	}
	s.SteadyState = oracleSteadyOutcomes(events, steady, clients, windows, s.DurationMS)
	s.Harness = oracleHarnessLag(events, clients)
	s.Replication = oracleReplication(events, lastHeal)
	s.Storm = oracleStorm(events, windows)
	s.Verdict, s.Reasons = verdict(s, unmeasuredReasons)
	return s
}

// oracleSteadyOutcomes checks each hypothesis on the requests that ended before
// the first fault and on those that started after the last heal (the whole
// run, as "before", when there is no fault).
func oracleSteadyOutcomes(events, steady []journal.Event, clients []ClientInfo, windows []FaultWindow, end float64) []SteadyOutcome {
	if len(steady) == 0 {
		return nil
	}
	before, after := end, -1.0
	for _, w := range windows {
		before = min(before, w.StartMS)
		if w.EndMS != nil {
			after = max(after, *w.EndMS)
		}
	}
	var out []SteadyOutcome
	for _, st := range steady {
		expr, err := assert.ParseExpr(st.Expr)
		if err != nil {
			continue
		}
		for _, c := range clients {
			if st.Client != "*" && st.Client != c.Name {
				continue
			}
			reqs := oracleRequestsOf(events, c)
			check := func(when string, keep func(journal.Event) bool) {
				var in []journal.Event
				for _, r := range reqs {
					if keep(r) {
						in = append(in, r)
					}
				}
				o := SteadyOutcome{Client: c.Name, Expr: st.Expr, When: when}
				if v, ok := oracleWindowMetrics(c, in).Value(expr.Metric); ok {
					o.Value, o.Holds = &v, expr.Holds(v)
				}
				out = append(out, o)
			}
			check("before", func(r journal.Event) bool { return c.knownAt(r) < before })
			if after >= 0 {
				check("after", func(r journal.Event) bool { return r.T >= after })
			}
		}
	}
	return out
}

func oracleErrorClasses(events []journal.Event, client string) map[string]int {
	out := map[string]int{}
	for _, r := range Requests(events, client) {
		if !r.Succeeded() {
			class := r.Error
			if class == "" {
				class = "other"
			}
			out[class]++
		}
	}
	return out
}
