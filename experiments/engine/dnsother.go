package engine

import (
	"math"
	"sync"
	"time"

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
		// A second is journaled when it is over, whether or not another
		// query follows (a live world may see one query, then none).
		time.AfterFunc(time.Duration(sec+1000-t)*time.Millisecond+flushAfter, func() { o.flushSecond(sec) })
	}
	o.counts[rcode]++
}

// flushAfter is how long past its end a second's counts wait for queries
// answered in it but counted late.
const flushAfter = 50 * time.Millisecond

// flushSecond journals second sec's counts if nothing has yet.
func (o *otherQueries) flushSecond(sec float64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.second == sec {
		o.flushLocked()
	}
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
