package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/faultline-dev/faultline/experiments/library"
	"github.com/faultline-dev/faultline/experiments/spec"
	"github.com/faultline-dev/faultline/targets/dynamodb/container"
	"github.com/faultline-dev/faultline/targets/dynamodb/container/containertest"
	"github.com/faultline-dev/faultline/targets/nlb"
	"github.com/faultline-dev/faultline/targets/topology"
)

// The environment benchmark: how long the flagship's world (2 regions, each
// a backend seeded with 100 items, an NLB with 2 nodes and 2 targets over 4
// links; one DNS server) takes to build and to tear down, with the embedded
// backend and with DynamoDB in containers.
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
	embedded, err := measureWorld(ctx, cfg, envRepeats)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "   %-44s %10s %10s %10s %10s\n", "flagship topology (2 regions, 2x100 items)", "build p50", "max", "teardown", "max")
	row := func(name string, m worldTimes) {
		fmt.Fprintf(out, "   %-44s %10s %10s %10s %10s\n", name, median(m.builds), maxOf(m.builds), median(m.teardowns), maxOf(m.teardowns))
	}
	row(fmt.Sprintf("embedded backend (%d builds)", len(embedded.builds)), embedded)

	// The container backend: the same world with DynamoDB in containers.
	// No registry here, so the stand-in image (the embedded backend behind
	// DynamoDB Local's command line) stands in for amazon/dynamodb-local:
	// the figures are Docker's cost, not the JVM's start-up.
	if err := container.CheckDocker(ctx); err != nil {
		fmt.Fprintf(out, "   container backend: skipped (%v)\n", err)
		return nil
	}
	image, remove, err := containertest.BuildStandIn(ctx)
	if err != nil {
		return err
	}
	defer remove()
	for i := range cfg.Regions {
		cfg.Regions[i].Container = &topology.Container{Image: image}
	}
	cfg.RunID = fmt.Sprintf("bench-%d", time.Now().UnixNano())
	defer container.Cleanup(context.Background(), cfg.RunID)
	ctr, err := measureWorld(ctx, cfg, containerRepeats)
	if err != nil {
		return err
	}
	row(fmt.Sprintf("container backend, stand-in image (%d builds)", len(ctr.builds)), ctr)
	fmt.Fprintf(out, "   container/embedded: build %.1fx, teardown %.1fx\n",
		float64(median(ctr.builds))/float64(median(embedded.builds)), float64(median(ctr.teardowns))/float64(median(embedded.teardowns)))
	return nil
}

const containerRepeats = 3

type worldTimes struct{ builds, teardowns []time.Duration }

// measureWorld builds and tears down the world n times.
func measureWorld(ctx context.Context, cfg topology.Config, n int) (worldTimes, error) {
	var m worldTimes
	for i := 0; i < n && ctx.Err() == nil; i++ {
		t0 := time.Now()
		w, err := topology.Build(ctx, cfg)
		if err != nil {
			return m, err
		}
		m.builds = append(m.builds, time.Since(t0))
		t1 := time.Now()
		if err := w.Close(); err != nil {
			return m, err
		}
		m.teardowns = append(m.teardowns, time.Since(t1))
	}
	if len(m.builds) == 0 {
		return m, ctx.Err()
	}
	return m, nil
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
