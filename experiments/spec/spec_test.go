package spec

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func flagship(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile("../library/dynamodb-empty-dns.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestFlagshipParses(t *testing.T) {
	exp, err := Parse("dynamodb-empty-dns.yaml", flagship(t))
	if err != nil {
		t.Fatal(err)
	}
	if exp.Name != "dynamodb-empty-dns" || exp.Duration != 12*time.Second || exp.Metrics.ConsecutiveSuccesses != 5 {
		t.Errorf("name/duration/k = %s %s %d", exp.Name, exp.Duration, exp.Metrics.ConsecutiveSuccesses)
	}
	top := exp.Topology
	if top.Zone != "amazonaws.com." || top.RecordTTL != time.Second || top.NegativeTTL != time.Second || top.Table.Name != "orders" || top.Table.Items != 100 || top.Table.Global != nil {
		t.Errorf("topology = %+v", top)
	}
	if len(top.Regions) != 2 || top.Regions[0].Name != "us-east-1" || top.Regions[1].Nodes != 2 || top.Regions[1].HealthCheck != DefaultHealthCheck {
		t.Errorf("regions = %+v", top.Regions)
	}
	if got := top.EndpointName("us-east-1"); got != "dynamodb.us-east-1.amazonaws.com." {
		t.Errorf("endpoint = %s", got)
	}
	if len(exp.Clients) != 2 || exp.Clients[1].Strategy != StrategyFailover || strings.Join(exp.Clients[1].Regions, ",") != "us-east-1,us-west-2" ||
		exp.Clients[0].KeepAlive || exp.Clients[0].Rate != 20 || exp.Clients[0].Timeout != time.Second || len(exp.Clients[0].Operations) != 2 {
		t.Errorf("clients = %+v", exp.Clients)
	}
	if len(exp.Faults) != 1 {
		t.Fatalf("faults = %+v", exp.Faults)
	}
	f := exp.Faults[0]
	if f.ID != "f1" || f.Kind != "dns.empty" || f.Target != "dynamodb.us-east-1.amazonaws.com." || f.Start != 3*time.Second || f.Duration != 6*time.Second {
		t.Errorf("fault = %+v", f)
	}
	if len(exp.Assertions) != 2 || exp.Assertions[0].Metric != "failover_ms" || exp.Assertions[0].Op != "<" || exp.Assertions[0].Value != 2000 ||
		exp.Assertions[1].Metric != "availability" || !exp.Assertions[1].Holds(0.96) || exp.Assertions[1].Holds(0.95) {
		t.Errorf("assertions = %+v", exp.Assertions)
	}
}

// minimal is a valid experiment that the bad cases below break one at a time.
const minimal = `name: x
topology:
  regions:
    - name: us-east-1
    - name: us-west-2
clients:
  - name: c
    strategy: failover
    regions: [us-east-1, us-west-2]
schedule:
  duration: 10s
  faults:
    - kind: dns.empty
      target: dynamodb.us-east-1.amazonaws.com
      start: 1s
      duration: 2s
assertions:
  - client: c
    expr: failover_ms < 2000
`

func TestMinimalIsValidWithDefaults(t *testing.T) {
	exp, err := Parse("x.yaml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	c := exp.Clients[0]
	if c.Rate != DefaultRate || c.Timeout != DefaultTimeout || c.ProbeInterval != DefaultProbe || c.Operations[0] != "GetItem" {
		t.Errorf("client defaults = %+v", c)
	}
	if exp.Topology.Table.Name != DefaultTable || exp.Topology.RecordTTL != DefaultTTL || exp.Topology.Regions[0].Targets != DefaultTargets {
		t.Errorf("topology defaults = %+v", exp.Topology)
	}
}

func TestLatencyObjective(t *testing.T) {
	text := strings.Replace(strings.Replace(minimal, "name: x\n", "name: x\nmetrics: {latency_objective: 2s}\n", 1),
		"    strategy: failover\n", "    strategy: failover\n    latency_objective: 500ms\n", 1)
	exp, err := Parse("x.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if got := exp.Clients[0].Objective(exp.Metrics); got != 500*time.Millisecond {
		t.Errorf("client objective = %s, want its own 500ms", got)
	}
	if got := (Client{}).Objective(exp.Metrics); got != 2*time.Second {
		t.Errorf("default objective = %s, want the experiment's 2s", got)
	}
}

// Each bad file: its text, and the position and a phrase of the first error.
func TestBadFilesNamePositionAndExpectation(t *testing.T) {
	cases := []struct {
		name, text string
		pos        string // "line:col"
		phrase     string
	}{
		{"yaml syntax", "name: x\ntopology: [\n", "2:1", "YAML syntax error"},
		{"tab indentation", "name: x\n\ttopology: {}\n", "2:1", "YAML syntax error"},
		{"empty file", "", "1:1", "the file is empty"},
		{"top level a list", "- name: x\n", "1:1", "expected a mapping of keys"},
		{"unknown top-level key", strings.Replace(minimal, "name: x\n", "name: x\nfaults: []\n", 1), "2:1", `unknown key "faults"; expected one of: assertions, clients, description, metrics, name, schedule, seed, steady_state, stop_when, topology`},
		{"unknown client key", strings.Replace(minimal, "    strategy: failover\n", "    strategy: failover\n    retries: 3\n", 1), "9:5", `clients[0]: unknown key "retries"`},
		{"unknown region key", strings.Replace(minimal, "    - name: us-west-2\n", "    - name: us-west-2\n      zones: 3\n", 1), "6:7", `topology.regions[1]: unknown key "zones"`},
		{"unknown fault key", strings.Replace(minimal, "      start: 1s\n", "      start: 1s\n      when: now\n", 1), "16:7", `schedule.faults[0]: unknown key "when"`},
		{"unknown fault kind", strings.Replace(minimal, "dns.empty", "dns.gone", 1), "13:13", `unknown fault kind "dns.gone"; expected one of: ddb.replication-lag, ddb.replication-pause, dns.delay, dns.empty`},
		{"negative duration", strings.Replace(minimal, "start: 1s", "start: -1s", 1), "15:14", "must not be negative"},
		{"unparsable duration", strings.Replace(minimal, "duration: 10s", "duration: ten", 1), "11:13", `expected a duration like 500ms or 3s, got "ten"`},
		{"bare number duration", strings.Replace(minimal, "duration: 2s", "duration: 2", 1), "16:17", "bare number 2"},
		{"fault after the experiment", strings.Replace(minimal, "duration: 2s", "duration: 20s", 1), "16:17", "the fault ends at 21s, after the experiment (10s)"},
		{"client unknown region", strings.Replace(minimal, "[us-east-1, us-west-2]", "[us-east-1, eu-west-1]", 1), "9:26", `unknown region "eu-west-1"; the topology has: us-east-1, us-west-2`},
		{"pattern selecting no endpoint", strings.Replace(minimal, "target: dynamodb.us-east-1.amazonaws.com", "target: \"*.eu-west-1.amazonaws.com\"", 1), "14:15", "selects no endpoint"},
		{"fault unknown dns target", strings.Replace(minimal, "target: dynamodb.us-east-1", "target: dynamodb.eu-west-1", 1), "14:15", "is not one (expected one of: dynamodb.us-east-1.amazonaws.com, dynamodb.us-west-2.amazonaws.com)"},
		{"fault unknown region target", strings.Replace(minimal, "kind: dns.empty\n      target: dynamodb.us-east-1.amazonaws.com", "kind: link.down\n      target: eu-west-1", 1), "14:15", `link.down acts on a region; "eu-west-1" is not one`},
		{"duplicate client", strings.Replace(minimal, "schedule:", "  - name: c\n    strategy: single-region\n    regions: [us-east-1]\nschedule:", 1), "10:11", `client "c" is listed twice`},
		{"failover with one region", strings.Replace(minimal, "[us-east-1, us-west-2]", "[us-east-1]", 1), "9:14", "a failover client needs at least two regions"},
		{"unknown strategy", strings.Replace(minimal, "strategy: failover", "strategy: random", 1), "8:15", `unknown strategy "random"`},
		{"unknown metric", strings.Replace(minimal, "failover_ms < 2000", "speed < 2000", 1), "19:11", `unknown metric "speed"`},
		{"bad operator", strings.Replace(minimal, "failover_ms < 2000", "failover_ms => 2000", 1), "19:11", `unknown comparison "=>"`},
		{"assertion value not a number", strings.Replace(minimal, "failover_ms < 2000", "failover_ms < fast", 1), "19:11", `expected a number after "<"`},
		{"assertion unknown client", strings.Replace(minimal, "  - client: c", "  - client: d", 1), "18:13", `no client named "d"`},
		{"param missing", strings.Replace(minimal, "dns.empty", "dns.delay", 1), "13:13", `parameter "delay": required by dns.delay`},
		{"param unparsable", strings.Replace(strings.Replace(minimal, "dns.empty", "dns.delay", 1), "      duration: 2s\n", "      duration: 2s\n      params: {delay: soon}\n", 1), "17:16", `parameter "delay": expected a duration`},
		{"param unknown", strings.Replace(minimal, "      duration: 2s\n", "      duration: 2s\n      params: {ttl: 3}\n", 1), "17:16", `unknown parameter for dns.empty; expected one of: aa, client, probability, qtype, soa`},
		{"param naming an unknown region", strings.Replace(strings.Replace(minimal, "dns.empty", "dns.redirect", 1), "      duration: 2s\n", "      duration: 2s\n      params: {region: eu-west-1}\n", 1), "17:16", `no region "eu-west-1"; the topology has: us-east-1, us-west-2`},
		{"steady state on a fault metric", minimal + "steady_state:\n  - client: c\n    expr: failover_ms < 100\n", "21:5", "is relative to a fault"},
		{"rate not a number", strings.Replace(minimal, "    strategy: failover\n", "    strategy: failover\n    rate: fast\n", 1), "9:11", `rate: expected a number, got "fast"`},
		{"missing required key", strings.Replace(minimal, "    strategy: failover\n", "", 1), "7:5", `missing required key "strategy"`},
		{"latency objective not a duration", strings.Replace(minimal, "name: x\n", "name: x\nmetrics: {latency_objective: 2}\n", 1), "2:30", "bare number 2"},
		{"client latency objective too small", strings.Replace(minimal, "    strategy: failover\n", "    strategy: failover\n    latency_objective: 0s\n", 1), "9:24", "latency_objective"},
		{"duplicate parameter", strings.Replace(minimal, "      duration: 2s\n", "      duration: 2s\n      params:\n        soa: true\n        soa: false\n", 1), "19:9", `parameter "soa" appears twice (first at line 18)`},
		{"a second document", minimal + "---\nname: y\n", "20:1", "a second YAML document starts here"},
		{"a control character", strings.Replace(minimal, "name: x\n", "name: x\n\x01\n", 1), "2:1", "control characters are not allowed"},
		{"an unknown anchor", strings.Replace(minimal, "name: x\n", "name: x\ndescription: *nothing\n", 1), "2:14", "unknown anchor 'nothing' referenced"},
		{"steady state entry named as such", minimal + "steady_state:\n  - client: c\n    expr: speed > 1\n", "22:11", "steady_state[0].expr: unknown metric"},
		{"stop condition named as such", minimal + "stop_when:\n  - client: nobody\n    expr: errors > 1\n", "21:13", "stop_when[0].client"},
		{"list where a map is expected", strings.Replace(minimal, "name: x\n", "name: x\nmetrics: [5]\n", 1), "2:10", "metrics: expected a mapping of keys"},
		{"timeout not below interval", strings.Replace(minimal, "    - name: us-west-2\n", "    - name: us-west-2\n      health_check: {interval: 100ms, timeout: 200ms}\n", 1), "6:48", "must be shorter than the interval"},
		{"threshold outside AWS range", strings.Replace(minimal, "    - name: us-west-2\n", "    - name: us-west-2\n      health_check: {healthy_threshold: 11}\n", 1), "6:41", "11 is out of range; expected 2 to 10"},
		{"ttl not whole seconds", strings.Replace(minimal, "topology:\n", "topology:\n  dns: {ttl: 1500ms}\n", 1), "3:14", "whole seconds"},
		{"unknown backend", strings.Replace(minimal, "topology:\n", "topology:\n  backend: docker\n", 1), "3:12", `unknown backend "docker"; expected embedded or container`},
		{"unknown region backend", strings.Replace(minimal, "    - name: us-west-2\n", "    - name: us-west-2\n      backend: java\n", 1), "6:16", `topology.regions[1].backend: unknown backend "java"`},
		{"image with spaces", strings.Replace(minimal, "topology:\n", "topology:\n  images: {dynamodb: \"a b\"}\n", 1), "3:22", "expected an image reference"},
		{"app client with a strategy", strings.Replace(minimal, "    strategy: failover\n", "    strategy: failover\n    image: team/app:1\n", 1), "8:15", "a client with an image or a command is an application with its own strategy"},
		{"app client with a rate", strings.Replace(minimal, "    strategy: failover\n", "    image: team/app:1\n    rate: 5\n", 1), "9:5", "an application (image or command) sets its own rate"},
		{"env without an image", strings.Replace(minimal, "    strategy: failover\n", "    strategy: failover\n    env: {A: b}\n", 1), "9:5", "only an application (image or command) takes an environment"},
		{"bad env name", strings.Replace(minimal, "    strategy: failover\n", "    image: team/app:1\n    env: {1A: b}\n", 1), "9:11", `"1A": expected a variable name`},
		{"unknown real resolver", strings.Replace(minimal, "topology:\n", "topology:\n  resolver: {exec: bind9}\n", 1), "3:20", `unknown resolver "bind9"; expected one of: coredns, dnsmasq, unbound`},
		{"resolver model and real", strings.Replace(minimal, "topology:\n", "topology:\n  resolver: {preset: unbound, exec: unbound}\n", 1), "3:37", "preset (a model) or exec (a real resolver), not both"},
		{"resolver neither", strings.Replace(minimal, "topology:\n", "topology:\n  resolver: {}\n", 1), "3:13", "expected preset (a model: coredns, dnsmasq, none, systemd-resolved, unbound) or exec (a real resolver: coredns, dnsmasq, unbound)"},
		{"serve_stale on a real resolver", strings.Replace(minimal, "topology:\n", "topology:\n  resolver: {exec: dnsmasq, serve_stale: true}\n", 1), "3:42", "applies to the models"},
		{"endpoint without region", strings.Replace(minimal, "topology:\n", "topology:\n  endpoint: dynamodb.amazonaws.com\n", 1), "3:13", "must contain {region}"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("bad.yaml", []byte(c.text))
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("err = %v, want an ErrorList", err)
			}
			first := list[0].Error()
			if !strings.HasPrefix(first, "bad.yaml:"+c.pos+": ") || !strings.Contains(first, c.phrase) {
				t.Errorf("first error:\n  %s\nwant at bad.yaml:%s, saying %q (all: %v)", first, c.pos, c.phrase, err)
			}
		})
	}
}

