package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/urfave/cli/v2"

	"github.com/faultline-dev/faultline/experiments/library"
	"github.com/faultline-dev/faultline/experiments/measure"
	"github.com/faultline-dev/faultline/experiments/runner"
	"github.com/faultline-dev/faultline/experiments/spec"
	"github.com/faultline-dev/faultline/reports"
	"github.com/faultline-dev/faultline/targets/sandbox"
)

func runCommand() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "run an experiment (a file, or a built-in name from `faultline list`)",
		ArgsUsage: "[--out DIR] [--seed N] EXPERIMENT",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Usage: "directory for journal.jsonl, report.json, report.md, junit.xml and report.html", DefaultText: "out/NAME"},
			&cli.Int64Flag{Name: "seed", Usage: "seed for random choices (overrides the experiment's)", DefaultText: "the experiment's seed, else 1"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only the summary"},
			&cli.BoolFlag{Name: "dry-run", Usage: "validate, build the world, print the planned timeline; run no client, apply no fault"},
			&cli.IntFlag{Name: "trials", Value: 1, Usage: "run N times with the faults shifted by a seeded random phase; metrics become distributions"},
			&cli.StringFlag{Name: "backend", Usage: "every region's DynamoDB: embedded (in process) or container (DynamoDB Local in Docker)"},
			&cli.StringFlag{Name: "run-id", Usage: "label the run's containers dev.faultline.run=ID (default: the experiment's name and the time)"},
			&cli.StringSliceFlag{Name: "image", Usage: "override an image: dynamodb=REF for the container backend, CLIENT=REF for a client application (repeatable)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usage(c, "run takes one experiment, got %d arguments", c.NArg())
			}
			exp, err := loadExperiment(c.Args().First())
			if err != nil {
				return cli.Exit(err.Error(), exitUsage)
			}
			done, cleanup, err := enterSandbox(exp)
			if done {
				return err
			}
			defer cleanup()
			opts := runner.Options{OutDir: c.String("out"), Progress: os.Stderr}
			if opts.OutDir == "" {
				opts.OutDir = filepath.Join("out", exp.Name)
			}
			if c.IsSet("seed") {
				seed := c.Int64("seed")
				opts.Seed = &seed
			}
			var live *reports.Live
			if c.Bool("quiet") {
				opts.Progress = nil
			} else if !c.Bool("dry-run") {
				live = liveView(exp.Duration)
				opts.Progress, opts.Live = live, live.Update
			}
			if err := containerOptions(c, exp, &opts); err != nil {
				return err
			}
			ctx := c.Context // cancelled by SIGINT or SIGTERM (main)
			if c.Bool("dry-run") {
				opts.DryRun, opts.Progress, opts.OutDir = true, os.Stdout, ""
				if c.Bool("quiet") {
					opts.Progress = nil // the dry run's verdict is its exit code
				}
				if res := runner.Run(ctx, exp, opts); res.Err != nil {
					return cli.Exit("dry run: "+res.Err.Error(), exitBrokenRun)
				}
				return nil
			}
			if n := c.Int("trials"); n != 1 {
				if n < 1 || n > 1000 {
					return usage(c, "--trials %d: expected 1 to 1000", n)
				}
				return runTrials(ctx, exp, opts, n)
			}
			res := runner.Run(ctx, exp, opts)
			if live != nil {
				live.Close()
			}
			return finish(res.Summary, res.Trace, res.Err, opts.OutDir)
		},
	}
}

