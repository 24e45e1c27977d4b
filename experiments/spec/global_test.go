package spec

import (
	"strings"
	"testing"
)

// strongMinimal is minimal with three regions and a strongly consistent
// global table.
var strongMinimal = strings.Replace(strings.Replace(minimal,
	"topology:\n", "topology:\n  table:\n    name: orders\n    global: {consistency: strong}\n", 1),
	"    - name: us-west-2\n", "    - name: us-west-2\n    - name: us-east-2\n", 1)

func TestGlobalStrong(t *testing.T) {
	exp, err := Parse("x.yaml", []byte(strongMinimal))
	if err != nil {
		t.Fatal(err)
	}
	if !exp.Topology.Strong() || exp.Topology.Table.Global.Consistency != ConsistencyStrong {
		t.Errorf("global = %+v", exp.Topology.Table.Global)
	}
	exp, err = Parse("x.yaml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if exp.Topology.Strong() || exp.Topology.Table.Global != nil {
		t.Errorf("no global key: global = %+v", exp.Topology.Table.Global)
	}
	witness := strings.Replace(strongMinimal, "{consistency: strong}", "{consistency: strong, witness: us-east-2}", 1)
	if exp, err = Parse("x.yaml", []byte(witness)); err != nil || exp.Topology.Witness() != "us-east-2" {
		t.Errorf("witness: %v %+v", err, exp)
	}
	eventual := strings.Replace(strongMinimal, "consistency: strong", "consistency: eventual", 1)
	if exp, err = Parse("x.yaml", []byte(eventual)); err != nil || exp.Topology.Strong() || exp.Topology.Table.Global.Consistency != ConsistencyEventual {
		t.Errorf("eventual: %v %+v", err, exp)
	}
}

// Each bad global table: the position (of the consistency value) and what
// was expected.
func TestGlobalStrongBad(t *testing.T) {
	cases := []struct {
		name, text, pos, phrase string
	}{
		{"two regions", strings.Replace(strongMinimal, "    - name: us-east-2\n", "", 1), "5:27",
			"strong consistency spans exactly 3 regions (DynamoDB's multi-Region strong consistency: three replicas, or two and a witness); the topology has 2 (us-east-1, us-west-2)"},
		{"four regions", strings.Replace(strongMinimal, "    - name: us-east-2\n", "    - name: us-east-2\n    - name: eu-west-1\n", 1), "5:27",
			"spans exactly 3 regions"},
		{"a container region", strings.Replace(strongMinimal, "    - name: us-east-2\n", "    - name: us-east-2\n      backend: container\n", 1), "5:27",
			"strong consistency runs on the embedded backend; region us-east-2 has backend container"},
		{"unknown mode", strings.Replace(strongMinimal, "consistency: strong", "consistency: linearizable", 1), "5:27",
			`topology.table.global.consistency: "linearizable": expected eventual or strong`},
		{"witness not a region", strings.Replace(strongMinimal, "{consistency: strong}", "{consistency: strong, witness: eu-west-1}", 1), "5:44",
			`topology.table.global.witness: no region "eu-west-1"; the topology has: us-east-1, us-west-2, us-east-2`},
		{"witness without strong", strings.Replace(strongMinimal, "{consistency: strong}", "{consistency: eventual, witness: us-east-2}", 1), "5:46",
			"a witness belongs to strong consistency"},
		{"unknown global key", strings.Replace(strongMinimal, "{consistency: strong}", "{consistency: strong, quorum: 2}", 1), "5:35",
			`topology.table.global: unknown key "quorum"; expected one of: consistency, jitter, replication_lag, witness`},
		{"a lag with strong", strings.Replace(strongMinimal, "{consistency: strong}", "{consistency: strong, replication_lag: 2s}", 1), "5:52",
			"replication_lag and jitter belong to eventual consistency"},
	}
	for _, c := range cases {
		_, err := Parse("bad.yaml", []byte(c.text))
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		if !strings.Contains(err.Error(), "bad.yaml:"+c.pos+":") || !strings.Contains(err.Error(), c.phrase) {
			t.Errorf("%s:\n got %v\nwant bad.yaml:%s: ... %s", c.name, err, c.pos, c.phrase)
		}
	}
}

func TestGlobalInSchema(t *testing.T) {
	s := string(Schema())
	for _, want := range []string{`"global"`, `"consistency"`, `"strong"`} {
		if !strings.Contains(s, want) {
			t.Errorf("the schema lacks %s", want)
		}
	}
}
