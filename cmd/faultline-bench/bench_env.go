package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/faultline-dev/faultline/experiments/library"
	"github.com/faultline-dev/faultline/experiments/spec"
	"github.com/faultline-dev/faultline/targets/nlb"
	"github.com/faultline-dev/faultline/targets/topology"
)

// The environment benchmark: how long the flagship's world (2 regions, each
// a backend seeded with 100 items, an NLB with 2 nodes and 2 targets over 4
// links; one DNS server) takes to build and to tear down, embedded backend.
func init() { register("env", benchEnv) }

const envRepeats = 7

func benchEnv(ctx context.Context, out *os.File) error {
	file, data, _ := library.Get("dynamodb-empty-dns")
	exp, err := spec.Parse(file, data)
	if err != nil {
		return err
	}
	cfg := topology.Config{Zone: exp.Topology.Zone, RecordTTL: exp.Topology.RecordTTL, NegativeTTL: exp.Topology.NegativeTTL,
		Table: exp.Topology.Table.Name, Items: exp.Topology.Table.Items}
	for _, r := range exp.Topology.Regions {
		cfg.Regions = append(cfg.Regions, topology.Region{Name: r.Name, Endpoint: exp.Topology.EndpointName(r.Name),
			Nodes: r.Nodes, Targets: r.Targets, HealthCheck: nlb.HealthCheck(r.HealthCheck)})
	}
	var builds, teardowns []time.Duration
	for i := 0; i < envRepeats && ctx.Err() == nil; i++ {
		t0 := time.Now()
		w, err := topology.Build(ctx, cfg)
		if err != nil {
			return err
		}
		builds = append(builds, time.Since(t0))
		t1 := time.Now()
		if err := w.Close(); err != nil {
			return err
		}
		teardowns = append(teardowns, time.Since(t1))
	}
	fmt.Fprintf(out, "   %-34s %10s %10s\n", "flagship topology (embedded)", "median", "max")
	fmt.Fprintf(out, "   %-34s %10s %10s\n", "build (start + seed 2x100 items)", median(builds), maxOf(builds))
	fmt.Fprintf(out, "   %-34s %10s %10s\n", "teardown", median(teardowns), maxOf(teardowns))
	fmt.Fprintf(out, "   (%d builds; the container backend's figures will stand beside these)\n", len(builds))
	return nil
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2].Round(10 * time.Microsecond)
}

func maxOf(ds []time.Duration) time.Duration {
	m := ds[0]
	for _, d := range ds {
		m = max(m, d)
	}
	return m.Round(10 * time.Microsecond)
}
