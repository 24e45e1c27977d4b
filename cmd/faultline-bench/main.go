// Command faultline-bench runs faultline's benchmarks and prints each of our
// figures beside a peer's measured in the same run (ratios, since the machines
// are noisy). `make bench` runs it; `-only NAME` runs one benchmark.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"time"
)

// bench is one benchmark: it writes a small table of figures to out.
type bench struct {
	name  string
	run   func(ctx context.Context, out *os.File) error
	optIn bool // only with -only NAME (a long one)
}

var benches = map[string]bench{}

// register is called from init in each bench_*.go file.
func register(name string, run func(ctx context.Context, out *os.File) error) {
	benches[name] = bench{name: name, run: run}
}

// registerOptIn registers a benchmark that runs only when named (-only).
func registerOptIn(name string, run func(ctx context.Context, out *os.File) error) {
	benches[name] = bench{name: name, run: run, optIn: true}
}

func main() {
	only := flag.String("only", "", "run only this benchmark")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	names := make([]string, 0, len(benches))
	for n, b := range benches {
		if (*only == "" && !b.optIn) || *only == n {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		fmt.Fprintf(os.Stderr, "faultline-bench: no benchmark named %q\n", *only)
		os.Exit(2)
	}
	failed := false
	for _, n := range names {
		fmt.Printf("== %s\n", n)
		start := time.Now()
		if err := benches[n].run(ctx, os.Stdout); err != nil {
			fmt.Printf("   %s failed: %v\n", n, err)
			failed = true
		}
		fmt.Printf("   (%s took %.1fs)\n\n", n, time.Since(start).Seconds())
	}
	if failed {
		os.Exit(1)
	}
}
