package runner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/experiments/measure"
	"github.com/faultline-dev/faultline/experiments/spec"
	"github.com/faultline-dev/faultline/targets/sandbox"
)

// inSandbox runs the calling test again inside faultline's sandbox (a
// network and mount namespace of its own, so parallel tests and other runs
// on the host share no address) and reports how it ended; inside, it readies
// the sandbox and returns true: the test's body runs there.
func inSandbox(t *testing.T) bool {
	t.Helper()
	if sandbox.Inside() {
		if err := sandbox.Prepare(t.TempDir(), AppDNS); err != nil {
			t.Fatal(err)
		}
		return true
	}
	if err := sandbox.Check(); err != nil {
		t.Skip(err)
	}
	t.Parallel()
	code, err := sandbox.Reexec([]string{"-test.run=^" + t.Name() + "$", "-test.v", "-test.count=1"})
	if err != nil || code != 0 {
		t.Fatalf("the sandboxed run of %s: exit %d, %v (its output is above)", t.Name(), code, err)
	}
	return false
}

// curlApp is an application as a team writes it in shell: curl to the real
// endpoint name over TLS (the run's CA from CURL_CA_BUNDLE), one outcome
// line per request on stdout; on a failure it goes to $FALLBACK for ten
// requests, then tries $PRIMARY again. $TIME_SCALE multiplies its times
// (1000: unix milliseconds, a mistake). $START_DELAY: it sleeps that long
// before its first request.
const curlApp = `sleep "${START_DELAY:-0}"
region=$PRIMARY
away=0
while :; do
  out=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 1 -X POST \
    -H 'X-Amz-Target: DynamoDB_20120810.GetItem' -H 'Content-Type: application/x-amz-json-1.0' \
    -d '{"TableName":"faultline","Key":{"pk":{"S":"item-0001"}}}' "https://dynamodb.$region.amazonaws.com/" 2>&1)
  rc=$?
  now=$(date +%s%N)
  now=$(echo "$now / (1000000000 / ${TIME_SCALE:-1})" | bc -l)
  code=$(echo "$out" | tail -c 4)
  if [ $rc -eq 0 ] && [ "$code" -lt 500 ]; then ok=true; err=""; else ok=false; err=$(echo "$out" | head -1 | tr -d '"\\'); fi
  printf '{"time":%s,"operation":"GetItem","region":"%s","ok":%s,"error":"%s"}\n' "$now" "$region" "$ok" "$err"
  if [ $ok = false ] && [ -n "$FALLBACK" ] && [ "$region" = "$PRIMARY" ]; then region=$FALLBACK; away=10; fi
  if [ "$region" != "$PRIMARY" ]; then away=$((away-1)); if [ $away -le 0 ]; then region=$PRIMARY; fi; fi
  sleep 0.05
done
`

// sandboxExperiment writes the app and the experiment into a directory of
// their own and parses it.
func sandboxExperiment(t *testing.T, yaml string) *spec.Experiment {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "app.sh"), []byte(curlApp), 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "exp.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	exp, err := spec.ParseFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return exp
}

func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := os.Stat("/usr/bin/" + tool); err != nil {
			t.Skipf("%s is not installed (Debian package %s)", tool, tool)
		}
	}
}

// byClient sorts a run's events by client.
func byClient(events []journal.Event, typ string) map[string][]journal.Event {
	out := map[string][]journal.Event{}
	for _, e := range events {
		if e.Type == typ {
			out[e.Client] = append(out[e.Client], e)
		}
	}
	return out
}

