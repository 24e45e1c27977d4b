package measure

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/faultline-dev/faultline/experiments/assert"
	"github.com/faultline-dev/faultline/experiments/journal"
)

// Verdicts of a run.
const (
	Pass       = "pass"       // every assertion held
	Fail       = "fail"       // an assertion failed
	Incomplete = "incomplete" // the run broke or was interrupted: nothing is proven
	Invalid    = "invalid"    // the steady state did not hold before the faults, or the run ended "invalid" (an application never got ready): nothing is proven
)

// Summary is everything a report shows: the run, its faults, each client's
// metrics relative to the first fault, and the assertions' outcomes.
type Summary struct {
	Experiment string `json:"experiment"`
	Verdict    string `json:"verdict"`
	// Reasons say why the verdict is not pass, in words: the harness was
	// starved, a client was not measured, an assertion failed, ...
	Reasons    []string           `json:"reasons,omitempty"`
	Status     string             `json:"status"` // complete | incomplete | stopped | invalid
	Reason     string             `json:"reason,omitempty"`
	Seed       *int64             `json:"seed,omitempty"`
	DurationMS float64            `json:"duration_ms"`
	K          int                `json:"consecutive_successes"`
	Faults     []FaultReport      `json:"faults"`
	Clients    []ClientReport     `json:"clients"`
	Assertions []AssertionOutcome `json:"assertions"`
	// SteadyState: each hypothesis checked before the first fault and after
	// the last heal.
	SteadyState []SteadyOutcome     `json:"steady_state,omitempty"`
	ByFault     map[string][]Client `json:"by_fault,omitempty"` // every fault after the first: metrics per client
	// Harness is what faultline measured of its own lateness.
	Harness Harness `json:"harness"`
}

// FaultReport is a fault window in report.json's shape.
type FaultReport struct {
	ID      string   `json:"id"`
	Kind    string   `json:"kind"`
	Target  string   `json:"target"`
	StartMS float64  `json:"start_ms"`
	EndMS   *float64 `json:"end_ms"`
	// Who applied and healed it, when the journal says (schedule, bound,
	// rollback, api:NAME for a game day's faults on cue).
	AppliedBy string `json:"applied_by,omitempty"`
	HealedBy  string `json:"healed_by,omitempty"`
}

// ClientReport is one client with its metrics relative to the first fault.
type ClientReport struct {
	Name         string         `json:"name"`
	Strategy     string         `json:"strategy"`
	Primary      string         `json:"primary"`
	SourceIP     string         `json:"source_ip"`
	Requests     int            `json:"requests"`
	Errors       int            `json:"errors"`
	ErrorClasses map[string]int `json:"error_classes"`
	Metrics      Metrics        `json:"metrics"`
	Warning      string         `json:"warning,omitempty"`
	// Rejected counts the application's outcome lines that broke the
	// schema; RejectedSamples quotes the first few reasons.
	Rejected        int         `json:"rejected_lines"`
	RejectedSamples []Rejection `json:"rejected_samples,omitempty"`
	// Unmeasured says why this client's numbers cannot be trusted (the run
	// is then invalid).
	Unmeasured string `json:"unmeasured,omitempty"`
	// latency holds every request's latency (all, and successes) for
	// merging across trials.
	latency latencyHistograms
}

// Client is a client's metrics relative to one fault (in ByFault).
type Client struct {
	Name    string  `json:"name"`
	Metrics Metrics `json:"metrics"`
}

// AssertionOutcome is one assertion checked against one client.
type AssertionOutcome struct {
	Client string   `json:"client"`
	Metric string   `json:"metric"`
	Expr   string   `json:"expr"`
	Fault  string   `json:"fault,omitempty"`
	Value  *float64 `json:"value"`
	Pass   bool     `json:"pass"`
	Note   string   `json:"note,omitempty"`
	// Unmeasured says why the assertion measured nothing, whatever its
	// value: the client reported no request, or the fault never reached it.
	// The run is then invalid.
	Unmeasured string `json:"unmeasured,omitempty"`
}

