package reports

import (
	"fmt"
	"math"
	"os"
	"sort"
	"time"

	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/experiments/measure"
)

// Trace is what the charts and timelines draw of a journal besides its
// summary, folded one event at a time in memory bounded by the world, not
// by the run's length:
//
//   - each client's first MaxPoints requests as points (when each outcome
//     was known, latency, outcome, region, error class); beyond them, per
//     time bucket and region, how many succeeded and failed and the
//     slowest of each;
//   - the DNS answers by rcode per time bucket (the clients' queries one by
//     one, everyone else's from the dns.other counts);
//   - each target's health: every state change up to MaxSteps, then at
//     most one per time bucket;
//   - per replication direction of a global table, the slowest arrival's
//     lag per time bucket, and the pauses (tracerepl.go).
//
// The buckets are one grid for the whole trace: gridCells cells, 50 ms each
// to begin with, doubled (neighbours merged) whenever the run outgrows
// them, so a run of any length has at most gridCells of them.
//
// Feed it every event (Add, a journal observer) or a file (ReadJournal). It
// is not safe for concurrent use.
type Trace struct {
	width   float64 // ms per grid cell
	order   []string
	clients map[string]*clientTrace
	dns     map[string]*series // rcode → answers per cell
	lanes   []*lane
	laneIdx map[string]int
	repl    map[string]*replTrace // "from>to" → the direction's lag and pauses
}

// MaxPoints is how many requests of each client the charts draw one by one.
const MaxPoints = 2_000

// MaxSteps is how many state changes of each target are kept one by one.
const MaxSteps = 1_000

const (
	gridCells    = 1_024
	initialWidth = 50.0 // ms
	maxClients   = 1_024
)

type point struct {
	end, latency  float64
	region, class string
	ok            bool
}

type clientTrace struct {
	points []point
	total  int
	rest   map[restKey]*series // requests beyond MaxPoints
}

type restKey struct {
	region string
	ok     bool
}

// series is a count and a maximum per grid cell.
type series struct {
	n   []int
	max []float64
}

func (s *series) add(cell, n int, v float64) {
	for len(s.n) <= cell {
		s.n, s.max = append(s.n, 0), append(s.max, 0)
	}
	s.n[cell] += n
	s.max[cell] = math.Max(s.max[cell], v)
}

// halve merges neighbouring cells: the grid's width doubled.
func (s *series) halve() {
	for i := 0; i < len(s.n); i += 2 {
		n, m := s.n[i], s.max[i]
		if i+1 < len(s.n) {
			n, m = n+s.n[i+1], math.Max(m, s.max[i+1])
		}
		s.n[i/2], s.max[i/2] = n, m
	}
	half := (len(s.n) + 1) / 2
	s.n, s.max = s.n[:half], s.max[:half]
}

type lane struct {
	region, target string
	steps          []stateStep // t in seconds
}

// NewTrace starts an empty trace.
func NewTrace() *Trace {
	return &Trace{width: initialWidth, clients: map[string]*clientTrace{}, dns: map[string]*series{}, laneIdx: map[string]int{},
		repl: map[string]*replTrace{}}
}

// ReadJournal streams a journal file once through the metrics' fold and a
// Trace: everything every report needs, in bounded memory.
func ReadJournal(path string) (measure.Summary, *Trace, error) {
	f, tr := measure.NewFold(), NewTrace()
	n := 0
	err := journal.ScanFile(path, func(e journal.Event) error {
		f.Add(e)
		tr.Add(e)
		n++
		return nil
	})
	if err != nil {
		return measure.Summary{}, nil, err
	}
	if n == 0 {
		return measure.Summary{}, nil, fmt.Errorf("%s: the journal has no events; expected a journal.jsonl a run wrote", path)
	}
	s := f.Summary()
	if s.Started == "" {
		// A journal written before run.start said when it began: junit.xml
		// still needs a timestamp (the Ant format requires one), so the run
		// is taken to have ended when its file was last written. Said so in
		// started_estimated, never passed off as recorded.
		if info, err := os.Stat(path); err == nil {
			start := info.ModTime().Add(-time.Duration(s.DurationMS * float64(time.Millisecond)))
			s.Started, s.StartedEstimated = start.UTC().Format(time.RFC3339Nano), true
		}
	}
	return s, tr, nil
}

