package reports

import (
	"bytes"
	"strings"
	"testing"
	"time"

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
