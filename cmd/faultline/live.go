package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/faultline-dev/faultline/experiments/control"
	"github.com/faultline-dev/faultline/experiments/journal"
)

// The CLI verbs on a live world (`faultline up`): they find it through the
// state file in its directory and call its control API.

var runFlag = &cli.StringFlag{Name: "run", Usage: "the live run's directory (default: the one live run under out/)"}

// findRun is the live run named by --run, or the only one under out/.
func findRun(c *cli.Context) (control.State, *control.Client, error) {
	dir := c.String("run")
	if dir == "" {
		found, _ := filepath.Glob(filepath.Join("out", "*", control.StateFile))
		switch len(found) {
		case 0:
			return control.State{}, nil, cli.Exit("no live run under out/: start one with `faultline up`, or name its directory with --run DIR", exitBrokenRun)
		case 1:
			dir = filepath.Dir(found[0])
		default:
			var dirs []string
			for _, f := range found {
				dirs = append(dirs, filepath.Dir(f))
			}
			return control.State{}, nil, cli.Exit("several live runs under out/ ("+strings.Join(dirs, ", ")+"): name one with --run DIR", exitUsage)
		}
	}
	st, err := control.ReadState(dir)
	if err != nil {
		return st, nil, cli.Exit(err.Error(), exitBrokenRun)
	}
	cl, err := control.NewClient(st)
	if err != nil {
		return st, nil, cli.Exit(err.Error(), exitBrokenRun)
	}
	return st, cl, nil
}

// apiExit maps an API call's error to the exit codes: the API refusing
// the input is bad usage (2); no answer, or the world failing, is 3.
func apiExit(st control.State, err error) error {
	var se *control.StatusError
	var un *control.UnreachableError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se) && se.Status >= 400 && se.Status < 500 && se.Status != 401:
		return cli.Exit(se.Error(), exitUsage)
	case errors.As(err, &un):
		msg := err.Error()
		if st.PID > 0 && !processAlive(st.PID) {
			msg = fmt.Sprintf("the live run in %s is gone (pid %d is not running; its state file is stale): %v", st.RunDir, st.PID, un.Err)
		}
		return cli.Exit(msg, exitBrokenRun)
	}
	return cli.Exit(err.Error(), exitBrokenRun)
}

func injectCommand() *cli.Command {
	return &cli.Command{
		Name:      "inject",
		Usage:     "apply a fault to the live world (it heals by itself after --for)",
		ArgsUsage: "KIND TARGET [--param k=v ...] [--for 30s] [--id ID] [--wait] [--run DIR]",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "param", Aliases: []string{"p"}, Usage: "a parameter of the kind, k=v (repeatable; GET /api/v1/kinds lists every kind's)"},
			&cli.StringFlag{Name: "for", Usage: "heal by itself after this long at the latest (default: the world's, 10m unless up --for-default; at most 24h)"},
			&cli.StringFlag{Name: "id", Usage: "the fault's id (default the first free fN)"},
			&cli.BoolFlag{Name: "wait", Usage: "stay until the fault heals; Ctrl-C heals it"},
			runFlag,
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 {
				return usage(c, "inject takes a kind and a target, got %d arguments", c.NArg())
			}
			req := control.ApplyRequest{Kind: c.Args().Get(0), Target: c.Args().Get(1), For: c.String("for"), ID: c.String("id"), Params: map[string]any{}}
			for _, kv := range c.StringSlice("param") {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return usage(c, "--param %q: expected NAME=VALUE, like delay=200ms", kv)
				}
				req.Params[k] = v
			}
			st, cl, err := findRun(c)
			if err != nil {
				return err
			}
			signalIsTheEnd.Store(true)
			ctx, stop := context.WithCancel(c.Context) // cancelled by SIGINT or SIGTERM since the start (main)
			defer stop()
			var res control.ApplyResponse
			if err := cl.Do(ctx, "POST", "/faults", req, &res); err != nil {
				return apiExit(st, err)
			}
			fmt.Println(res.Message)
			if !c.Bool("wait") {
				return nil
			}
			return waitHealed(ctx, st, cl, res.Fault.ID)
		},
	}
}

// waitHealed polls a fault until it is healed; when ctx ends first it heals
// it.
func waitHealed(ctx context.Context, st control.State, cl *control.Client, id string) error {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			var res control.HealResponse
			err := cl.Do(context.Background(), "DELETE", "/faults/"+url.PathEscape(id), nil, &res)
			var se *control.StatusError
			if errors.As(err, &se) && se.Code == "already_healed" {
				err = nil
			}
			if err != nil {
				return apiExit(st, err)
			}
			fmt.Printf("healed %s\n", id)
			return nil
		case <-tick.C:
		}
		var f control.FaultView
		if err := cl.Do(ctx, "GET", "/faults/"+url.PathEscape(id), nil, &f); err != nil {
			if ctx.Err() != nil {
				continue
			}
			return apiExit(st, err)
		}
		if f.State == "healed" {
			fmt.Printf("%s healed by %s: %s\n", id, f.HealedBy, f.HealedWhy)
			return nil
		}
	}
}

