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
	"strings"
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
	runs := flag.Int("runs", 1, "repeat the benchmarks this many times and print each ratio's median and spread (single runs on a busy machine vary by ±40 %)")
	flag.Parse()
	if *runs < 1 || *runs > 50 {
		fmt.Fprintf(os.Stderr, "faultline-bench: -runs %d: expected 1 to 50\n", *runs)
		os.Exit(2)
	}
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
	for run := 1; run <= *runs && ctx.Err() == nil; run++ {
		ratios.startRun(run)
		for _, n := range names {
			if *runs > 1 {
				fmt.Printf("== %s (run %d of %d)\n", n, run, *runs)
			} else {
				fmt.Printf("== %s\n", n)
			}
			start := time.Now()
			if err := benches[n].run(ctx, os.Stdout); err != nil {
				fmt.Printf("   %s failed: %v\n", n, err)
				failed = true
			}
			fmt.Printf("   (%s took %.1fs)\n\n", n, time.Since(start).Seconds())
		}
	}
	if *runs > 1 {
		ratios.summary(os.Stdout, *runs)
	}
	// A ratio some run could not measure (its peer did not start) makes
	// the whole benchmark fail: a median of fewer runs is not what was asked.
	if missing := ratios.missing(*runs); len(missing) > 0 {
		fmt.Printf("   not measured in every run: %s\n", strings.Join(missing, "; "))
		failed = true
	}
	if failed {
		os.Exit(1)
	}
}
