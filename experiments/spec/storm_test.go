package spec

import (
	"errors"
	"strings"
	"testing"
	"time"
)

const storm = `name: storm
topology:
  regions:
    - name: us-east-1
      capacity: {rps: 100, burst: 20, queue: 500ms, mode: provisioned}
clients:
  - name: herd
    regions: [us-east-1]
    fleet:
      size: 2000
      rate: 60
      retry: legacy
      jitter: none
      timeout: 300ms
schedule:
  duration: 10s
`

func TestStormParses(t *testing.T) {
	exp, err := Parse("storm.yaml", []byte(storm))
	if err != nil {
		t.Fatal(err)
	}
	c := exp.Topology.Regions[0].Capacity
	if c == nil || c.RPS != 100 || c.Burst != 20 || c.Queue != 500*time.Millisecond || c.Mode != CapacityProvisioned {
		t.Fatalf("capacity %+v", c)
	}
	f := exp.Clients[0]
	if f.Strategy != StrategyFleet || f.Fleet == nil || f.Fleet.Size != 2000 || f.Fleet.Rate != 60 || f.Fleet.Retry != "legacy" ||
		f.Fleet.Jitter != "none" || f.Fleet.Timeout != 300*time.Millisecond {
		t.Fatalf("fleet %+v %+v", f, f.Fleet)
	}
	// Defaults: a burst of one second's worth, a 1s queue, on-demand, a 2s timeout.
	exp, err = Parse("storm.yaml", []byte(strings.NewReplacer("{rps: 100, burst: 20, queue: 500ms, mode: provisioned}", "{rps: 100}",
		"      jitter: none\n      timeout: 300ms\n", "").Replace(storm)))
	if err != nil {
		t.Fatal(err)
	}
	if c := exp.Topology.Regions[0].Capacity; c.Burst != 100 || c.Queue != time.Second || c.Mode != CapacityOnDemand {
		t.Fatalf("capacity defaults %+v", c)
	}
	if f := exp.Clients[0].Fleet; f.Timeout != DefaultFleetTimeout || f.Jitter != "" {
		t.Fatalf("fleet defaults %+v", f)
	}
	if exp, _ := Parse("x.yaml", []byte(minimal)); exp.Topology.Regions[0].Capacity != nil {
		t.Fatal("a capacity without asking for one")
	}
}

func TestStormBadInput(t *testing.T) {
	cases := []struct{ name, text, pos, phrase string }{
		{"fleet with no rate", strings.Replace(storm, "      rate: 60\n", "", 1), "10:7", `clients[0].fleet: missing required key "rate"`},
		{"unknown retry policy", strings.Replace(storm, "retry: legacy", "retry: exponential", 1), "12:14", `unknown retry policy "exponential"; expected one of: legacy, standard, adaptive, go-standard`},
		{"capacity of zero", strings.Replace(storm, "rps: 100,", "rps: 0,", 1), "5:23", "a capacity of 0 serves nothing"},
		{"fleet too large", strings.Replace(storm, "size: 2000", "size: 1000000", 1), "10:13", "1000000 members is more than this machine runs: at most 100000"},
		{"fleet too fast", strings.Replace(storm, "rate: 60", "rate: 50000", 1), "11:13", "50000 requests per second is more than this machine carries: at most 1000"},
		{"fleet with a strategy", strings.Replace(storm, "    regions: [us-east-1]\n", "    strategy: failover\n    regions: [us-east-1]\n", 1), "8:5", "a fleet takes its settings under fleet"},
		{"fleet in two regions", strings.Replace(strings.Replace(storm, "    - name: us-east-1\n", "    - name: us-east-1\n    - name: us-west-2\n", 1), "[us-east-1]", "[us-east-1, us-west-2]", 1), "9:14", "a fleet calls exactly one region"},
		{"unknown jitter", strings.Replace(storm, "jitter: none", "jitter: half", 1), "13:15", `"half": expected none or full`},
		{"burst of zero", strings.Replace(storm, "burst: 20", "burst: 0", 1), "5:35", "0 is out of range; expected 1 to"},
		{"unknown capacity mode", strings.Replace(storm, "mode: provisioned", "mode: reserved", 1), "5:59", `"reserved": expected on-demand or provisioned`},
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
