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
	Reasons    []string `json:"reasons,omitempty"`
	Status     string   `json:"status"` // complete | incomplete | stopped | invalid
	Reason     string   `json:"reason,omitempty"`
	Seed       *int64   `json:"seed,omitempty"`
	DurationMS float64  `json:"duration_ms"`
	K          int      `json:"consecutive_successes"`
	// Started, Host, Version and Backend are what the journal's run.start
	// says of the run: its wall-clock start (RFC 3339, UTC), the machine,
	// the faultline that ran it and the DynamoDB backend. A journal written
	// before they were recorded lacks them: they are then empty.
	Started string `json:"started,omitempty"`
	Host    string `json:"host,omitempty"`
	Version string `json:"version,omitempty"`
	Backend string `json:"backend,omitempty"`
	// StartedEstimated: the journal did not say when the run started;
	// Started is its file's modification time less the run's duration
	// (reports.ReadJournal), so junit.xml still has its timestamp.
	StartedEstimated bool               `json:"started_estimated,omitempty"`
	Faults           []FaultReport      `json:"faults"`
	Clients          []ClientReport     `json:"clients"`
	Assertions       []AssertionOutcome `json:"assertions"`
	// SteadyState: each hypothesis checked before the first fault and after
	// the last heal.
	SteadyState []SteadyOutcome     `json:"steady_state,omitempty"`
	ByFault     map[string][]Client `json:"by_fault,omitempty"` // every fault after the first: metrics per client
	// Harness is what faultline measured of its own lateness.
	Harness Harness `json:"harness"`
	// Replication is what the journal says of a global table's replication
	// (null: no global table).
	Replication *Replication `json:"replication"`
	// Storm is the load at the backends and the fleets per second and the
	// metrics of a retry storm (null: no ddb.load, ddb.capacity,
	// fleet.start or fleet.load event).
	Storm *Storm `json:"storm"`
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
	// RejectedWhileStopping counts the rejected lines written after the
	// experiment's end, while the application was being stopped (a line
	// torn by SIGTERM): reported, but not held against the client.
	RejectedWhileStopping int `json:"rejected_while_stopping,omitempty"`
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

// evaluateStorm checks an assertion on a metric of the run's load (the
// backends' and the fleets'), once, whatever its client: null without any
// load in the journal is unmeasured (the run is then invalid); null for
// another reason (no heal, never drained) cannot hold.
func evaluateStorm(a journal.Event, expr assert.Expr, storm *Storm) AssertionOutcome {
	o := AssertionOutcome{Client: a.Client, Metric: expr.Metric, Expr: a.Expr, Fault: a.Fault}
	if v, ok := storm.Value(expr.Metric); ok {
		o.Value, o.Pass = &v, expr.Holds(v)
		return o
	}
	o.Note = expr.Metric + " is null, so the assertion cannot hold: " + storm.Why(expr.Metric)
	if storm == nil || (fleetMetric(expr.Metric) && len(storm.Clients) == 0) || (!fleetMetric(expr.Metric) && len(storm.Server) == 0) {
		o.Unmeasured = storm.Why(expr.Metric)
		o.Note = o.Unmeasured
	}
	return o
}

// hasFault: the run has the fault an assertion is relative to ("" is the
// first); without it, a fault metric is simply null.
func hasFault(id string, windows []FaultWindow) bool {
	return slices.ContainsFunc(windows, func(w FaultWindow) bool { return id == "" || w.ID == id })
}

// Summarize computes the summary of a journal held in memory: the whole
// report is a pure function of the events. It folds them (NewFold); a
// journal on disk streams through SummarizeFile.
func Summarize(events []journal.Event) Summary { return summarizeEvents(events) }

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
			failed = append(failed, fmt.Sprintf("assertion failed: %s: %s (value %s)", a.Client, a.Expr, assertionValueText(a)))
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

// assertionValueText is an assertion's value as its metric reads: true or
// false for a yes-or-no metric (metastable), a number otherwise.
func assertionValueText(a AssertionOutcome) string {
	if a.Value != nil && slices.Contains(assert.BooleanMetrics, a.Metric) {
		return strconv.FormatBool(*a.Value == 1)
	}
	return valueText(a.Value)
}

func valueText(v *float64) string {
	if v == nil {
		return "null"
	}
	return strconv.FormatFloat(*v, 'g', 6, 64)
}

func evaluate(a journal.Event, clients []ClientInfo, windows []FaultWindow, metricsFor func(ClientInfo, string) Metrics, storm *Storm) []AssertionOutcome {
	expr, err := assert.ParseExpr(a.Expr)
	if err != nil {
		return []AssertionOutcome{{Client: a.Client, Expr: a.Expr, Fault: a.Fault, Note: err.Error()}}
	}
	if slices.Contains(StormMetrics, expr.Metric) {
		return []AssertionOutcome{evaluateStorm(a, expr, storm)}
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
