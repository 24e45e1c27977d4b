package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/experiments/sandbox"
)

// The Node SDK the sandbox test installs (cached like dynalite).
const nodeSDK = "@aws-sdk/client-dynamodb@3.1164.0"

// sdkApp is a third-party client: how to run it and what it needs.
type sdkApp struct {
	name    string
	command string            // YAML list
	env     map[string]string // besides FAILOVER
	health  bool
	need    func(t *testing.T) map[string]string // skips when the SDK cannot be had; extra env
}

func sdkApps() []sdkApp {
	return []sdkApp{
		{name: "boto3", command: "[python3, boto3_app.py]", health: true, need: func(t *testing.T) map[string]string {
			if err := exec.Command("python3", "-c", "import boto3").Run(); err != nil {
				t.Skip("python3-boto3 is not installed (apt-get install -y python3-boto3; .ci/run installs it)")
			}
			return nil
		}},
		{name: "awscli", command: "[sh, awscli_app.sh]", need: func(t *testing.T) map[string]string {
			for _, tool := range []string{"aws", "bc"} {
				if _, err := exec.LookPath(tool); err != nil {
					t.Skipf("%s is not installed (apt-get install -y awscli bc; .ci/run installs them)", tool)
				}
			}
			return nil
		}},
		{name: "node", command: "[node, node_app.js]", health: true, need: func(t *testing.T) map[string]string {
			return map[string]string{"NODE_PATH": installNodeSDK(t)}
		}},
	}
}

// installNodeSDK installs the AWS SDK for JavaScript v3's DynamoDB client
// once into the npm cache directory and returns its node_modules.
func installNodeSDK(t *testing.T) string {
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: the Node client test needs it", tool)
		}
	}
	dir := os.Getenv("FAULTLINE_NPM_CACHE")
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		dir = filepath.Join(cache, "faultline")
	}
	dir = filepath.Join(dir, "aws-sdk-"+strings.TrimPrefix(strings.ReplaceAll(nodeSDK, "/", "-"), "@"))
	modules := filepath.Join(dir, "node_modules")
	if _, err := os.Stat(filepath.Join(modules, "@aws-sdk", "client-dynamodb")); err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "npm", "install", "--no-audit", "--no-fund", "--prefix", dir, nodeSDK).CombinedOutput()
		if err != nil {
			t.Skipf("%s could not be installed with npm: %v\n%s", nodeSDK, err, out)
		}
	}
	return modules
}

// sdkExperiment is the flagship fault for one application: us-east-1's
// record empty for 8 s, and its connections closed as it starts (pooled
// connections would otherwise never look the name up again).
func sdkExperiment(app sdkApp, fault string, env map[string]string, healthPort int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: sdk-%s\ntopology:\n  dns: {ttl: 1s, negative_ttl: 1s}\n  table: {name: orders, items: 100}\n", app.name)
	fmt.Fprintf(&b, "  regions: [{name: us-east-1}, {name: us-west-2}]\nclients:\n  - name: %s\n    command: %s\n    env:\n      FAILOVER: \"1\"\n", app.name, app.command)
	for k, v := range env {
		fmt.Fprintf(&b, "      %s: %q\n", k, v)
	}
	if app.health {
		fmt.Fprintf(&b, "      HEALTH_PORT: \"%d\"\n    health: {url: \"http://127.0.0.1:%d/health\", interval: 100ms}\n", healthPort, healthPort)
	}
	fmt.Fprintf(&b, "schedule:\n  duration: 22s\n  faults:\n    - {id: f1, kind: %s, target: dynamodb.us-east-1.amazonaws.com, start: 3s, duration: 8s}\n", fault)
	b.WriteString("    - {id: f2, kind: link.down, target: us-east-1, start: 3s, duration: 200ms}\n")
	return b.String()
}

type sdkReport struct {
	Verdict string `json:"verdict"`
	Clients []struct {
		Name     string `json:"name"`
		Requests int    `json:"requests"`
		Metrics  struct {
			RecoverMS         *float64 `json:"recover_ms"`
			DNSQueriesInFault int      `json:"dns_queries_in_fault"`
		} `json:"metrics"`
	} `json:"clients"`
}

