package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/faultline-dev/faultline/experiments/fleet/retry"
	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/experiments/measure"
	"github.com/faultline-dev/faultline/experiments/runner"
	"github.com/faultline-dev/faultline/experiments/spec"
	"github.com/faultline-dev/faultline/targets/tempdirs"
)

// How large a fleet faultline carries on this machine (make bench-fleet;
// part of make bench): `faultline run` of one fleet with no fault and no
// capacity, at rising rates, each for fleetStep. For each rate: the
// requests per second served (fleet.load), their p99, the process's CPU
// (getrusage: the world, the fleet and the harness together, a baseline
// run at 1 request/s subtracted) per 1,000 requests/s, and whether the
// harness's self-check held (the run's verdict is not invalid). The peer is
// the offered rate. Then the memory of the members themselves: the heap a
// fleet of spec.MaxFleetSize members takes before it sends anything.
func init() { register("fleet", benchFleet) }

const (
	fleetStep    = 8 * time.Second
	fleetMembers = 10000
)

var fleetRates = []float64{250, 500, 1000, 1500, 2000, 3000}

func benchFleet(ctx context.Context, out *os.File) error {
	base, err := fleetRun(ctx, 1)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "   one fleet of %d members (botocore standard retries, GetItem), %s per rate, no fault, no capacity limit\n", fleetMembers, fleetStep)
	fmt.Fprintf(out, "   baseline (1 request/s): the process used %.2f CPU-seconds a second (world, harness)\n", base.cpu.Seconds()/base.wall.Seconds())
	fmt.Fprintf(out, "   %8s %10s %8s %8s %12s %14s %s\n", "offered", "served/s", "p99 ms", "attempts", "CPU cores", "CPU ms/1000rps", "harness")
	for _, rate := range fleetRates {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r, err := fleetRun(ctx, rate)
		if err != nil {
			// Past what the machine carries the run itself may break (its
			// clients not stopping in time): that is this rate's answer.
			fmt.Fprintf(out, "   %8.0f the run broke: %v\n", rate, err)
			break
		}
		cores := r.cpu.Seconds() / r.wall.Seconds()
		baseCores := base.cpu.Seconds() / base.wall.Seconds()
		perK := (cores - baseCores) * 1000 / (r.served / 1000) // CPU-ms a second per 1,000 requests/s
		harness := "held"
		if r.invalid {
			harness = "starved: " + r.reason
		}
		fmt.Fprintf(out, "   %8.0f %10.0f %8.1f %8.2f %12.2f %14.0f %s\n", rate, r.served, r.p99, r.amplification, cores, perK, harness)
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	members := make([]retry.Policy, spec.MaxFleetSize)
	for i := range members {
		members[i], _ = retry.New(retry.Config{Name: retry.Adaptive}, nil, time.Now())
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	fmt.Fprintf(out, "   %d adaptive members (the largest state) hold %.1f MB: %.0f bytes each\n", len(members),
		float64(after.HeapAlloc-before.HeapAlloc)/1e6, float64(after.HeapAlloc-before.HeapAlloc)/float64(len(members)))
	runtime.KeepAlive(members)
	return nil
}

type fleetResult struct {
	wall, cpu     time.Duration
	served, p99   float64 // requests/s over the steady seconds; the worst second's p99
	amplification float64 // attempts per logical request
	invalid       bool
	reason        string
}

// fleetRun runs one fleet at rate for fleetStep and measures it.
func fleetRun(ctx context.Context, rate float64) (fleetResult, error) {
	text := fmt.Sprintf(`name: bench-fleet
topology:
  regions:
    - name: us-east-1
clients:
  - name: fleet
    regions: [us-east-1]
    fleet: {size: %d, rate: 1, retry: standard, timeout: 2s}
schedule:
  duration: %s
`, fleetMembers, fleetStep)
	exp, err := spec.Parse("bench-fleet.yaml", []byte(text))
	if err != nil {
		return fleetResult{}, err
	}
	exp.Clients[0].Fleet.Rate = rate // past spec.MaxFleetRate too: that is what is measured
	dir, err := tempdirs.Make("", "bench-fleet")
	if err != nil {
		return fleetResult{}, err
	}
	defer os.RemoveAll(dir)
	cpu0, wall0 := selfCPU(), time.Now()
	res := runner.Run(ctx, exp, runner.Options{OutDir: dir})
	r := fleetResult{cpu: selfCPU() - cpu0, wall: time.Since(wall0)}
	if res.Err != nil {
		return r, res.Err
	}
	r.invalid = res.Summary.Verdict == measure.Invalid
	if r.invalid && len(res.Summary.Reasons) > 0 {
		r.reason = res.Summary.Reasons[0]
	}
	evs, err := journal.ReadFile(res.Journal)
	if err != nil {
		return r, err
	}
	var seconds, served, logical, attempts int
	for _, e := range evs {
		if e.Type != journal.FleetLoad || e.Load == nil {
			continue
		}
		seconds++
		if seconds == 1 {
			continue // the first second starts mid-way
		}
		served += e.Load.Served
		logical += e.Load.Logical
		attempts += e.Load.Offered
		r.p99 = max(r.p99, e.Load.P99MS)
	}
	if seconds > 1 {
		r.served = float64(served) / float64(seconds-1)
	}
	if logical > 0 {
		r.amplification = float64(attempts) / float64(logical)
	}
	return r, nil
}