// SteadyOutcome is one steady-state check of one client in one window.
type SteadyOutcome struct {
	Client string   `json:"client"`
	Expr   string   `json:"expr"`
	When   string   `json:"when"` // before (the first fault) or after (the last heal)
	Value  *float64 `json:"value"`
	Holds  bool     `json:"holds"`
}

// NotReached is the warning every report shows for a client the fault never touched.
const NotReached = "fault did not reach this client: " + notReachedWhy + ", so its metrics prove nothing about it"

const notReachedWhy = "none of its DNS answers was changed by the fault, and none of its connections or requests met it (pooled connections outlive a DNS fault; pair it with a link.down to close them)"

// silence says why a client has no request, in its own terms.
func silence(c ClientInfo) string {
	switch {
	case strings.HasSuffix(c.Name, ".probe"):
		return "has no successful probe: its health URL never answered 2xx (probes count from the first success)"
	case strings.HasSuffix(c.Name, ".server"):
		return "was seen by nobody: the nodes carried no request of " + c.Base() + " and no DNS answer for it was shaped"
	case c.Strategy == "app":
		return "reported no request: no outcome line of its was accepted (an application that writes none is measured by " + c.Name + ".server, or " + c.Name + ".probe with a health URL)"
	}
	return "sent no request"
}

// hasFault: the run has the fault an assertion is relative to ("" is the
// first); without it, a fault metric is simply null.
func hasFault(id string, windows []FaultWindow) bool {
	return slices.ContainsFunc(windows, func(w FaultWindow) bool { return id == "" || w.ID == id })
}

// Summarize computes the summary of a journal: the whole report is a pure
// function of the events.
func Summarize(events []journal.Event) Summary {
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
		s.Faults = append(s.Faults, FaultReport{ID: w.ID, Kind: w.Kind, Target: w.Target, StartMS: w.StartMS, EndMS: w.EndMS,
			AppliedBy: w.AppliedBy, HealedBy: w.HealedBy})
	}
	clients := Clients(events)
	metricsFor := func(c ClientInfo, faultID string) Metrics {
		for i := range windows {
			if windows[i].ID == faultID || faultID == "" {
				return ForClient(events, c, &windows[i], s.K)
			}
		}
		return ForClient(events, c, nil, s.K)
	}
	rejected, samples := rejections(events)
	var unmeasuredReasons []string
	for _, c := range clients {
		m := metricsFor(c, "")
		cr := ClientReport{Name: c.Name, Strategy: c.Strategy, Primary: c.Primary, SourceIP: c.SourceIP,
			Requests: m.Requests, Errors: m.Errors, ErrorClasses: errorClasses(events, c.Name), Metrics: m,
			Rejected: rejected[c.Name], RejectedSamples: samples[c.Name], latency: histogramsOf(Requests(events, c.Name))}
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
		s.Assertions = append(s.Assertions, evaluate(a, clients, windows, metricsFor)...)
	}
	s.SteadyState = steadyOutcomes(events, steady, clients, windows, s.DurationMS)
	s.Harness = harnessLag(events, clients)
	s.Verdict, s.Reasons = verdict(s, unmeasuredReasons)
	return s
}