// TraceOf folds events held in memory (tests, small journals).
func TraceOf(events []journal.Event) *Trace {
	tr := NewTrace()
	for _, e := range events {
		tr.Add(e)
	}
	return tr
}

// cell is the grid cell of a time, growing the grid to hold it.
func (t *Trace) cell(ms float64) int {
	if ms < 0 {
		ms = 0
	}
	for ms >= t.width*gridCells {
		t.grow()
	}
	return int(ms / t.width)
}

func (t *Trace) grow() {
	t.width *= 2
	for _, c := range t.clients {
		for _, s := range c.rest {
			s.halve()
		}
	}
	for _, s := range t.dns {
		s.halve()
	}
	for _, l := range t.lanes {
		l.thin(t.width)
	}
	for _, d := range t.repl {
		d.lag.halve()
	}
}

// Add folds one event in.
func (t *Trace) Add(e journal.Event) {
	switch e.Type {
	case journal.ClientStart:
		t.client(e.Client)
	case journal.Request:
		if e.Probe {
			return
		}
		c := t.client(e.Client)
		if c == nil {
			return
		}
		c.total++
		if len(c.points) < MaxPoints {
			c.points = append(c.points, point{end: e.End(), latency: e.LatencyMS, region: e.Region, class: e.Error, ok: e.Succeeded()})
			return
		}
		k := restKey{e.Region, e.Succeeded()}
		s := c.rest[k]
		if s == nil {
			s = &series{}
			c.rest[k] = s
		}
		s.add(t.cell(e.End()), 1, e.LatencyMS)
	case journal.DNSQuery:
		if e.T < 0 {
			return
		}
		rcode := e.Rcode
		if rcode == "NOERROR" && e.Answers != nil && *e.Answers == 0 {
			rcode = "NODATA"
		}
		t.answers(rcode, e.T, 1)
	case journal.DNSOther:
		if e.T < 0 {
			return
		}
		for rcode, n := range e.Counts {
			t.answers(rcode, e.T, n)
		}
	case journal.TargetState:
		t.targetState(e)
	case journal.DDBReplicated, journal.DDBReplication:
		t.replication(e)
	}
}

func (t *Trace) answers(rcode string, at float64, n int) {
	s := t.dns[rcode]
	if s == nil {
		if len(t.dns) >= 64 {
			return // rcodes are a handful
		}
		s = &series{}
		t.dns[rcode] = s
	}
	s.add(t.cell(at), n, 0)
}

func (t *Trace) client(name string) *clientTrace {
	c := t.clients[name]
	if c == nil {
		if len(t.clients) >= maxClients {
			return nil
		}
		c = &clientTrace{rest: map[restKey]*series{}}
		t.clients[name] = c
		t.order = append(t.order, name)
	}
	return c
}

func (t *Trace) targetState(e journal.Event) {
	key := e.Region + "/" + e.Target
	i, ok := t.laneIdx[key]
	if !ok {
		if len(t.lanes) >= maxClients {
			return
		}
		i = len(t.lanes)
		t.laneIdx[key] = i
		l := &lane{region: e.Region, target: e.Target}
		if e.From != "" {
			l.steps = append(l.steps, stateStep{0, e.From})
		}
		t.lanes = append(t.lanes, l)
	}
	l := t.lanes[i]
	step := stateStep{e.T / 1000, e.To}
	t.cell(e.T) // the grid holds the run
	if n := len(l.steps); n >= MaxSteps && int(l.steps[n-1].T*1000/t.width) == int(e.T/t.width) {
		l.steps[n-1].State = e.To // beyond MaxSteps, one step per cell: the state it ended in
		return
	}
	l.steps = append(l.steps, step)
}