func healCommand() *cli.Command {
	return &cli.Command{
		Name:      "heal",
		Usage:     "heal a fault of the live world, or every fault at once (--all: the emergency stop)",
		ArgsUsage: "ID|--all [--run DIR]",
		Flags:     []cli.Flag{&cli.BoolFlag{Name: "all", Usage: "heal every active fault at once"}, runFlag},
		Action: func(c *cli.Context) error {
			all := c.Bool("all")
			if (all && c.NArg() != 0) || (!all && c.NArg() != 1) {
				return usage(c, "heal takes one fault id, or --all")
			}
			st, cl, err := findRun(c)
			if err != nil {
				return err
			}
			ctx := context.Background()
			if all {
				var res control.HealAllResponse
				if err := cl.Do(ctx, "POST", "/heal-all", nil, &res); err != nil {
					return apiExit(st, err)
				}
				fmt.Print(res.Message)
				if len(res.Healed) > 0 {
					fmt.Printf(": %s", strings.Join(res.Healed, ", "))
				}
				fmt.Println()
				return nil
			}
			var res control.HealResponse
			if err := cl.Do(ctx, "DELETE", "/faults/"+url.PathEscape(c.Args().First()), nil, &res); err != nil {
				return apiExit(st, err)
			}
			fmt.Println(res.Message)
			return nil
		},
	}
}

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:      "status",
		Usage:     "the live world: its endpoints, the active faults, the clients' live numbers",
		ArgsUsage: "[--run DIR]",
		Flags:     []cli.Flag{runFlag, &cli.BoolFlag{Name: "json", Usage: "print the API's answers as JSON"}},
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return usage(c, "status takes no arguments, got %d", c.NArg())
			}
			st, cl, err := findRun(c)
			if err != nil {
				return err
			}
			ctx := context.Background()
			var w control.World
			var faults control.FaultList
			var clients control.ClientList
			for _, call := range []struct {
				path string
				out  any
			}{{"/world", &w}, {"/faults", &faults}, {"/clients", &clients}} {
				if err := cl.Do(ctx, "GET", call.path, nil, call.out); err != nil {
					return apiExit(st, err)
				}
			}
			if c.Bool("json") {
				enc := json.NewEncoder(os.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{"world": w, "faults": faults.Faults, "clients": clients.Clients})
			}
			fmt.Printf("faultline: %s is live (pid %d, up since %s), API %s%s\n", w.Experiment, st.PID, st.Started.Local().Format(time.TimeOnly), w.API, control.Prefix)
			fmt.Printf("  DNS %s\n", w.DNS)
			for _, r := range w.Regions {
				fmt.Printf("  %-12s %s  nodes %s\n", r.Name, r.URL, strings.Join(r.Nodes, " "))
			}
			if len(faults.Faults) == 0 {
				fmt.Println("\n  no fault is active")
			} else {
				fmt.Printf("\n  %-8s %-20s %-36s %-16s %-10s %s\n", "fault", "kind", "target", "by", "since", "heals by itself in")
				for _, f := range faults.Faults {
					left := "never (healed by its schedule)"
					if f.ExpiresAt != nil {
						left = time.Until(*f.ExpiresAt).Round(time.Second).String()
					}
					fmt.Printf("  %-8s %-20s %-36s %-16s %-10s %s\n", f.ID, f.Kind, strings.TrimSuffix(f.Target, "."), f.By,
						f.AppliedAt.Local().Format(time.TimeOnly), left)
				}
			}
			if len(clients.Clients) == 0 {
				fmt.Println("\n  no client has started")
				return nil
			}
			fmt.Printf("\n  %-20s %8s %7s %12s %9s %9s %-10s %s\n", "client", "requests", "errors", "availability", "p50", "p99", "region", "now")
			for _, cv := range clients.Clients {
				now := "ok"
				if cv.Failing {
					now = "FAILING " + cv.LastError
				}
				if cv.Requests == 0 {
					now = "-"
				}
				fmt.Printf("  %-20s %8d %7d %12s %9s %9s %-10s %s\n", cv.Name, cv.Requests, cv.Errors, pct(cv.Availability), msOf(cv.LatencyP50MS), msOf(cv.LatencyP99MS), cv.Region, now)
			}
			return nil
		},
	}
}

