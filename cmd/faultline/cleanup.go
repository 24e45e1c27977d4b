package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/faultline-dev/faultline/experiments/runner"
	"github.com/faultline-dev/faultline/targets/dynamodb/container"
	"github.com/faultline-dev/faultline/targets/sandbox"
	"github.com/faultline-dev/faultline/targets/tempdirs"
)

const cleanupDescription = `A run removes what it made when it ends, however it ends: normally, with an error, on SIGINT or
SIGTERM. A killed run (SIGKILL, a crash, the OOM killer) cannot; cleanup removes what it left:

  - faultline's temporary directories in $TMPDIR (else /tmp) whose owner is gone: faultline-KIND-NNN,
    KIND one of %s.
    Each holds a file, owner, naming the process that made it (its pid and start time, so a reused
    pid is not taken for it); a live run's directories are kept. A directory without that file is
    removed once it has not been modified for %s.
  - the containers and networks in Docker labelled dev.faultline=true (with --run ID, only that run's:
    dev.faultline.run=ID; temporary directories carry no run id and are then left alone). Without a
    Docker daemon that part is skipped, and cleanup says why.

It prints each thing it removes and why; --dry-run prints what it would remove, and removes nothing.`

func cleanupCommand() *cli.Command {
	return &cli.Command{
		Name:        "cleanup",
		Usage:       "remove what killed runs left behind: temporary directories whose owner is gone, containers and networks in Docker",
		Description: fmt.Sprintf(cleanupDescription, strings.Join(tempdirs.Kinds, ", "), tempdirs.Round(tempdirs.UnmarkedAge)),
		ArgsUsage:   "[--run ID] [--dry-run]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "run", Usage: "only this run's containers and networks (its id is the label dev.faultline.run)"},
			&cli.BoolFlag{Name: "dry-run", Usage: "list what would be removed, remove nothing"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return usage(c, "cleanup takes no arguments, got %d", c.NArg())
			}
			dry, runID := c.Bool("dry-run"), c.String("run")
			verb := "removed"
			if dry {
				verb = "would remove"
			}
			var errs []string
			// The temporary directories first: they need no Docker.
			if runID == "" {
				if err := cleanupTempDirs(verb, dry); err != nil {
					errs = append(errs, err.Error())
				}
			} else {
				fmt.Println("temporary directories: left alone (they carry no run id; faultline cleanup without --run removes those of killed runs)")
			}
			if err := cleanupDocker(c, verb, dry, runID); err != nil {
				errs = append(errs, err.Error())
			}
			if len(errs) > 0 {
				return cli.Exit("cleanup: "+strings.Join(errs, "; "), exitBrokenRun)
			}
			return nil
		},
	}
}

// cleanupTempDirs removes (or lists) the temporary directories whose owner
// is gone, and says which it keeps.
func cleanupTempDirs(verb string, dry bool) error {
	root := os.TempDir()
	now := time.Now()
	dirs, err := tempdirs.Scan(root, now)
	if err != nil {
		return fmt.Errorf("temporary directories in %s: %w", root, err)
	}
	var errs []error
	stale := 0
	for _, d := range dirs {
		if !d.Stale {
			fmt.Printf("kept %s: %s\n", d.Path, d.Why)
			continue
		}
		stale++
		if !dry {
			if err := tempdirs.Remove(d, now); err != nil {
				errs = append(errs, err)
				fmt.Printf("could not remove %s: %v\n", d.Path, err)
				continue
			}
		}
		fmt.Printf("%s %s: %s\n", verb, d.Path, d.Why)
	}
	if stale == 0 {
		fmt.Printf("no temporary directory of a killed run is left in %s\n", root)
	}
	return errors.Join(errs...)
}

// cleanupDocker removes (or lists) the containers and networks labelled as
// faultline's. No Docker daemon is no error unless --run named a run.
func cleanupDocker(c *cli.Context, verb string, dry bool, runID string) error {
	ctx := c.Context // cancelled by SIGINT or SIGTERM (main)
	var found []container.Leftover
	var err error
	if dry {
		found, err = container.List(ctx, runID)
	} else {
		found, err = container.Cleanup(ctx, runID)
	}
	for _, l := range found {
		fmt.Printf("%s %s\n", verb, l)
	}
	if errors.Is(err, container.ErrNoDocker) && runID == "" {
		fmt.Printf("Docker: skipped: %v\n", err)
		return nil
	}
	if err != nil {
		return err
	}
	if len(found) == 0 {
		fmt.Println("nothing of faultline's is left in Docker")
	}
	return nil
}

// prepareSandbox readies the sandbox from inside (sandbox.Prepare): its
// /etc/hosts and /etc/resolv.conf are written in a temporary directory of
// this process's, which remove deletes when the run is over. (Not before:
// a command's own resolv.conf is mounted over the sandbox's, which cannot
// be done once the file under it is deleted.)
func prepareSandbox() (remove func(), err error) {
	dir, err := tempdirs.Make("", "sandbox")
	if err != nil {
		return nil, err
	}
	remove = func() { os.RemoveAll(dir) }
	if err := sandbox.Prepare(dir, runner.AppDNS); err != nil {
		remove()
		return nil, err
	}
	return remove, nil
}

// removeWhatTheChildLeft, once the sandboxed child has exited, removes the
// temporary directories it made and could not remove (it was killed, or
// crashed), and says so.
func removeWhatTheChildLeft() {
	removed, err := tempdirs.RemoveChildren("")
	for _, d := range removed {
		fmt.Fprintf(os.Stderr, "faultline: removed %s, which the sandboxed run left (%s)\n", d.Path, d.Why)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "faultline: removing what the sandboxed run left: %v\n", err)
	}
}