// thin keeps, beyond MaxSteps, one step per cell of the given width.
func (l *lane) thin(width float64) {
	if len(l.steps) <= MaxSteps {
		return
	}
	out := l.steps[:MaxSteps]
	for _, s := range l.steps[MaxSteps:] {
		if n := len(out); n > MaxSteps && int(out[n-1].T*1000/width) == int(s.T*1000/width) {
			out[n-1].State = s.State
			continue
		}
		out = append(out, s)
	}
	l.steps = out
}

// requests are a client's points sorted by when each outcome was known,
// and, when it had more than MaxPoints, its buckets beyond them as points
// at their cell's middle with the slowest latency and how many they stand
// for (n; nil when every point is one request).
func (t *Trace) requests(name string) (pts []point, n []int) {
	c := t.clients[name]
	if c == nil {
		return nil, nil
	}
	pts = append(pts, c.points...)
	sort.SliceStable(pts, func(i, j int) bool { return pts[i].end < pts[j].end })
	if len(c.rest) == 0 {
		return pts, nil
	}
	for range pts {
		n = append(n, 1)
	}
	keys := make([]restKey, 0, len(c.rest))
	for k := range c.rest {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].region != keys[j].region {
			return keys[i].region < keys[j].region
		}
		return keys[i].ok && !keys[j].ok
	})
	type agg struct {
		p point
		n int
	}
	var aggs []agg
	for _, k := range keys {
		s := c.rest[k]
		for i, cnt := range s.n {
			if cnt > 0 {
				aggs = append(aggs, agg{point{end: (float64(i) + 0.5) * t.width, latency: s.max[i], region: k.region, ok: k.ok}, cnt})
			}
		}
	}
	sort.SliceStable(aggs, func(i, j int) bool { return aggs[i].p.end < aggs[j].p.end })
	// Merge the two time-ordered lists.
	var outP []point
	var outN []int
	i, j := 0, 0
	for i < len(pts) || j < len(aggs) {
		if j >= len(aggs) || (i < len(pts) && pts[i].end <= aggs[j].p.end) {
			outP, outN = append(outP, pts[i]), append(outN, 1)
			i++
			continue
		}
		outP, outN = append(outP, aggs[j].p), append(outN, aggs[j].n)
		j++
	}
	return outP, outN
}

// dnsBuckets counts the DNS answers per rcode in about 200 buckets over the
// run, as answers per second: buckets a multiple of 50 ms (and of the
// grid's cell).
func (t *Trace) dnsBuckets(durationMS float64) dnsChart {
	bucket := math.Max(100, math.Ceil(durationMS/200/50)*50) // ms
	bucket = math.Ceil(bucket/t.width) * t.width
	n := int(math.Ceil(durationMS/bucket)) + 1
	d := dnsChart{Bucket: bucket / 1000, Rcodes: map[string][]float64{}}
	for i := 0; i < n; i++ {
		d.T = append(d.T, float64(i)*bucket/1000)
	}
	for rcode, s := range t.dns {
		counts := make([]int, n)
		any := false
		for c, k := range s.n {
			i := int(float64(c) * t.width / bucket)
			if k == 0 || i >= n {
				continue
			}
			counts[i] += k
			any = true
		}
		if !any {
			continue
		}
		rates := make([]float64, n)
		for i, k := range counts {
			rates[i] = float64(k) * 1000 / bucket
		}
		d.Rcodes[rcode] = rates
	}
	return d
}

// targetLanes is each target's health over the run, from its state changes.
func (t *Trace) targetLanes() []targetLane {
	var lanes []targetLane
	for _, l := range t.lanes {
		lanes = append(lanes, targetLane{Region: l.region, Target: l.target, States: append([]stateStep(nil), l.steps...)})
	}
	sort.SliceStable(lanes, func(i, j int) bool {
		if lanes[i].Region != lanes[j].Region {
			return lanes[i].Region < lanes[j].Region
		}
		return lanes[i].Target < lanes[j].Target
	})
	return lanes
}