// verdict decides the run's verdict, most serious first: a run that broke
// proves nothing (incomplete); a run whose numbers cannot be trusted proves
// nothing either (invalid: the harness was starved, a client was not
// measured, the steady state did not hold before the faults); then a stop
// condition or a failed assertion or steady state after the heal (fail).
func verdict(s Summary, unmeasured []string) (string, []string) {
	var invalid, failed []string
	switch s.Status {
	case "complete":
	case "stopped": // a stop condition tripped: the guardrail is the verdict
		failed = append(failed, s.Reason)
	case "invalid":
		invalid = append(invalid, s.Reason)
	default:
		return Incomplete, []string{"the run did not complete: " + s.Reason}
	}
	if s.Harness.Starved {
		for _, r := range s.Harness.Reasons {
			invalid = append(invalid, "the harness was starved: "+r)
		}
	}
	invalid = append(invalid, unmeasured...)
	for _, o := range s.SteadyState {
		switch {
		case !o.Holds && o.When == "before":
			invalid = append(invalid, fmt.Sprintf("steady state did not hold before the faults: %s: %s (value %s)", o.Client, o.Expr, valueText(o.Value)))
		case !o.Holds:
			failed = append(failed, fmt.Sprintf("did not come back to its steady state: %s: %s (value %s)", o.Client, o.Expr, valueText(o.Value)))
		}
	}
	for _, a := range s.Assertions {
		switch {
		case a.Unmeasured != "":
			invalid = append(invalid, fmt.Sprintf("assertion %s: %s measured nothing: %s", a.Client, a.Expr, a.Unmeasured))
		case !a.Pass:
			failed = append(failed, fmt.Sprintf("assertion failed: %s: %s (value %s)", a.Client, a.Expr, valueText(a.Value)))
		}
	}
	switch {
	case len(invalid) > 0:
		return Invalid, invalid
	case len(failed) > 0:
		return Fail, failed
	}
	return Pass, nil
}

func valueText(v *float64) string {
	if v == nil {
		return "null"
	}
	return strconv.FormatFloat(*v, 'g', 6, 64)
}

// steadyOutcomes checks each hypothesis on the requests that ended before
// the first fault and on those that started after the last heal (the whole
// run, as "before", when there is no fault).
func steadyOutcomes(events, steady []journal.Event, clients []ClientInfo, windows []FaultWindow, end float64) []SteadyOutcome {
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
			reqs := requestsOf(events, c)
			check := func(when string, keep func(journal.Event) bool) {
				var in []journal.Event
				for _, r := range reqs {
					if keep(r) {
						in = append(in, r)
					}
				}
				o := SteadyOutcome{Client: c.Name, Expr: st.Expr, When: when}
				if v, ok := windowMetrics(c, in).Value(expr.Metric); ok {
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

// WindowMetrics are the fault-free metrics of some requests of a client
// (steady state, stop conditions).
func WindowMetrics(c ClientInfo, reqs []journal.Event) Metrics { return windowMetrics(c, reqs) }

func windowsAfterFirst(ws []FaultWindow) []FaultWindow {
	if len(ws) < 2 {
		return nil
	}
	return ws[1:]
}

func evaluate(a journal.Event, clients []ClientInfo, windows []FaultWindow, metricsFor func(ClientInfo, string) Metrics) []AssertionOutcome {
	expr, err := assert.ParseExpr(a.Expr)
	if err != nil {
		return []AssertionOutcome{{Client: a.Client, Expr: a.Expr, Fault: a.Fault, Note: err.Error()}}
	}
	var out []AssertionOutcome
	for _, c := range clients {
		if a.Client != "*" && a.Client != c.Name {
			continue
		}
		// One run is one trial: an aggregation of one value is that value.
		o := AssertionOutcome{Client: c.Name, Metric: expr.Metric, Expr: a.Expr, Fault: a.Fault}
		m := metricsFor(c, a.Fault)
		if v, ok := m.Value(expr.Metric); ok {
			o.Value, o.Pass = &v, expr.Holds(v)
		} else {
			o.Note = expr.Metric + " is null for this client, so the assertion cannot hold"
		}
		switch {
		case m.Requests == 0:
			o.Unmeasured = c.Name + " " + silence(c)
		case slices.Contains(FaultMetrics, expr.Metric) && !m.FaultReached && hasFault(a.Fault, windows):
			o.Unmeasured = "the fault did not reach " + c.Name + " (" + notReachedWhy + "): how it noticed, failed over or recovered from it was not measured"
		}
		if o.Unmeasured != "" {
			o.Pass, o.Note = false, o.Unmeasured
		}
		out = append(out, o)
	}
	if len(out) == 0 {
		out = append(out, AssertionOutcome{Client: a.Client, Metric: expr.Metric, Expr: a.Expr, Fault: a.Fault,
			Note: "no client named " + a.Client + " ran"})
	}
	return out
}

func errorClasses(events []journal.Event, client string) map[string]int {
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