// Two applications in one experiment are measured each on its own: the one
// whose name the fault empties is reached, fails over and shows it from the
// server side too; the one that only talks to us-west-2 is reported not
// reached, and its server side shows no us-east-1 traffic and no failover.
// Its DNS identity, its connections and its server view are its own.
func TestSandboxTwoAppsEachMeasuredOnItsOwn(t *testing.T) {
	requireTools(t, "curl", "bc")
	if !inSandbox(t) {
		return
	}
	exp := sandboxExperiment(t, `name: two-apps
topology:
  regions: [{name: us-east-1}, {name: us-west-2}]
clients:
  - name: east
    command: [sh, app.sh]
    env: {PRIMARY: us-east-1, FALLBACK: us-west-2}
  - name: west
    command: [sh, app.sh]
    regions: [us-west-2]
    env: {PRIMARY: us-west-2}
schedule:
  duration: 8s
  faults:
    - {kind: dns.empty, target: dynamodb.us-east-1.amazonaws.com, start: 2s, duration: 4s}
`)
	res := Run(context.Background(), exp, Options{OutDir: t.TempDir(), Progress: testWriter{t}})
	if res.Err != nil {
		t.Fatalf("run broke: %v", res.Err)
	}
	s := res.Summary
	starts := byClient(eventsOf(t, res), journal.ClientStart)
	if a, b := starts["east"], starts["west"]; len(a) != 1 || len(b) != 1 || a[0].Addr == "" || a[0].Addr == b[0].Addr {
		t.Fatalf("client.start: east %+v, west %+v; want a DNS source address each", a, b)
	}
	if a, b := starts["east.server"], starts["west.server"]; len(a) != 1 || len(b) != 1 || a[0].Addr != starts["east"][0].Addr {
		t.Errorf("server views: %+v, %+v; want one per application, with its DNS source", a, b)
	}
	east, eastServer := clientReport(t, s, "east"), clientReport(t, s, "east.server")
	west, westServer := clientReport(t, s, "west"), clientReport(t, s, "west.server")
	for _, c := range []measure.ClientReport{east, eastServer} {
		if !c.Metrics.FaultReached || c.Metrics.DNSQueriesInFault == 0 || c.Warning != "" {
			t.Errorf("%s: reached %v, dns_queries_in_fault %d, warning %q; want reached", c.Name, c.Metrics.FaultReached, c.Metrics.DNSQueriesInFault, c.Warning)
		}
		if c.Metrics.FailoverMS == nil || c.Metrics.DetectMS == nil {
			t.Errorf("%s: detect %s, failover %s; want both measured (it went to us-west-2)", c.Name, val(c.Metrics.DetectMS), val(c.Metrics.FailoverMS))
		}
	}
	for _, c := range []measure.ClientReport{west, westServer} {
		if c.Metrics.FaultReached || c.Metrics.DNSQueriesInFault != 0 || c.Warning != measure.NotReached || c.Errors != 0 || c.Requests < 8 {
			t.Errorf("%s: reached %v, dns_queries_in_fault %d, %d errors of %d, warning %q; want not reached, no errors",
				c.Name, c.Metrics.FaultReached, c.Metrics.DNSQueriesInFault, c.Errors, c.Requests, c.Warning)
		}
	}
	// The server views: each app's own requests, by the alias they came to.
	regions := map[string]map[string]int{}
	for _, e := range eventsOf(t, res) {
		if e.Type == journal.Request && e.Succeeded() {
			if regions[e.Client] == nil {
				regions[e.Client] = map[string]int{}
			}
			regions[e.Client][e.Region]++
		}
	}
	if regions["west.server"]["us-east-1"] != 0 || regions["west.server"]["us-west-2"] < 8 {
		t.Errorf("west.server by region %v; want us-west-2 only", regions["west.server"])
	}
	if regions["east.server"]["us-west-2"] == 0 || regions["east.server"]["us-east-1"] < 5 {
		t.Errorf("east.server by region %v; want us-east-1 and, in the fault, us-west-2", regions["east.server"])
	}
	for _, app := range []string{"east", "west"} {
		for region, n := range regions[app] {
			if d := n - regions[app+".server"][region]; d < -2 || d > 2 {
				t.Errorf("%s in %s: %d successes from its lines, %d at the nodes", app, region, n, regions[app+".server"][region])
			}
		}
	}
	// Connections name their client; none is left unnamed.
	conns := byClient(eventsOf(t, res), journal.ConnAccepted)
	if len(conns["east"]) == 0 || len(conns["west"]) == 0 || len(conns[""]) != 0 {
		t.Errorf("conn.accepted by client: east %d, west %d, unnamed %d", len(conns["east"]), len(conns["west"]), len(conns[""]))
	}
	for _, e := range conns["west"] {
		if e.Region != "us-west-2" || e.Addr == "" {
			t.Errorf("a connection of west's: %+v; want us-west-2's, with its address", e)
			break
		}
	}
	ready := byClient(eventsOf(t, res), journal.ClientReady)
	if len(ready["east"]) != 1 || len(ready["west"]) != 1 {
		t.Errorf("client.ready: %+v", ready)
	}
	t.Logf("east: detect %s failover %s, dns in fault %d; east.server detect %s failover %s; west: %d requests, west.server by region %v",
		val(east.Metrics.DetectMS), val(east.Metrics.FailoverMS), east.Metrics.DNSQueriesInFault, val(eastServer.Metrics.DetectMS), val(eastServer.Metrics.FailoverMS),
		west.Requests, regions["west.server"])
}

