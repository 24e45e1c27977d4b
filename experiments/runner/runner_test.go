package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/faultline-dev/faultline/experiments/engine"
	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/experiments/library"
	"github.com/faultline-dev/faultline/experiments/measure"
	"github.com/faultline-dev/faultline/experiments/spec"
	"github.com/faultline-dev/faultline/faults"
	"github.com/faultline-dev/faultline/targets/dnsexec"
	"github.com/faultline-dev/faultline/targets/topology"
)

func flagship(t *testing.T) *spec.Experiment { return builtIn(t, "dynamodb-empty-dns") }

func builtIn(t *testing.T, name string) *spec.Experiment {
	t.Helper()
	file, data, ok := library.Get(name)
	if !ok {
		t.Fatalf("%s is not built in", name)
	}
	exp, err := spec.Parse(file, data)
	if err != nil {
		t.Fatal(err)
	}
	return exp
}

// eventsOf reads a run's journal back: the run holds no events.
func eventsOf(t testing.TB, res *Result) []journal.Event {
	t.Helper()
	if res.Journal == "" {
		t.Fatal("the run wrote no journal: give it an OutDir")
	}
	events, err := journal.ReadFile(res.Journal)
	if err != nil {
		t.Fatal(err)
	}
	return events
}

// runKept runs exp and, when the test fails and $FAULTLINE_ARTIFACTS is
// set, keeps the run's reports there for a person to read.
func runKept(t *testing.T, exp *spec.Experiment, opts Options) *Result {
	t.Helper()
	if opts.OutDir == "" {
		opts.OutDir = t.TempDir()
	}
	res := Run(context.Background(), exp, opts)
	t.Cleanup(func() {
		dir := os.Getenv("FAULTLINE_ARTIFACTS")
		if !t.Failed() || dir == "" {
			return
		}
		dst := filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+fmt.Sprintf("-%d", os.Getpid()))
		if err := os.CopyFS(dst, os.DirFS(opts.OutDir)); err != nil {
			t.Logf("keeping the run's reports: %v", err)
		} else {
			t.Logf("the run's reports are in %s", dst)
		}
	})
	return res
}

// unstarved runs exp until a run's harness was not starved (at most
// starvedAttempts times) and returns that run; nil when every attempt was
// starved. A starved run must say so — verdict invalid, never pass or fail
// — and then its numbers measured faultline, not the clients, so a test
// checks them only on a run that was not starved.
func unstarved(t *testing.T, exp *spec.Experiment, opts Options) *Result {
	t.Helper()
	for attempt := 1; attempt <= starvedAttempts; attempt++ {
		res := runKept(t, exp, opts)
		if res.Err != nil {
			t.Fatalf("run broke: %v", res.Err)
		}
		s := res.Summary
		if !s.Harness.Starved {
			return res
		}
		if s.Verdict != measure.Invalid {
			t.Fatalf("the harness was starved (%q) but the verdict is %s, not invalid", s.Harness.Reasons, s.Verdict)
		}
		t.Logf("attempt %d: the harness was starved, verdict invalid as it must be: %q", attempt, s.Harness.Reasons)
		opts.OutDir = ""
	}
	t.Logf("every attempt was starved: this machine is too busy for %s to measure anything; the verdict was invalid each time", exp.Name)
	return nil
}

// starvedAttempts bounds the runs a test makes on a machine too busy to
// measure.
const starvedAttempts = 2

// val prints a metric: its value, or null.
func val(v *float64) string {
	if v == nil {
		return "null"
	}
	return fmt.Sprint(*v)
}

