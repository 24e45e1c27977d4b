package export

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/experiments/spec"
	"github.com/faultline-dev/faultline/faults"
)

// experimentWith is a valid experiment whose schedule is the given faults
// (YAML list items, indented under faults:): two regions of two nodes, the
// DNS automation (for dns.plan-race) and a global table (for ddb.*).
func experimentWith(t *testing.T, faultsYAML string) *spec.Experiment {
	t.Helper()
	text := `name: export-test
topology:
  automation:
    enactors: 3
  table:
    global:
      replication_lag: 500ms
  regions:
    - name: us-east-1
    - name: us-west-2
clients:
  - name: app
    strategy: failover
    regions: [us-east-1, us-west-2]
stop_when:
  - client: app
    expr: availability < 0.5
schedule:
  duration: 60s
  faults:
` + faultsYAML
	exp, err := spec.Parse("export-test.yaml", []byte(text))
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	return exp
}

// handMade has faults both engines express, some exactly, one after the
// other so that no two DNS faults overlap.
func handMade(t *testing.T) *spec.Experiment {
	return experimentWith(t, `    - {id: f1, kind: dns.servfail, target: dynamodb.us-east-1.amazonaws.com, start: 0s, duration: 2s}
    - {id: empty_1, kind: dns.empty, target: dynamodb.us-east-1.amazonaws.com, start: 3s, duration: 6s, params: {client: 127.0.0.12}}
    - {id: flap, kind: dns.flap, target: "dynamodb.*.amazonaws.com", start: 10s, duration: 5s, params: {with: dns.servfail, period: 2s, duty: 0.5}}
    - {id: slow, kind: link.latency, target: us-east-1, start: 10s, duration: 5s, params: {latency: 300ms, jitter: 50ms}}
    - {id: thin, kind: link.bandwidth, target: us-west-2, start: 16s, duration: 5s, params: {rate: 64}}
    - {id: down, kind: link.down, target: us-east-1, start: 22s, duration: 5s}
    - {id: az1, kind: hc.flap, target: us-east-1, start: 28s, duration: 5s, params: {target: 1}}
    - {id: pause, kind: ddb.replication-pause, target: us-east-1, start: 30s, duration: 20s}
`)
}

// classificationCase is a fault and the fidelity each engine gives it.
type classificationCase struct {
	kind, target, params string
	chaosMesh, fis       Fidelity
	how                  string // a phrase the chaos-mesh or fis row must say
}

// classificationCases: every fault kind, on its defaults (the first case of
// each kind, as the README's table shows it) and with the selectors and
// targets that change the answer.
func classificationCases() []classificationCase {
	const (
		E  = Exact
		A  = Approximated
		NE = NotExpressible
	)
	east, west := "dynamodb.us-east-1.amazonaws.com", "dynamodb.us-west-2.amazonaws.com"
	return []classificationCase{
		{"dns.empty", east, "", A, A, "no FIS equivalent"},
		{"dns.empty", east, "{qtype: AAAA}", A, NE, "every query type"},
		{"dns.empty", east, "{probability: 0.5}", A, NE, "50% of the pods"},
		{"dns.empty", east, "{client: 127.0.0.12}", A, A, "stand for it"},
		{"dns.empty", "dynamodb.*.amazonaws.com", "", A, A, "the pattern"},
		{"dns.empty", west, "", A, A, ""}, // the template's Region follows the fault
		{"dns.nxdomain", east, "", A, A, "NXDOMAIN"},
		{"dns.servfail", east, "", E, A, ""},
		{"dns.servfail", east, "{qtype: A}", A, A, "every query type"},
		{"dns.refused", east, "", A, A, "REFUSED"},
		{"dns.timeout", east, "", NE, A, "withhold"},
		{"dns.delay", east, "{delay: 500ms}", NE, NE, "no delay"},
		{"dns.truncate", east, "", NE, NE, "TC"},
		{"dns.partial", east, "", NE, NE, "drop records"},
		{"dns.stale", east, "", NE, NE, "previous records"},
		{"dns.redirect", east, "{to: 127.0.255.1}", A, NE, "random IPv4"},
		{"dns.redirect", east, "{region: us-west-2}", NE, NE, "another name's records"},
		{"dns.ttl", east, "{ttl: 3600}", NE, NE, "TTL"},
		{"dns.flap", east, "{with: dns.servfail, period: 2s, duty: 0.5}", A, NE, "alternates"},
		{"dns.flap", east, "{with: dns.empty, period: 100ms}", NE, NE, "phases"},
		{"dns.flap", east, "{with: dns.timeout}", NE, NE, "faulty phase"},
		{"dns.plan-race", east, "", A, A, "race"},
		{"link.latency", "us-east-1", "{latency: 300ms}", A, NE, "netem"},
		{"link.latency", "us-east-1", "{latency: 300ms, toxicity: 0.5}", A, NE, "not a share"},
		{"link.bandwidth", "us-east-1", "{rate: 64}", A, NE, "tbf"},
		{"link.timeout", "us-east-1", "", A, A, "partition"},
		{"link.reset", "us-east-1", "", NE, NE, "reset"},
		{"link.slow-close", "us-east-1", "{delay: 1s}", NE, NE, "close"},
		{"link.slicer", "us-east-1", "{average_size: 64}", NE, NE, "slice"},
		{"link.limit-data", "us-east-1", "{bytes: 4096}", NE, NE, "bytes"},
		{"link.down", "us-east-1", "", A, A, "time out"},
		{"nlb.node-down", "us-east-1", "", NE, NE, "node"},
		{"nlb.reset-connections", "us-east-1", "", NE, NE, "reset"},
		{"hc.fail", "us-east-1", "", NE, NE, "health checks"},
		{"hc.flap", "us-east-1", "{target: 1}", NE, A, "zonal shift"},
		{"hc.flap", "us-east-1", "", NE, NE, "every AZ"},
		{"hc.propagation-delay", "us-east-1", "", NE, NE, "refuse data"},
		{"hc.reset", "us-east-1", "", NE, NE, "health checks"},
		{"hc.slow", "us-east-1", "{latency: 400ms}", NE, NE, "health checks"},
		{"ddb.replication-pause", "us-east-1", "", NE, A, "5 minutes"},
		{"ddb.replication-pause", "us-east-1", "{direction: out}", NE, A, "not only out"},
		{"ddb.replication-lag", "us-east-1", "{lag: 5s}", NE, NE, "not slow it"},
	}
}

