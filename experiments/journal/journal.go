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

// Journal records events for one run. It is safe for concurrent use. It
// holds no event: each goes, as a JSON line, to the sink (flushed at least
// every flushEvery, so a crash loses at most that much) and to the
// observers, synchronously and in the order of the file. Whatever needs the
// events later reads the file (Scan); whatever needs them while the run goes
// folds them as they come (an observer: the live view, the stop conditions,
// the metrics), so memory is bounded by what the folds keep, not by the
// length of the run.
type Journal struct {
	start time.Time

	mu        sync.Mutex
	observers []func(Event)
	w         *bufio.Writer
	err       error
	last      time.Time
	closed    bool
}

const flushEvery = 200 * time.Millisecond

// New starts a journal whose clock reads zero now. sink may be nil.
func New(sink io.Writer) *Journal {
	j := &Journal{start: time.Now()}
	if sink != nil {
		j.w = bufio.NewWriterSize(sink, 64<<10)
	}
	return j
}

// Observe registers fn to see every event recorded from now on, in journal
// order, none dropped. Register observers before the run starts: an
// observer registered later misses what came before. fn runs under the
// journal's lock, so it must be quick (a fold: counts, a bounded buffer) and
// must not record events itself.
func (j *Journal) Observe(fn func(Event)) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.observers = append(j.observers, fn)
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
// event is not a request (requests carry their own start time). The stamp
// is read under the journal's lock, so an event stamped here comes after
// every event recorded before it that happened before it: a fault's
// application or heal is in the file before any event timed after it.
func (j *Journal) Add(e Event) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return
	}
	now := time.Now()
	if e.T == 0 && e.Type != Request {
		e.T = j.Since(now)
	}
	for _, o := range j.observers {
		o(e)
	}
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

// Recorder is an observer that keeps every event: for tests and short
// programs (the testbed) that want the events as a slice. A run does not
// use one.
type Recorder struct {
	mu     sync.Mutex
	events []Event
}

// Add keeps e (register it with Journal.Observe).
func (r *Recorder) Add(e Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

// Events returns a copy of everything kept so far.
func (r *Recorder) Events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

// ReadFile parses a whole journal.jsonl into memory: for small journals
// (tests, tools). Reports and metrics stream the file with ScanFile.
func ReadFile(path string) ([]Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Read(f, path)
}

// Read parses JSON lines from r into memory; name is used in error
// messages. See Scan.
func Read(r io.Reader, name string) ([]Event, error) {
	var events []Event
	err := Scan(r, name, func(e Event) error {
		events = append(events, e)
		return nil
	})
	return events, err
}

// ScanFile streams a journal.jsonl to fn, one event at a time (see Scan).
func ScanFile(path string, fn func(Event) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return Scan(bufio.NewReaderSize(f, 1<<20), path, fn)
}

// maxLine bounds one journal line (an event quotes at most 1 MiB of an
// application's line).
const maxLine = 4 << 20

// Scan parses JSON lines from r and hands each event to fn, in order,
// holding one line at a time. A torn last line (a run killed mid-write) is
// ignored; any other bad line is an error that names the line (fn has then
// seen the events before it). A journal with no event at all but a bad
// line is that line's error. An error from fn stops the scan and is
// returned.
func Scan(r io.Reader, name string, fn func(Event) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	var pending error
	line, n := 0, 0
	for sc.Scan() {
		line++
		if pending != nil {
			return pending
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
			return fmt.Errorf("%s:%d: event has no \"type\"", name, line)
		}
		n++
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %v", name, err)
	}
	if n == 0 && pending != nil {
		return pending
	}
	return nil
}