func clientReport(t *testing.T, s measure.Summary, name string) measure.ClientReport {
	t.Helper()
	for _, c := range s.Clients {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no client %q in the summary", name)
	return measure.ClientReport{}
}

// The flagship end to end, exactly as `faultline run dynamodb-empty-dns` runs
// it: the naive client loses the fault's length, the failover client does not.
func TestFlagshipEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("the flagship takes about 13 s")
	}
	t.Parallel()
	res := unstarved(t, flagship(t), Options{OutDir: t.TempDir()})
	if res == nil {
		return
	}
	s := res.Summary
	if s.Verdict != measure.Pass {
		t.Errorf("verdict = %s, want pass; %q", s.Verdict, s.Reasons)
	}
	naive := clientReport(t, s, "naive")
	if a := naive.Metrics.Availability; a == nil || *a >= 0.8 {
		t.Errorf("naive availability = %s, want below 0.8", val(a))
	}
	if naive.Metrics.DNSQueriesInFault == 0 {
		t.Error("the fault never reached the naive client")
	}
	if naive.Metrics.FailoverMS != nil {
		t.Errorf("naive failover_ms = %v, want null (it has nowhere to go)", *naive.Metrics.FailoverMS)
	}
	if naive.ErrorClasses["dns-notfound"] == 0 {
		t.Errorf("naive error classes = %v, want dns-notfound (the empty answer reaches Go as no such host)", naive.ErrorClasses)
	}
	fo := clientReport(t, s, "failover")
	if f := fo.Metrics.FailoverMS; f == nil || *f >= 2000 {
		t.Errorf("failover failover_ms = %s, want below 2000", val(f))
	}
	if fo.Metrics.DNSQueriesInFault == 0 {
		t.Error("the fault never reached the failover client")
	}
	if fo.Metrics.RecoverMS == nil {
		t.Error("the failover client never came back to us-east-1")
	}
	// The run that was not starved wrote its reports where its journal is
	// (a starved first attempt's are elsewhere).
	dir := filepath.Dir(res.Journal)
	for _, name := range []string{"journal.jsonl", "report.json", "report.md", "junit.xml", "report.html"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s not written: %v", name, err)
		}
	}
	// run.start says when, where and with what the run went: junit.xml's
	// timestamp, hostname and properties come from it.
	host, _ := os.Hostname()
	if started, err := time.Parse(time.RFC3339Nano, s.Started); err != nil || time.Since(started) > 10*time.Minute || time.Since(started) < 0 ||
		s.Host != host || s.Version == "" || s.Backend != "embedded" {
		t.Errorf("run.start: started %q (%v), host %q (want %q), version %q, backend %q (want embedded)", s.Started, err, s.Host, host, s.Version, s.Backend)
	}
	t.Run("junit.xsd", func(t *testing.T) {
		xmllint, err := exec.LookPath("xmllint")
		if err != nil {
			t.Skip("no xmllint (apt-get install libxml2-utils; .ci/run installs it)")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if out, err := exec.CommandContext(ctx, xmllint, "--noout", "--schema", "../../reports/junit.xsd", filepath.Join(dir, "junit.xml")).CombinedOutput(); err != nil {
			t.Errorf("the flagship's junit.xml breaks reports/junit.xsd: %v\n%s", err, out)
		}
	})
	// The journal on disk re-renders to the same verdict.
	events, err := journal.ReadFile(res.Journal)
	if err != nil {
		t.Fatal(err)
	}
	if again := measure.Summarize(events); again.Verdict != s.Verdict || len(again.Clients) != 2 {
		t.Errorf("re-rendered verdict %s with %d clients, want %s with 2", again.Verdict, len(again.Clients), s.Verdict)
	}
}

// shortExperiment is the flagship cut to 6 s with the fault from 1 s to 5 s.
func shortExperiment(t *testing.T) *spec.Experiment {
	exp := flagship(t)
	exp.Duration = 6 * time.Second
	exp.Faults[0].Start = time.Second
	exp.Faults[0].Duration = 4 * time.Second
	return exp
}

