package appclient

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/faultline-dev/faultline/experiments/applog"
	"github.com/faultline-dev/faultline/experiments/journal"
)

// Rejected lines: the first keptLines are journaled with their text, cut to
// lineBytes; later ones with the reason only, so a chatty application with
// a wrong schema cannot fill the journal.
const (
	keptLines = 20
	lineBytes = 200
)

// outcomes reads an application's output: outcome lines become request
// events, or outcome.rejected events with the reason when they break the
// schema; every other line is its own logging, passed to output. The last
// lines of either kind are kept for an error message.
type outcomes struct {
	name   string
	record func(journal.Event)
	since  func(time.Time) float64
	output func(stream, line string)
	tail   *Tail
	// rejected counts the rejected lines over every stream of the app.
	rejected *atomic.Int64
	// regions the experiment has: a line naming another region is
	// rejected (its request would count nowhere, or on no primary).
	regions []string
}

func newOutcomes(name string, record func(journal.Event), since func(time.Time) float64, output func(stream, line string), tail *Tail, regions []string) outcomes {
	if tail == nil {
		tail = NewTail(5)
	}
	return outcomes{name: name, record: record, since: since, output: output, tail: tail, rejected: new(atomic.Int64), regions: regions}
}

// maxLine bounds an outcome line; a longer one is rejected and skipped,
// and reading goes on with the next.
const maxLine = 1 << 20

// scan reads r to its end. What is meant as an outcome: on stdout a line
// that starts with '{'; on the events pipe every non-empty line. stderr is
// logging only.
func (o outcomes) scan(stream string, r io.Reader) {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, tooLong, err := readLine(br, maxLine)
		if tooLong {
			o.reject(stream, string(line), fmt.Errorf("a line longer than %d bytes on %s: not read as an outcome", maxLine, stream))
		} else if len(line) > 0 || err == nil {
			o.line(stream, line)
		}
		if err != nil {
			return // the stream ended
		}
	}
}

// line handles one line of stream.
func (o outcomes) line(stream string, line []byte) {
	trimmed := bytes.TrimSpace(line)
	meant := stream == "events" && len(trimmed) > 0 || stream == "stdout" && len(trimmed) > 0 && trimmed[0] == '{' && !structuredLog(trimmed)
	if !meant {
		o.tail.add(string(line))
		if o.output != nil {
			o.output(stream, string(line))
		}
		return
	}
	arrived := time.Now()
	l, err := applog.ParseIn(line, applog.WindowFor(o.start(arrived), arrived))
	if err == nil && len(o.regions) > 0 && !slices.Contains(o.regions, l.Region) {
		err = fmt.Errorf(`"region": %q is not a region of the experiment; expected one of: %s`, l.Region, strings.Join(o.regions, ", "))
	}
	if err == nil {
		o.record(l.Event(o.name, o.since))
		return
	}
	if stream == "events" && errors.Is(err, applog.ErrNotJSON) {
		err = fmt.Errorf("%w; on the events pipe every line is an outcome", err)
	}
	o.reject(stream, string(line), err)
}

// outcomeKeys are the fields only an outcome line has (and the names a
// near miss uses for them): a JSON object on stdout with none of them is the
// application's structured logging (Go's slog, pino, bunyan, structlog all
// write "time" and "msg"), not an outcome that broke the schema.
var outcomeKeys = []string{"operation", "op", "ok", "region", "latency_ms", "latency"}

// structuredLog: a valid JSON object with none of the outcome's fields.
func structuredLog(line []byte) bool {
	var fields map[string]json.RawMessage
	if json.Unmarshal(line, &fields) != nil {
		return false // broken JSON that starts with '{' is a broken outcome
	}
	for _, k := range outcomeKeys {
		if _, ok := fields[k]; ok {
			return false
		}
	}
	return true
}

// readLine reads one line without its end; a line longer than max comes
// back cut, with tooLong set, and the reader is past its end. err is set
// at the end of the stream (with the last, unterminated line, if any).
func readLine(br *bufio.Reader, max int) (line []byte, tooLong bool, err error) {
	total := 0
	for {
		chunk, err := br.ReadSlice('\n')
		total += len(chunk)
		if len(line) < max {
			line = append(line, chunk[:min(len(chunk), max-len(line))]...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == nil {
			total-- // the newline is not the line's
		}
		return bytes.TrimRight(line, "\r\n"), total > max, err
	}
}

// start is the run's zero as a wall-clock time, from since.
func (o outcomes) start(now time.Time) time.Time {
	return now.Add(-time.Duration(o.since(now) * float64(time.Millisecond)))
}

// reject journals a rejected line: never only printed.
func (o outcomes) reject(stream, line string, err error) {
	n := o.rejected.Add(1)
	e := journal.Event{Type: journal.OutcomeRejected, Client: o.name, Detail: err.Error()}
	if n <= keptLines {
		e.Line = applog.Cut(line, lineBytes)
	}
	o.record(e)
	o.tail.add(fmt.Sprintf("%s (rejected: %s)", applog.Cut(line, lineBytes), err))
	if o.output == nil {
		return
	}
	switch {
	case n <= keptLines:
		o.output(stream, fmt.Sprintf("rejected outcome line (%s): %s", err, applog.Cut(line, lineBytes)))
	case n == keptLines+1:
		o.output(stream, "more rejected outcome lines: journaled (outcome.rejected) without their text from now on")
	}
}

// Tail keeps an application's last lines for an error message: its own
// logging, and its rejected outcome lines with the reasons.
type Tail struct {
	mu    sync.Mutex
	n     int
	lines []string
}

// NewTail keeps the last n lines.
func NewTail(n int) *Tail { return &Tail{n: max(n, 1)} }

func (l *Tail) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, s)
	if len(l.lines) > l.n {
		l.lines = l.lines[1:]
	}
}

// String is the lines kept, joined by " | "; "(none)" when there are none.
func (l *Tail) String() string { return l.Last(l.n) }

// Last is the last n lines kept, joined by " | "; "(none)" when there are
// none.
func (l *Tail) Last(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) == 0 {
		return "(none)"
	}
	return strings.Join(l.lines[max(0, len(l.lines)-n):], " | ")
}
