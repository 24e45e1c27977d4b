package reports

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/experiments/measure"
)

func progress(elapsed time.Duration, failing bool) measure.Progress {
	p := measure.Progress{Experiment: "x", Phase: "running", Elapsed: elapsed, Duration: 10 * time.Second,
		Clients: []measure.ClientProgress{{Name: "naive", Requests: 40, Errors: 3, Region: "us-east-1", Failing: failing, LastError: "dns-notfound"}}}
	if failing {
		p.Faults = []string{"f1 dns.empty on dynamodb.us-east-1.amazonaws.com"}
	}
	return p
}

// On a terminal the block is redrawn in place: each redraw first moves up
// over exactly the lines drawn before and clears them; log lines go above.
func TestLiveRedrawsInPlace(t *testing.T) {
	var buf bytes.Buffer
	l := NewLive(&buf, true, false, time.Second)
	l.Update(progress(time.Second, false))
	first := buf.String()
	lines := strings.Count(first, "\n")
	if lines != 4 || !strings.Contains(first, "naive") || !strings.Contains(first, "9.0s left") {
		t.Fatalf("first block (%d lines):\n%s", lines, first)
	}
	buf.Reset()
	l.Write([]byte("[  3.00s] applied f1\n"))
	if got := buf.String(); !strings.HasPrefix(got, "\x1b[4F\x1b[J[  3.00s] applied f1\n") {
		t.Errorf("a log line: %q; want the block cleared, the line, the block again", got)
	}
	buf.Reset()
	l.Update(progress(3*time.Second, true))
	if got := buf.String(); !strings.HasPrefix(got, "\x1b[4F\x1b[J") || !strings.Contains(got, "failing: dns-notfound") || !strings.Contains(got, "fault   f1 dns.empty") {
		t.Errorf("redraw: %q", got)
	}
	buf.Reset()
	l.Close()
	if got := buf.String(); got != "\x1b[4F\x1b[J" {
		t.Errorf("Close: %q; want the block cleared", got)
	}
	if strings.Contains(first, "\x1b[3") {
		t.Error("colour without color")
	}
}

// Elsewhere: no escape sequences, one plain line per interval of running.
func TestLivePlainLines(t *testing.T) {
	var buf bytes.Buffer
	l := NewLive(&buf, false, true, time.Second)
	now := time.Unix(0, 0)
	l.now = func() time.Time { return now }
	for i := 0; i <= 30; i++ { // 3 s in steps of 100 ms
		l.Update(progress(time.Duration(i)*100*time.Millisecond, i > 15))
		now = now.Add(100 * time.Millisecond)
	}
	l.Write([]byte("a log line\n"))
	l.Close()
	out := buf.String()
	if strings.Contains(out, "\x1b") {
		t.Errorf("escape sequences in plain output: %q", out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "[  1.00s] running, 9.0s left | naive 40 req 3 err us-east-1") ||
		!strings.Contains(lines[2], "failing (dns-notfound)") || lines[3] != "a log line" {
		t.Errorf("plain output:\n%s", out)
	}
}

// The backends' load shows in the live view: the last whole second, from
// the journal's ddb.load ticks, summed over the regions.
func TestLiveShowsTheBackendsLoad(t *testing.T) {
	tally := measure.NewTally()
	tally.Add([]journal.Event{
		{T: 1, Type: journal.DDBCapacity, Region: "us-east-1", Load: &journal.Load{CapacityRPS: 100}},
		{T: 1001, Type: journal.DDBLoad, Region: "us-east-1", Load: &journal.Load{Offered: 50, Served: 50}},
	})
	if tally.Load() != nil {
		t.Error("a load before its second is whole (another region's tick may follow)")
	}
	tally.Add([]journal.Event{
		{T: 1990, Type: journal.DDBLoad, Region: "us-east-1", Load: &journal.Load{Offered: 400, Served: 100, Throttled: 300, Queue: 20}},
		{T: 2010, Type: journal.DDBLoad, Region: "us-west-2", Load: &journal.Load{Offered: 10, Served: 10}},
		{T: 3000, Type: journal.DDBLoad, Region: "us-east-1", Load: &journal.Load{Offered: 1}},
	})
	p := progress(time.Second, true)
	p.Load = tally.Load()
	if p.Load == nil || *p.Load != (measure.LoadProgress{Offered: 410, Served: 110, Throttled: 300, Queue: 20, CapacityRPS: 100}) {
		t.Fatalf("load %+v", p.Load)
	}
	var buf bytes.Buffer
	l := NewLive(&buf, true, false, time.Second)
	l.Update(p)
	if !strings.Contains(buf.String(), "backends 410 offered/s, 110 served, 300 throttled, 20 queued (capacity 100/s)") {
		t.Errorf("block:\n%s", buf.String())
	}
	if line := plainLine(p); !strings.Contains(line, "| backends 410 offered 110 served 300 throttled 20 queued |") {
		t.Errorf("plain line: %s", line)
	}
}