// SIGINT in the middle of a fault (here: the context the CLI cancels on
// SIGINT) heals the fault exactly once, closes every listener, and writes a
// journal and a report marked incomplete.
func TestInterruptMidFaultRollsBack(t *testing.T) {
	out := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var world *topology.World
	var dnsAddr string
	var nodes []string
	opts := Options{OutDir: out, onReady: func(w *topology.World) {
		world = w
		dnsAddr = w.DNSAddr()
		for _, r := range []string{"us-east-1", "us-west-2"} {
			lb, _ := w.NLB(r)
			nodes = append(nodes, lb.NodeAddrs()...)
		}
		go func() {
			// Cancel once the fault is visibly applied: the record answers empty.
			deadline := time.Now().Add(10 * time.Second)
			for time.Now().Before(deadline) {
				if answers(dnsAddr, "dynamodb.us-east-1.amazonaws.com.") == 0 {
					cancel()
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		}()
	}}
	res := Run(ctx, shortExperiment(t), opts)
	if world == nil {
		t.Fatal("the world was never built")
	}
	if res.Err == nil || !strings.Contains(res.Err.Error(), "interrupted") {
		t.Errorf("err = %v, want an interruption", res.Err)
	}
	if res.Summary.Verdict != measure.Incomplete {
		t.Errorf("verdict = %s, want incomplete", res.Summary.Verdict)
	}
	applied, healed := 0, 0
	for _, e := range eventsOf(t, res) {
		switch e.Type {
		case journal.FaultApplied:
			applied++
		case journal.FaultHealed:
			healed++
			if e.Detail != "rollback" {
				t.Errorf("fault healed by %q, want rollback", e.Detail)
			}
		}
	}
	if applied != 1 || healed != 1 {
		t.Errorf("applied %d, healed %d: want each exactly once", applied, healed)
	}
	// Nothing listens any more: not the DNS server (UDP or TCP), not a node.
	if n := answers(dnsAddr, "dynamodb.us-east-1.amazonaws.com."); n >= 0 {
		t.Errorf("the DNS server still answers after the run (%d answers)", n)
	}
	for _, a := range append(nodes, dnsAddr) {
		if c, err := net.DialTimeout("tcp", a, 500*time.Millisecond); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after the run", a)
		}
	}
	var report struct{ Verdict, Status string }
	data, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &report); err != nil || report.Verdict != "incomplete" || report.Status != "incomplete" {
		t.Errorf("report.json verdict/status = %q/%q (%v), want incomplete", report.Verdict, report.Status, err)
	}
}

// answers asks the DNS server over UDP; -1 means no answer at all.
func answers(addr, name string) int {
	c := &dns.Client{Net: "udp", Timeout: 300 * time.Millisecond}
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		return -1
	}
	return len(r.Answer)
}

// A world that cannot be built (here: a region whose NLB has no node) is a
// broken run, reported incomplete.
func TestBuildFailureIsReportedIncomplete(t *testing.T) {
	exp := shortExperiment(t)
	exp.Topology.Regions[0].Nodes = 0 // no node: the NLB refuses to start
	res := Run(context.Background(), exp, Options{OutDir: t.TempDir()})
	if res.Err == nil {
		t.Fatal("a topology without nodes was built")
	}
	if !strings.Contains(res.Err.Error(), "no nodes") || strings.Contains(res.Err.Error(), "panicked") {
		t.Errorf("err = %v, want the NLB's own complaint, not a panic", res.Err)
	}
	if res.Summary.Verdict != measure.Incomplete {
		t.Errorf("verdict = %s, want incomplete", res.Summary.Verdict)
	}
}

// A caching resolver keeps the empty answer after the fix: the residual
// outage of October 20 (2:25 to 2:40 AM), in seconds.
func TestNegativeCacheResidual(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about 18 s")
	}
	t.Parallel()
	res := unstarved(t, builtIn(t, "dns-negative-cache-residual"), Options{})
	if res == nil {
		return
	}
	naive := clientReport(t, res.Summary, "naive")
	rec := naive.Metrics.RecoverMS
	if rec == nil || *rec < 1500 || *rec > 5500 {
		t.Errorf("naive recover_ms = %s, want the rest of the 5 s negative TTL (1.5–5.5 s)", val(rec))
	}
	healed := 0.0
	for _, f := range res.Summary.Faults {
		healed = *f.EndMS
	}
	hits := 0
	for _, e := range eventsOf(t, res) {
		if e.Type == journal.DNSQuery && e.Fault == "f1" && e.Detail == "resolver:hit" && e.T > healed {
			hits++
		}
	}
	if hits == 0 {
		t.Error("no cached empty answer was served after the heal")
	}
	if res.Summary.Verdict != measure.Pass {
		t.Errorf("verdict %s: %q", res.Summary.Verdict, res.Summary.Reasons)
	}
}

