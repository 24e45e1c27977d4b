package appclient

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/faultline-dev/faultline/experiments/applog"
	"github.com/faultline-dev/faultline/experiments/journal"
)

// outcomes reads an application's output: JSON outcome lines become request
// events; every other line is its own logging, passed to output and kept
// for an error message.
type outcomes struct {
	name   string
	record func(journal.Event)
	since  func(time.Time) float64
	output func(stream, line string)
	tail   *lastLines
}

// scan reads r to its end. Outcome lines count on stdout and on the events
// pipe; stderr is logging only.
func (o outcomes) scan(stream string, r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if stream != "stderr" {
			l, err := applog.Parse(line)
			if err == nil {
				o.record(l.Event(o.name, o.since))
				continue
			}
			if !errors.Is(err, applog.ErrNotJSON) && o.output != nil {
				o.output(stream, "bad outcome line ("+err.Error()+"): "+string(line))
				continue
			}
		}
		o.tail.add(string(line))
		if o.output != nil {
			o.output(stream, string(line))
		}
	}
	io.Copy(io.Discard, r)
}

// lastLines keeps an app's last words for an error message.
type lastLines struct {
	mu    sync.Mutex
	n     int
	lines []string
}

func (l *lastLines) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, s)
	if len(l.lines) > l.n {
		l.lines = l.lines[1:]
	}
}

func (l *lastLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) == 0 {
		return "(none)"
	}
	return strings.Join(l.lines, " | ")
}