// link.down seen from the server side: connections the nodes accepted for
// the app but could not carry to a target are its failed requests
// (connect-refused), in the region of the node; a stop condition on the
// server view ends the run.
func TestSandboxLinkDownSeenFromTheServerSide(t *testing.T) {
	requireTools(t, "curl", "bc")
	if !inSandbox(t) {
		return
	}
	exp := sandboxExperiment(t, `name: link-down
topology:
  regions: [{name: us-east-1}, {name: us-west-2}]
clients:
  - name: app
    command: [sh, app.sh]
    env: {PRIMARY: us-east-1}
schedule:
  duration: 10s
  faults:
    - {kind: link.down, target: us-east-1, start: 2s, duration: 6s}
stop_when:
  - {client: app.server, expr: errors > 10}
`)
	res := Run(context.Background(), exp, Options{OutDir: t.TempDir(), Progress: testWriter{t}})
	if res.Err != nil {
		t.Fatalf("run broke: %v", res.Err)
	}
	s := res.Summary
	server := clientReport(t, s, "app.server")
	if server.ErrorClasses["connect-refused"] == 0 || server.Metrics.DetectMS == nil || server.Metrics.Availability == nil || *server.Metrics.Availability >= 1 {
		t.Errorf("app.server: classes %v, detect %s, availability %s; want the refused connections counted as failures",
			server.ErrorClasses, val(server.Metrics.DetectMS), val(server.Metrics.Availability))
	}
	if !server.Metrics.FaultReached {
		t.Error("app.server: the link fault did not reach it")
	}
	failed := 0
	for _, e := range eventsOf(t, res) {
		if e.Type == journal.Request && e.Client == "app.server" && !e.Succeeded() {
			failed++
			// A connection the node could not carry, or a request whose
			// connection the fault closed under it.
			refused := e.Op == "connection" && strings.Contains(e.Detail, "could not carry")
			cut := strings.Contains(e.Detail, "closed before a response")
			if e.Region != "us-east-1" || !refused && !cut {
				t.Errorf("a failed request of app.server at %.0f ms in %s: %s (%s), %s", e.T, e.Region, e.Op, e.Error, e.Detail)
			}
		}
		if e.Type == journal.ConnFailed && (e.Client != "app" || e.Addr == "") {
			t.Errorf("conn.failed %+v; want the app's name and address", e)
		}
	}
	if s.Status != "stopped" || !strings.Contains(s.Reason, "app.server: errors > 10") {
		t.Errorf("status %s, reason %q; want the stop condition on app.server to end the run", s.Status, s.Reason)
	}
	app := clientReport(t, s, "app")
	t.Logf("app.server: %d failed (%v), detect %s; the app's own lines: %d errors of %d", failed, server.ErrorClasses, val(server.Metrics.DetectMS), app.Errors, app.Requests)
}