func pct(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", *v*100)
}

func msOf(v *float64) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatFloat(*v, 'f', 1, 64) + "ms"
}

func eventsCommand() *cli.Command {
	return &cli.Command{
		Name:      "events",
		Usage:     "the live world's events: those retained, and with --follow the new ones as they happen",
		ArgsUsage: "[--follow] [--types a,b] [--client NAME] [--json] [--run DIR]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "go on printing new events until Ctrl-C or the world goes down"},
			&cli.StringFlag{Name: "types", Usage: "only these event types, comma-separated (fault.applied,fault.healed,request,...)"},
			&cli.StringFlag{Name: "client", Usage: "only this client's events"},
			&cli.BoolFlag{Name: "json", Usage: "print each event as its JSON line"},
			runFlag,
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return usage(c, "events takes no arguments, got %d", c.NArg())
			}
			st, cl, err := findRun(c)
			if err != nil {
				return err
			}
			signalIsTheEnd.Store(true)
			ctx, stop := context.WithCancel(c.Context) // cancelled by SIGINT or SIGTERM since the start (main)
			defer stop()
			q := url.Values{}
			if t := c.String("types"); t != "" {
				q.Set("types", t)
			}
			if cn := c.String("client"); cn != "" {
				q.Set("client", cn)
			}
			lastID := "0" // the retained ones first
			if !c.Bool("follow") {
				q.Set("follow", "false")
			}
			for {
				ended := false
				err := cl.Events(ctx, q.Encode(), lastID, func(e control.SSE) bool {
					switch e.Event {
					case "":
						lastID = e.ID
						printEvent(e.Data, c.Bool("json"))
					case "lagged":
						fmt.Fprintf(os.Stderr, "faultline: this reader fell behind; resuming after event %s\n", lastID)
					case "gone":
						var g control.Gone
						json.Unmarshal([]byte(e.Data), &g)
						fmt.Fprintf(os.Stderr, "faultline: %s (%s)\n", g.Message, g.Journal)
					case "end":
						ended = true
					}
					return true
				})
				switch {
				case ctx.Err() != nil:
					return nil
				case err != nil:
					return apiExit(st, err)
				case ended || !c.Bool("follow"):
					return nil
				}
				// Lagged: reconnect after the last event printed.
			}
		},
	}
}

// printEvent prints one event of the stream: a line a person reads, or its
// JSON.
func printEvent(data string, raw bool) {
	if raw {
		fmt.Println(data)
		return
	}
	var e control.StreamEvent
	if err := json.Unmarshal([]byte(data), &e); err != nil {
		fmt.Println(data)
		return
	}
	fmt.Printf("[%9.2fs] %s\n", e.T/1000, describe(e.Event))
}

// describe says an event in a line.
func describe(e journal.Event) string {
	parts := []string{e.Type}
	add := func(label, v string) {
		if v != "" {
			if label != "" {
				v = label + " " + v
			}
			parts = append(parts, v)
		}
	}
	switch e.Type {
	case journal.FaultApplied, journal.FaultHealed:
		add("", e.Fault)
		add("", e.Kind)
		add("on", strings.TrimSuffix(e.Target, "."))
		add("by", e.By)
		add("from", e.Addr)
		add("", e.Detail)
	case journal.Request:
		ok := "ok"
		if !e.Succeeded() {
			ok = "FAILED " + e.Error
		}
		add("", e.Client)
		add("", e.Op)
		add("in", e.Region)
		add("", fmt.Sprintf("%.1fms", e.LatencyMS))
		add("", ok)
	case journal.Control:
		add("", e.Op)
		add("by", e.By)
		add("from", e.Addr)
		add("", e.Detail)
	default:
		add("", e.Client)
		add("", e.Name)
		add("", e.QType)
		add("", e.Rcode)
		add("", e.Region)
		add("", e.Node)
		add("", e.Target)
		if e.From != "" || e.To != "" {
			add("", e.From+" → "+e.To)
		}
		add("fault", e.Fault)
		add("", e.Status)
		add("", e.Detail)
	}
	return strings.Join(parts, " ")
}