// The same timeline through each real resolver (one process per client):
// the fault reaches the clients through it, the journal names each answer's
// client and says which came from the resolver's cache, and the residual
// outage is measured. Its value is the resolver's (the README lists them);
// here it is bounded by the negative TTL, one second of TTL rounding and the
// K successes that end it.
func TestRealResolverResidual(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about 18 s per resolver")
	}
	for _, kind := range dnsexec.Names() {
		t.Run(kind, func(t *testing.T) {
			if _, err := dnsexec.Binary(kind); err != nil {
				t.Skipf("%v", err)
			}
			t.Parallel()
			// The journal's attribution holds on any run; the residual's
			// bound only on a run whose harness was not starved (a busy
			// machine gets a second run for it).
			for attempt := 1; attempt <= starvedAttempts; attempt++ {
				res := runKept(t, builtIn(t, "dns-negative-cache-residual-"+kind), Options{})
				if res.Err != nil {
					t.Fatalf("run broke: %v", res.Err)
				}
				checkResolverJournal(t, res, kind)
				naive := clientReport(t, res.Summary, "naive")
				switch rec := naive.Metrics.RecoverMS; {
				case res.Summary.Harness.Starved:
					t.Logf("attempt %d: the harness was starved (verdict %s): recover_ms %s not checked", attempt, res.Summary.Verdict, val(rec))
					continue
				case rec == nil:
					t.Errorf("naive recover_ms = null: the residual outage was not measured")
				case *rec > 6500:
					t.Errorf("naive recover_ms = %s, want at most the 5 s negative TTL + 1 s + K successes", val(rec))
				}
				return
			}
		})
	}
}

// checkResolverJournal: the fault reached the naive client through the
// resolver, every resolver answer is a client's, and the cache's hits and
// misses of the fault are journaled.
func checkResolverJournal(t *testing.T, res *Result, kind string) {
	t.Helper()
	naive := clientReport(t, res.Summary, "naive")
	if q := naive.Metrics.DNSQueriesInFault; q == 0 {
		t.Errorf("naive dns_queries_in_fault = %v: the fault did not reach it through %s", q, kind)
	}
	byCache := map[string]int{}
	for _, e := range eventsOf(t, res) {
		if e.Type != journal.DNSQuery || !strings.HasPrefix(e.Detail, "resolver:") {
			continue
		}
		host, _, _ := net.SplitHostPort(e.Addr)
		if host != engine.ReferenceIP(0) && host != engine.ReferenceIP(1) {
			t.Errorf("a resolver answer journaled for %s, no client's address", e.Addr)
		}
		key := e.Detail
		if e.Fault == "f1" {
			key += "/f1"
		}
		byCache[key]++
	}
	if byCache["resolver:hit/f1"] == 0 || byCache["resolver:miss/f1"] == 0 || byCache["resolver:hit"] == 0 {
		t.Errorf("answers by cache status: %v; want hits and misses of the fault, and hits without it", byCache)
	}
}

