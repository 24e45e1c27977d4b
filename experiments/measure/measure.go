// Package measure turns a run's journal into numbers: pure functions of the
// events, with no clock and no I/O, so every definition can be tested with a
// hand-written journal. The definitions are those of ARCHITECTURE.md; the
// README's "Metrics" section states them with their edge cases.
package measure

import (
	"math"
	"net"
	"sort"
	"strings"

	"github.com/faultline-dev/faultline/experiments/journal"
)

// DefaultK is how many consecutive successes count as "serving again".
const DefaultK = 5

// FaultWindow is one fault as the journal saw it.
type FaultWindow struct {
	ID, Kind, Target string
	StartMS          float64
	EndMS            *float64 // nil: the journal has no heal (the run broke first)
	// Reach says what shows that the fault touched a client (see Reach*);
	// Node is the node of a node fault, Name the endpoint of a region's.
	Reach, Node, Name string
	// AppliedBy and HealedBy say who applied and healed it (the events'
	// By: schedule, bound, rollback, api:NAME, ...).
	AppliedBy, HealedBy string
}

// Reaches: what shows that a fault touched a client.
const (
	ReachDNS      = "dns"       // DNS answers the fault changed
	ReachDNSEmpty = "dns-empty" // and empty A answers for its target while applied (the automation's race)
	ReachRegion   = "region"    // connections or requests through the region's nodes (links)
	ReachHealth   = "health"    // what health checks change: failed connections or requests in the region, or the DNS answer changing
	ReachNode     = "node"      // connection attempts at the node
)

// overlaps reports whether [from, to] meets the fault's window.
func (f *FaultWindow) overlaps(from, to float64) bool {
	return to >= f.StartMS && (f.EndMS == nil || from < *f.EndMS)
}

// ClientInfo is what a client said of itself when it started.
type ClientInfo struct {
	Name, Strategy, Primary string
	SourceIP                string
	// TimeoutMS and Rate of a reference client bound what its numbers can
	// resolve; ObjectiveMS is its latency objective (0: none).
	TimeoutMS, Rate, ObjectiveMS float64
}

// Base is the client a view belongs to: "orders" for "orders.server" and
// "orders.probe" (client names have no dots), the name itself otherwise.
func (c ClientInfo) Base() string { return BaseName(c.Name) }

// BaseName strips a view's suffix from a client name.
func BaseName(name string) string {
	if i := strings.IndexByte(name, '.'); i > 0 {
		return name[:i]
	}
	return name
}

// View reports whether the client is a view of an application (NAME.server,
// NAME.probe) rather than a client of its own.
func (c ClientInfo) View() bool { return c.Base() != c.Name }

// served says whether a request counts as served: it succeeded, within the
// client's latency objective when it has one.
func (c ClientInfo) served(r journal.Event) bool {
	return r.Succeeded() && !c.slow(r)
}

// slow: a request slower than the client's latency objective.
func (c ClientInfo) slow(r journal.Event) bool {
	return c.ObjectiveMS > 0 && !r.LatencyUnknown && r.LatencyMS > c.ObjectiveMS
}

// knownAt is when the client knew a request's outcome: its end, or, for a
// request slower than the objective, the moment it passed the objective
// (from then on it was not serving, whatever came later).
func (c ClientInfo) knownAt(r journal.Event) float64 {
	if c.slow(r) {
		return r.T + c.ObjectiveMS
	}
	return r.End()
}

// Metrics of one client relative to one fault. A nil pointer is "null": the
// metric has no value (see each definition).
type Metrics struct {
	DetectMS     *float64 `json:"detect_ms"`
	FailoverMS   *float64 `json:"failover_ms"`
	RecoverMS    *float64 `json:"recover_ms"`
	Availability *float64 `json:"availability"`
	// Latency percentiles over every request (a failed one counts with
	// the time it took to fail) and over successful ones only.
	LatencyP50MS   *float64 `json:"latency_p50_ms"`
	LatencyP99MS   *float64 `json:"latency_p99_ms"`
	OKLatencyP50MS *float64 `json:"ok_latency_p50_ms"`
	OKLatencyP99MS *float64 `json:"ok_latency_p99_ms"`
	// DNSQueriesInFault counts the client's DNS queries whose answers the
	// fault changed.
	DNSQueriesInFault int `json:"dns_queries_in_fault"`
	// DNSAnswerChanges counts how often the number of addresses the client
	// was given for a name changed between its successive A queries over the
	// run: the DNS churn it saw (nodes leaving DNS and coming back).
	DNSAnswerChanges int `json:"dns_answer_changes"`
	Requests         int `json:"requests"`
	Errors           int `json:"errors"`
	// Slow counts successful requests slower than the latency objective:
	// not served, though not errors.
	Slow int `json:"slow_requests"`
	// FaultReached is false when nothing shows the fault touched the client
	// (see the Reach* kinds). A pass then proves nothing.
	FaultReached bool `json:"fault_reached"`

	// Global tables (global.go; README "Metrics"): null when not
	// measurable (no global table, no versioned workload, no switch of
	// region). The replication lag is the table's, over every direction
	// (report.json's replication has it per direction).
	ReplicationLagP50MS     *float64 `json:"replication_lag_p50_ms"`
	ReplicationLagP99MS     *float64 `json:"replication_lag_p99_ms"`
	ReplicationLagMaxMS     *float64 `json:"replication_lag_max_ms"`
	WritesAtRisk            *int     `json:"writes_at_risk"`
	RPOMS                   *float64 `json:"rpo_ms"`
	StaleReadsAfterFailover *int     `json:"stale_reads_after_failover"`
	LostWrites              *int     `json:"lost_writes"`
	ConflictingWrites       *int     `json:"conflicting_writes"`
	ConvergenceMS           *float64 `json:"convergence_ms"`
}

