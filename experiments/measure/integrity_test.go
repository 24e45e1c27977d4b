package measure

import (
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/experiments/journal"
)

// app adds an application client (its outcomes come from its own lines).
func (e j) app(name string) j {
	return append(e, journal.Event{Type: journal.ClientStart, Client: name, Strategy: "app", Region: "us-east-1", Addr: "127.0.99.54"})
}

func (e j) rejected(client, reason, line string, n int) j {
	for i := 0; i < n; i++ {
		e = append(e, journal.Event{T: float64(100 + i), Type: journal.OutcomeRejected, Client: client, Detail: reason, Line: line})
	}
	return e
}

func run(e j, asserts ...string) Summary {
	ev := append(j{{T: 0, Type: journal.RunStart, Detail: "exp"}}, e...)
	for _, a := range asserts {
		client, expr, _ := strings.Cut(a, ": ")
		ev = append(ev, journal.Event{Type: journal.Assertion, Client: client, Expr: expr})
	}
	return summarize(append(ev, journal.Event{T: 3000, Type: journal.RunEnd, Status: "complete"}))
}

// An application whose every line was rejected was not measured: its
// failover_ms must not read 0 and pass a gate.
func TestAllLinesRejectedIsInvalidNotAPass(t *testing.T) {
	line := `{"t": 1795446245123, "op": "GetItem"}`
	s := run(j{}.app("orders").fault("f1", "dns.empty", "x.", 1000, f(2000)).dns("127.0.99.54:1", "f1", 1001).
		rejected("orders", `"time": missing; expected RFC 3339 or seconds since the epoch`, line, 40),
		"orders: failover_ms < 2000")
	if s.Verdict != Invalid {
		t.Fatalf("verdict = %s, want invalid (reasons %q)", s.Verdict, s.Reasons)
	}
	c := s.Clients[0]
	if c.Rejected != 40 || len(c.RejectedSamples) != 1 || c.RejectedSamples[0].Line != line {
		t.Errorf("rejected = %d, samples %+v; want 40 and the line quoted once", c.Rejected, c.RejectedSamples)
	}
	if !strings.Contains(c.Unmeasured, line) || !strings.Contains(c.Unmeasured, `"operation"`) {
		t.Errorf("unmeasured = %q: want the rejected line quoted and what the schema expects", c.Unmeasured)
	}
	if c.Metrics.FailoverMS != nil || c.Metrics.Availability != nil {
		t.Errorf("failover_ms = %s, availability = %s: want null for a client with no request", str(c.Metrics.FailoverMS), str(c.Metrics.Availability))
	}
	if a := s.Assertions[0]; a.Pass {
		t.Errorf("assertion %+v passed on an unmeasured client", a)
	}
}

func TestRejectedShare(t *testing.T) {
	for _, c := range []struct {
		ok, bad int
		verdict string
	}{
		{ok: 60, bad: 0, verdict: Pass},
		{ok: 60, bad: 3, verdict: Pass},     // 3 of 63: under 5 %
		{ok: 60, bad: 10, verdict: Invalid}, // 10 of 70
	} {
		s := run(j{}.app("orders").reqs("orders", 0, strings.Repeat(".", c.ok)).rejected("orders", "bad", "{", c.bad))
		if s.Verdict != c.verdict {
			t.Errorf("%d accepted, %d rejected: verdict %s, want %s (%q)", c.ok, c.bad, s.Verdict, c.verdict, s.Reasons)
		}
	}
}

// A client that reported nothing at all, not even a rejected line, was not
// measured — unless it is an application measured through its views
// (NAME.server, NAME.probe), which are not judged alone; an assertion on a
// client that reported nothing measured nothing, whatever it says.
func TestSilentClients(t *testing.T) {
	s := run(j{}.app("orders").app("orders.server").reqs("orders", 0, "....."))
	if s.Verdict != Pass {
		t.Errorf("a view with no requests made the run %s (%q)", s.Verdict, s.Reasons)
	}
	s = run(j{}.app("orders").app("orders.server").reqs("orders.server", 0, "....."), "orders.server: availability > 0.9")
	if s.Verdict != Pass {
		t.Errorf("an app measured by its server view: verdict %s (%q), want pass", s.Verdict, s.Reasons)
	}
	s = run(j{}.app("orders").app("orders.server").reqs("orders.server", 0, "....."), "orders: availability < 2")
	if s.Verdict != Invalid || !strings.Contains(strings.Join(s.Reasons, " "), "orders reported no request") {
		t.Errorf("an assertion on the silent app itself: verdict %s, reasons %q; want invalid", s.Verdict, s.Reasons)
	}
	s = run(j{}.app("orders").app("orders.server"))
	if s.Verdict != Invalid || !strings.Contains(strings.Join(s.Reasons, " "), "client orders was not measured") {
		t.Errorf("an app seen by nobody: verdict %s, reasons %q; want invalid naming orders", s.Verdict, s.Reasons)
	}
	s = run(j{}.client("c", "us-east-1", "127.0.0.11"), "*: errors == 0")
	if s.Verdict != Invalid {
		t.Errorf("a reference client that sent nothing: verdict %s, want invalid", s.Verdict)
	}
}

