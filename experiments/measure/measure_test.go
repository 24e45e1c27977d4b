package measure

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"testing"

	"github.com/faultline-dev/faultline/experiments/journal"
)

// A hand-written journal: j is a small builder so each test reads as a
// timeline.
type j []journal.Event

func (e j) fault(id, kind, target string, start float64, end *float64) j {
	e = append(e, journal.Event{T: start, Type: journal.FaultApplied, Fault: id, Kind: kind, Target: target})
	if end != nil {
		e = append(e, journal.Event{T: *end, Type: journal.FaultHealed, Fault: id, Kind: kind, Target: target})
	}
	return e
}

func (e j) client(name, primary, ip string) j {
	return append(e, journal.Event{Type: journal.ClientStart, Client: name, Strategy: "failover", Region: primary, Addr: ip})
}

// reqs adds requests of client every 100 ms from t0, one per character of
// pattern: '.' success on primary, 's' success on the secondary, 'x' failure.
func (e j) reqs(client string, t0 float64, pattern string) j {
	for i, c := range pattern {
		ev := journal.Event{T: t0 + float64(i)*100, Type: journal.Request, Client: client, Region: "us-east-1",
			Op: "GetItem", LatencyMS: 10, OK: journal.Bool(c != 'x')}
		if c == 's' {
			ev.Region = "us-west-2"
		}
		if c == 'x' {
			ev.Error = "dns-notfound"
		}
		e = append(e, ev)
	}
	return e
}

func (e j) dns(addr, fault string, t float64) j {
	return append(e, journal.Event{T: t, Type: journal.DNSQuery, Addr: addr, Fault: fault, Name: "dynamodb.us-east-1.amazonaws.com.", QType: "A"})
}

func f(v float64) *float64 { return &v }

// metricsOf is the client's metrics relative to the first fault, folded,
// and checked against the oracle's.
func metricsOf(t *testing.T, events j, k int) Metrics {
	t.Helper()
	ws := Faults(events)
	cs := Clients(events)
	if len(cs) != 1 {
		t.Fatalf("want one client, got %d", len(cs))
	}
	var w *FaultWindow
	wi := -1
	if len(ws) > 0 {
		w, wi = &ws[0], 0
		// These tests are about the definitions: the fault reached the
		// client (one of its answers was shaped), unless the test says
		// otherwise with DNS events of its own. Reach has tests of its own.
		if !slices.ContainsFunc(events, func(e journal.Event) bool { return e.Type == journal.DNSQuery }) {
			events = append(events, journal.Event{T: w.StartMS, Type: journal.DNSQuery, Addr: cs[0].SourceIP + ":1", Fault: w.ID, QType: "A"})
		}
	}
	fold := NewFold()
	fold.k = k
	for _, e := range events {
		fold.Add(e)
	}
	fold.Summary()
	got := fold.metrics(cs[0], wi)
	if want := oracleForClient(events, cs[0], w, k); !reflect.DeepEqual(got, want) {
		t.Errorf("the fold's metrics differ from the oracle's:\n fold   %s\n oracle %s", jsonOf(got), jsonOf(want))
	}
	return got
}

func eq(t *testing.T, name string, got *float64, want *float64) {
	t.Helper()
	switch {
	case got == nil && want == nil:
	case got == nil || want == nil:
		t.Errorf("%s = %v, want %v", name, str(got), str(want))
	case math.Abs(*got-*want) > 1e-9:
		t.Errorf("%s = %v, want %v", name, *got, *want)
	}
}

func str(p *float64) string {
	if p == nil {
		return "null"
	}
	return fmt.Sprint(*p)
}

func TestFailoverClientTimeline(t *testing.T) {
	// Fault 1000..2000 ms. Requests every 100 ms from 0 (ending 10 ms later).
	// 0-900 ok; 1000 fails; 1100.. on the secondary; back on primary at 2200.
	ev := j{}.client("c", "us-east-1", "127.0.0.11").fault("f1", "dns.empty", "x.", 1000, f(2000)).
		reqs("c", 0, "..........xsssssssssss.......")
	m := metricsOf(t, ev, 5)
	eq(t, "detect_ms", m.DetectMS, f(10))      // failed request ends at 1010
	eq(t, "failover_ms", m.FailoverMS, f(110)) // first of 5 successes ends at 1110
	// After the heal (requests starting >= 2000): 2000, 2100 on the secondary, primary from 2200 (ends 2210).
	eq(t, "recover_ms", m.RecoverMS, f(210))
	eq(t, "availability", m.Availability, f(28.0/29.0))
	if m.Requests != 29 || m.Errors != 1 {
		t.Errorf("requests/errors = %d/%d, want 29/1", m.Requests, m.Errors)
	}
	eq(t, "latency_p50_ms", m.LatencyP50MS, f(10))
}