// GlobalMetrics are the global-table metrics (null when not measurable).
var GlobalMetrics = []string{"replication_lag_p50_ms", "replication_lag_p99_ms", "replication_lag_max_ms", "writes_at_risk",
	"rpo_ms", "stale_reads_after_failover", "lost_writes", "conflicting_writes", "convergence_ms"}

// Value returns a metric by its assertion name; ok is false when it is null
// or unknown.
func (m Metrics) Value(name string) (v float64, ok bool) {
	ptr := map[string]*float64{
		"detect_ms": m.DetectMS, "failover_ms": m.FailoverMS, "recover_ms": m.RecoverMS,
		"availability": m.Availability, "latency_p50_ms": m.LatencyP50MS, "latency_p99_ms": m.LatencyP99MS,
		"ok_latency_p50_ms": m.OKLatencyP50MS, "ok_latency_p99_ms": m.OKLatencyP99MS,
		"replication_lag_p50_ms": m.ReplicationLagP50MS, "replication_lag_p99_ms": m.ReplicationLagP99MS,
		"replication_lag_max_ms": m.ReplicationLagMaxMS, "rpo_ms": m.RPOMS, "convergence_ms": m.ConvergenceMS,
	}
	if p, known := ptr[name]; known {
		if p == nil {
			return 0, false
		}
		return *p, true
	}
	counts := map[string]*int{"writes_at_risk": m.WritesAtRisk, "stale_reads_after_failover": m.StaleReadsAfterFailover,
		"lost_writes": m.LostWrites, "conflicting_writes": m.ConflictingWrites}
	if p, known := counts[name]; known {
		if p == nil {
			return 0, false
		}
		return float64(*p), true
	}
	switch name {
	case "dns_queries_in_fault":
		return float64(m.DNSQueriesInFault), true
	case "dns_answer_changes":
		return float64(m.DNSAnswerChanges), true
	case "requests":
		return float64(m.Requests), true
	case "errors":
		return float64(m.Errors), true
	case "slow_requests":
		return float64(m.Slow), true
	}
	return 0, false
}

// Faults lists the faults in the order they were applied.
func Faults(events []journal.Event) []FaultWindow {
	var out []FaultWindow
	index := map[string]int{}
	for _, e := range events {
		switch e.Type {
		case journal.FaultApplied:
			index[e.Fault] = len(out)
			w := FaultWindow{ID: e.Fault, Kind: e.Kind, Target: e.Target, StartMS: e.T, Reach: e.Reach, Node: e.Node, Name: e.Name, AppliedBy: e.By}
			if w.Reach == "" {
				w.Reach = reachOfKind(e.Kind)
			}
			out = append(out, w)
		case journal.FaultHealed:
			if i, ok := index[e.Fault]; ok && out[i].EndMS == nil {
				t := e.T
				out[i].EndMS, out[i].HealedBy = &t, e.By
			}
		}
	}
	return out
}

// reachOfKind reads a journal written before faults said their reach: the
// kind's family says it.
func reachOfKind(kind string) string {
	switch {
	case kind == "dns.plan-race":
		return ReachDNSEmpty
	case strings.HasPrefix(kind, "dns."):
		return ReachDNS
	case strings.HasPrefix(kind, "hc."):
		return ReachHealth
	case kind == "nlb.node-down":
		return ReachNode
	}
	return ReachRegion
}

// Clients lists the clients in the order they started.
func Clients(events []journal.Event) []ClientInfo {
	var out []ClientInfo
	for _, e := range events {
		if e.Type == journal.ClientStart {
			out = append(out, ClientInfo{Name: e.Client, Strategy: e.Strategy, Primary: e.Region, SourceIP: e.Addr,
				TimeoutMS: e.TimeoutMS, Rate: e.Rate, ObjectiveMS: e.ObjectiveMS})
		}
	}
	return out
}

// Requests returns a client's requests (probes excluded) ordered by the time
// their outcome was known.
func Requests(events []journal.Event, client string) []journal.Event {
	var out []journal.Event
	for _, e := range events {
		if e.Type == journal.Request && e.Client == client && !e.Probe {
			out = append(out, e)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].End() < out[j].End() })
	return out
}

// FaultMetrics are the metrics relative to a fault: they measure nothing
// for a client the fault did not reach.
var FaultMetrics = []string{"detect_ms", "failover_ms", "recover_ms"}

func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// ptr rounds to the microsecond (metrics come from differences of
// microsecond timestamps; more digits are float noise).
func ptr(f float64) *float64 {
	r := math.Round(f*1000) / 1000
	return &r
}
