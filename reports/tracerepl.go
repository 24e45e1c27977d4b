package reports

import (
	"math"
	"sort"

	"github.com/faultline-dev/faultline/experiments/journal"
)

// The replication lane (global tables): per direction, the lag of the
// writes that arrived (their slowest per grid cell) and the pauses as
// bands. Bounded: directions are pairs of regions (at most maxDirections),
// pauses up to MaxSteps per direction.

const maxDirections = 64

type replTrace struct {
	from, to string
	lag      series // per cell: arrivals and the slowest's lag (ms)
	pauses   []pauseBand
}

type pauseBand struct {
	From float64  `json:"from"`
	To   *float64 `json:"to"` // null: still paused at the end
}

// replicationChart is the lane's data: lag per bucket per direction (null
// where nothing arrived), seconds.
type replicationChart struct {
	Bucket     float64         `json:"bucket"`
	T          []float64       `json:"t"`
	Directions []replDirection `json:"directions"`
}

type replDirection struct {
	From   string      `json:"from"`
	To     string      `json:"to"`
	Lag    []*float64  `json:"lag"` // ms, the slowest write that arrived in the bucket
	Pauses []pauseBand `json:"pauses"`
}

func (t *Trace) replDir(from, to string) *replTrace {
	key := from + ">" + to
	d := t.repl[key]
	if d == nil {
		if len(t.repl) >= maxDirections {
			return nil
		}
		d = &replTrace{from: from, to: to}
		t.repl[key] = d
	}
	return d
}

func (t *Trace) replication(e journal.Event) {
	if e.Region == "" || e.To == "" {
		return
	}
	d := t.replDir(e.Region, e.To)
	if d == nil {
		return
	}
	switch e.Type {
	case journal.DDBReplicated:
		if e.Status == "dropped" || e.WrittenMS == nil {
			return
		}
		d.lag.add(t.cell(e.T), 1, math.Max(e.T-*e.WrittenMS, 0))
	case journal.DDBReplication:
		n := len(d.pauses)
		switch e.Status {
		case "paused":
			if (n == 0 || d.pauses[n-1].To != nil) && n < MaxSteps {
				d.pauses = append(d.pauses, pauseBand{From: e.T / 1000})
			}
		case "resumed":
			if n > 0 && d.pauses[n-1].To == nil {
				to := e.T / 1000
				d.pauses[n-1].To = &to
			}
		}
		t.cell(e.T)
	}
}

// replicationLane is the lane's data over a run of durationMS; nil without
// replication.
func (t *Trace) replicationLane(durationMS float64) *replicationChart {
	if len(t.repl) == 0 {
		return nil
	}
	bucket := math.Max(100, math.Ceil(durationMS/200/50)*50)
	bucket = math.Ceil(bucket/t.width) * t.width
	n := int(math.Ceil(durationMS/bucket)) + 1
	c := &replicationChart{Bucket: bucket / 1000}
	for i := 0; i < n; i++ {
		c.T = append(c.T, (float64(i)+0.5)*bucket/1000)
	}
	keys := make([]string, 0, len(t.repl))
	for k := range t.repl {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		d := t.repl[k]
		rd := replDirection{From: d.from, To: d.to, Lag: make([]*float64, n), Pauses: append([]pauseBand{}, d.pauses...)}
		for cell, cnt := range d.lag.n {
			i := int(float64(cell) * t.width / bucket)
			if cnt == 0 || i >= n {
				continue
			}
			if rd.Lag[i] == nil || *rd.Lag[i] < d.lag.max[cell] {
				v := d.lag.max[cell]
				rd.Lag[i] = &v
			}
		}
		c.Directions = append(c.Directions, rd)
	}
	return c
}