func runTrials(ctx context.Context, exp *spec.Experiment, opts runner.Options, n int) error {
	ts, err := runner.RunTrials(ctx, exp, opts, n)
	var writeErr error
	if opts.OutDir != "" {
		if writeErr = os.MkdirAll(opts.OutDir, 0o755); writeErr == nil {
			writeErr = reports.WriteTrialsDir(opts.OutDir, ts)
		}
	}
	if terr := reports.TrialsTerminal(os.Stdout, ts); terr != nil && writeErr == nil {
		writeErr = terr
	}
	if opts.OutDir != "" {
		fmt.Printf("\n  trials in %s (trial-NN/, trials.json, junit.xml, report.md, report.html)\n", opts.OutDir)
		appendStepSummary(opts.OutDir)
	}
	switch {
	case err != nil:
		return cli.Exit("run broke: "+err.Error(), exitBrokenRun)
	case writeErr != nil:
		return cli.Exit("writing the trials' reports: "+writeErr.Error(), exitBrokenRun)
	}
	switch ts.Verdict {
	case measure.Incomplete, measure.Invalid:
		return cli.Exit("", exitBrokenRun)
	case measure.Fail:
		return cli.Exit("", exitFail)
	}
	return nil
}

// finish prints the summary and maps the outcome to the exit-code contract.
func finish(s measure.Summary, tr *reports.Trace, runErr error, outDir string) error {
	if err := reports.Terminal(os.Stdout, s, tr); err != nil {
		return cli.Exit("writing the summary: "+err.Error(), exitBrokenRun)
	}
	if outDir != "" {
		fmt.Printf("\n  reports in %s (journal.jsonl, report.json, report.md, junit.xml, report.html)\n", outDir)
		appendStepSummary(outDir)
	}
	switch {
	case runErr != nil:
		return cli.Exit("run broke: "+runErr.Error(), exitBrokenRun)
	case s.Verdict == measure.Incomplete:
		return cli.Exit("the run is incomplete: "+s.Reason, exitBrokenRun)
	case s.Verdict == measure.Invalid && s.Status == measure.Invalid:
		return cli.Exit("the run is invalid: "+s.Reason, exitBrokenRun)
	case s.Verdict == measure.Invalid:
		return cli.Exit("the run is invalid, it proves nothing: "+strings.Join(s.Reasons, "; "), exitBrokenRun)
	case s.Verdict == measure.Fail && s.Status == "stopped":
		return cli.Exit("the run was stopped early: "+s.Reason, exitFail)
	case s.Verdict == measure.Fail:
		return cli.Exit("", exitFail)
	}
	return nil
}

func validateCommand() *cli.Command {
	return &cli.Command{
		Name:      "validate",
		Usage:     "check an experiment file (or built-in name) without running it",
		ArgsUsage: "EXPERIMENT",
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usage(c, "validate takes one experiment, got %d arguments", c.NArg())
			}
			exp, err := loadExperiment(c.Args().First())
			if err != nil {
				return cli.Exit(err.Error(), exitUsage)
			}
			fmt.Printf("%s: valid (%d regions, %d clients, %d faults, %d assertions, %s)\n", exp.File, len(exp.Topology.Regions),
				len(exp.Clients), len(exp.Faults), len(exp.Assertions), exp.Duration)
			return nil
		},
	}
}

func explainCommand() *cli.Command {
	return &cli.Command{
		Name:      "explain",
		Usage:     "print an experiment's planned timeline, without building anything",
		ArgsUsage: "EXPERIMENT",
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usage(c, "explain takes one experiment, got %d arguments", c.NArg())
			}
			exp, err := loadExperiment(c.Args().First())
			if err != nil {
				return cli.Exit(err.Error(), exitUsage)
			}
			fmt.Printf("%s: %s\n", exp.Name, exp.Description)
			for _, line := range runner.Timeline(exp) {
				fmt.Println("  " + line)
			}
			for _, a := range exp.SteadyState {
				fmt.Printf("  steady state (before the first fault, after the last heal): %s: %s\n", a.Client, a.Expr)
			}
			for _, a := range exp.StopWhen {
				fmt.Printf("  stop when: %s: %s\n", a.Client, a.Expr)
			}
			for _, a := range exp.Assertions {
				fmt.Printf("  assert: %s: %s\n", a.Client, a.Expr)
			}
			return nil
		},
	}
}