func TestNaiveClientNeverFailsOver(t *testing.T) {
	// Every request fails during the fault; success only after the heal.
	ev := j{}.client("c", "us-east-1", "127.0.0.11").fault("f1", "dns.empty", "x.", 1000, f(2000)).
		reqs("c", 0, "..........xxxxxxxxxx.......")
	m := metricsOf(t, ev, 5)
	eq(t, "detect_ms", m.DetectMS, f(10))
	eq(t, "failover_ms", m.FailoverMS, nil)
	eq(t, "recover_ms", m.RecoverMS, f(10))
	eq(t, "availability", m.Availability, f(17.0/27.0))
}

func TestNoFailureMeansFailoverZeroAndDetectNull(t *testing.T) {
	ev := j{}.client("c", "us-east-1", "127.0.0.11").fault("f1", "dns.empty", "x.", 1000, f(2000)).
		reqs("c", 0, "..............................")
	m := metricsOf(t, ev, 5)
	eq(t, "detect_ms", m.DetectMS, nil)
	eq(t, "failover_ms", m.FailoverMS, f(0))
	eq(t, "recover_ms", m.RecoverMS, f(10))
}

func TestRunOfKBrokenByFailureRestarts(t *testing.T) {
	// After the first failure: 4 successes, a failure, then 5 successes.
	ev := j{}.client("c", "us-east-1", "127.0.0.11").fault("f1", "dns.empty", "x.", 0, f(3000)).
		reqs("c", 0, "xssssxsssss....")
	m := metricsOf(t, ev, 5)
	eq(t, "detect_ms", m.DetectMS, f(10))
	// The run starts at the request at 600 ms (index 6), which ends at 610.
	eq(t, "failover_ms", m.FailoverMS, f(610))
}

func TestFailoverAfterHealIsNull(t *testing.T) {
	// The client's first run of K successes only completes after the heal
	// began with a success that itself came after the heal: not a failover.
	ev := j{}.client("c", "us-east-1", "127.0.0.11").fault("f1", "dns.empty", "x.", 0, f(500)).
		reqs("c", 0, "xxxxxx.....")
	m := metricsOf(t, ev, 5)
	eq(t, "failover_ms", m.FailoverMS, nil)
	eq(t, "recover_ms", m.RecoverMS, f(110)) // first primary success starting >= 500 is at 600, ends 610
}

func TestKOfOne(t *testing.T) {
	ev := j{}.client("c", "us-east-1", "127.0.0.11").fault("f1", "dns.empty", "x.", 0, f(1000)).
		reqs("c", 0, "xs")
	m := metricsOf(t, ev, 1)
	eq(t, "failover_ms", m.FailoverMS, f(110))
}

func TestUnhealedFaultHasNoRecovery(t *testing.T) {
	ev := j{}.client("c", "us-east-1", "127.0.0.11").fault("f1", "dns.empty", "x.", 100, nil).
		reqs("c", 0, "..xxx")
	m := metricsOf(t, ev, 5)
	eq(t, "recover_ms", m.RecoverMS, nil)
	eq(t, "detect_ms", m.DetectMS, f(110))
}

func TestFailureAfterHealIsNotDetection(t *testing.T) {
	ev := j{}.client("c", "us-east-1", "127.0.0.11").fault("f1", "dns.empty", "x.", 0, f(500)).
		reqs("c", 0, "......x.....")
	m := metricsOf(t, ev, 5)
	eq(t, "detect_ms", m.DetectMS, nil)
	eq(t, "failover_ms", m.FailoverMS, f(0))
}

