package runner

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/experiments/measure"
	"github.com/faultline-dev/faultline/experiments/spec"
	"github.com/faultline-dev/faultline/targets/dynamodb/container"
	"github.com/faultline-dev/faultline/targets/dynamodb/container/containertest"
)

// The flagship, unchanged, with every region's DynamoDB in a container (the
// stand-in image for amazon/dynamodb-local: no registry here) and a third
// client that is an application in a container: faultline-app, resolving
// through /etc/resolv.conf, reporting JSON lines. Nothing is left in Docker
// afterwards.
func TestContainerFlagshipWithContainerizedClient(t *testing.T) {
	containertest.RequireDocker(t)
	if os.Geteuid() != 0 {
		t.Skip("the application's DNS relay binds port 53: run as root")
	}
	dynamo := containertest.StandIn(t)
	app := containertest.App(t, "app", "github.com/faultline-dev/faultline/cmd/faultline-app")

	exp := flagship(t)
	exp.Clients = append(exp.Clients, spec.Client{Name: "app", Strategy: spec.StrategyApp, Image: "placeholder/overridden:0",
		Regions: []string{"us-east-1", "us-west-2"}, Env: map[string]string{"FAULTLINE_RATE": "20", "FAULTLINE_TIMEOUT": "1s"}})
	runID := fmt.Sprintf("test-%d", time.Now().UnixNano())
	res := Run(context.Background(), exp, Options{OutDir: t.TempDir(), RunID: runID, Backend: spec.BackendContainer,
		Images: map[string]string{"dynamodb": dynamo, "app": app}, Progress: testWriter{t}})
	if res.Err != nil {
		t.Fatalf("run broke: %v", res.Err)
	}
	s := res.Summary
	if s.Harness.Starved {
		if s.Verdict != measure.Invalid {
			t.Errorf("the harness was starved (%q) but the verdict is %s", s.Harness.Reasons, s.Verdict)
		}
		t.Logf("the harness was starved: %q; the numbers are not checked", s.Harness.Reasons)
		return
	}
	if s.Verdict != measure.Pass {
		t.Errorf("verdict = %s, want pass (the flagship unchanged); %q", s.Verdict, s.Reasons)
	}
	a := clientReport(t, s, "app")
	if a.Requests < 100 {
		t.Fatalf("the application reported %d requests; want about 240", a.Requests)
	}
	if a.Metrics.FailoverMS == nil || *a.Metrics.FailoverMS >= 2000 {
		t.Errorf("app failover_ms = %s; want it measured from its JSON lines, below 2000", val(a.Metrics.FailoverMS))
	}
	if a.ErrorClasses["dns-notfound"] == 0 {
		t.Errorf("app error classes = %v; want dns-notfound, as its text reported", a.ErrorClasses)
	}
	west := 0
	for _, e := range eventsOf(t, res) {
		if e.Type == "request" && e.Client == "app" && e.Region == "us-west-2" && e.Succeeded() {
			west++
		}
	}
	if west == 0 {
		t.Error("the application never served from us-west-2")
	}
	source := ""
	for _, e := range eventsOf(t, res) {
		if e.Type == "client.start" && e.Client == "app" {
			source = e.Addr
		}
	}
	queries := 0
	for _, e := range eventsOf(t, res) {
		if e.Type == "dns.query" && source != "" && strings.HasPrefix(e.Addr, source+":") {
			queries++
		}
	}
	if queries == 0 {
		t.Errorf("the DNS server saw no query through the application's relay (source %q)", source)
	}
	// The server side's view: the nodes' HTTP exchanges with the app.
	server := clientReport(t, s, "app.server")
	ownOK, serverOK := map[string]int{}, map[string]int{}
	for _, e := range eventsOf(t, res) {
		if e.Type == "request" && e.Succeeded() {
			switch e.Client {
			case "app":
				ownOK[e.Region]++
			case "app.server":
				serverOK[e.Region]++
			}
		}
	}
	for region, n := range ownOK {
		if d := n - serverOK[region]; d < -2 || d > 2 {
			t.Errorf("successes in %s: %d from the app's lines, %d seen by the nodes", region, n, serverOK[region])
		}
	}
	if server.Requests < 100 || server.Metrics.DNSQueriesInFault == 0 {
		t.Errorf("app.server: %+v; want the nodes' view of the app and the fault-shaped DNS answers", server)
	}
	if left, err := container.List(context.Background(), runID); err != nil || len(left) != 0 {
		t.Errorf("left in Docker after the run: %v, %v", left, err)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