func downCommand() *cli.Command {
	return &cli.Command{
		Name:      "down",
		Usage:     "bring the live world down: every fault heals, the clients stop, the reports are written",
		ArgsUsage: "[--run DIR]",
		Flags:     []cli.Flag{runFlag, &cli.DurationFlag{Name: "wait", Value: 2 * time.Minute, Usage: "how long to wait for the world to be down"}},
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return usage(c, "down takes no arguments, got %d", c.NArg())
			}
			st, cl, err := findRun(c)
			if err != nil {
				return err
			}
			var res control.Message
			if err := cl.Do(context.Background(), "POST", "/shutdown", nil, &res); err != nil {
				return apiExit(st, err)
			}
			fmt.Println(res.Message)
			deadline := time.Now().Add(c.Duration("wait"))
			for processAlive(st.PID) || fileExists(filepath.Join(st.RunDir, control.StateFile)) {
				if time.Now().After(deadline) {
					return cli.Exit(fmt.Sprintf("the world (pid %d) is not down after %s", st.PID, c.Duration("wait")), exitBrokenRun)
				}
				time.Sleep(100 * time.Millisecond)
			}
			fmt.Printf("the world is down; its record is in %s (faultline report %s)\n", st.RunDir, st.RunDir)
			return nil
		},
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

var execName = regexp.MustCompile(`[^a-z0-9_-]+`)

func execCommand() *cli.Command {
	return &cli.Command{
		Name:      "exec",
		Usage:     "start a program inside the live world's sandbox, as an application: its own DNS identity, an application's environment, its outcome lines journaled",
		ArgsUsage: "[--name NAME] [--region R ...] [--env K=V ...] [--detach] [--run DIR] -- CMD [ARGS...]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "name", Usage: "its client name in the journal and reports (default the program's name)"},
			&cli.StringSliceFlag{Name: "region", Usage: "its regions, the first its primary (repeatable; default every region)"},
			&cli.StringSliceFlag{Name: "env", Usage: "an environment variable of its own, K=V (repeatable)"},
			&cli.BoolFlag{Name: "detach", Usage: "return once it has started; it runs until it exits or the world goes down"},
			runFlag,
		},
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usage(c, "exec takes a program to run, after --")
			}
			argv := c.Args().Slice()
			req := control.AppRequest{Name: c.String("name"), Argv: argv, Regions: c.StringSlice("region"), Env: map[string]string{}}
			req.Dir, _ = os.Getwd()
			for _, kv := range c.StringSlice("env") {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return usage(c, "--env %q: expected NAME=VALUE", kv)
				}
				req.Env[k] = v
			}
			named := req.Name != ""
			if !named {
				req.Name = strings.Trim(execName.ReplaceAllString(strings.ToLower(filepath.Base(argv[0])), "-"), "-_")
				if req.Name == "" {
					req.Name = "app"
				}
			}
			st, cl, err := findRun(c)
			if err != nil {
				return err
			}
			signalIsTheEnd.Store(true)
			ctx, stop := context.WithCancel(c.Context) // cancelled by SIGINT or SIGTERM since the start (main)
			defer stop()
			var app control.AppView
			base := req.Name
			for n := 2; ; n++ {
				err := cl.Do(ctx, "POST", "/apps", req, &app)
				var se *control.StatusError
				if !named && errors.As(err, &se) && se.Code == "duplicate_name" && n < 100 {
					req.Name = fmt.Sprintf("%s-%d", base, n)
					continue
				}
				if err != nil {
					return apiExit(st, err)
				}
				break
			}
			fmt.Fprintf(os.Stderr, "faultline: %q runs in the live world as client %s (its DNS relay %s); its outcome lines are journaled\n", argv, app.Name, app.DNS)
			if c.Bool("detach") {
				return nil
			}
			return followApp(ctx, st, cl, app.Name)
		},
	}
}

// followApp prints a program's lines until it exits, and exits with its
// status; Ctrl-C stops it.
func followApp(ctx context.Context, st control.State, cl *control.Client, name string) error {
	next := 0
	stopped := false
	for {
		if ctx.Err() != nil && !stopped {
			stopped = true
			cl.Do(context.Background(), "DELETE", "/apps/"+url.PathEscape(name), nil, nil)
		}
		var app control.AppView
		if err := cl.Do(context.Background(), "GET", fmt.Sprintf("/apps/%s?lines_after=%d", url.PathEscape(name), next), nil, &app); err != nil {
			return apiExit(st, err)
		}
		for _, l := range app.Lines {
			if l.Stream == "stderr" {
				fmt.Fprintln(os.Stderr, l.Text)
			} else {
				fmt.Println(l.Text)
			}
		}
		next = app.NextLine
		if app.State == "exited" {
			fmt.Fprintf(os.Stderr, "faultline: %s ended (%s)\n", name, app.Exit)
			if code, ok := strings.CutPrefix(app.Exit, "exit status "); ok {
				if n, err := strconv.Atoi(code); err == nil && n != 0 {
					return cli.Exit("", n)
				}
				return nil
			}
			return cli.Exit("", 1)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