// A slow starter (3 s before its first request, its health endpoint after
// that): the schedule's clock starts when it is ready, so its requests
// still meet the fault. An app printing unix milliseconds has every line
// rejected with the hint, and is measured from the server side.
func TestSandboxReadinessWaitsForASlowApp(t *testing.T) {
	requireTools(t, "curl", "bc", "python3")
	if !inSandbox(t) {
		return
	}
	exp := sandboxExperiment(t, `name: slow-start
topology:
  regions: [{name: us-east-1}, {name: us-west-2}]
clients:
  - name: slow
    command: [sh, -c, "sleep 3; python3 -m http.server --bind 127.0.0.1 8081 >/dev/null 2>&1 & exec sh app.sh"]
    env: {PRIMARY: us-east-1, FALLBACK: us-west-2}
    health: {url: "http://127.0.0.1:8081/", interval: 50ms}
  - name: millis
    command: [sh, app.sh]
    env: {PRIMARY: us-east-1, TIME_SCALE: "1000"}
  - name: ref
    strategy: failover
    regions: [us-east-1, us-west-2]
schedule:
  duration: 4s
  ready_timeout: 30s
  faults:
    - {kind: dns.empty, target: dynamodb.us-east-1.amazonaws.com, start: 500ms, duration: 2s}
assertions:
  - {client: millis.server, expr: detect_ms < 1000}
`)
	res := Run(context.Background(), exp, Options{OutDir: t.TempDir(), Progress: testWriter{t}})
	if res.Err != nil {
		t.Fatalf("run broke: %v", res.Err)
	}
	s := res.Summary
	ready := byClient(eventsOf(t, res), journal.ClientReady)
	if len(ready["slow"]) != 1 || ready["slow"][0].T < 2900 {
		t.Fatalf("slow's client.ready: %+v; want one, after its 3 s sleep", ready["slow"])
	}
	var applied float64
	for _, e := range eventsOf(t, res) {
		if e.Type == journal.FaultApplied {
			applied = e.T
		}
	}
	if applied < ready["slow"][0].T+400 {
		t.Errorf("the fault was applied at %.0f ms, %.0f ms after slow was ready; want the schedule's 500 ms", applied, applied-ready["slow"][0].T)
	}
	slow := clientReport(t, s, "slow")
	if slow.Metrics.DNSQueriesInFault == 0 || slow.Errors == 0 || slow.Metrics.DetectMS == nil {
		t.Errorf("slow: dns in fault %d, %d errors, detect %s; want its requests to meet the fault", slow.Metrics.DNSQueriesInFault, slow.Errors, val(slow.Metrics.DetectMS))
	}
	if probe := clientReport(t, s, "slow.probe"); probe.Requests < 5 {
		t.Errorf("slow.probe: %d probes", probe.Requests)
	}
	// The reference client started with the schedule, not before.
	var firstRef float64 = -1
	for _, e := range eventsOf(t, res) {
		if e.Type == journal.Request && e.Client == "ref" && (firstRef < 0 || e.T < firstRef) {
			firstRef = e.T
		}
	}
	if firstRef < ready["slow"][0].T {
		t.Errorf("ref's first request at %.0f ms, before slow was ready (%.0f ms)", firstRef, ready["slow"][0].T)
	}
	// millis: every line rejected with the hint, never a request; the
	// server side measured it.
	rejected := byClient(eventsOf(t, res), journal.OutcomeRejected)["millis"]
	if len(rejected) < 5 || clientReport(t, s, "millis").Requests != 0 {
		t.Fatalf("millis: %d lines rejected, %d accepted; want all rejected", len(rejected), clientReport(t, s, "millis").Requests)
	}
	for i, e := range rejected {
		if !strings.Contains(e.Detail, "looks like unix milliseconds; write seconds (or RFC 3339)") || (i < 20) != (e.Line != "") {
			t.Errorf("rejected[%d] = %q, line %q; want the milliseconds hint, the line for the first 20", i, e.Detail, e.Line)
			break
		}
	}
	if m := clientReport(t, s, "millis.server"); m.Requests < 5 || m.Metrics.DetectMS == nil {
		t.Errorf("millis.server: %d requests, detect %s; want the nodes' view of it", m.Requests, val(m.Metrics.DetectMS))
	}
	if len(s.Assertions) != 1 || s.Assertions[0].Client != "millis.server" || s.Assertions[0].Value == nil {
		t.Errorf("the assertion on millis.server: %+v", s.Assertions)
	}
	t.Logf("slow ready at %.0f ms (%s); fault at %.0f ms; slow: %d errors, detect %s; millis: %d lines rejected (%q)",
		ready["slow"][0].T, ready["slow"][0].Detail, applied, slow.Errors, val(slow.Metrics.DetectMS), len(rejected), rejected[0].Detail)
}

