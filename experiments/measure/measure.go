// Package measure turns a run's journal into numbers: pure functions of the
// events, with no clock and no I/O, so every definition can be tested with a
// hand-written journal. The definitions are those of ARCHITECTURE.md; the
// README's "Metrics" section states them with their edge cases.
package measure

import (
	"math"
	"net"
	"sort"

	"github.com/montanaflynn/stats"

	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/faults"
)

// DefaultK is how many consecutive successes count as "serving again".
const DefaultK = 5

// FaultWindow is one fault as the journal saw it.
type FaultWindow struct {
	ID, Kind, Target string
	StartMS          float64
	EndMS            *float64 // nil: the journal has no heal (the run broke first)
}

// ClientInfo is what a client said of itself when it started.
type ClientInfo struct {
	Name, Strategy, Primary string
	SourceIP                string
}

// Metrics of one client relative to one fault. A nil pointer is "null": the
// metric has no value (see each definition).
type Metrics struct {
	DetectMS          *float64 `json:"detect_ms"`
	FailoverMS        *float64 `json:"failover_ms"`
	RecoverMS         *float64 `json:"recover_ms"`
	Availability      *float64 `json:"availability"`
	LatencyP50MS      *float64 `json:"latency_p50_ms"`
	LatencyP99MS      *float64 `json:"latency_p99_ms"`
	DNSQueriesInFault int      `json:"dns_queries_in_fault"`
	// DNSAnswerChanges counts how often the number of addresses the client
	// was given for a name changed between its successive A queries over the
	// run: the DNS churn it saw (nodes leaving DNS and coming back).
	DNSAnswerChanges int `json:"dns_answer_changes"`
	Requests         int `json:"requests"`
	Errors           int `json:"errors"`
	// FaultReached is false when nothing shows the fault touched the client:
	// for a DNS fault no query of the client was shaped by it (pooled
	// connections, caches); for a region fault no request of the client went
	// to that region during the fault. A pass then proves nothing.
	FaultReached bool `json:"fault_reached"`
}

// Value returns a metric by its assertion name; ok is false when it is null
// or unknown.
func (m Metrics) Value(name string) (v float64, ok bool) {
	ptr := map[string]*float64{
		"detect_ms": m.DetectMS, "failover_ms": m.FailoverMS, "recover_ms": m.RecoverMS,
		"availability": m.Availability, "latency_p50_ms": m.LatencyP50MS, "latency_p99_ms": m.LatencyP99MS,
	}
	if p, known := ptr[name]; known {
		if p == nil {
			return 0, false
		}
		return *p, true
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
			out = append(out, FaultWindow{ID: e.Fault, Kind: e.Kind, Target: e.Target, StartMS: e.T})
		case journal.FaultHealed:
			if i, ok := index[e.Fault]; ok && out[i].EndMS == nil {
				t := e.T
				out[i].EndMS = &t
			}
		}
	}
	return out
}

