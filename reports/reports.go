// Package reports renders a run's summary (and its journal's Trace, for
// timelines and charts) as report.json, report.md, junit.xml, report.html
// and the terminal summary. Every renderer is a pure function of its
// inputs, and both inputs are folds of the journal in bounded memory, so
// `faultline report JOURNAL` re-renders any past run, however long, by
// streaming its file once (ReadJournal).
package reports

import (
	"fmt"
	"io"
	"strings"

	"github.com/faultline-dev/faultline/experiments/measure"
)

// Terminal writes the end-of-run summary: one row per client, the
// assertions, and a warning for every client the fault did not reach.
func Terminal(w io.Writer, s measure.Summary, tr *Trace) error {
	p := &printer{w: w}
	p.f("\nfaultline: %s  verdict %s", s.Experiment, strings.ToUpper(s.Verdict))
	if s.Status != "complete" {
		p.f(" (run %s: %s)", s.Status, s.Reason)
	}
	p.f("\n")
	for _, f := range s.Faults {
		p.f("  fault %s %s on %s from %s to %s%s\n", f.ID, f.Kind, f.Target, ms(&f.StartMS), ms(f.EndMS), byText(f))
	}
	p.f("\n")
	for _, n := range notices(s) {
		p.f("  ! %s\n", n)
	}
	p.table(clientTable(s))
	globalTerminal(p, s)
	stormTerminal(p, s)
	p.f("  %s\n", harnessText(s.Harness))
	if tl := timelines(s, tr, 60); tl != "" {
		p.f("\n%s", tl)
	}
	for _, c := range s.Clients {
		if c.Warning != "" {
			p.f("\n  ! %s: %s\n", c.Name, c.Warning)
		}
	}
	for _, o := range s.SteadyState {
		mark := "✓"
		if !o.Holds {
			mark = "✗"
		}
		p.f("\n  %s steady state %s the faults, %s: %s (value %s)", mark, o.When, o.Client, o.Expr, num(o.Value))
	}
	if len(s.SteadyState) > 0 {
		p.f("\n")
	}
	if len(s.Assertions) > 0 {
		p.f("\n")
		for _, a := range s.Assertions {
			mark := "✓"
			if !a.Pass {
				mark = "✗"
			}
			p.f("  %s %s: %s (value %s)%s\n", mark, a.Client, a.Expr, metricValue(a.Metric, a.Value), note(a.Note))
		}
	}
	return p.err
}

// Markdown writes report.md.
func Markdown(w io.Writer, s measure.Summary, tr *Trace) error {
	p := &printer{w: w}
	p.f("# faultline report: %s\n\n", s.Experiment)
	p.f("**Verdict: %s**", strings.ToUpper(s.Verdict))
	if s.Status != "complete" {
		p.f(" (run %s: %s)", s.Status, s.Reason)
	}
	p.f("\n\nRun length %s; a client counts as serving again after %d consecutive successes.", ms(&s.DurationMS), s.K)
	if s.Seed != nil {
		p.f(" Seed %d.", *s.Seed)
	}
	if prov := provenance(s); prov != "" {
		p.f(" %s.", prov)
	}
	p.f("\n")
	for _, n := range notices(s) {
		p.f("\n> **%s**\n", n)
	}
	p.f("\n%s.\n", upperFirst(harnessText(s.Harness)))
	p.f("\n## Faults\n\n| id | kind | target | start | end | applied by | healed by |\n|---|---|---|---|---|---|---|\n")
	for _, f := range s.Faults {
		p.f("| %s | %s | `%s` | %s | %s | %s | %s |\n", f.ID, f.Kind, f.Target, ms(&f.StartMS), ms(f.EndMS), f.AppliedBy, f.HealedBy)
	}
	if len(s.Faults) == 0 {
		p.f("| – | none (baseline run) | | | | | |\n")
	}
	p.f("\n## Clients\n\nMetrics relative to the first fault.\n\n")
	rows := clientTable(s)
	p.f("| %s |\n|%s\n", strings.Join(rows[0], " | "), strings.Repeat("---|", len(rows[0])))
	for _, r := range rows[1:] {
		p.f("| %s |\n", strings.Join(r, " | "))
	}
	for _, c := range s.Clients {
		if c.Warning != "" {
			p.f("\n> **%s: %s**\n", c.Name, c.Warning)
		}
	}
	globalMarkdown(p, s)
	stormMarkdown(p, s)
	p.f("\n### Errors by class\n\n")
	for _, c := range s.Clients {
		p.f("- **%s**: %s\n", c.Name, classes(c.ErrorClasses))
	}
	if tl := timelines(s, tr, 80); tl != "" {
		p.f("\n## Timeline\n\n```\n%s```\n", tl)
	}
	p.f("\n## Assertions\n\n")
	if len(s.Assertions) == 0 {
		p.f("None.\n")
	} else {
		p.f("| client | assertion | value | result |\n|---|---|---|---|\n")
		for _, a := range s.Assertions {
			res := "pass"
			if !a.Pass {
				res = "**FAIL**"
			}
			p.f("| %s | `%s` | %s | %s%s |\n", a.Client, a.Expr, metricValue(a.Metric, a.Value), res, note(a.Note))
		}
	}
	if len(s.SteadyState) > 0 {
		p.f("\n## Steady state\n\n| client | hypothesis | when | value | holds |\n|---|---|---|---|---|\n")
		for _, o := range s.SteadyState {
			p.f("| %s | `%s` | %s the faults | %s | %v |\n", o.Client, o.Expr, o.When, num(o.Value), o.Holds)
		}
	}
	p.f("\n## Metric definitions\n\n%s", definitions)
	if hasGlobal(s) {
		p.f("%s", globalDefinitions)
	}
	if s.Storm != nil {
		p.f("%s", stormDefinitions)
	}
	return p.err
}

