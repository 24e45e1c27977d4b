package measure

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/faultline-dev/faultline/experiments/journal"
)

// Progress is a run while it goes: what a live view shows.
type Progress struct {
	Experiment string
	Phase      string        // building, running, stopping, tearing down
	Elapsed    time.Duration // since the experiment's clients started
	Duration   time.Duration // the experiment's
	Faults     []string      // active faults: "f1 dns.empty on dynamodb.us-east-1.amazonaws.com"
	Clients    []ClientProgress
	// Load is the backends' latest whole second (nil: no ddb.load yet).
	Load *LoadProgress
}

// LoadProgress is the backends' load over one second, summed over the
// regions, and their capacity (0: none journaled).
type LoadProgress struct {
	Offered, Served, Throttled, Queue int
	CapacityRPS                       float64
}

// ClientProgress is one client's tally so far.
type ClientProgress struct {
	Name      string
	Requests  int
	Errors    int
	Region    string // where its latest request went
	LastError string // the class of its latest failure
	Failing   bool   // its latest request failed
}

// Remaining is the time left, never negative.
func (p Progress) Remaining() time.Duration { return max(0, p.Duration-p.Elapsed) }

// Tally folds journal events into a Progress incrementally: give it each
// event once (Observe, a journal observer; or Add, a batch).
type Tally struct {
	clients map[string]*ClientProgress
	order   []string
	faults  map[string]string
	latest  map[string]float64 // client → end time of the request Region/Failing came from
	// the backends' load: the second being summed, and the last whole one
	capacity      float64
	second        int
	summing, last *LoadProgress
}

// NewTally starts an empty tally.
func NewTally() *Tally {
	return &Tally{clients: map[string]*ClientProgress{}, faults: map[string]string{}, latest: map[string]float64{}}
}

// Add folds events in.
func (t *Tally) Add(events []journal.Event) {
	for _, e := range events {
		t.Observe(e)
	}
}

// Observe folds one event in.
func (t *Tally) Observe(e journal.Event) {
	switch e.Type {
	case journal.ClientStart:
		t.client(e.Client)
	case journal.FaultApplied:
		t.faults[e.Fault] = fmt.Sprintf("%s %s on %s", e.Fault, e.Kind, strings.TrimSuffix(e.Target, "."))
	case journal.FaultHealed:
		delete(t.faults, e.Fault)
	case journal.DDBCapacity:
		if e.Load != nil {
			t.capacity += e.Load.CapacityRPS
		}
	case journal.DDBLoad:
		t.load(e)
	case journal.Request:
		if e.Probe {
			return
		}
		c := t.client(e.Client)
		c.Requests++
		if !e.Succeeded() {
			c.Errors++
			c.LastError = e.Error
		}
		// Requests complete out of order: the view shows the latest to end.
		if end := e.End(); end >= t.latest[e.Client] {
			t.latest[e.Client] = end
			c.Region, c.Failing = e.Region, !e.Succeeded()
		}
	}
}

// load sums the regions' ticks of one second; a tick of a later second
// makes the one summed so far the last whole one.
func (t *Tally) load(e journal.Event) {
	if e.Load == nil {
		return
	}
	s := loadSecond(e.T)
	switch {
	case t.summing == nil || s > t.second:
		t.last, t.summing, t.second = t.summing, &LoadProgress{}, s
	case s < t.second:
		return // a late tick of a second already shown
	}
	t.summing.Offered += e.Load.Offered
	t.summing.Served += e.Load.Served
	t.summing.Throttled += e.Load.Throttled
	t.summing.Queue += e.Load.Queue
}

// Load is the backends' last whole second of load (nil: none yet).
func (t *Tally) Load() *LoadProgress {
	if t.last == nil {
		return nil
	}
	l := *t.last
	l.CapacityRPS = t.capacity
	return &l
}

func (t *Tally) client(name string) *ClientProgress {
	c, ok := t.clients[name]
	if !ok {
		c = &ClientProgress{Name: name}
		t.clients[name] = c
		t.order = append(t.order, name)
	}
	return c
}

// Snapshot is the tally's clients (in start order) and active faults (by id).
func (t *Tally) Snapshot() (clients []ClientProgress, faults []string) {
	for _, n := range t.order {
		clients = append(clients, *t.clients[n])
	}
	for _, f := range t.faults {
		faults = append(faults, f)
	}
	sort.Strings(faults)
	return clients, faults
}
