package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/experiments/measure"
	"github.com/faultline-dev/faultline/experiments/sdkapps"
	"github.com/faultline-dev/faultline/targets/tempdirs"
)

// The SDK behaviour table (README "How stock SDKs behave"): each stock SDK
// application, unchanged and with its own retries, in faultline's sandbox,
// against each DNS failure of us-east-1's record for 8 s (its pooled
// connections closed as the fault starts), with application-level failover
// to us-west-2 on. It prints a Markdown table.
func init() { register("sdks", benchSDKs) }

var sdkFaults = []string{"dns.empty", "dns.nxdomain", "dns.servfail", "dns.timeout"}

type sdkRow struct {
	app, fault                string
	detect, failover, recover *float64
	availability              *float64
	longest                   float64
	errorClasses              map[string]int
	// The same run held to sdkObjective: a call slower than it counts as
	// unavailable from the moment it passed it.
	objDetect, objAvailability *float64
	err                        error
}

// sdkObjective is the latency objective of the table's last columns: a
// DynamoDB call that takes longer than 2 s has failed its caller, whatever
// it returns in the end.
const sdkObjective = 2000.0

func benchSDKs(ctx context.Context, out *os.File) error {
	dir, err := tempdirs.Make("", "sdks")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "faultline")
	if b, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/faultline").CombinedOutput(); err != nil {
		return fmt.Errorf("building faultline (run from the repository's root): %v\n%s", err, b)
	}
	var rows []*sdkRow
	var wg sync.WaitGroup
	slots := make(chan struct{}, 3) // three sandboxes at a time
	for ai, app := range sdkapps.Apps {
		why, env := app.Available(sdkapps.CacheDir())
		if why != "" {
			fmt.Fprintf(out, "   %s: skipped (%s)\n", app.Name, why)
			continue
		}
		for fi, fault := range sdkFaults {
			row := &sdkRow{app: app.Name, fault: fault}
			rows = append(rows, row)
			runDir := filepath.Join(dir, fmt.Sprintf("%s-%s", app.Name, fault))
			os.MkdirAll(runDir, 0o755)
			wg.Add(1)
			go func() {
				defer wg.Done()
				slots <- struct{}{}
				defer func() { <-slots }()
				row.err = runSDK(ctx, bin, app, fault, runDir, env, 8100+ai*10+fi, row)
			}()
		}
	}
	wg.Wait()
	fmt.Fprintln(out, "   | SDK | fault on us-east-1 (8 s) | first error the app saw | longest call | failover to us-west-2 | recover after the fix | availability | errors the app saw | with a 2 s objective: unavailable after | availability |")
	fmt.Fprintln(out, "   |---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		if r.err != nil {
			fmt.Fprintf(out, "   | %s | %s | run failed: %v |\n", r.app, r.fault, r.err)
			continue
		}
		fmt.Fprintf(out, "   | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.app, r.fault, msOrNone(r.detect, "none"), fmtMS(r.longest),
			msOrNone(r.failover, "no"), msOrNone(r.recover, "not within 14 s"), pctOf(r.availability), classList(r.errorClasses),
			msOrNone(r.objDetect, "never"), pctOf(r.objAvailability))
	}
	return nil
}

func runSDK(ctx context.Context, bin string, app sdkapps.App, fault, dir string, env map[string]string, port int, row *sdkRow) error {
	exp, err := app.Write(dir, fault, true, env, port)
	if err != nil {
		return err
	}
	outDir := filepath.Join(dir, "out")
	b, err := exec.CommandContext(ctx, bin, "run", "-q", "--out", outDir, exp).CombinedOutput()
	if _, statErr := os.Stat(filepath.Join(outDir, "report.json")); statErr != nil {
		return fmt.Errorf("%v: %s", err, b)
	}
	var rep struct {
		Clients []struct {
			Name         string         `json:"name"`
			ErrorClasses map[string]int `json:"error_classes"`
			Metrics      struct {
				DetectMS     *float64 `json:"detect_ms"`
				FailoverMS   *float64 `json:"failover_ms"`
				RecoverMS    *float64 `json:"recover_ms"`
				Availability *float64 `json:"availability"`
			} `json:"metrics"`
		} `json:"clients"`
	}
	data, err := os.ReadFile(filepath.Join(outDir, "report.json"))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		return err
	}
	for _, c := range rep.Clients {
		if c.Name == app.Name {
			row.detect, row.failover, row.recover, row.availability = c.Metrics.DetectMS, c.Metrics.FailoverMS, c.Metrics.RecoverMS, c.Metrics.Availability
			row.errorClasses = c.ErrorClasses
		}
	}
	if row.detect == nil {
		row.failover = nil // no failure: nothing to fail over from
	}
	events, err := journal.ReadFile(filepath.Join(outDir, "journal.jsonl"))
	if err != nil {
		return err
	}
	for _, e := range events {
		if e.Type == journal.Request && e.Client == app.Name {
			row.longest = max(row.longest, e.LatencyMS)
		}
	}
	// The same journal, the app held to the objective: the metrics are a
	// pure function of the journal, so no second run is needed.
	for i, e := range events {
		if e.Type == journal.ClientStart && e.Client == app.Name {
			events[i].ObjectiveMS = sdkObjective
		}
	}
	for _, c := range measure.Summarize(events).Clients {
		if c.Name == app.Name {
			row.objDetect, row.objAvailability = c.Metrics.DetectMS, c.Metrics.Availability
		}
	}
	return nil
}

func msOrNone(v *float64, none string) string {
	if v == nil {
		return none
	}
	return fmtMS(*v)
}

func fmtMS(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%.1f s", v/1000)
	}
	return fmt.Sprintf("%.0f ms", v)
}

func pctOf(v *float64) string {
	if v == nil {
		return "–"
	}
	return fmt.Sprintf("%.1f %%", *v*100)
}

func classList(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}