// Clients lists the clients in the order they started.
func Clients(events []journal.Event) []ClientInfo {
	var out []ClientInfo
	for _, e := range events {
		if e.Type == journal.ClientStart {
			out = append(out, ClientInfo{Name: e.Client, Strategy: e.Strategy, Primary: e.Region, SourceIP: e.Addr})
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

// ForClient computes a client's metrics relative to fault f (nil: a run
// without faults, where only the fault-free metrics have values). k is the
// number of consecutive successes that count as serving again.
func ForClient(events []journal.Event, c ClientInfo, f *FaultWindow, k int) Metrics {
	if k < 1 {
		k = DefaultK
	}
	reqs := Requests(events, c.Name)
	m := Metrics{Requests: len(reqs)}
	var latencies []float64
	for _, r := range reqs {
		if r.Succeeded() {
			latencies = append(latencies, r.LatencyMS)
		} else {
			m.Errors++
		}
	}
	if len(reqs) > 0 {
		a := float64(len(reqs)-m.Errors) / float64(len(reqs)) // a ratio: not rounded
		m.Availability = &a
	}
	m.DNSAnswerChanges = answerChanges(events, c)
	m.LatencyP50MS = percentile(latencies, 50)
	m.LatencyP99MS = percentile(latencies, 99)
	if f == nil {
		return m
	}
	m.DNSQueriesInFault = dnsQueriesShaped(events, c, f)
	m.FaultReached = reached(events, reqs, c, f, m.DNSQueriesInFault)
	m.DetectMS, m.FailoverMS = detectAndFailover(reqs, f, k)
	m.RecoverMS = recoverTime(reqs, c.Primary, f, k)
	return m
}

// detectAndFailover: detect is the first failed request (by when it failed)
// that started before the fault was healed, minus the fault start; failover
// is the first success of the first run of k consecutive successes after that
// failure, minus the fault start, provided that success came while the fault
// was still applied. No failure: detect null, failover 0.
func detectAndFailover(reqs []journal.Event, f *FaultWindow, k int) (detect, failover *float64) {
	first := -1
	for i, r := range reqs {
		if r.End() >= f.StartMS && !r.Succeeded() && (f.EndMS == nil || r.T < *f.EndMS) {
			first = i
			break
		}
	}
	if first < 0 {
		return nil, ptr(0)
	}
	detect = ptr(reqs[first].End() - f.StartMS)
	start := firstRun(reqs[first+1:], k, func(journal.Event) bool { return true })
	if start == nil || (f.EndMS != nil && start.End() > *f.EndMS) {
		return detect, nil
	}
	return detect, ptr(start.End() - f.StartMS)
}

// recoverTime: after the heal, the first success of the first run of k
// consecutive successes on the client's primary region, minus the heal time.
// Null when the fault was never healed or the client never got back.
func recoverTime(reqs []journal.Event, primary string, f *FaultWindow, k int) *float64 {
	if f.EndMS == nil {
		return nil
	}
	var after []journal.Event
	for _, r := range reqs {
		if r.T >= *f.EndMS {
			after = append(after, r)
		}
	}
	start := firstRun(after, k, func(r journal.Event) bool { return r.Region == primary })
	if start == nil {
		return nil
	}
	return ptr(start.End() - *f.EndMS)
}

// firstRun finds the first request that begins a run of k consecutive
// successful requests that all satisfy on; any other request breaks a run.
func firstRun(reqs []journal.Event, k int, on func(journal.Event) bool) *journal.Event {
	run := 0
	for i, r := range reqs {
		if r.Succeeded() && on(r) {
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

// dnsQueriesShaped counts DNS queries from the client's source address that
// the fault shaped: answers marked with its id, or, for a kind that empties
// the record by other means, empty A answers for its target while it was
// applied.
func dnsQueriesShaped(events []journal.Event, c ClientInfo, f *FaultWindow) int {
	if c.SourceIP == "" {
		return 0
	}
	kind, _ := faults.Lookup(f.Kind)
	_, byEmptiness := kind.(faults.ShowsAsEmptyAnswers)
	n := 0
	for _, e := range events {
		if e.Type != journal.DNSQuery || hostOf(e.Addr) != c.SourceIP {
			continue
		}
		switch {
		case e.Fault != "" && e.Fault == f.ID:
			n++
		case byEmptiness && e.Name == f.Target && e.QType == "A" && e.Answers != nil && *e.Answers == 0 &&
			e.T >= f.StartMS && (f.EndMS == nil || e.T <= *f.EndMS):
			n++
		}
	}
	return n
}

func reached(events []journal.Event, reqs []journal.Event, c ClientInfo, f *FaultWindow, dnsShaped int) bool {
	kind, known := faults.Lookup(f.Kind)
	if !known || kind.Target() == faults.TargetDNSName {
		return dnsShaped > 0
	}
	for _, r := range reqs {
		if r.Region == f.Target && r.End() >= f.StartMS && (f.EndMS == nil || r.T < *f.EndMS) {
			return true
		}
	}
	return false
}

func answerChanges(events []journal.Event, c ClientInfo) int {
	if c.SourceIP == "" {
		return 0
	}
	last := map[string]int{}
	n := 0
	for _, e := range events {
		if e.Type != journal.DNSQuery || e.QType != "A" || e.Answers == nil || hostOf(e.Addr) != c.SourceIP {
			continue
		}
		if prev, seen := last[e.Name]; seen && prev != *e.Answers {
			n++
		}
		last[e.Name] = *e.Answers
	}
	return n
}

func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

func percentile(xs []float64, p float64) *float64 {
	if len(xs) == 0 {
		return nil
	}
	v, err := stats.Percentile(xs, p)
	if err != nil {
		return nil
	}
	return ptr(v)
}

// ptr rounds to the microsecond (metrics come from differences of
// microsecond timestamps; more digits are float noise).
func ptr(f float64) *float64 {
	r := math.Round(f*1000) / 1000
	return &r
}
