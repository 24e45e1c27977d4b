package spec

import (
	"time"

	"go.yaml.in/yaml/v3"
)

// Retry storms (issue 17): the setting of the metrics of the herd after the
// heal. metrics.metastable_after is the window after the last heal by which
// the backends must have drained; still overloaded then, with nothing
// faulted, the run is metastable (experiments/measure, storm.go).

// DefaultMetastableAfter is the metastable window when not given: long
// enough for a healthy fleet's retries and back-off (seconds at most, with
// the SDKs' default attempts) to have played out many times over, short
// enough to fit a rehearsal of a few minutes.
const DefaultMetastableAfter = 30 * time.Second

// stormMetricsFields are the keys of metrics that configure the storm's.
func (d *decoder) stormMetricsFields(m *Metrics) []field {
	return []field{
		d.durationKey("metrics", "metastable_after", durationValue(time.Second, 30*time.Minute,
			"still overloaded this long after the last heal, with nothing faulted, the run is metastable (default 30s)"),
			&m.MetastableAfter, func(n *yaml.Node, ok bool) { m.metastableNode = n }),
	}
}

// checkMetastableAfter: a window the run cannot cover measures nothing.
func (d *decoder) checkMetastableAfter(exp *Experiment) {
	m := exp.Metrics
	if m.metastableNode != nil && exp.Duration > 0 && m.MetastableAfter >= exp.Duration {
		d.errorf(m.metastableNode, "metrics.metastable_after: %s is not within the run (schedule.duration %s): the verdict needs the window after the last heal, and 3s more",
			m.MetastableAfter, exp.Duration)
	}
}