// The night of October 20 from its mechanism: the race empties the record,
// the automation is stuck, the manual repair (the heal) restores it. With the
// fix, the same slow-down never empties it.
func TestEnactorRace(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about 24 s")
	}
	for _, name := range []string{"dynamodb-2025-10-20", "dynamodb-2025-10-20-fixed"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			res := unstarved(t, builtIn(t, name), Options{})
			if res == nil {
				return
			}
			steps := map[string]int{}
			for _, e := range eventsOf(t, res) {
				if e.Type == journal.DNSAutomation {
					steps[e.Status]++
				}
			}
			naive := clientReport(t, res.Summary, "naive")
			fixed := strings.HasSuffix(name, "-fixed")
			switch {
			case fixed && (naive.Errors != 0 || steps["emptied"] != 0 || steps["abandon"] == 0):
				t.Errorf("with the fix: %d naive errors, steps %v; want none, no emptied, an abandon", naive.Errors, steps)
			case !fixed && (naive.Errors == 0 || steps["emptied"] == 0 || steps["stuck"] == 0 || steps["repair"] != 1):
				t.Errorf("without the fix: %d naive errors, steps %v; want errors, emptied, stuck, one repair", naive.Errors, steps)
			case !fixed && naive.Metrics.DNSQueriesInFault == 0:
				t.Error("the emptied record reached no query of the naive client")
			}
			if res.Summary.Verdict != measure.Pass {
				t.Errorf("verdict %s: %q", res.Summary.Verdict, res.Summary.Reasons)
			}
		})
	}
}

// Flapping health checks pull an AZ's node out of DNS and back; the velocity
// limit holds most of that churn back.
func TestHealthCheckFlapAndVelocityLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about 16 s")
	}
	churn := map[string]int{}
	held := map[string]int{}
	starved := false
	var mu sync.Mutex
	t.Run("runs", func(t *testing.T) {
		for _, name := range []string{"nlb-healthcheck-flap", "nlb-healthcheck-flap-velocity"} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				res := unstarved(t, builtIn(t, name), Options{})
				mu.Lock()
				if res == nil {
					starved = true
					mu.Unlock()
					return
				}
				defer mu.Unlock()
				for _, e := range eventsOf(t, res) {
					switch {
					case e.Type == journal.DNSPublish && e.Name == "dynamodb.us-east-1.amazonaws.com.":
						churn[name]++
					case e.Type == "dns.held":
						held[name]++
					}
				}
				if naive := clientReport(t, res.Summary, "naive"); naive.Errors == 0 {
					t.Error("the flap with propagation delay cost the naive client nothing")
				}
			})
		}
	})
	if starved {
		return // a starved run measured faultline's lateness, not the flap: nothing to compare
	}
	if churn["nlb-healthcheck-flap"] < 4 {
		t.Errorf("without the limit us-east-1 was published %d times, want the node to leave and return repeatedly", churn["nlb-healthcheck-flap"])
	}
	if churn["nlb-healthcheck-flap-velocity"] >= churn["nlb-healthcheck-flap"] || held["nlb-healthcheck-flap-velocity"] == 0 {
		t.Errorf("with the limit: %d publications (without: %d), %d held; want fewer and some held", churn["nlb-healthcheck-flap-velocity"], churn["nlb-healthcheck-flap"], held["nlb-healthcheck-flap-velocity"])
	}
}

// A stop condition that trips heals everything and ends the run early,
// reported as stopped and failed.
func TestStopCondition(t *testing.T) {
	exp := shortExperiment(t)
	exp.Duration = 20 * time.Second
	exp.Faults[0].Duration = 15 * time.Second
	exp.StopWhen = []spec.Assertion{{Client: "naive", Expr: "errors > 5", Metric: "errors", Op: ">", Value: 5}}
	res := Run(context.Background(), exp, Options{OutDir: t.TempDir()})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	s := res.Summary
	want := measure.Fail
	if s.Harness.Starved {
		want = measure.Invalid // a starved run says so, whatever tripped
	}
	if s.Status != "stopped" || s.Verdict != want || !strings.Contains(s.Reason, "errors > 5") {
		t.Errorf("status %s, verdict %s (want %s), reason %q; %q", s.Status, s.Verdict, want, s.Reason, s.Reasons)
	}
	healed := 0
	for _, e := range eventsOf(t, res) {
		if e.Type == journal.FaultHealed {
			healed++
		}
	}
	if healed != 1 {
		t.Errorf("healed %d times, want once", healed)
	}
	// It ended early: the fault was healed before its scheduled end.
	if w := measure.Faults(eventsOf(t, res)); len(w) != 1 || w[0].EndMS == nil || *w[0].EndMS-w[0].StartMS >= float64(exp.Faults[0].Duration.Milliseconds()) {
		t.Errorf("fault window %+v: want it healed before its %s were up", w, exp.Faults[0].Duration)
	}
}