// Every fault kind, on its defaults and with the selectors and targets that
// change the answer, gets the fidelity its engine's semantics allow.
func TestEveryFaultKindIsClassified(t *testing.T) {
	cases := classificationCases()
	covered := map[string]bool{}
	for _, c := range cases {
		covered[c.kind] = true
		name := c.kind + " " + c.params
		if !strings.HasPrefix(c.target, "us-") && c.target != "dynamodb.us-east-1.amazonaws.com" {
			name += " on " + c.target
		}
		t.Run(name, func(t *testing.T) {
			params := ""
			if c.params != "" {
				params = ", params: " + c.params
			}
			exp := experimentWith(t, fmt.Sprintf("    - {id: f1, kind: %s, target: %q, start: 2s, duration: 4s%s}\n", c.kind, c.target, params))
			cm, err := ChaosMesh(exp, chaosMeshOpts)
			if err != nil {
				t.Fatal(err)
			}
			fo := fisOpts
			fo.TimeScale = 60 // FIS actions last at least a minute: no approximation from time here
			fo.Subnets, fo.TableARN, fo.LoadBalancerARN, fo.Region = nil, "", "", ""
			fo.SubnetTags = map[string]string{"faultline": "clients"}
			fo.StopAlarms = []string{"arn:aws:cloudwatch:" + regionOf(exp) + ":123456789012:alarm:app-availability"}
			if strings.Contains(c.target, "us-west-2") {
				fo.AZs = []string{"usw2-az1", "usw2-az2"}
			}
			fo.TableARN = "arn:aws:dynamodb:" + regionOf(exp) + ":123456789012:table/faultline"
			fo.LoadBalancerARN = "arn:aws:elasticloadbalancing:" + regionOf(exp) + ":123456789012:loadbalancer/net/app/0123456789abcdef"
			fis, err := FIS(exp, fo)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range []struct {
				res  Result
				want Fidelity
			}{{cm, c.chaosMesh}, {fis, c.fis}} {
				m := r.res.Mappings[0]
				if m.Fidelity != r.want {
					t.Errorf("%s: %s (%s: %s), want %s", r.res.Engine, m.Fidelity, m.As, m.How, r.want)
				}
				if m.Fidelity != Exact && m.How == "" {
					t.Errorf("%s: %s without saying how or why", r.res.Engine, m.Fidelity)
				}
				if (m.As == "") != (m.Fidelity == NotExpressible) {
					t.Errorf("%s: %s as %q", r.res.Engine, m.Fidelity, m.As)
				}
				if (r.res.Document == nil) != (m.Fidelity == NotExpressible) {
					t.Errorf("%s: %s, and a document of %d bytes", r.res.Engine, m.Fidelity, len(r.res.Document))
				}
			}
			if c.how != "" && !strings.Contains(cm.Mappings[0].How+fis.Mappings[0].How, c.how) {
				t.Errorf("neither row says %q:\nchaos-mesh: %s\nfis: %s", c.how, cm.Mappings[0].How, fis.Mappings[0].How)
			}
		})
	}
	for _, k := range faults.Names() {
		if !covered[k] {
			t.Errorf("fault kind %s has no expected mapping here: add it (and to both engines)", k)
		}
	}
}

// regionOf is the Region the FIS export of exp acts in.
func regionOf(exp *spec.Experiment) string { return firstRegion(exp) }

// The README's table of what each kind becomes says what the exporters do:
// a row for every kind, each cell starting with the fidelity of the kind's
// first case above.
func TestReadmeExportTable(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(data), "| kind | Chaos Mesh | AWS FIS |\n|---|---|---|\n")
	if !ok {
		t.Fatal("README.md has no export table (| kind | Chaos Mesh | AWS FIS |)")
	}
	first := map[string]classificationCase{}
	for _, c := range classificationCases() {
		if _, seen := first[c.kind]; !seen {
			first[c.kind] = c
		}
	}
	rows := map[string]bool{}
	for _, line := range strings.Split(table, "\n") {
		if !strings.HasPrefix(line, "| `") {
			break
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		if len(cells) != 3 {
			t.Errorf("README row %q: want 3 cells", line)
			continue
		}
		for _, k := range strings.Split(cells[0], ", ") {
			k = strings.Trim(strings.TrimSpace(k), "`")
			c, ok := first[k]
			if !ok {
				t.Errorf("README export table: %s is not a fault kind here", k)
				continue
			}
			rows[k] = true
			for i, want := range []Fidelity{c.chaosMesh, c.fis} {
				if cell := strings.TrimSpace(cells[1+i]); !strings.HasPrefix(cell, want.String()) {
					t.Errorf("README export table: %s on %s says %q; the export says %s", k, []string{"Chaos Mesh", "FIS"}[i], cell, want)
				}
			}
		}
	}
	for _, k := range faults.Names() {
		if !rows[k] {
			t.Errorf("README export table has no row for %s", k)
		}
	}
}