// An app that never gets ready (its lines miss the schema, it never
// reaches a node, its health URL never answers) ends the run invalid, with
// a reason that names it, what was missing and its last lines; its
// rejected lines are in the journal with their reasons.
func TestSandboxNeverReadyIsInvalid(t *testing.T) {
	if !inSandbox(t) {
		return
	}
	exp := sandboxExperiment(t, fmt.Sprintf(`name: never-ready
topology:
  regions: [{name: us-east-1}, {name: us-west-2}]
clients:
  - name: wrong
    command: [sh, -c, 'echo starting; while :; do echo "{\"t\": $(date +%%s%%3N), \"op\": \"GetItem\"}"; sleep 0.1; done']
    health: {url: "http://127.0.0.1:8089/health", interval: 50ms}
  - name: ref
    strategy: single-region
    regions: [us-east-1]
schedule:
  duration: 5s
  ready_timeout: 3s
  faults:
    - {kind: dns.empty, target: dynamodb.us-east-1.amazonaws.com, start: 1s, duration: 2s}
assertions:
  - {client: "*", expr: requests >= 0}
`))
	res := Run(context.Background(), exp, Options{OutDir: t.TempDir(), Progress: testWriter{t}})
	if res.Err != nil {
		t.Fatalf("run broke: %v", res.Err)
	}
	s := res.Summary
	if s.Status != "invalid" || s.Verdict != measure.Invalid {
		t.Fatalf("status %s, verdict %s; want invalid", s.Status, s.Verdict)
	}
	for _, want := range []string{"client wrong was not ready within 3s", "its health URL http://127.0.0.1:8089/health never answered 2xx (last: ",
		"no outcome line was accepted", "no request reached a node", `its last lines: `, `(rejected: "time": missing (the line has "op", "t")`} {
		if !strings.Contains(s.Reason, want) {
			t.Errorf("the reason %q does not say %q", s.Reason, want)
		}
	}
	rejected := byClient(eventsOf(t, res), journal.OutcomeRejected)["wrong"]
	if len(rejected) < 3 || !strings.HasPrefix(rejected[0].Line, `{"t": `) {
		t.Errorf("rejected lines: %+v", rejected)
	}
	for _, e := range eventsOf(t, res) {
		switch {
		case e.Type == journal.FaultApplied:
			t.Error("a fault was applied although an application never got ready")
		case e.Type == journal.Request && e.Client == "ref":
			t.Error("the reference client ran although the schedule never started")
		}
	}
	if ready := byClient(eventsOf(t, res), journal.ClientReady)["wrong"]; len(ready) != 1 || ready[0].Status != "timeout" {
		t.Errorf("client.ready of wrong: %+v; want a timeout", ready)
	}
	t.Logf("reason: %s", s.Reason)
}

// nlb.node-down: an application's connection attempts that the down node
// refuses never reach a node; faultline sees them on lo and journals them
// (conn.refused) with the app's name, by the alias they went to. An app
// that never talks to the region has none.
func TestSandboxNodeDownRefusalsOfApps(t *testing.T) {
	requireTools(t, "curl", "bc")
	if !inSandbox(t) {
		return
	}
	exp := sandboxExperiment(t, `name: node-down
topology:
  regions: [{name: us-east-1}, {name: us-west-2}]
clients:
  - name: east
    command: [sh, app.sh]
    env: {PRIMARY: us-east-1}
  - name: west
    command: [sh, app.sh]
    regions: [us-west-2]
    env: {PRIMARY: us-west-2}
schedule:
  duration: 5s
  faults:
    - {kind: nlb.node-down, target: us-east-1, start: 1s, duration: 3s, params: {node: 1}}
`)
	res := Run(context.Background(), exp, Options{OutDir: t.TempDir(), Progress: testWriter{t}})
	if res.Err != nil {
		t.Fatalf("run broke: %v", res.Err)
	}
	var down, up float64
	for _, e := range eventsOf(t, res) {
		switch e.Type {
		case "node.down":
			down = e.T
		case "node.up":
			up = e.T
		}
	}
	refused := byClient(eventsOf(t, res), journal.ConnRefused)
	if len(refused["east"]) == 0 || len(refused["west"]) != 0 || len(refused) != 1 {
		t.Fatalf("conn.refused by client: east %d, west %d, all %d; want east's only", len(refused["east"]), len(refused["west"]), len(refused))
	}
	for _, e := range refused["east"] {
		if e.Region != "us-east-1" || !strings.HasPrefix(e.Node, "127.0.1.1:") || e.Addr == "" || e.T < down || e.T > up {
			t.Errorf("conn.refused %+v; want east's, at us-east-1's node 1 while it was down (%.0f–%.0f ms)", e, down, up)
			break
		}
	}
	t.Logf("east: %d attempts refused at the down node between %.0f and %.0f ms; east %d errors", len(refused["east"]), down, up, clientReport(t, res.Summary, "east").Errors)
}