const definitions = `- detect_ms: the first failed request (by when it failed) that started before the fault was healed, minus the fault start; null when no request failed.
- failover_ms: the first success of the first run of K consecutive successes after the first failure, minus the fault start, if it came while the fault was applied; 0 when no request failed; null when the client never served again during the fault.
- recover_ms: after the heal, the first success of the first run of K consecutive successes on the client's primary region, minus the heal time.
- availability: served / all requests over the run (probes excluded); with a latency objective, a success slower than it is not served.
- latency_p50_ms, latency_p99_ms: over every request (a failure counts with the time it took to fail); ok_latency_p50_ms, ok_latency_p99_ms: over successful requests.
- dns_queries_in_fault: the client's DNS queries whose answers the fault changed. fault_reached: something shows the fault touched the client (a changed DNS answer; a connection or request that met a link, node or health-check fault).
- harness: how late faultline itself was (its timers, requests, fault steps, health checks) against the bound its numbers tolerate; beyond it the run is invalid.
- dns_answer_changes (dns churn): how often the number of addresses the client got for a name changed between its successive A queries.
`

func clientTable(s measure.Summary) [][]string {
	rows := [][]string{{"client", "strategy", "requests", "errors", "availability", "detect", "failover", "recover", "p50", "p99", "ok p99", "dns q in fault", "dns churn"}}
	slow, rejected := false, false
	for _, c := range s.Clients {
		slow, rejected = slow || c.Metrics.Slow > 0, rejected || c.Rejected > 0
	}
	if slow {
		rows[0] = append(rows[0], "slow")
	}
	if rejected {
		rows[0] = append(rows[0], "rejected lines")
	}
	for _, c := range s.Clients {
		m := c.Metrics
		row := []string{c.Name, c.Strategy, fmt.Sprint(c.Requests), fmt.Sprint(c.Errors),
			pct(m.Availability), ms(m.DetectMS), ms(m.FailoverMS), ms(m.RecoverMS), ms(m.LatencyP50MS), ms(m.LatencyP99MS),
			ms(m.OKLatencyP99MS), fmt.Sprint(m.DNSQueriesInFault), fmt.Sprint(m.DNSAnswerChanges)}
		if slow {
			row = append(row, fmt.Sprint(m.Slow))
		}
		if rejected {
			row = append(row, fmt.Sprint(c.Rejected))
		}
		rows = append(rows, row)
	}
	return rows
}

type printer struct {
	w   io.Writer
	err error
}

func (p *printer) f(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, args...)
	}
}

// table prints rows with aligned columns, the first row as the header.
func (p *printer) table(rows [][]string) {
	widths := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], len([]rune(c)))
		}
	}
	for _, r := range rows {
		var b strings.Builder
		b.WriteString(" ")
		for i, c := range r {
			fmt.Fprintf(&b, " %-*s", widths[i], c)
		}
		p.f("%s\n", strings.TrimRight(b.String(), " "))
	}
}

func ms(v *float64) string {
	if v == nil {
		return "null"
	}
	switch {
	case *v >= 10000:
		return fmt.Sprintf("%.1fs", *v/1000)
	case *v >= 100:
		return fmt.Sprintf("%.0fms", *v)
	}
	return fmt.Sprintf("%.1fms", *v)
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func pct(v *float64) string {
	if v == nil {
		return "null"
	}
	return fmt.Sprintf("%.1f%%", *v*100)
}

func num(v *float64) string {
	if v == nil {
		return "null"
	}
	return fmt.Sprintf("%.4g", *v)
}

func note(n string) string {
	if n == "" {
		return ""
	}
	return " — " + n
}

func classes(m map[string]int) string {
	if len(m) == 0 {
		return "no errors"
	}
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// byText says who applied and healed a fault, when the journal says and
// it was not the schedule alone (a game day's faults on cue, a bound).
func byText(f measure.FaultReport) string {
	switch {
	case f.AppliedBy == "schedule" && (f.HealedBy == "schedule" || f.HealedBy == ""):
		return ""
	case f.AppliedBy != "" && f.HealedBy != "":
		return fmt.Sprintf(" (applied by %s, healed by %s)", f.AppliedBy, f.HealedBy)
	case f.AppliedBy != "":
		return fmt.Sprintf(" (applied by %s)", f.AppliedBy)
	}
	return ""
}

// provenance says when, where and with what the run went, as far as its
// journal's run.start says ("" for a journal that says nothing of it).
func provenance(s measure.Summary) string {
	var parts []string
	if s.Started != "" && !s.StartedEstimated {
		parts = append(parts, "started "+s.Started)
	}
	if s.Host != "" {
		parts = append(parts, "on "+s.Host)
	}
	if s.Version != "" {
		parts = append(parts, "by faultline "+s.Version)
	}
	if s.Backend != "" {
		parts = append(parts, "backend "+s.Backend)
	}
	if len(parts) == 0 {
		return ""
	}
	return upperFirst(strings.Join(parts, ", "))
}
