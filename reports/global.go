package reports

import (
	"fmt"
	"strings"

	"github.com/faultline-dev/faultline/experiments/measure"
)

// The global-table part of the reports (issue 15): the replication per
// direction and what each client's failover cost in data. Null metrics are
// printed as null and the notes say why.

func count(p *int) string {
	if p == nil {
		return "null"
	}
	return fmt.Sprint(*p)
}

// versioned: some client wrote versioned items (its lost_writes or stale
// reads are measured).
func versioned(s measure.Summary) bool {
	for _, c := range s.Clients {
		if c.Metrics.LostWrites != nil || c.Metrics.StaleReadsAfterFailover != nil {
			return true
		}
	}
	return false
}

// hasGlobal: there is something of a global table to report.
func hasGlobal(s measure.Summary) bool { return s.Replication != nil || versioned(s) }

// globalNotes say why the global-table metrics are null.
func globalNotes(s measure.Summary) []string {
	if !hasGlobal(s) {
		return nil
	}
	var out []string
	if s.Replication == nil {
		out = append(out, "no global table in the journal (no ddb.write or ddb.replicated event): replication lag, writes at risk, RPO, lost and conflicting writes and convergence are null")
	} else if s.Replication.ConvergenceMS == nil {
		out = append(out, "convergence_ms is null: no fault was healed, or a write from before the last heal never reached every region")
	}
	if !versioned(s) {
		out = append(out, "no client wrote versioned items (workload: read-your-writes, or an application's item and version): what a failover cost in data is null")
	}
	for _, c := range s.Clients {
		if c.Metrics.LostWrites != nil || c.Metrics.StaleReadsAfterFailover != nil {
			if c.Metrics.StaleReadsAfterFailover == nil {
				out = append(out, c.Name+" never switched region: writes at risk, RPO and stale reads after failover are null")
			}
		}
	}
	return out
}

func replicationRows(r *measure.Replication) [][]string {
	rows := [][]string{{"from", "to", "applied", "superseded", "dropped", "pauses", "lag p50", "lag p99", "lag max"}}
	for _, d := range r.Directions {
		rows = append(rows, []string{d.From, d.To, fmt.Sprint(d.Applied), fmt.Sprint(d.Superseded), fmt.Sprint(d.Dropped),
			fmt.Sprint(d.Pauses), ms(d.LagP50MS), ms(d.LagP99MS), ms(d.LagMaxMS)})
	}
	return rows
}

func dataRows(s measure.Summary) [][]string {
	rows := [][]string{{"client", "writes at risk", "rpo", "stale reads after failover", "lost writes", "conflicting writes", "convergence"}}
	for _, c := range s.Clients {
		m := c.Metrics
		rows = append(rows, []string{c.Name, count(m.WritesAtRisk), ms(m.RPOMS), count(m.StaleReadsAfterFailover),
			count(m.LostWrites), count(m.ConflictingWrites), ms(m.ConvergenceMS)})
	}
	return rows
}

func (p *printer) mdTable(rows [][]string) {
	p.f("| %s |\n|%s\n", strings.Join(rows[0], " | "), strings.Repeat("---|", len(rows[0])))
	for _, r := range rows[1:] {
		p.f("| %s |\n", strings.Join(r, " | "))
	}
}

// globalTerminal prints the global-table part of the terminal summary.
func globalTerminal(p *printer, s measure.Summary) {
	if !hasGlobal(s) {
		return
	}
	p.f("\n  global table")
	if r := s.Replication; r != nil {
		p.f(": %d items, %d conflicting writes, replicas equal at the end: %s; writes from before the last heal everywhere after %s\n",
			r.Items, r.ConflictingWrites, yesNo(r.Converged), ms(r.ConvergenceMS))
		p.table(replicationRows(r))
	} else {
		p.f("\n")
	}
	p.table(dataRows(s))
	for _, n := range globalNotes(s) {
		p.f("  ! %s\n", n)
	}
}

// globalMarkdown writes report.md's "Global table" section.
func globalMarkdown(p *printer, s measure.Summary) {
	if !hasGlobal(s) {
		return
	}
	p.f("\n## Global table\n\n")
	if r := s.Replication; r != nil {
		p.f("%d items; %d conflicting writes; replicas equal at the end: %s; every write from before the last heal in every region after: %s.\n\n",
			r.Items, r.ConflictingWrites, yesNo(r.Converged), ms(r.ConvergenceMS))
		p.mdTable(replicationRows(r))
		p.f("\n")
	}
	p.mdTable(dataRows(s))
	for _, n := range globalNotes(s) {
		p.f("\n> **%s**\n", n)
	}
}

const globalDefinitions = `- replication_lag_p50_ms, replication_lag_p99_ms, replication_lag_max_ms: applied (or superseded) minus written, over every replicated write of the global table; per direction in the replication table.
- writes_at_risk: at each switch of region (failover, fail-back), the writes the client had acknowledged in the old region that had not arrived in the new one; rpo_ms: the oldest one's age at its switch.
- stale_reads_after_failover: reads after the client's first switch that returned an older version than it had acknowledged (or none).
- lost_writes: the client's acknowledged writes that no replica holds (nor a newer version) at the end: last-writer-wins dropped them. conflicting_writes: writes of the client's items in a region while another region's latest write of the item had not arrived there.
- convergence_ms: from the last heal until every write acknowledged before it had arrived in every other region (the backlog drained); null when one never did.
`

// yesNo says whether the replicas were equal at the end, in words: "no"
// says why (a client writing to the end, a path paused until then).
func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no (some writes had not arrived when the run ended)"
}
