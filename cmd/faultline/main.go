// Command faultline rehearses DNS and load-balancer failures and measures how
// fast clients fail over. See the README for the experiment file reference.
package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
)

// Exit codes: the contract CI pipelines gate on (ARCHITECTURE.md).
const (
	exitPass      = 0 // every assertion held
	exitFail      = 1 // an assertion failed
	exitUsage     = 2 // bad usage or invalid experiment
	exitBrokenRun = 3 // the environment could not be built or the run broke
)

func main() {
	os.Exit(run(os.Args))
}

func run(args []string) int {
	app := newApp()
	err := app.Run(flagsFirst(app, args))
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
	fmt.Fprintln(os.Stderr, "faultline:", err)
	return exitUsage
}

func newApp() *cli.App {
	return &cli.App{
		Name:            "faultline",
		Usage:           "rehearse DNS and load-balancer failures and measure how fast clients fail over",
		HideHelpCommand: true,
		ExitErrHandler:  func(*cli.Context, error) {}, // main maps errors to exit codes
		Commands: []*cli.Command{
			runCommand(),
			validateCommand(),
			listCommand(),
			reportCommand(),
			explainCommand(),
			cleanupCommand(),
			schemaCommand(),
			upCommand(),
			execCommand(),
			injectCommand(),
			healCommand(),
			statusCommand(),
			eventsCommand(),
			downCommand(),
		},
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return cli.Exit(err.Error(), exitUsage)
		},
		// Without a command, print help; an unknown command is bad usage.
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return cli.Exit(fmt.Sprintf("unknown command %q; expected one of: run, validate, list, report, explain, cleanup, schema, up, exec, inject, heal, status, events, down", c.Args().First()), exitUsage)
			}
			return cli.ShowAppHelp(c)
		},
	}
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
