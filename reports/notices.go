package reports

import (
	"fmt"
	"strings"

	"github.com/faultline-dev/faultline/experiments/measure"
)

// Notices are what every report says before its numbers, so that a number
// that cannot be trusted never reads as a good one: why the verdict is not
// a pass, and each client's rejected outcome lines.
func notices(s measure.Summary) []string {
	var out []string
	if s.Verdict != measure.Pass {
		out = append(out, s.Reasons...)
	}
	for _, c := range s.Clients {
		if c.Rejected == 0 || c.Unmeasured != "" { // an unmeasured client is among the reasons already
			continue
		}
		out = append(out, rejectedText(c))
	}
	return out
}

// rejectedText says how many of a client's outcome lines were rejected and
// quotes the first reasons.
func rejectedText(c measure.ClientReport) string {
	var why []string
	for _, r := range c.RejectedSamples {
		if r.Line != "" {
			why = append(why, fmt.Sprintf("%s (%s)", r.Reason, r.Line))
		} else {
			why = append(why, r.Reason)
		}
	}
	return fmt.Sprintf("%s: %d outcome lines rejected: %s", c.Name, c.Rejected, strings.Join(why, "; "))
}

// harnessText is one line of what the harness measured of itself.
func harnessText(h measure.Harness) string {
	parts := []string{
		"timers late ≤ " + ms(h.TimerLagMaxMS),
		"requests sent late ≤ " + ms(h.RequestLagMaxMS),
		"faults late ≤ " + ms(h.FaultLagMaxMS),
		"Go scheduling p99 ≤ " + ms(h.SchedP99MaxMS),
		"health checks late ≤ " + ms(h.HealthCheckLagMaxMS),
	}
	if h.HealthChecksDiscarded > 0 {
		parts = append(parts, fmt.Sprintf("%d health checks discarded (ran later than their timeout)", h.HealthChecksDiscarded))
	}
	state := "not starved"
	if h.Starved {
		state = "STARVED"
	}
	return fmt.Sprintf("harness %s (bound %s): %s", state, ms(&h.BoundMS), strings.Join(parts, ", "))
}