func listCommand() *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: "list the built-in experiments",
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usage(c, "list takes no arguments, got %d (to see one experiment: faultline explain NAME)", c.NArg())
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
			for _, name := range library.Names() {
				file, data, _ := library.Get(name)
				exp, err := spec.Parse(file, data)
				if err != nil {
					return cli.Exit(fmt.Sprintf("built-in experiment %s is invalid: %v", name, err), exitCrash)
				}
				fmt.Fprintf(w, "%s\t%s\n", name, exp.Description)
			}
			return w.Flush()
		},
	}
}

func reportCommand() *cli.Command {
	return &cli.Command{
		Name:      "report",
		Usage:     "re-render the reports of a past run from its journal (a journal.jsonl, or the directory holding it)",
		ArgsUsage: "[--out DIR] [--format text|json|md|junit|html] JOURNAL|DIR",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Usage: "also write report.json, report.md, junit.xml and report.html here"},
			&cli.StringFlag{Name: "format", Value: "text", Usage: "what to print: text (the summary), json, md, junit or html"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usage(c, "report takes one journal file or run directory, got %d arguments", c.NArg())
			}
			path := c.Args().First()
			if info, err := os.Stat(path); err == nil && info.IsDir() {
				path = filepath.Join(path, "journal.jsonl")
			}
			// One pass over the file, however long: the summary and the
			// charts' trace are folds of it in bounded memory.
			s, tr, err := reports.ReadJournal(path)
			if err != nil {
				return cli.Exit(err.Error(), exitUsage)
			}
			if dir := c.String("out"); dir != "" {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					return cli.Exit(err.Error(), exitBrokenRun)
				}
				if err := reports.WriteDir(dir, s, tr); err != nil {
					return cli.Exit(err.Error(), exitBrokenRun)
				}
			}
			var render func() error
			switch c.String("format") {
			case "text":
				return finish(s, tr, nil, c.String("out"))
			case "json":
				render = func() error { return reports.JSON(os.Stdout, s) }
			case "md":
				render = func() error { return reports.Markdown(os.Stdout, s, tr) }
			case "junit":
				render = func() error { return reports.JUnit(os.Stdout, s, tr) }
			case "html":
				render = func() error { return reports.HTML(os.Stdout, s, tr) }
			default:
				return usage(c, "--format %q: expected text, json, md, junit or html", c.String("format"))
			}
			if err := render(); err != nil {
				return cli.Exit(err.Error(), exitBrokenRun)
			}
			return verdictExit(s)
		},
	}
}

// verdictExit maps a summary's verdict to the exit-code contract.
func verdictExit(s measure.Summary) error {
	switch s.Verdict {
	case measure.Incomplete, measure.Invalid:
		return cli.Exit("", exitBrokenRun)
	case measure.Fail:
		return cli.Exit("", exitFail)
	}
	return nil
}

// appendStepSummary appends report.md to $GITHUB_STEP_SUMMARY when GitHub
// Actions sets it, so the job's summary page shows the run.
func appendStepSummary(outDir string) {
	path := os.Getenv("GITHUB_STEP_SUMMARY")
	if path == "" {
		return
	}
	md, err := os.ReadFile(filepath.Join(outDir, "report.md"))
	if err != nil {
		return
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		fmt.Fprintf(os.Stderr, "faultline: GITHUB_STEP_SUMMARY: %v\n", err)
		return
	}
	defer f.Close()
	f.Write(append(md, '\n'))
}

