package journal

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Journal records events for one run. It is safe for concurrent use. Events
// are kept in memory (metrics need them all at the end) and, when a sink is
// given, streamed as JSON lines; the sink is flushed at least every
// flushEvery so a crash loses at most that much.
type Journal struct {
	start time.Time

	mu     sync.Mutex
	events []Event
	w      *bufio.Writer
	sink   io.Writer
	err    error
	last   time.Time
	closed bool
}

const flushEvery = 200 * time.Millisecond

// New starts a journal whose clock reads zero now. sink may be nil.
func New(sink io.Writer) *Journal {
	j := &Journal{start: time.Now(), sink: sink}
	if sink != nil {
		j.w = bufio.NewWriterSize(sink, 64<<10)
	}
	return j
}

// Start is the run's zero time.
func (j *Journal) Start() time.Time { return j.start }

// Since converts a wall-clock instant with a monotonic reading into journal
// milliseconds.
func (j *Journal) Since(t time.Time) float64 {
	return float64(t.Sub(j.start).Microseconds()) / 1000
}

// Now is the journal time of this instant.
func (j *Journal) Now() float64 { return j.Since(time.Now()) }

// Add appends e, stamping it with the current time when e.T is zero and the
// event is not a request (requests carry their own start time).
func (j *Journal) Add(e Event) {
	now := time.Now()
	if e.T == 0 && e.Type != Request {
		e.T = j.Since(now)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return
	}
	j.events = append(j.events, e)
	if j.w == nil || j.err != nil {
		return
	}
	line, err := json.Marshal(e)
	if err != nil {
		j.err = err
		return
	}
	line = append(line, '\n')
	if _, err := j.w.Write(line); err != nil {
		j.err = err
		return
	}
	if now.Sub(j.last) >= flushEvery {
		j.err = j.w.Flush()
		j.last = now
	}
}

// Events returns a copy of everything recorded so far.
func (j *Journal) Events() []Event {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]Event(nil), j.events...)
}

// EventsFrom returns a copy of the events recorded after the first i, and
// how many there are now: a reader that keeps up reads each event once.
func (j *Journal) EventsFrom(i int) ([]Event, int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if i > len(j.events) {
		i = len(j.events)
	}
	return append([]Event(nil), j.events[i:]...), len(j.events)
}

// Close flushes the sink; later Adds are ignored. It returns the first write
// error the journal met, so a run can say that its journal file is short.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return j.err
	}
	j.closed = true
	if j.w != nil && j.err == nil {
		j.err = j.w.Flush()
	}
	return j.err
}

// ReadFile parses a journal.jsonl written by a Journal. A torn last line (a
// run killed mid-write) is ignored; any other bad line is an error that names
// the line.
func ReadFile(path string) ([]Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Read(f, path)
}

// Read parses JSON lines from r; name is used in error messages.
func Read(r io.Reader, name string) ([]Event, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var events []Event
	var pending error
	line := 0
	for sc.Scan() {
		line++
		if pending != nil {
			return nil, pending
		}
		b := sc.Bytes()
		if len(b) == 0 {
			continue
		}
		var e Event
		if err := json.Unmarshal(b, &e); err != nil {
			// Only the last line may be torn; remember and fail if more follow.
			pending = fmt.Errorf("%s:%d: not a journal event: %v", name, line, err)
			continue
		}
		if e.Type == "" {
			return nil, fmt.Errorf("%s:%d: event has no \"type\"", name, line)
		}
		events = append(events, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	if len(events) == 0 && pending != nil {
		return nil, pending
	}
	return events, nil
}