func TestEveryErrorIsReported(t *testing.T) {
	text := strings.NewReplacer("strategy: failover", "strategy: random", "duration: 10s", "duration: ten", "failover_ms < 2000", "speed < 1").Replace(minimal)
	_, err := Parse("bad.yaml", []byte(text))
	var list ErrorList
	if !errors.As(err, &list) || len(list) != 3 {
		t.Fatalf("want 3 errors, got %v", err)
	}
	for i := 1; i < len(list); i++ {
		if list[i].Pos.Line < list[i-1].Pos.Line {
			t.Errorf("errors not in file order: %v", err)
		}
	}
}

func TestParseFile(t *testing.T) {
	if _, err := ParseFile(filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !strings.Contains(err.Error(), "no such experiment file") {
		t.Errorf("missing file: %v", err)
	}
	big := filepath.Join(t.TempDir(), "big.yaml")
	os.WriteFile(big, make([]byte, maxFileSize+1), 0o644)
	if _, err := ParseFile(big); err == nil || !strings.Contains(err.Error(), "at most") {
		t.Errorf("big file: %v", err)
	}
	good := filepath.Join(t.TempDir(), "good.yaml")
	os.WriteFile(good, []byte(minimal), 0o644)
	if exp, err := ParseFile(good); err != nil || exp.File != good {
		t.Errorf("good file: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal))
	f.Add([]byte("name: [\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte(strings.Replace(strings.Replace(minimal, "name: x\n", "name: x\nmetrics: {metastable_after: 4s}\n", 1),
		"expr: failover_ms < 2000", "expr: metastable == false", 1)))
	f.Fuzz(func(t *testing.T, data []byte) {
		exp, err := Parse("fuzz.yaml", data)
		if err == nil && exp == nil {
			t.Fatal("no experiment and no error")
		}
	})
}

// A client with an image is an application: its strategy is its own, its
// regions default to every region, its env is kept; backends default to the
// topology's.
func TestAppClientAndContainerBackend(t *testing.T) {
	text := strings.Replace(minimal, "    strategy: failover\n    regions: [us-east-1, us-west-2]\n", "    image: team/app:1\n    env: {LOG_LEVEL: debug}\n", 1)
	text = strings.Replace(text, "topology:\n", "topology:\n  backend: container\n  images: {dynamodb: registry.example.com/dynamodb-local:2.6.1}\n", 1)
	text = strings.Replace(text, "    - name: us-west-2\n", "    - name: us-west-2\n      backend: embedded\n", 1)
	exp, err := Parse("x.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	c := exp.Clients[0]
	if c.Image != "team/app:1" || c.Strategy != StrategyApp || strings.Join(c.Regions, ",") != "us-east-1,us-west-2" || c.Env["LOG_LEVEL"] != "debug" {
		t.Errorf("client = %+v", c)
	}
	top := exp.Topology
	if top.Backend != BackendContainer || top.DynamoDBImage != "registry.example.com/dynamodb-local:2.6.1" ||
		top.Regions[0].Backend != BackendContainer || top.Regions[1].Backend != BackendEmbedded {
		t.Errorf("topology = %+v", top)
	}
	plain, _ := Parse("x.yaml", []byte(minimal))
	if plain.Topology.Regions[0].Backend != BackendEmbedded {
		t.Errorf("default backend = %q; want embedded", plain.Topology.Regions[0].Backend)
	}
}

// Two DNS faults that would answer the same query at once: one would
// silently not happen, so the file is refused; disjoint names, times,
// query types or clients, or a probability, make them compatible.
func TestConflictingDNSFaults(t *testing.T) {
	second := func(fault string) string {
		return strings.Replace(minimal, "assertions:", "    - "+fault+"\nassertions:", 1)
	}
	bad := []struct{ name, fault string }{
		{"empty and nxdomain on one name", "{kind: dns.nxdomain, target: dynamodb.us-east-1.amazonaws.com, start: 2s, duration: 2s}"},
		{"a pattern over the name", `{kind: dns.servfail, target: "dynamodb.*.amazonaws.com", start: 1500ms, duration: 1s}`},
		{"a suffix over the name, one qtype", "{kind: dns.timeout, target: .amazonaws.com, start: 2s, duration: 1s, params: {qtype: A}}"},
	}
	for _, c := range bad {
		_, err := Parse("x.yaml", []byte(second(c.fault)))
		if err == nil || !strings.Contains(err.Error(), "x.yaml:17:14: schedule.faults[1]") || !strings.Contains(err.Error(), "overlaps fault f1 (dns.empty") {
			t.Errorf("%s: %v; want the second fault refused at its kind, naming f1", c.name, err)
		}
	}
	good := []struct{ name, fault string }{
		{"after the first", "{kind: dns.nxdomain, target: dynamodb.us-east-1.amazonaws.com, start: 3s, duration: 2s}"},
		{"another name", "{kind: dns.nxdomain, target: dynamodb.us-west-2.amazonaws.com, start: 1s, duration: 2s}"},
		{"AAAA only beside A only", "{kind: dns.nxdomain, target: dynamodb.us-east-1.amazonaws.com, start: 1s, duration: 2s, params: {qtype: AAAA}}"},
		{"a share of the queries", "{kind: dns.servfail, target: dynamodb.us-east-1.amazonaws.com, start: 1s, duration: 2s, params: {probability: 0.5}}"},
		{"a link fault on the region", "{kind: link.down, target: us-east-1, start: 1s, duration: 2s}"},
	}
	for _, c := range good {
		text := second(c.fault)
		if c.name == "AAAA only beside A only" {
			text = strings.Replace(text, "      duration: 2s\n", "      duration: 2s\n      params: {qtype: A}\n", 1)
		}
		if _, err := Parse("x.yaml", []byte(text)); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

// Connection lifetimes: the scaled defaults, 0s turning either off, and
// bad values named where they are.
func TestConnectionLifetimes(t *testing.T) {
	base := "name: x\ntopology:\n  regions:\n    - name: us-east-1\n%s\nclients:\n  - {name: c, strategy: single-region, regions: [us-east-1]}\nschedule: {duration: 5s}\n"
	parse := func(extra string) (*Experiment, error) {
		return Parse("x.yaml", []byte(strings.Replace(base, "%s", extra, 1)))
	}
	exp, err := parse("")
	if err != nil {
		t.Fatal(err)
	}
	if r := exp.Topology.Regions[0]; r.IdleTimeout != 6*time.Second || r.MaxConnectionAge != 2*time.Second {
		t.Errorf("defaults: idle %s, max age %s; want 6s and 2s", r.IdleTimeout, r.MaxConnectionAge)
	}
	exp, err = parse("      idle_timeout: 0s\n      max_connection_age: 0s")
	if err != nil {
		t.Fatal(err)
	}
	if r := exp.Topology.Regions[0]; r.IdleTimeout != 0 || r.MaxConnectionAge != 0 {
		t.Errorf("0s: idle %s, max age %s; want both off", r.IdleTimeout, r.MaxConnectionAge)
	}
	for extra, want := range map[string]string{
		"      idle_timeout: 50ms":     "x.yaml:5:21: topology.regions[0].idle_timeout: expected 0s (off) or 100ms to 2h0m0s, got 50ms",
		"      max_connection_age: 30": "x.yaml:5:27: topology.regions[0].max_connection_age: expected a duration like 500ms or 3s, got the bare number 30",
		"      idle_timeout: 3h":       "topology.regions[0].idle_timeout: 3h is out of range",
	} {
		if _, err := parse(extra); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v; want %q", strings.TrimSpace(extra), err, want)
		}
	}
}

func TestReadYourWritesWorkload(t *testing.T) {
	text := strings.Replace(minimal, "    strategy: failover\n", "    strategy: failover\n    workload: read-your-writes\n", 1)
	exp, err := Parse("x.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if c := exp.Clients[0]; c.Workload != WorkloadReadYourWrites || strings.Join(c.Operations, ",") != "PutItem,GetItem" {
		t.Errorf("client = %+v", c)
	}
	bad := []struct{ name, text, pos, phrase string }{
		{"unknown workload", strings.Replace(minimal, "    strategy: failover\n", "    strategy: failover\n    workload: write-heavy\n", 1), "9:15", "value must be one of 'default', 'read-your-writes'"},
		{"operations with read-your-writes", strings.Replace(minimal, "    strategy: failover\n", "    strategy: failover\n    workload: read-your-writes\n    operations: [GetItem]\n", 1), "10:5", "expected no operations with it"},
		{"an application's workload", strings.Replace(minimal, "    strategy: failover\n    regions: [us-east-1, us-west-2]\n", "    command: [app]\n    workload: read-your-writes\n", 1), "9:5", "workload"},
	}
	for _, b := range bad {
		_, err := Parse("x.yaml", []byte(b.text))
		if err == nil || !strings.Contains(err.Error(), b.pos) || !strings.Contains(err.Error(), b.phrase) {
			t.Errorf("%s: error %v; want at %s: %s", b.name, err, b.pos, b.phrase)
		}
	}
}