// Real third-party clients with their stock retry logic, run unchanged in
// the sandbox against the real endpoint names over TLS, on the flagship
// fault. Each is measured two ways (three for those with a health
// endpoint): its JSON outcome lines, the server side's view (the nodes'
// HTTP exchanges and the fault-shaped DNS answers) and its health probe.
// The ways agree: the same successful requests per region, and recover_ms
// within max(300 ms, 20 %).
func TestSandboxThirdPartyClients(t *testing.T) {
	if err := sandbox.Check(); err != nil {
		t.Skip(err)
	}
	if os.Geteuid() != 0 {
		if _, err := os.Stat("/proc/self/ns/user"); err != nil {
			t.Skip("no user namespaces")
		}
	}
	apps, _ := filepath.Abs("../../experiments/sandbox/testdata/apps")
	for i, app := range sdkApps() {
		t.Run(app.name, func(t *testing.T) {
			t.Parallel() // each run has a sandbox, a network, of its own
			env := app.need(t)
			dir := t.TempDir()
			for _, f := range []string{"boto3_app.py", "awscli_app.sh", "node_app.js"} {
				data, err := os.ReadFile(filepath.Join(apps, f))
				if err != nil {
					t.Fatal(err)
				}
				os.WriteFile(filepath.Join(dir, f), data, 0o755)
			}
			exp := filepath.Join(dir, "exp.yaml")
			os.WriteFile(exp, []byte(sdkExperiment(app, "dns.empty", env, 8081+i)), 0o644)
			out := filepath.Join(dir, "out")
			cmd := exec.Command(binary, "run", "-q", "--out", out, exp)
			text, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("faultline run: %v\n%s", err, text)
			}
			var rep sdkReport
			data, err := os.ReadFile(filepath.Join(out, "report.json"))
			if err != nil || json.Unmarshal(data, &rep) != nil {
				t.Fatalf("report.json: %v\n%s", err, text)
			}
			views := map[string]int{}
			for j, c := range rep.Clients {
				views[c.Name] = j
			}
			for _, name := range []string{app.name, app.name + ".server"} {
				j, ok := views[name]
				if !ok || rep.Clients[j].Requests < 5 || rep.Clients[j].Metrics.DNSQueriesInFault == 0 {
					t.Fatalf("view %s: %+v; want requests and DNS queries shaped by the fault\n%s", name, rep.Clients, text)
				}
			}
			if app.health {
				if j, ok := views[app.name+".probe"]; !ok || rep.Clients[j].Requests < 50 {
					t.Errorf("the health probe: %+v", rep.Clients)
				}
			}
			// The same successful requests per region, from the app's lines
			// and from the nodes.
			own, server := successes(t, filepath.Join(out, "journal.jsonl"), app.name)
			for region, n := range own {
				if d := n - server[region]; d < -2 || d > 2 {
					t.Errorf("successes in %s: %d from the app's lines, %d seen by the nodes", region, n, server[region])
				}
			}
			a, s := rep.Clients[views[app.name]].Metrics.RecoverMS, rep.Clients[views[app.name+".server"]].Metrics.RecoverMS
			if a == nil || s == nil {
				t.Fatalf("recover_ms: app %v, server %v; want both measured\n%s", a, s, text)
			}
			if d := math.Abs(*a - *s); d > math.Max(300, 0.2*math.Max(*a, *s)) {
				t.Errorf("recover_ms: %.0f from the app's lines, %.0f from the server side; want within max(300 ms, 20%%)", *a, *s)
			}
			t.Logf("%s: recover_ms %.0f (lines) %.0f (server); successes by region %v (lines) %v (server)", app.name, *a, *s, own, server)
		})
	}
}

// successes counts a view's successful requests per region in a journal.
func successes(t *testing.T, journal, app string) (own, server map[string]int) {
	f, err := os.Open(journal)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	own, server = map[string]int{}, map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e struct {
			Type, Client, Region string
			OK                   *bool
		}
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.Type != "request" || e.OK == nil || !*e.OK {
			continue
		}
		switch e.Client {
		case app:
			own[e.Region]++
		case app + ".server":
			server[e.Region]++
		}
	}
	return own, server
}
