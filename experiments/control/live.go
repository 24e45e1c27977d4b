package control

import (
	"errors"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/faultline-dev/faultline/experiments/engine"
	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/experiments/measure"
	"github.com/faultline-dev/faultline/faults"
)

// liveState folds the Engine's event stream as it goes: the clients' tally
// (measure.Tally: requests, errors, region, failing) with a latency
// histogram per client, and the record of every fault applied (who, from
// where, when healed and by whom). Its memory is bounded by the world's
// clients and the faults kept (maxFaultRecords), not by the run's length.
type liveState struct {
	start time.Time // the journal's zero

	mu      sync.Mutex
	tally   *measure.Tally
	latency map[string]*hdrhistogram.Histogram // µs, every request's (failed ones with the time they took)
	faults  map[string]*FaultView
	order   []string // fault ids, oldest first
	seq     uint64   // the last event folded
	rules   *ruleVersion
	missed  uint64 // events the fold lost (it fell behind past the retained ones)

	finished chan struct{}
}

// maxFaultRecords bounds the faults remembered (GET /faults/{id} of a
// healed one).
const maxFaultRecords = 4096

// followLive subscribes to the Engine and folds its events until done
// closes or the Engine does.
func followLive(eng *engine.Engine, done <-chan struct{}, rules *ruleVersion) (*liveState, error) {
	sub, err := eng.Subscribe(engine.MaxBuffer)
	if err != nil {
		return nil, err
	}
	l := &liveState{start: eng.Journal().Start(), tally: measure.NewTally(), latency: map[string]*hdrhistogram.Histogram{},
		faults: map[string]*FaultView{}, finished: make(chan struct{}), rules: rules}
	go func() {
		defer close(l.finished)
		for {
			select {
			case <-done:
				sub.Close()
				return
			case d, ok := <-sub.C():
				if ok {
					l.fold(d)
					continue
				}
				// Cut off: pick up where it stopped, or from the oldest
				// retained, counting what was lost.
				var lagged *engine.LaggedError
				if !errors.As(sub.Err(), &lagged) {
					return // the Engine closed
				}
				l.mu.Lock()
				after := l.seq
				l.mu.Unlock()
				sub, err = eng.Resume(after, engine.MaxBuffer)
				var gone *engine.GoneError
				if errors.As(err, &gone) {
					l.mu.Lock()
					l.missed += gone.Oldest - 1 - after
					l.mu.Unlock()
					sub, err = eng.Resume(gone.Oldest-1, engine.MaxBuffer)
				}
				if err != nil {
					return
				}
			}
		}
	}()
	return l, nil
}

func (l *liveState) wait() { <-l.finished }

func (l *liveState) fold(d engine.Delivery) {
	e := d.Event
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq = d.Seq
	if e.Type == journal.FaultApplied || e.Type == journal.FaultHealed {
		if k, ok := faults.Lookup(e.Kind); ok && isDNSRule(k) {
			l.rules.bump() // the DNS rules' followers wake
		}
	}
	switch e.Type {
	case journal.ClientStart, journal.Request:
		l.tally.Add([]journal.Event{e})
		if e.Type == journal.Request && !e.Probe && !e.LatencyUnknown {
			h := l.latency[e.Client]
			if h == nil {
				h = hdrhistogram.New(1, 3_600_000_000, 2) // 1 µs to 1 h, 1 %
				l.latency[e.Client] = h
			}
			h.RecordValue(max(1, int64(math.Round(e.LatencyMS*1000))))
		}
	case journal.FaultApplied:
		l.tally.Add([]journal.Event{e})
		if _, seen := l.faults[e.Fault]; !seen {
			l.order = append(l.order, e.Fault)
			if len(l.order) > maxFaultRecords {
				delete(l.faults, l.order[0])
				l.order = l.order[1:]
			}
		}
		l.faults[e.Fault] = &FaultView{ID: e.Fault, Kind: e.Kind, Target: e.Target, State: "active", By: e.By, From: e.Addr,
			AppliedAt: l.start.Add(time.Duration(e.T * float64(time.Millisecond))).UTC(), AppliedMS: e.T, Params: map[string]string{}}
	case journal.FaultHealed:
		l.tally.Add([]journal.Event{e})
		if v := l.faults[e.Fault]; v != nil {
			t := e.T
			v.State, v.HealedMS, v.HealedBy, v.HealedWhy = "healed", &t, e.By, e.Detail
		}
	}
}

// from is the address a fault was applied from, when the API applied it.
func (l *liveState) from(id string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if v := l.faults[id]; v != nil {
		return v.From
	}
	return ""
}

// fault is the record of a fault (healed ones too).
func (l *liveState) fault(id string) (FaultView, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	v := l.faults[id]
	if v == nil {
		return FaultView{}, false
	}
	return *v, true
}

// ClientList is GET /api/v1/clients.
type ClientList struct {
	Clients []ClientView `json:"clients"`
	// Seq is the last event of the stream folded into these numbers;
	// Missed counts events the fold lost (it fell behind), 0 normally.
	Seq    uint64 `json:"seq"`
	Missed uint64 `json:"missed"`
}

// ClientView is one client's live numbers since the world came up (its
// probe's and server side's views are clients of their own).
type ClientView struct {
	Name         string   `json:"name"`
	Requests     int      `json:"requests"`
	Errors       int      `json:"errors"`
	Availability *float64 `json:"availability"` // successful / all; null before its first request
	LatencyP50MS *float64 `json:"latency_p50_ms"`
	LatencyP99MS *float64 `json:"latency_p99_ms"`
	Region       string   `json:"region,omitempty"` // where its latest request went
	Failing      bool     `json:"failing"`          // its latest request failed
	LastError    string   `json:"last_error,omitempty"`
}

func (s *Server) getClients(w http.ResponseWriter, r *http.Request) {
	l := s.live
	l.mu.Lock()
	clients, _ := l.tally.Snapshot()
	list := ClientList{Clients: []ClientView{}, Seq: l.seq, Missed: l.missed}
	for _, c := range clients {
		v := ClientView{Name: c.Name, Requests: c.Requests, Errors: c.Errors, Region: c.Region, Failing: c.Failing, LastError: c.LastError}
		if c.Requests > 0 {
			a := float64(c.Requests-c.Errors) / float64(c.Requests)
			v.Availability = &a
		}
		if h := l.latency[c.Name]; h != nil && h.TotalCount() > 0 {
			p50, p99 := float64(h.ValueAtQuantile(50))/1000, float64(h.ValueAtQuantile(99))/1000
			v.LatencyP50MS, v.LatencyP99MS = &p50, &p99
		}
		list.Clients = append(list.Clients, v)
	}
	l.mu.Unlock()
	writeJSON(w, http.StatusOK, list)
}