func TestDNSQueriesInFaultCountsOnlyThisClientAndFault(t *testing.T) {
	ev := j{}.client("c", "us-east-1", "127.0.0.11").fault("f1", "dns.empty", "x.", 0, f(500)).
		dns("127.0.0.11:5353", "f1", 10).dns("127.0.0.11:5354", "f1", 20).
		dns("127.0.0.12:5353", "f1", 30). // another client
		dns("127.0.0.11:5355", "", 40).   // not shaped
		dns("127.0.0.11:5356", "f2", 50). // another fault
		reqs("c", 0, "x.....")
	m := metricsOf(t, ev, 5)
	if m.DNSQueriesInFault != 2 || !m.FaultReached {
		t.Errorf("dns_queries_in_fault = %d reached=%v, want 2 true", m.DNSQueriesInFault, m.FaultReached)
	}
}

func TestFaultNotReachedIsFlagged(t *testing.T) {
	ev := j{}.client("c", "us-east-1", "127.0.0.11").fault("f1", "dns.empty", "x.", 0, f(500)).
		reqs("c", 0, "......")
	ev = append(ev,
		journal.Event{T: 0, Type: journal.RunStart, Detail: "exp"},
		journal.Event{T: 700, Type: journal.RunEnd, Status: "complete"},
		journal.Event{Type: journal.Assertion, Client: "c", Expr: "availability > 0.9"})
	s := summarize(ev)
	if s.Clients[0].Warning != NotReached {
		t.Errorf("warning = %q, want the not-reached warning", s.Clients[0].Warning)
	}
	if s.Verdict != Pass {
		t.Errorf("verdict = %s, want pass (the warning does not change the verdict)", s.Verdict)
	}
}

func TestNoRequestsMeansNullAvailability(t *testing.T) {
	ev := j{}.client("c", "us-east-1", "127.0.0.11")
	m := metricsOf(t, ev, 5)
	eq(t, "availability", m.Availability, nil)
	eq(t, "latency_p99_ms", m.LatencyP99MS, nil)
}

func TestProbesAreNotRequests(t *testing.T) {
	ev := j{}.client("c", "us-east-1", "127.0.0.11").reqs("c", 0, "..")
	ev = append(ev, journal.Event{T: 50, Type: journal.Request, Client: "c", Region: "us-east-1", OK: journal.Bool(false), Probe: true})
	m := metricsOf(t, ev, 5)
	if m.Requests != 2 || m.Errors != 0 {
		t.Errorf("requests/errors = %d/%d, want 2/0", m.Requests, m.Errors)
	}
}

func TestSummaryVerdicts(t *testing.T) {
	base := j{{T: 0, Type: journal.RunStart, Detail: "exp", K: 5}}.client("failover", "us-east-1", "127.0.0.11").
		fault("f1", "dns.empty", "x.", 1000, f(2000)).dns("127.0.0.11:1", "f1", 1005).
		reqs("failover", 0, "..........xsssssssssss.......")
	end := journal.Event{T: 3000, Type: journal.RunEnd, Status: "complete"}
	assert := func(expr, client string) journal.Event {
		return journal.Event{Type: journal.Assertion, Client: client, Expr: expr}
	}
	cases := []struct {
		name    string
		events  j
		verdict string
	}{
		{"all hold", append(append(j{}, base...), end, assert("failover_ms < 2000", "failover"), assert("availability > 0.95", "*")), Pass},
		{"one fails", append(append(j{}, base...), end, assert("failover_ms < 50", "failover")), Fail},
		{"null fails", append(append(j{}, base...), end, assert("failover_ms < 50", "nobody")), Fail},
		{"broken run", append(append(j{}, base...), journal.Event{T: 3000, Type: journal.RunEnd, Status: "incomplete", Detail: "interrupted"}, assert("failover_ms < 2000", "failover")), Incomplete},
		{"no run.end at all", append(append(j{}, base...), assert("failover_ms < 2000", "failover")), Incomplete},
		// An application never got ready: whatever the assertions say.
		{"invalid run", append(append(j{}, base...), journal.Event{T: 3000, Type: journal.RunEnd, Status: Invalid, Detail: "client app was not ready within 2m0s"}, assert("failover_ms < 2000", "failover")), Invalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := summarize(c.events)
			if s.Verdict != c.verdict {
				t.Errorf("verdict = %s, want %s (assertions %+v)", s.Verdict, c.verdict, s.Assertions)
			}
		})
	}
}

