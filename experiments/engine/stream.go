package engine

import (
	"errors"
	"fmt"
	"sync"

	"github.com/faultline-dev/faultline/experiments/journal"
)

// Bounds of the event stream.
const (
	// DefaultBuffer is a subscription's buffer when Subscribe is given 0.
	DefaultBuffer = 1024
	// MaxBuffer bounds a subscription's buffer.
	MaxBuffer = 16384
	// Retained is how many of the latest events the Engine keeps for
	// Resume.
	Retained = 4096
	// MaxSubscribers bounds the subscriptions open at once.
	MaxSubscribers = 64
	// MaxQueued bounds the events waiting to be journaled (Record).
	MaxQueued = 65536
)

// Errors of the event stream.
var (
	ErrTooManySubscribers = fmt.Errorf("at most %d event subscriptions are open at once", MaxSubscribers)
	ErrGone               = errors.New("the events after that sequence number are no longer retained")
)

// Delivery is one event of the stream: its sequence number (from 1, in the
// order the Engine recorded the events) and the event as journaled.
type Delivery struct {
	Seq   uint64
	Event journal.Event
}

// LaggedError is why a subscription that let its buffer fill was cut off:
// Missed is the first event it did not get.
type LaggedError struct{ Missed uint64 }

func (e *LaggedError) Error() string {
	return fmt.Sprintf("the subscriber fell behind: its buffer was full at event %d, so it was cut off (resume after the last event it read)", e.Missed)
}

// GoneError is Resume's refusal when events after After are no longer
// retained: Oldest is the oldest that is (Resume(Oldest-1) picks up there).
// It is ErrGone.
type GoneError struct{ After, Oldest uint64 }

func (e *GoneError) Error() string {
	return fmt.Sprintf("resuming after event %d: %v (the oldest retained is %d)", e.After, ErrGone, e.Oldest)
}

func (e *GoneError) Is(target error) bool { return target == ErrGone }

// Subscription is a view of the event stream.
type Subscription struct {
	e   *Engine
	ch  chan Delivery
	err error // why it ended; guarded by stream.smu
	end bool  // guarded by stream.smu
}

type stream struct {
	// The queue of events recorded and not yet journaled (see Record).
	qmu      sync.Mutex
	queue    []journal.Event
	spare    []journal.Event // the last batch's array, reused
	draining bool            // a caller is journaling the queue
	drained  *sync.Cond      // on qmu: a batch was journaled

	smu   sync.Mutex // orders the journal, the sequence and the deliveries
	seq   uint64
	ring  []Delivery // the latest Retained events, oldest at ring[head] once full
	head  int
	subs  map[*Subscription]struct{}
	ended bool
}

func (s *stream) init() {
	s.subs = map[*Subscription]struct{}{}
	s.drained = sync.NewCond(&s.qmu)
}

// Record journals ev (stamped with the current journal time unless it is a
// request or carries its own time) and delivers it to every subscriber
// without waiting for any. Drivers record their own events (clients,
// phases, the harness) through it so that the stream has them all; events
// journaled before Open or after Close go to the journal alone.
//
// Callers queue their event and one of them, the first that finds no one
// at it, journals and delivers the queue in order (flat combining):
// thousands of clients recording at once hand a short lock around instead
// of queueing on the journal's, whose handoffs to each waiter in turn
// starved a busy machine (32 clients at 100/s left 32,000 goroutines
// waiting and 2 GB held). A caller may return before its event is
// journaled, never after the Engine closed without it; one that finds
// MaxQueued events waiting waits for them.
func (e *Engine) Record(ev journal.Event) {
	e.qmu.Lock()
	if ev.T == 0 && ev.Type != journal.Request {
		ev.T = e.j.Now() // under the queue's lock: stamps follow the journal's order
	}
	for len(e.queue) >= MaxQueued && e.draining {
		e.drained.Wait()
	}
	e.queue = append(e.queue, ev)
	if e.draining {
		e.qmu.Unlock()
		return
	}
	e.draining = true
	// The caller journals what was queued up to its own event, no more:
	// a DNS answer or a request's end waits at most for the events ahead
	// of it, as behind a fair lock. Events queued meanwhile go on in a
	// goroutine of their own.
	e.journalBatch()
	if len(e.queue) > 0 {
		go e.drainQueue()
	} else {
		e.draining = false
		e.drained.Broadcast()
	}
	e.qmu.Unlock()
}

