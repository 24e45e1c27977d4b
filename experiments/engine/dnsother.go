package engine

import (
	"math"
	"sync"

	"github.com/faultline-dev/faultline/experiments/journal"
)

// otherQueries counts the DNS queries from sources that are no client's
// (another process on the machine, a flood) instead of journaling each:
// one dns.other event per second that saw any, with the counts by rcode
// (NODATA: NOERROR without answers). What others send then costs a map of
// a handful of rcodes, not an event each.
type otherQueries struct {
	add func(journal.Event)

	mu     sync.Mutex
	second float64 // the second being counted (its start, journal ms)
	counts map[string]int
}

func newOtherQueries(add func(journal.Event)) *otherQueries {
	return &otherQueries{add: add, second: math.Inf(-1)}
}

// count notes one query answered at journal time t.
func (o *otherQueries) count(t float64, rcode string, answers int) {
	if rcode == "NOERROR" && answers == 0 {
		rcode = "NODATA"
	}
	sec := math.Floor(t/1000) * 1000
	o.mu.Lock()
	defer o.mu.Unlock()
	if sec != o.second {
		o.flushLocked()
		o.second = sec
	}
	if o.counts == nil {
		o.counts = map[string]int{}
	}
	o.counts[rcode]++
}

// flush journals what the current second has counted so far.
func (o *otherQueries) flush() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.flushLocked()
}

func (o *otherQueries) flushLocked() {
	if len(o.counts) == 0 {
		return
	}
	// The first second starts at 0, which Add would read as "stamp it
	// now": a microsecond past it is the same second.
	o.add(journal.Event{T: max(o.second, 0.001), Type: journal.DNSOther, Counts: o.counts})
	o.counts = nil
}