func TestDNSAnswerChanges(t *testing.T) {
	ev := j{}.client("c", "us-east-1", "127.0.0.11")
	for i, n := range []int{2, 2, 1, 1, 2, 0, 2} {
		ev = append(ev, journal.Event{T: float64(i), Type: journal.DNSQuery, Addr: "127.0.0.11:1", Name: "x.", QType: "A", Answers: journal.Int(n)})
	}
	ev = append(ev, journal.Event{T: 9, Type: journal.DNSQuery, Addr: "127.0.0.11:1", Name: "x.", QType: "AAAA", Answers: journal.Int(0)})
	ev = append(ev, journal.Event{T: 9, Type: journal.DNSQuery, Addr: "127.0.0.12:1", Name: "x.", QType: "A", Answers: journal.Int(5)})
	if m := metricsOf(t, ev, 5); m.DNSAnswerChanges != 4 {
		t.Errorf("dns_answer_changes = %d, want 4 (2→1, 1→2, 2→0, 0→2)", m.DNSAnswerChanges)
	}
}

func TestSteadyState(t *testing.T) {
	run := func(pattern string) Summary {
		ev := j{{T: 0, Type: journal.RunStart, Detail: "exp"}, {Type: journal.SteadyState, Client: "*", Expr: "availability >= 0.9"}}.
			client("c", "us-east-1", "127.0.0.11").fault("f1", "dns.empty", "x.", 1000, f(2000)).reqs("c", 0, pattern)
		return summarize(append(ev, journal.Event{T: 3000, Type: journal.RunEnd, Status: "complete"}))
	}
	cases := []struct {
		pattern, verdict string
	}{
		{"..........xxxxxxxxxx.........", Pass},    // broken only during the fault
		{".....xxxx.xxxxxxxxxx.........", Invalid}, // not steady before the fault: nothing is proven
		{"..........xxxxxxxxxxxx.......", Fail},    // did not come back after the heal (7/9 < 0.9)
	}
	for _, c := range cases {
		s := run(c.pattern)
		if s.Verdict != c.verdict || len(s.SteadyState) != 2 {
			t.Errorf("%s: verdict %s, want %s (%+v)", c.pattern, s.Verdict, c.verdict, s.SteadyState)
		}
	}
}

func TestSummarizeTrials(t *testing.T) {
	trial := func(failover float64, pass bool) Summary {
		return Summary{Experiment: "e", Verdict: Pass, Status: "complete",
			Clients:    []ClientReport{{Name: "c", Metrics: Metrics{FailoverMS: f(failover), Requests: 10}}},
			Assertions: []AssertionOutcome{{Client: "c", Metric: "failover_ms", Expr: "p90(failover_ms) < 250", Pass: true}, {Client: "c", Metric: "failover_ms", Expr: "failover_ms < 1000", Pass: pass}}}
	}
	var ts []Summary
	for i := 1; i <= 10; i++ {
		ts = append(ts, trial(float64(i*30), true))
	}
	s := SummarizeTrials(ts)
	d := s.Metrics["c"]["failover_ms"]
	if d.N != 10 || *d.Min != 30 || *d.Max != 300 || *d.Median != 165 {
		t.Errorf("distribution = %+v", d)
	}
	if s.Verdict != Fail || s.Assertions[0].Pass || s.Assertions[1].Pass != true {
		t.Errorf("p90(failover_ms) = %v < 250 should fail (p90 of 30..300 is 273); got %+v", d.P90, s.Assertions)
	}
	ts[3] = trial(40, false)
	if s := SummarizeTrials(ts); s.Assertions[1].Pass {
		t.Error("an assertion without aggregation must hold in every trial")
	}
}

// What run.start says of the run reaches the summary; a journal written
// before it said so still summarizes, with those fields empty.
func TestRunStartFields(t *testing.T) {
	end := journal.Event{T: 10, Type: journal.RunEnd, Status: "complete"}
	s := Summarize([]journal.Event{{Type: journal.RunStart, Detail: "x", Started: "2026-12-02T07:35:06Z", Host: "h1",
		Version: "v1 go1.26", Backend: "us-east-1=container,us-west-2=embedded"}, end})
	if s.Started != "2026-12-02T07:35:06Z" || s.Host != "h1" || s.Version != "v1 go1.26" || s.Backend != "us-east-1=container,us-west-2=embedded" {
		t.Errorf("summary %q %q %q %q", s.Started, s.Host, s.Version, s.Backend)
	}
	old := Summarize([]journal.Event{{Type: journal.RunStart, Detail: "x"}, end})
	if old.Started != "" || old.Host != "" || old.Version != "" || old.Backend != "" || old.Verdict != Pass {
		t.Errorf("old journal: %+v", old)
	}
}