// journalBatch journals the queue as it is now; qmu is held on entry and on
// return (not meanwhile).
func (e *Engine) journalBatch() {
	batch := e.queue
	e.queue, e.spare = e.spare[:0], nil
	e.qmu.Unlock()
	e.smu.Lock()
	for _, ev := range batch {
		e.recordLocked(ev)
	}
	e.smu.Unlock()
	clear(batch) // the events' strings, for the collector
	e.qmu.Lock()
	e.spare = batch[:0]
	e.drained.Broadcast()
}

// drainQueue journals the queue until it is empty.
func (e *Engine) drainQueue() {
	e.qmu.Lock()
	defer e.qmu.Unlock()
	for len(e.queue) > 0 {
		e.journalBatch()
	}
	e.draining = false
	e.drained.Broadcast()
}

// Flush returns once every event recorded before it is journaled (Record
// may return before its own is): for a reader of the journal, as a test's.
func (e *Engine) Flush() { e.waitRecorded() }

// waitRecorded waits until every event recorded so far is journaled.
func (e *Engine) waitRecorded() {
	e.qmu.Lock()
	defer e.qmu.Unlock()
	for e.draining {
		e.drained.Wait()
	}
}

func (e *Engine) recordLocked(ev journal.Event) {
	e.j.Add(ev)
	if e.ended {
		return
	}
	e.seq++
	d := Delivery{Seq: e.seq, Event: ev}
	if len(e.ring) < Retained {
		e.ring = append(e.ring, d)
	} else {
		e.ring[e.head] = d
		e.head = (e.head + 1) % Retained
	}
	for s := range e.subs {
		select {
		case s.ch <- d:
		default:
			e.endLocked(s, &LaggedError{Missed: d.Seq})
		}
	}
}

// Subscribe streams the events recorded from now on. buffer bounds how many
// may wait for the subscriber (0: DefaultBuffer; at most MaxBuffer): one
// that lets it fill is cut off (Err says so) and the world never waits.
func (e *Engine) Subscribe(buffer int) (*Subscription, error) {
	e.smu.Lock()
	defer e.smu.Unlock()
	return e.subscribeLocked(buffer, nil)
}

// Resume streams, first, the retained events after sequence number after,
// then the events recorded from now on. It returns a *GoneError (ErrGone)
// when some of the events after after are no longer retained (the
// subscriber must catch up from the journal file instead).
func (e *Engine) Resume(after uint64, buffer int) (*Subscription, error) {
	e.waitRecorded() // what was recorded before the call counts as retained (or gone)
	e.smu.Lock()
	defer e.smu.Unlock()
	var replay []Delivery
	for i := range e.ring {
		if d := e.ring[(e.head+i)%len(e.ring)]; d.Seq > after {
			replay = append(replay, d)
		}
	}
	if after < e.seq && (len(replay) == 0 || replay[0].Seq != after+1) {
		return nil, &GoneError{After: after, Oldest: e.seq - uint64(len(e.ring)) + 1}
	}
	return e.subscribeLocked(buffer, replay)
}

func (e *Engine) subscribeLocked(buffer int, replay []Delivery) (*Subscription, error) {
	switch {
	case e.ended:
		return nil, ErrClosed
	case len(e.subs) >= MaxSubscribers:
		return nil, ErrTooManySubscribers
	case buffer <= 0:
		buffer = DefaultBuffer
	}
	buffer = min(buffer, MaxBuffer)
	s := &Subscription{e: e, ch: make(chan Delivery, buffer+len(replay))}
	for _, d := range replay {
		s.ch <- d
	}
	e.subs[s] = struct{}{}
	return s, nil
}

// endLocked ends a subscription: its channel closes once drained.
func (e *Engine) endLocked(s *Subscription, why error) {
	if s.end {
		return
	}
	s.end, s.err = true, why
	delete(e.subs, s)
	close(s.ch)
}

// closeStream ends every subscription (Err: ErrClosed).
func (e *Engine) closeStream() {
	e.waitRecorded()
	e.smu.Lock()
	defer e.smu.Unlock()
	e.ended = true
	for s := range e.subs {
		e.endLocked(s, ErrClosed)
	}
	e.ring = nil
}

// C delivers the events; it is closed when the subscription ends.
func (s *Subscription) C() <-chan Delivery { return s.ch }

// Err says why the subscription ended: nil while it runs or after Close,
// ErrClosed when the Engine closed, a *LaggedError when it fell behind.
func (s *Subscription) Err() error {
	s.e.smu.Lock()
	defer s.e.smu.Unlock()
	return s.err
}

// Close ends the subscription; its channel closes.
func (s *Subscription) Close() {
	s.e.smu.Lock()
	defer s.e.smu.Unlock()
	s.e.endLocked(s, nil)
}
