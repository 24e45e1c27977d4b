package spec

import (
	"strings"
	"testing"
	"time"
)

// appsExperiment has a reference client, an application with a health
// endpoint and one without.
const appsExperiment = `name: views
topology:
  regions: [{name: us-east-1}, {name: us-west-2}]
clients:
  - name: ref
    strategy: failover
    regions: [us-east-1, us-west-2]
  - name: orders
    command: [python3, app.py]
    health: {url: "http://127.0.0.1:8081/health"}
  - name: billing
    command: [sh, app.sh]
schedule:
  duration: 10s
  faults:
    - {kind: dns.empty, target: dynamodb.us-east-1.amazonaws.com, start: 1s, duration: 2s}
`

// Assertions, steady state and stop conditions may name every view: an
// application's NAME.server, and NAME.probe when it has a health endpoint.
func TestAssertionsNameEveryView(t *testing.T) {
	text := appsExperiment + `assertions:
  - {client: orders.server, expr: failover_ms < 2000}
  - {client: orders.probe, expr: availability > 0.9}
  - {client: billing.server, expr: detect_ms < 500}
steady_state:
  - {client: billing.server, expr: availability > 0.99}
stop_when:
  - {client: orders.probe, expr: errors > 50}
`
	exp, err := Parse("x.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if len(exp.Assertions) != 3 || exp.Assertions[1].Client != "orders.probe" || exp.SteadyState[0].Client != "billing.server" || exp.StopWhen[0].Client != "orders.probe" {
		t.Errorf("assertions %+v, steady %+v, stop %+v", exp.Assertions, exp.SteadyState, exp.StopWhen)
	}
	if v := exp.Clients[1].Views(); strings.Join(v, ",") != "orders,orders.server,orders.probe" {
		t.Errorf("orders' views: %v", v)
	}
	if v := exp.Clients[0].Views(); strings.Join(v, ",") != "ref" {
		t.Errorf("a reference client's views: %v", v)
	}
	for _, c := range []struct{ client, want string }{
		{"ref.server", `"ref.server": ref is a reference client; only an application (image or command) has a .server view`},
		{"billing.probe", `"billing.probe": billing has no health endpoint to probe (clients[].health)`},
		{"nobody.server", `no client named "nobody.server"; expected a client's name, an application's NAME.server (or NAME.probe, with health)`},
	} {
		_, err := Parse("x.yaml", []byte(appsExperiment+"assertions:\n  - {client: "+c.client+", expr: requests > 1}\n"))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "x.yaml:18:14:") {
			t.Errorf("client %s: %v; want x.yaml:18:14 and %q", c.client, err, c.want)
		}
	}
}

// schedule.ready_timeout and health.timeout: defaults, values, bounds.
func TestReadyAndProbeTimeouts(t *testing.T) {
	exp, err := Parse("x.yaml", []byte(appsExperiment))
	if err != nil {
		t.Fatal(err)
	}
	if exp.ReadyTimeout != 2*time.Minute || exp.Clients[1].Health.Timeout != time.Second || exp.Clients[1].Health.Interval != 100*time.Millisecond {
		t.Errorf("defaults: ready_timeout %s, health %+v", exp.ReadyTimeout, *exp.Clients[1].Health)
	}
	text := strings.Replace(appsExperiment, "  duration: 10s\n", "  duration: 10s\n  ready_timeout: 30s\n", 1)
	text = strings.Replace(text, `health: {url: "http://127.0.0.1:8081/health"}`, `health: {url: "http://127.0.0.1:8081/health", interval: 50ms, timeout: 3s}`, 1)
	if exp, err = Parse("x.yaml", []byte(text)); err != nil {
		t.Fatal(err)
	}
	if exp.ReadyTimeout != 30*time.Second || exp.Clients[1].Health.Timeout != 3*time.Second {
		t.Errorf("set: ready_timeout %s, health %+v", exp.ReadyTimeout, *exp.Clients[1].Health)
	}
	for _, c := range []struct{ from, to, want string }{
		{"  duration: 10s\n", "  duration: 10s\n  ready_timeout: 500ms\n", "schedule.ready_timeout: 500ms is out of range; expected 1s to 1h0m0s"},
		{`health: {url: "http://127.0.0.1:8081/health"}`, `health: {url: "http://127.0.0.1:8081/health", timeout: 2m}`, "clients[1].health.timeout: 2m is out of range; expected 10ms to 1m0s"},
		{`health: {url: "http://127.0.0.1:8081/health"}`, `health: {url: "http://127.0.0.1:8081/health", timeout: 3}`, "clients[1].health.timeout"},
	} {
		_, err := Parse("x.yaml", []byte(strings.Replace(appsExperiment, c.from, c.to, 1)))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v; want %q", c.to, err, c.want)
		}
	}
}
