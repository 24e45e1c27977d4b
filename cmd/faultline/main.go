// Command faultline rehearses DNS and load-balancer failures and measures how
// fast clients fail over. See the README for the experiment file reference.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"sync/atomic"

	"github.com/urfave/cli/v2"

	"github.com/faultline-dev/faultline/cmd/faultline/internal/earlysignal"
)

// Exit codes: the contract CI pipelines gate on (ARCHITECTURE.md).
const (
	exitPass      = 0 // every assertion held
	exitFail      = 1 // an assertion failed
	exitUsage     = 2 // bad usage or invalid input (an experiment file, a journal)
	exitBrokenRun = 3 // the run proves nothing: invalid, the environment could not be built, the run broke or was interrupted
	exitCrash     = 4 // faultline itself failed (a bug: please report it with the message)
)

func main() {
	// Signals are taken from the start (earlysignal's init): a SIGINT while
	// the experiment is still being read must not kill the process unheard.
	ctx, stop := earlysignal.Context()
	defer stop()
	servePprof()
	code := run(ctx, os.Args)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string) (code int) {
	defer crashed(&code)
	app := newApp()
	err := app.RunContext(ctx, flagsFirst(app, args))
	code = exitCode(err)
	// A signal that came while the run was ending (its teardown, its
	// reports) still makes the exit say it was interrupted.
	if code == exitPass && ctx.Err() != nil && !signalIsTheEnd.Load() {
		fmt.Fprintln(os.Stderr, "faultline: interrupted")
		code = exitBrokenRun
	}
	return code
}

// signalIsTheEnd is set by commands that a signal ends normally (`up`: the
// game day is over; `events --follow`, `exec`, `inject --wait`: the user is
// done watching): their exit says how they ended, not "interrupted".
var signalIsTheEnd atomic.Bool

// crashed turns a panic into exit code 4, with the stack: a crash must never
// read as bad usage (2) or as a verdict. Deferred by run.
func crashed(code *int) {
	if p := recover(); p != nil {
		fmt.Fprintf(os.Stderr, "faultline crashed (a bug in faultline, not in your experiment; please report it with this text): %v\n%s", p, debug.Stack())
		*code = exitCrash
	}
}

// exitCode prints an error and maps it to the exit-code contract.
func exitCode(err error) int {
	if err == nil {
		return exitPass
	}
	var coder cli.ExitCoder
	if errors.As(err, &coder) {
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(os.Stderr, "faultline:", msg)
		}
		return coder.ExitCode()
	}
	// Anything urfave/cli itself rejects (unknown flag, bad value) is usage.
	fmt.Fprintln(os.Stderr, "faultline:", longFlags(err.Error()))
	return exitUsage
}

// longFlags writes the flags urfave/cli names with one dash ("-seed") as
// they are typed ("--seed").
func longFlags(msg string) string {
	return strings.ReplaceAll(msg, "flag -", "flag --")
}

func newApp() *cli.App {
	commands := []*cli.Command{
		runCommand(),
		validateCommand(),
		listCommand(),
		kindsCommand(),
		reportCommand(),
		explainCommand(),
		exportCommand(),
		cleanupCommand(),
		schemaCommand(),
		upCommand(),
		execCommand(),
		injectCommand(),
		healCommand(),
		statusCommand(),
		eventsCommand(),
		downCommand(),
		versionCommand(),
		completionCommand(),
	}
	for _, c := range commands {
		c.HideHelpCommand = true // `faultline help COMMAND`, or COMMAND --help
		c.OnUsageError = func(_ *cli.Context, err error, _ bool) error {
			return cli.Exit(longFlags(err.Error())+" (faultline help "+c.Name+" tells more)", exitUsage)
		}
	}
	return &cli.App{
		Name:                 "faultline",
		HideHelpCommand:      false, // `faultline help [COMMAND]`
		Usage:                "rehearse DNS and load-balancer failures and measure how fast clients fail over",
		Version:              version(),
		HideVersion:          true,                         // `faultline version` says more
		EnableBashCompletion: true,                         // the hidden --generate-bash-completion the completion scripts call
		ExitErrHandler:       func(*cli.Context, error) {}, // run maps errors to exit codes
		Commands:             commands,
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return cli.Exit(longFlags(err.Error()), exitUsage)
		},
		// Without a command, print help; an unknown command is bad usage.
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return cli.Exit(fmt.Sprintf("unknown command %q; expected one of: %s (faultline help COMMAND tells more)",
					c.Args().First(), strings.Join(commandNames(commands), ", ")), exitUsage)
			}
			return cli.ShowAppHelp(c)
		},
	}
}

func commandNames(cs []*cli.Command) []string {
	var names []string
	for _, c := range cs {
		names = append(names, c.Name)
	}
	return append(names, "help")
}

// usage reports a usage error with the command's synopsis.
func usage(c *cli.Context, format string, args ...any) error {
	return cli.Exit(fmt.Sprintf(format+"\nusage: faultline %s %s", append(args, c.Command.Name, c.Command.ArgsUsage)...), exitUsage)
}

// flagsFirst lets flags follow the arguments ("faultline run EXP --seed 3"),
// as users type them: urfave/cli v2 stops reading flags at the first
// argument, so a command's flags (and their values) are moved before its
// arguments. "--" ends the flags, as usual.
func flagsFirst(app *cli.App, args []string) []string {
	if len(args) < 3 {
		return args
	}
	cmd := app.Command(args[1])
	if cmd == nil || cmd.Name == "exec" {
		// exec's arguments are a program's: its flags are its own.
		return args
	}
	takesValue := map[string]bool{}
	for _, f := range cmd.Flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, name := range f.Names() {
			takesValue[name] = !isBool
		}
	}
	var flags, positional []string
	rest := args[2:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "--" {
			positional = append(positional, rest[i+1:]...)
			break
		}
		name := strings.TrimLeft(a, "-")
		if !strings.HasPrefix(a, "-") || a == "-" {
			positional = append(positional, a)
			continue
		}
		flags = append(flags, a)
		if !strings.Contains(name, "=") && takesValue[name] && i+1 < len(rest) {
			flags = append(flags, rest[i+1])
			i++
		}
	}
	out := append([]string{args[0], args[1]}, flags...)
	if len(positional) > 0 {
		out = append(append(out, "--"), positional...)
	}
	return out
}