// loadExperiment reads an experiment file, or a built-in one by name when no
// such file exists.
func loadExperiment(arg string) (*spec.Experiment, error) {
	if _, err := os.Stat(arg); err == nil {
		return spec.ParseFile(arg)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if file, data, ok := library.Get(arg); ok {
		return spec.Parse(file, data)
	}
	return nil, fmt.Errorf("%s: no such file, and no built-in experiment of that name (built-in: %v)", arg, library.Names())
}

// containerOptions reads --backend and --image.
func containerOptions(c *cli.Context, exp *spec.Experiment, opts *runner.Options) error {
	switch b := c.String("backend"); b {
	case "", spec.BackendEmbedded, spec.BackendContainer:
		opts.Backend = b
	default:
		return usage(c, "--backend %q: expected embedded or container", b)
	}
	opts.RunID = c.String("run-id")
	for _, kv := range c.StringSlice("image") {
		name, ref, ok := strings.Cut(kv, "=")
		if !ok || ref == "" || strings.ContainsAny(ref, " \t") {
			return usage(c, "--image %q: expected NAME=REF, like dynamodb=registry.example.com/dynamodb-local:2.6.1", kv)
		}
		known := name == "dynamodb"
		for _, cl := range exp.Clients {
			known = known || (cl.Name == name && cl.Image != "")
		}
		if !known {
			return usage(c, "--image %s: expected dynamodb or the name of a client with an image", kv)
		}
		if opts.Images == nil {
			opts.Images = map[string]string{}
		}
		opts.Images[name] = ref
	}
	return nil
}

// liveView is the run's live view on standard error: redrawn in place on a
// terminal, plain status lines otherwise (not a terminal, NO_COLOR set,
// TERM=dumb), paced so a long run does not flood a CI log.
func liveView(duration time.Duration) *reports.Live {
	fd := os.Stderr.Fd()
	terminal := (isatty.IsTerminal(fd) || isatty.IsCygwinTerminal(fd)) && os.Getenv("TERM") != "dumb"
	_, noColor := os.LookupEnv("NO_COLOR")
	inPlace := terminal && !noColor
	interval := min(max(duration/12, time.Second), 10*time.Second)
	return reports.NewLive(os.Stderr, inPlace, inPlace, interval)
}

func schemaCommand() *cli.Command {
	return &cli.Command{
		Name:      "schema",
		Usage:     "print a JSON Schema: the experiment format's (for editors; faultline validate applies it too), report.json's or trials.json's",
		ArgsUsage: "[--report | --trials]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "report", Usage: "report.json's schema instead (schema_version " + reports.SchemaVersion + ")"},
			&cli.BoolFlag{Name: "trials", Usage: "trials.json's schema instead (schema_version " + reports.SchemaVersion + ")"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return usage(c, "schema takes no arguments, got %d", c.NArg())
			}
			schema := spec.Schema()
			switch {
			case c.Bool("report") && c.Bool("trials"):
				return usage(c, "--report and --trials: expected one of them")
			case c.Bool("report"):
				schema = reports.ReportSchema()
			case c.Bool("trials"):
				schema = reports.TrialsSchema()
			}
			_, err := os.Stdout.Write(schema)
			return err
		},
	}
}

// enterSandbox runs the command again inside faultline's sandbox when the
// experiment has clients that are commands (done is then true and err
// carries the sandboxed run's exit status, and what the child could not
// remove, killed, is removed); inside, it readies the sandbox, and cleanup
// removes the sandbox's files when the run is over (prepareSandbox).
func enterSandbox(exp *spec.Experiment) (done bool, cleanup func(), err error) {
	cleanup = func() {}
	if !runner.NeedsSandbox(exp) {
		return false, cleanup, nil
	}
	if !sandbox.Inside() {
		code, err := sandbox.Reexec(os.Args[1:])
		removeWhatTheChildLeft()
		if err != nil {
			return true, cleanup, cli.Exit(err.Error(), exitBrokenRun)
		}
		if code != 0 {
			return true, cleanup, cli.Exit("", code)
		}
		return true, cleanup, nil
	}
	remove, err := prepareSandbox()
	if err != nil {
		return true, cleanup, cli.Exit(err.Error(), exitBrokenRun)
	}
	return false, remove, nil
}