// A metric whose window holds no request is null, never 0.
func TestNoRequestInTheFaultWindowIsNull(t *testing.T) {
	// Requests from 0 to 900 ms only; the fault is from 1000 to 2000.
	ev := j{}.client("c", "us-east-1", "127.0.0.11").fault("f1", "dns.empty", "x.", 1000, f(2000)).
		reqs("c", 0, "..........")
	m := metricsOf(t, ev, 5)
	eq(t, "failover_ms", m.FailoverMS, nil)
	eq(t, "detect_ms", m.DetectMS, nil)
	eq(t, "recover_ms", m.RecoverMS, nil)
	s := run(ev, "c: failover_ms < 2000")
	if s.Assertions[0].Pass {
		t.Errorf("failover_ms < 2000 held with no request during the fault: %+v", s.Assertions[0])
	}
}

func TestRunEndInvalidIsTheVerdict(t *testing.T) {
	ev := append(j{{T: 0, Type: journal.RunStart, Detail: "exp"}}.app("orders"),
		journal.Event{T: 3000, Type: journal.RunEnd, Status: "invalid", Detail: "client orders never got ready within 2m0s"})
	s := summarize(ev)
	if s.Verdict != Invalid || len(s.Reasons) == 0 || !strings.Contains(s.Reasons[0], "never got ready") {
		t.Errorf("verdict %s, reasons %q", s.Verdict, s.Reasons)
	}
}

// A gate on how a client failed over from a fault that never reached it
// (pooled connections, a client pinned to another region) measured nothing:
// its failover_ms is not 0 but null, and the run is invalid, not a pass.
func TestGateOnAClientTheFaultDidNotReach(t *testing.T) {
	pooled := j{}.client("pooled", "us-east-1", "127.0.0.11").fault("f1", "dns.empty", "x.", 1000, f(2000)).
		reqs("pooled", 0, "..............................")
	s := run(pooled, "pooled: failover_ms < 2000", "pooled: availability > 0.9")
	m := s.Clients[0].Metrics
	if m.FaultReached || m.FailoverMS != nil || m.DetectMS != nil || m.RecoverMS != nil {
		t.Errorf("reached %v, detect %s, failover %s, recover %s; want not reached and all null", m.FaultReached, str(m.DetectMS), str(m.FailoverMS), str(m.RecoverMS))
	}
	if s.Verdict != Invalid || !strings.Contains(strings.Join(s.Reasons, " "), "the fault did not reach pooled") {
		t.Errorf("verdict %s, reasons %q; want invalid: the gate measured nothing", s.Verdict, s.Reasons)
	}
	if a := s.Assertions[1]; !a.Pass || a.Unmeasured != "" {
		t.Errorf("availability over the run was measured: %+v", a)
	}
}

// Stock boto3 rides out a DNS fault with one call that stalls through all of
// it: no request failed, but none was served while the fault was applied
// either. That is not a failover in 0 ms: failover_ms is null.
func TestAStallIsNotAFailover(t *testing.T) {
	ev := j{}.client("boto3", "us-east-1", "127.0.0.11").fault("f1", "dns.empty", "x.", 1000, f(6000)).
		reqs("boto3", 0, "..........").req("boto3", "us-east-1", 1000, 6400, true, "")
	for i := 0; i < 10; i++ {
		ev = ev.req("boto3", "us-east-1", 7500+float64(i*100), 5, true, "")
	}
	m := metricsOf(t, ev, 5)
	eq(t, "detect_ms", m.DetectMS, nil)
	eq(t, "failover_ms", m.FailoverMS, nil)
}

func TestSilenceIsExplainedByView(t *testing.T) {
	for name, want := range map[string]string{
		"orders.probe":  "its health URL never answered 2xx",
		"orders.server": "the nodes carried no request of orders",
		"orders":        "no outcome line of its was accepted",
	} {
		ev := j{}.app(name)
		if name != "orders" {
			ev = j{}.app("orders").app(name).reqs("orders", 0, ".....")
		}
		s := run(ev, name+": availability > 0.5")
		if got := strings.Join(s.Reasons, " "); s.Verdict != Invalid || !strings.Contains(got, want) {
			t.Errorf("%s: verdict %s, reasons %q; want invalid saying %q", name, s.Verdict, got, want)
		}
	}
}

// A line torn while the application was being stopped (after the
// experiment's end: SIGTERM cut it) is reported, not held against an app
// that wrote few lines.
func TestALineTornWhileStoppingIsNotHeldAgainstTheApp(t *testing.T) {
	ev := j{{T: 0, Type: journal.Phase, Detail: "experiment"}}.app("cli").reqs("cli", 0, "........")
	ev = append(ev, journal.Event{T: 900, Type: journal.Phase, Detail: "stop"},
		journal.Event{T: 950, Type: journal.OutcomeRejected, Client: "cli", Detail: `not valid JSON`, Line: `{"latency_ms":}`})
	s := run(ev)
	if s.Verdict != Pass || s.Clients[0].Rejected != 1 || s.Clients[0].RejectedWhileStopping != 1 {
		t.Errorf("verdict %s (%q), rejected %d (%d while stopping); want pass, the line reported",
			s.Verdict, s.Reasons, s.Clients[0].Rejected, s.Clients[0].RejectedWhileStopping)
	}
	// The same line during the experiment is one in nine: not measured reliably.
	ev[len(ev)-1].T = 500
	if s := run(ev); s.Verdict != Invalid {
		t.Errorf("a torn line during the experiment: verdict %s, want invalid", s.Verdict)
	}
}