// The live view sees every phase in order and, at the end, the counts the
// summary has.
func TestLiveProgress(t *testing.T) {
	exp := flagship(t)
	exp.Duration = 2 * time.Second
	exp.Faults[0].Start, exp.Faults[0].Duration = 500*time.Millisecond, time.Second
	var phases []string
	var last measure.Progress
	sawFault := false
	res := Run(context.Background(), exp, Options{Live: func(p measure.Progress) {
		if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
			phases = append(phases, p.Phase)
		}
		sawFault = sawFault || len(p.Faults) == 1
		last = p
	}})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if strings.Join(phases, ",") != "building,running,stopping,tearing down" {
		t.Errorf("phases = %v", phases)
	}
	if !sawFault || len(last.Faults) != 0 {
		t.Errorf("faults: seen active %v, at the end %v; want active during the run, none at the end", sawFault, last.Faults)
	}
	for _, c := range res.Summary.Clients {
		found := false
		for _, p := range last.Clients {
			if p.Name == c.Name {
				found = true
				if p.Requests != c.Requests || p.Errors != c.Errors {
					t.Errorf("%s: live %d requests %d errors; summary %d, %d", c.Name, p.Requests, p.Errors, c.Requests, c.Errors)
				}
			}
		}
		if !found {
			t.Errorf("client %s never in the live view", c.Name)
		}
	}
	if last.Elapsed != exp.Duration {
		t.Errorf("elapsed at the end %s; want %s", last.Elapsed, exp.Duration)
	}
}

// Queries from a source that is no client's are counted, one dns.other
// event per second with the counts by rcode, not journaled one by one;
// the clients' own are journaled as before.
func TestOtherSourcesQueriesAreCounted(t *testing.T) {
	exp := shortExperiment(t)
	exp.Duration = 3 * time.Second
	exp.Faults[0].Start, exp.Faults[0].Duration = time.Second, time.Second
	sent := make(chan int, 1)
	opts := Options{OutDir: t.TempDir(), onReady: func(w *topology.World) {
		go func() {
			n := 0
			for i := 0; i < 300; i++ {
				if answers(w.DNSAddr(), "dynamodb.us-east-1.amazonaws.com.") >= 0 {
					n++
				}
			}
			sent <- n
		}()
	}}
	res := Run(context.Background(), exp, opts)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	n := <-sent
	counted, clients := 0, 0
	for _, e := range eventsOf(t, res) {
		switch {
		case e.Type == journal.DNSOther:
			for _, k := range e.Counts {
				counted += k
			}
		case e.Type == journal.DNSQuery && strings.HasPrefix(e.Addr, "127.0.0.1:"):
			t.Fatalf("a query from 127.0.0.1 was journaled one by one: %+v", e)
		case e.Type == journal.DNSQuery:
			clients++
		}
	}
	if counted < n || n < 250 {
		t.Errorf("dns.other counted %d queries; %d were answered", counted, n)
	}
	if clients == 0 {
		t.Error("no client's query was journaled")
	}
}

