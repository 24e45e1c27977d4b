package measure

import (
	"fmt"
)

// MaxRejectedShare is the share of an application's outcome lines that may
// be rejected before its numbers stop meaning anything: beyond it the run
// is invalid. One bad line in twenty can be a torn write or a stray debug
// print; more is an application that does not speak the schema, and the
// requests it did report are not a fair sample of the ones it made.
const MaxRejectedShare = 0.05

// maxRejectedSamples is how many rejected lines a report quotes per client.
const maxRejectedSamples = 3

// Rejection is one rejected outcome line, quoted in reports.
type Rejection struct {
	Reason string `json:"reason"`
	Line   string `json:"line,omitempty"`
}

// SchemaHint is what the outcome-line schema expects, for messages.
const SchemaHint = `one JSON object per line: {"time": RFC 3339 or unix seconds, "operation": "GetItem", "region": "us-east-1", "ok": true, "error": "...", "latency_ms": 3.2}`

// unmeasured says why a client's numbers cannot be trusted ("" when they
// can): too many of its outcome lines were rejected, or it reported no
// request at all. An application that writes no outcome lines on purpose
// is measured by its views (NAME.server, NAME.probe): that is not a
// failure as long as one of them saw requests. Views are judged with their
// application, not alone: a view may rightly see nothing.
func unmeasured(c ClientReport, view, viewsMeasured bool) string {
	if view {
		return ""
	}
	accepted := c.Requests
	quote := ""
	if len(c.RejectedSamples) > 0 {
		r := c.RejectedSamples[0]
		quote = fmt.Sprintf("; e.g. a line was rejected: %s", r.Reason)
		if r.Line != "" {
			quote = fmt.Sprintf("; e.g. the line %s was rejected: %s", r.Line, r.Reason)
		}
	}
	switch {
	case accepted == 0 && c.Rejected > 0:
		return fmt.Sprintf("client %s was not measured: all %d of its outcome lines were rejected%s; the schema expects %s",
			c.Name, c.Rejected, quote, SchemaHint)
	case accepted == 0 && !viewsMeasured:
		return fmt.Sprintf("client %s was not measured: it reported no request at all (no outcome line reached faultline, and no view of it saw one)", c.Name)
	case float64(c.Rejected-c.RejectedWhileStopping) > MaxRejectedShare*float64(accepted+c.Rejected):
		return fmt.Sprintf("client %s was not measured reliably: %d of its %d outcome lines were rejected (more than %.0f%%)%s; the schema expects %s",
			c.Name, c.Rejected, accepted+c.Rejected, MaxRejectedShare*100, quote, SchemaHint)
	}
	return ""
}
