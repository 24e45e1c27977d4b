package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/faultline-dev/faultline/experiments/export"
)

// exportCommand writes an experiment for Chaos Mesh or AWS FIS, with the
// table of what became of every fault on standard error.
func exportCommand() *cli.Command {
	chaosMesh := []string{"namespace", "selector", "objects"}
	fis := []string{"role-arn", "region", "subnet", "subnet-tag", "table-arn", "load-balancer-arn", "az", "stop-alarm"}
	return &cli.Command{
		Name:      "export",
		Usage:     "write an experiment for Chaos Mesh (a Workflow) or AWS FIS (an experiment template), with a table of how faithfully each fault maps",
		ArgsUsage: "--to chaos-mesh|fis [--out FILE] [--approximate] [flags] EXPERIMENT",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "to", Usage: "the engine: chaos-mesh or fis"},
			&cli.StringFlag{Name: "out", Usage: "write the document here instead of standard output"},
			&cli.BoolFlag{Name: "approximate", Usage: "accept approximations; faults that cannot be expressed are left out (listed in the table) instead of failing the export"},
			&cli.Float64Flag{Name: "time-scale", Value: 1, Usage: "multiply every start and duration (faultline's built-ins are compressed; FIS actions last at least a minute)"},
			&cli.StringFlag{Name: "namespace", Usage: "chaos-mesh: the namespace of the Workflow and of the application pods"},
			&cli.StringSliceFlag{Name: "selector", Usage: "chaos-mesh: the application pods' label KEY=VALUE (repeatable, all must match)"},
			&cli.BoolFlag{Name: "objects", Usage: "chaos-mesh: standalone DNSChaos and NetworkChaos objects, each starting when applied, instead of a Workflow that keeps the schedule"},
			&cli.StringFlag{Name: "role-arn", Usage: "fis: the IAM role FIS assumes"},
			&cli.StringFlag{Name: "region", Usage: "fis: the Region the template acts in", DefaultText: "the Region of the experiment's first fault"},
			&cli.StringSliceFlag{Name: "subnet", Usage: "fis: a subnet ARN the clients run in (repeatable, up to 5)"},
			&cli.StringSliceFlag{Name: "subnet-tag", Usage: "fis: or the subnets' tag KEY=VALUE (repeatable)"},
			&cli.StringFlag{Name: "table-arn", Usage: "fis: the global table's replica in the Region (for ddb.replication-pause)"},
			&cli.StringFlag{Name: "load-balancer-arn", Usage: "fis: the Network Load Balancer ARC shifts traffic for (for a one-AZ hc.flap)"},
			&cli.StringSliceFlag{Name: "az", Usage: "fis: the AZ name or ID of the experiment's node 1, 2, … in order (repeatable)"},
			&cli.StringSliceFlag{Name: "stop-alarm", Usage: "fis: a CloudWatch alarm ARN for each stop_when entry, in order (repeatable; none: stop condition none)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usage(c, "export takes one experiment, got %d arguments", c.NArg())
			}
			to := c.String("to")
			var other []string
			switch to {
			case "chaos-mesh":
				other = fis
			case "fis":
				other = chaosMesh
			case "":
				return usage(c, "--to is required: chaos-mesh or fis")
			default:
				return usage(c, "--to %q: expected chaos-mesh or fis", to)
			}
			for _, name := range other {
				if c.IsSet(name) {
					return usage(c, "--%s is not for --to %s", name, to)
				}
			}
			scale := c.Float64("time-scale")
			if !(scale >= 0.001 && scale <= 100000) {
				return usage(c, "--time-scale %g: expected a number from 0.001 to 100000", scale)
			}
			exp, err := loadExperiment(c.Args().First())
			if err != nil {
				return cli.Exit(err.Error(), exitUsage)
			}
			var res export.Result
			switch to {
			case "chaos-mesh":
				sel, kvErr := keyValues(c, "selector")
				if kvErr != nil {
					return kvErr
				}
				res, err = export.ChaosMesh(exp, export.ChaosMeshOptions{Namespace: c.String("namespace"), Selector: sel, TimeScale: scale, Objects: c.Bool("objects")})
			case "fis":
				tags, kvErr := keyValues(c, "subnet-tag")
				if kvErr != nil {
					return kvErr
				}
				res, err = export.FIS(exp, export.FISOptions{
					Region: c.String("region"), RoleARN: c.String("role-arn"),
					Subnets: c.StringSlice("subnet"), SubnetTags: tags, TableARN: c.String("table-arn"),
					LoadBalancerARN: c.String("load-balancer-arn"), AZs: c.StringSlice("az"),
					StopAlarms: c.StringSlice("stop-alarm"), TimeScale: scale,
				})
			}
			if err != nil {
				if ie := (*export.InputError)(nil); errors.As(err, &ie) {
					return usage(c, "%s", ie.Error())
				}
				return cli.Exit(err.Error(), exitUsage)
			}
			if err := res.WriteTable(os.Stderr, exp.Name); err != nil {
				return cli.Exit(err.Error(), exitBrokenRun)
			}
			if bad := res.Unfaithful(); len(bad) > 0 && !c.Bool("approximate") {
				return cli.Exit((&export.UnfaithfulError{Engine: to, Faults: bad}).Error(), exitFail)
			}
			if len(exp.Faults) == 0 {
				return cli.Exit(fmt.Sprintf("%s: %s has no faults (a baseline): nothing to export", exp.File, exp.Name), exitFail)
			}
			if res.Expressed() == 0 {
				return cli.Exit(fmt.Sprintf("%s: no fault of %s can be expressed in %s; nothing was written", exp.File, exp.Name, to), exitFail)
			}
			if out := c.String("out"); out != "" {
				if err := os.WriteFile(out, res.Document, 0o644); err != nil {
					return cli.Exit(err.Error(), exitBrokenRun)
				}
				fmt.Fprintf(os.Stderr, "  wrote %s\n", out)
				return nil
			}
			_, err = os.Stdout.Write(res.Document)
			return err
		},
	}
}

// keyValues reads a repeatable KEY=VALUE flag.
func keyValues(c *cli.Context, flag string) (map[string]string, error) {
	var out map[string]string
	for _, kv := range c.StringSlice(flag) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usage(c, "--%s %q: expected KEY=VALUE, like app=orders", flag, kv)
		}
		if out == nil {
			out = map[string]string{}
		}
		out[k] = v
	}
	return out, nil
}
