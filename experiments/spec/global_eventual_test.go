package spec

import (
	"strings"
	"testing"
	"time"
)

// global is an experiment with a global table and a replication fault.
const global = `name: g
topology:
  table:
    global:
      replication_lag: 200ms
      jitter: 50ms
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
    - kind: ddb.replication-pause
      target: us-east-1
      start: 1s
      duration: 2s
      params: {direction: out}
    - kind: ddb.replication-lag
      target: us-east-1
      start: 4s
      duration: 2s
      params: {lag: 3s, jitter: 1s}
`

func TestGlobalTable(t *testing.T) {
	exp, err := Parse("g.yaml", []byte(global))
	if err != nil {
		t.Fatal(err)
	}
	g := exp.Topology.Table.Global
	if g == nil || g.ReplicationLag != 200*time.Millisecond || g.Jitter != 50*time.Millisecond {
		t.Fatalf("global = %+v", g)
	}
	exp, err = Parse("g.yaml", []byte(strings.Replace(global, "      replication_lag: 200ms\n      jitter: 50ms\n", "      {}\n", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if g := exp.Topology.Table.Global; g == nil || g.ReplicationLag != DefaultReplicationLag || g.Jitter != 0 {
		t.Errorf("defaults = %+v", g)
	}
}

// Bad global-table input: each error at its place, saying what was expected.
func TestGlobalTableBadInput(t *testing.T) {
	cases := []struct {
		name, text, pos, want string
	}{
		{"one region", strings.Replace(global, "    - name: us-west-2\n", "", 1) + "", "g.yaml:5:7",
			"a global table has a replica in each of at least two regions"},
		{"on a region", strings.Replace(global, "    - name: us-west-2\n", "    - name: us-west-2\n      global: {replication_lag: 1s}\n", 1), "g.yaml:10:7",
			"set topology.table.global"},
		{"jitter beyond the lag", strings.Replace(global, "jitter: 50ms", "jitter: 500ms", 1), "g.yaml:5:7", "must not exceed the replication lag"},
		{"lag beyond the run", strings.Replace(global, "replication_lag: 200ms", "replication_lag: 20s", 1), "g.yaml:5:7", "not within the run"},
		{"pause without replication", strings.Replace(global, "  table:\n    global:\n      replication_lag: 200ms\n      jitter: 50ms\n", "", 1), "g.yaml:13:13",
			"ddb.replication-pause acts on a global table's replication; add topology.table.global"},
		{"fault lag beyond the run", strings.Replace(global, "{lag: 3s, jitter: 1s}", "{lag: 9s, jitter: 1s}", 1), "g.yaml:26:16", "would not replicate within the run"},
		{"bad direction", strings.Replace(global, "{direction: out}", "{direction: sideways}", 1), "g.yaml:21:16", "expected in, out or both"},
		{"fault jitter beyond its lag", strings.Replace(global, "{lag: 3s, jitter: 1s}", "{lag: 1s, jitter: 2s}", 1), "g.yaml:26:25", "must not exceed the lag"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("g.yaml", []byte(c.text))
			if err == nil {
				t.Fatal("accepted")
			}
			var found bool
			for _, e := range err.(ErrorList) {
				if e.Pos.String() == c.pos && strings.Contains(e.Msg, c.want) {
					found = true
				}
			}
			if !found {
				t.Errorf("errors:\n%v\nwant at %s: %q", err, c.pos, c.want)
			}
		})
	}
}