// Hold keeps the world up with its clients: faults come through the
// session's Engine, the context ending is the normal end (complete), and
// what the hold left applied is healed by the rollback.
func TestHoldKeepsTheWorldUntilItsContextEnds(t *testing.T) {
	exp := flagship(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var sandboxed bool
	var env []string
	res := Run(ctx, exp, Options{SkipSchedule: true, Hold: func(hctx context.Context, s *Session) error {
		sandboxed = s.Sandboxed()
		env, _ = s.AppEnv("x", nil)
		if _, _, err := s.StartCommand(Command{Name: "x", Argv: []string{"true"}}); !errors.Is(err, ErrNoSandbox) {
			t.Errorf("StartCommand outside the sandbox: %v", err)
		}
		if _, err := s.Engine().ApplyFor(faults.Fault{Kind: "dns.empty", Target: "dynamodb.us-east-1.amazonaws.com"}, "api:test", time.Minute); err != nil {
			t.Error(err)
		}
		time.Sleep(1500 * time.Millisecond) // the clients run meanwhile
		cancel()
		<-hctx.Done()
		return nil
	}})
	if res.Err != nil || res.Summary.Status != "complete" {
		t.Fatalf("held run: %v, status %q (%s)", res.Err, res.Summary.Status, res.Summary.Reason)
	}
	if sandboxed || !slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "FAULTLINE_DNS=127.0.0.1:") }) {
		t.Errorf("outside the sandbox: sandboxed %v, env %v", sandboxed, env)
	}
	if len(res.Summary.Faults) != 1 || res.Summary.Faults[0].AppliedBy != "api:test" || res.Summary.Faults[0].HealedBy != "rollback" {
		t.Errorf("faults: %+v", res.Summary.Faults)
	}
	for _, c := range res.Summary.Clients {
		if c.Requests == 0 {
			t.Errorf("client %s made no request while the world was held", c.Name)
		}
	}
}

// run.start names the backend: one word when every region has the same,
// else each region's; --backend overrides them all.
func TestBackendsNamed(t *testing.T) {
	exp := flagship(t)
	r := &run{exp: exp}
	if got := r.backends(); got != "embedded" {
		t.Errorf("flagship: %q, want embedded", got)
	}
	mixed := *exp
	mixed.Topology.Regions = slices.Clone(exp.Topology.Regions)
	mixed.Topology.Regions[0].Backend = spec.BackendContainer
	r = &run{exp: &mixed}
	if got, want := r.backends(), "us-east-1=container,us-west-2=embedded"; got != want {
		t.Errorf("mixed: %q, want %q", got, want)
	}
	r.opts.Backend = spec.BackendContainer
	if got := r.backends(); got != "container" {
		t.Errorf("--backend container: %q, want container", got)
	}
}

// The read-your-writes workload through the runner: the failover client's
// requests carry its items and versions, and the report measures its stale
// reads after the failover (each region's table on its own here: what it
// wrote in us-east-1 is not in us-west-2).
func TestReadYourWritesWorkloadEndToEnd(t *testing.T) {
	exp := shortExperiment(t)
	for i := range exp.Clients {
		if exp.Clients[i].Name == "failover" {
			exp.Clients[i].Workload, exp.Clients[i].Operations = spec.WorkloadReadYourWrites, []string{"PutItem", "GetItem"}
		}
	}
	res := runKept(t, exp, Options{})
	if res.Err != nil {
		t.Fatalf("run broke: %v", res.Err)
	}
	versions := map[string]int64{}
	west := false
	for _, e := range eventsOf(t, res) {
		if e.Type != journal.Request || e.Client != "failover" || e.Probe {
			continue
		}
		if !strings.HasPrefix(e.Item, "failover/item-") {
			t.Fatalf("request without the client's own item: %+v", e)
		}
		if e.Op == "PutItem" {
			if e.ItemVersion == nil || *e.ItemVersion <= 0 {
				t.Fatalf("write without a version: %+v", e)
			}
			versions[e.Item] = max(versions[e.Item], *e.ItemVersion)
		}
		west = west || (e.Succeeded() && e.Region == "us-west-2")
	}
	if len(versions) == 0 {
		t.Fatal("the client wrote nothing")
	}
	m := clientReport(t, res.Summary, "failover").Metrics
	if west && m.StaleReadsAfterFailover == nil {
		t.Errorf("the client served from us-west-2 but stale_reads_after_failover is null: %+v", m)
	}
	if m.WritesAtRisk != nil || m.LostWrites != nil || res.Summary.Replication != nil {
		t.Errorf("no global table, yet writes at risk %v, lost writes %v, replication %+v", m.WritesAtRisk, m.LostWrites, res.Summary.Replication)
	}
	if naive := clientReport(t, res.Summary, "naive").Metrics; naive.StaleReadsAfterFailover != nil || naive.LostWrites != nil {
		t.Errorf("the default workload has global-table metrics: %+v", naive)
	}
}
