package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
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
// under its default retry mode and each mode its users switch to
// (AWS_RETRY_MODE), against each DNS failure of us-east-1's record for 8 s,
// with application-level failover to us-west-2 on. Nothing closes the
// apps' pooled connections but the NLB's default lifetimes
// (max_connection_age 2s, idle_timeout 6s). It prints a Markdown table.
// FAULTLINE_SDKS (say "boto3,gosdk") and FAULTLINE_SDK_FAULTS (say
// "dns.empty") narrow it.
func init() { register("sdks", benchSDKs) }

var sdkFaults = []string{"dns.empty", "dns.nxdomain", "dns.servfail", "dns.timeout"}

type sdkRow struct {
	app                       sdkapps.App
	mode                      string // "" for the SDK's default
	fault                     string
	firstLookup               *float64 // the app's first DNS query the fault shaped, from the fault's start
	detect, failover, recover *float64
	availability              *float64
	longest                   float64
	errorClasses              map[string]int
	// The same run held to sdkObjective: a call slower than it counts as
	// unavailable from the moment it passed it.
	objDetect, objAvailability *float64
	invalid                    bool // three runs in a row were invalid
	err                        error
}

// sdkObjective is the latency objective of the table's last columns: a
// DynamoDB call that takes longer than 2 s has failed its caller, whatever
// it returns in the end.
const sdkObjective = 2000.0

func selected(env, name string) bool {
	list := os.Getenv(env)
	if list == "" {
		return true
	}
	for _, s := range strings.Split(list, ",") {
		if strings.TrimSpace(s) == name {
			return true
		}
	}
	return false
}

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
	port := 8100
	for _, app := range sdkapps.Apps {
		if !selected("FAULTLINE_SDKS", app.Name) {
			continue
		}
		why, env := app.Available(sdkapps.CacheDir())
		if why != "" {
			fmt.Fprintf(out, "   %s: skipped (%s)\n", app.Name, why)
			continue
		}
		for _, mode := range append([]string{""}, app.RetryModes...) {
			for _, fault := range sdkFaults {
				if !selected("FAULTLINE_SDK_FAULTS", fault) {
					continue
				}
				row := &sdkRow{app: app, mode: mode, fault: fault}
				rows = append(rows, row)
				runDir := filepath.Join(dir, fmt.Sprintf("%s-%s-%s", app.Name, cmp.Or(mode, "default"), fault))
				os.MkdirAll(runDir, 0o755)
				runEnv := maps.Clone(env)
				if runEnv == nil {
					runEnv = map[string]string{}
				}
				if mode != "" {
					runEnv["AWS_RETRY_MODE"] = mode
				}
				port++
				wg.Add(1)
				go func(port int) {
					defer wg.Done()
					slots <- struct{}{}
					defer func() { <-slots }()
					row.err = runSDK(ctx, bin, app, fault, runDir, runEnv, port, row)
				}(port)
			}
		}
	}
	wg.Wait()
	fmt.Fprintln(out, "   | SDK | retry mode | fault on us-east-1 (8 s) | first lookup in the fault | first error the app saw | longest call | failover to us-west-2 | recover after the fix | availability | errors the app saw | with a 2 s objective: unavailable after | availability |")
	fmt.Fprintln(out, "   |---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		mode := r.app.DefaultRetryMode + " (default)"
		if r.mode != "" {
			mode = r.mode
		}
		if r.err != nil {
			fmt.Fprintf(out, "   | %s | %s | %s | run failed: %v |\n", r.app.Label, mode, r.fault, r.err)
			continue
		}
		fault := r.fault
		if r.invalid {
			fault += " (run invalid: the harness was starved)"
		}
		fmt.Fprintf(out, "   | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.app.Label, mode, fault,
			msOrNone(r.firstLookup, "none"), msOrNone(r.detect, "none"), fmtMS(r.longest),
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
	var rep struct {
		Verdict string `json:"verdict"`
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
	// A run the harness calls invalid (the machine starved it) measured
	// nothing: it is run again, twice at most, and marked if it stays so.
	var outDir string
	for attempt := 1; ; attempt++ {
		outDir = filepath.Join(dir, fmt.Sprintf("out%d", attempt))
		b, err := exec.CommandContext(ctx, bin, "run", "-q", "--out", outDir, exp).CombinedOutput()
		if _, statErr := os.Stat(filepath.Join(outDir, "report.json")); statErr != nil {
			return fmt.Errorf("%v: %s", err, b)
		}
		data, err := os.ReadFile(filepath.Join(outDir, "report.json"))
		if err != nil {
			return err
		}
		if err := json.Unmarshal(data, &rep); err != nil {
			return err
		}
		if rep.Verdict != "invalid" || attempt == 3 {
			break
		}
	}
	row.invalid = rep.Verdict == "invalid"
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
	dnsSource, faultAt := "", -1.0
	for _, e := range events {
		switch {
		case e.Type == journal.Request && e.Client == app.Name:
			row.longest = max(row.longest, e.LatencyMS)
		case e.Type == journal.ClientStart && e.Client == app.Name:
			dnsSource = e.Addr
		case e.Type == journal.FaultApplied && e.Fault == "f1":
			faultAt = e.T
		case e.Type == journal.DNSQuery && e.Fault == "f1" && row.firstLookup == nil && faultAt >= 0 && dnsSource != "" &&
			strings.HasPrefix(e.Addr, dnsSource+":"):
			d := e.T - faultAt
			row.firstLookup = &d
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
