package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
)

// Single runs on a shared 2-core machine vary by ±40 %, so `-runs N`
// repeats the benchmarks and prints each ratio's median over the runs with
// its spread. A benchmark records the ratios it printed with recordRatio;
// a ratio missing from a run (its peer did not start) is counted as such,
// never filled in.

// ratioLog holds every run's ratios by name, in the order first recorded.
type ratioLog struct {
	mu    sync.Mutex
	run   int
	order []string
	byRun map[string]map[int]float64
	// better says, per ratio, which way is ours doing well ("higher" or
	// "lower"), for the summary's reader.
	better map[string]string
}

var ratios = &ratioLog{byRun: map[string]map[int]float64{}, better: map[string]string{}}

// recordRatio records one of this run's ratios (ours over the peer's).
// better is "higher" or "lower": which way means faultline does well.
func recordRatio(name, better string, v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	ratios.mu.Lock()
	defer ratios.mu.Unlock()
	ratios.expect(name, better)
	ratios.byRun[name][ratios.run] = v
}

// expectRatio says that a benchmark means to measure a ratio: a run that
// then does not (its peer never started) counts as missing it.
func expectRatio(name, better string) {
	ratios.mu.Lock()
	defer ratios.mu.Unlock()
	ratios.expect(name, better)
}

func (l *ratioLog) expect(name, better string) {
	if _, ok := l.byRun[name]; !ok {
		l.order = append(l.order, name)
		l.byRun[name] = map[int]float64{}
		l.better[name] = better
	}
}

func (l *ratioLog) startRun(i int) {
	l.mu.Lock()
	l.run = i
	l.mu.Unlock()
}

// summary prints each ratio's median, its spread (min–max) and in how many
// of the runs it was measured.
func (l *ratioLog) summary(out io.Writer, runs int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.order) == 0 {
		return
	}
	fmt.Fprintf(out, "== ratios over %d runs (ours ÷ the peer's, same run)\n", runs)
	fmt.Fprintf(out, "   %-52s %8s %17s %9s %8s\n", "ratio", "median", "spread (min–max)", "measured", "better")
	for _, name := range l.order {
		var vs []float64
		for _, v := range l.byRun[name] {
			vs = append(vs, v)
		}
		slices.Sort(vs)
		if len(vs) == 0 {
			fmt.Fprintf(out, "   %-52s %8s %17s %6d/%-2d %8s\n", name, "—", "not measured", 0, runs, l.better[name])
			continue
		}
		fmt.Fprintf(out, "   %-52s %8.2f %8.2f – %-6.2f %6d/%-2d %8s\n", name, medianOf(vs), vs[0], vs[len(vs)-1], len(vs), runs, l.better[name])
	}
	fmt.Fprintln(out)
}

// missing names the ratios some run did not measure.
func (l *ratioLog) missing(runs int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, name := range l.order {
		if n := len(l.byRun[name]); n < runs {
			out = append(out, fmt.Sprintf("%s (%d of %d runs)", name, n, runs))
		}
	}
	return out
}

func medianOf(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}
