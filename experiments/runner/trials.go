package runner

import (
	"context"
	"fmt"
	"math/rand"
	"path/filepath"
	"time"

	"github.com/faultline-dev/faultline/experiments/measure"
	"github.com/faultline-dev/faultline/experiments/spec"
)

// maxPhase bounds how far a trial shifts the faults' start.
const maxPhase = time.Second

// RunTrials runs an experiment n times, each with every fault's start shifted
// by a seeded random phase (so the fault meets the clients' schedules at
// different moments), each trial's reports in OutDir/trial-NN. It stops at
// the first trial that breaks.
func RunTrials(ctx context.Context, exp *spec.Experiment, opts Options, n int) (measure.TrialsSummary, error) {
	seed := int64(1)
	switch {
	case opts.Seed != nil:
		seed = *opts.Seed
	case exp.Seed != nil:
		seed = *exp.Seed
	}
	rng := rand.New(rand.NewSource(seed))
	slack := exp.Duration
	for _, f := range exp.Faults {
		slack = min(slack, exp.Duration-f.End())
	}
	slack = min(slack, maxPhase)
	var summaries []measure.Summary
	for i := 0; i < n; i++ {
		trial := *exp
		trial.Faults = append(trial.Faults[:0:0], exp.Faults...)
		phase := time.Duration(0)
		if slack > 0 {
			phase = time.Duration(rng.Int63n(int64(slack)))
		}
		for j := range trial.Faults {
			trial.Faults[j].Start += phase
		}
		o := opts
		if opts.OutDir != "" {
			o.OutDir = filepath.Join(opts.OutDir, fmt.Sprintf("trial-%02d", i+1))
		}
		trialSeed := seed + int64(i)
		o.Seed = &trialSeed
		if opts.Progress != nil {
			fmt.Fprintf(opts.Progress, "== trial %d of %d (faults shifted by %s)\n", i+1, n, phase.Round(time.Millisecond))
		}
		res := Run(ctx, &trial, o)
		summaries = append(summaries, res.Summary)
		if res.Err != nil {
			return measure.SummarizeTrials(summaries), fmt.Errorf("trial %d: %w", i+1, res.Err)
		}
	}
	return measure.SummarizeTrials(summaries), nil
}
