package reports

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/faultline-dev/faultline/experiments/measure"
)

// Live is the terminal's view of a run while it goes: the phase, elapsed and
// remaining time, the active faults and per client the requests, errors and
// current region. On a terminal it redraws one block in place and prints log
// lines (the runner's progress) above it; otherwise (not a terminal,
// NO_COLOR) it prints a plain status line every Interval, between the log
// lines, which suits CI logs.
type Live struct {
	mu       sync.Mutex
	w        io.Writer
	inPlace  bool
	color    bool
	interval time.Duration

	drawn     int // lines of the block on screen
	last      *measure.Progress
	lastPlain time.Time
	now       func() time.Time
}

// NewLive makes a view on w. inPlace redraws (a terminal); color adds ANSI
// colours (a terminal without NO_COLOR). interval paces the plain lines.
func NewLive(w io.Writer, inPlace, color bool, interval time.Duration) *Live {
	return &Live{w: w, inPlace: inPlace, color: color && inPlace, interval: interval, now: time.Now}
}

// Write prints log lines: above the block on a terminal.
func (l *Live) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.clear()
	if _, err := l.w.Write(p); err != nil {
		return 0, err
	}
	l.draw()
	return len(p), nil
}

// Update shows a new snapshot.
func (l *Live) Update(p measure.Progress) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.last = &p
	if l.inPlace {
		l.clear()
		l.draw()
		return
	}
	if p.Phase != "running" {
		return
	}
	if now := l.now(); l.lastPlain.IsZero() {
		l.lastPlain = now // the first line after one interval of running
	} else if now.Sub(l.lastPlain) >= l.interval {
		l.lastPlain = now
		fmt.Fprintln(l.w, plainLine(p))
	}
}

// Close takes the block off the screen; the summary follows.
func (l *Live) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.clear()
	l.last = nil
}

func (l *Live) clear() {
	if !l.inPlace || l.drawn == 0 {
		return
	}
	// Up to the block's first line, then clear to the end of the screen.
	fmt.Fprintf(l.w, "\x1b[%dF\x1b[J", l.drawn)
	l.drawn = 0
}

func (l *Live) draw() {
	if !l.inPlace || l.last == nil {
		return
	}
	block := l.block(*l.last)
	l.drawn = strings.Count(block, "\n")
	io.WriteString(l.w, block)
}

const (
	bold   = "\x1b[1m"
	dim    = "\x1b[2m"
	red    = "\x1b[31m"
	green  = "\x1b[32m"
	yellow = "\x1b[33m"
	reset  = "\x1b[0m"
)

func (l *Live) paint(code, s string) string {
	if !l.color {
		return s
	}
	return code + s + reset
}

// block is the in-place view.
func (l *Live) block(p measure.Progress) string {
	var b bytes.Buffer
	const barW = 30
	frac := 0.0
	if p.Duration > 0 {
		frac = min(1, float64(p.Elapsed)/float64(p.Duration))
	}
	bar := strings.Repeat("█", int(frac*barW)) + strings.Repeat("░", barW-int(frac*barW))
	fmt.Fprintf(&b, "%s %s  %s  %s / %s  (%s left)\n", l.paint(bold, p.Phase), p.Experiment, bar,
		secs(p.Elapsed), secs(p.Duration), secs(p.Remaining()))
	if len(p.Faults) == 0 {
		fmt.Fprintf(&b, "  faults  %s\n", l.paint(dim, "none active"))
	}
	for _, f := range p.Faults {
		fmt.Fprintf(&b, "  fault   %s\n", l.paint(red, f))
	}
	if ld := p.Load; ld != nil {
		line := fmt.Sprintf("%d offered/s, %d served, %d throttled, %d queued", ld.Offered, ld.Served, ld.Throttled, ld.Queue)
		if ld.CapacityRPS > 0 {
			line += fmt.Sprintf(" (capacity %.4g/s)", ld.CapacityRPS)
		}
		if ld.Throttled > 0 {
			line = l.paint(red, line)
		}
		fmt.Fprintf(&b, "  backends %s\n", line)
	}
	w := len("client")
	for _, c := range p.Clients {
		w = max(w, len(c.Name))
	}
	fmt.Fprintf(&b, "  %-*s %9s %7s  %s\n", w, "client", "requests", "errors", "region")
	for _, c := range p.Clients {
		state := l.paint(green, "ok")
		if c.Failing {
			state = l.paint(red, "failing: "+c.LastError)
		}
		errs := fmt.Sprintf("%7d", c.Errors)
		if c.Errors > 0 {
			errs = l.paint(yellow, errs)
		}
		fmt.Fprintf(&b, "  %-*s %9d %s  %-12s %s\n", w, c.Name, c.Requests, errs, c.Region, state)
	}
	return b.String()
}

// plainLine is the view as one line, for logs.
func plainLine(p measure.Progress) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%6.2fs] %s, %s left", p.Elapsed.Seconds(), p.Phase, secs(p.Remaining()))
	if len(p.Faults) > 0 {
		fmt.Fprintf(&b, " | faults: %s", strings.Join(p.Faults, "; "))
	}
	if l := p.Load; l != nil {
		fmt.Fprintf(&b, " | backends %d offered %d served %d throttled %d queued", l.Offered, l.Served, l.Throttled, l.Queue)
	}
	for _, c := range p.Clients {
		fmt.Fprintf(&b, " | %s %d req %d err %s", c.Name, c.Requests, c.Errors, c.Region)
		if c.Failing {
			fmt.Fprintf(&b, " failing (%s)", c.LastError)
		}
	}
	return b.String()
}

func secs(d time.Duration) string { return fmt.Sprintf("%.1fs", d.Seconds()) }
