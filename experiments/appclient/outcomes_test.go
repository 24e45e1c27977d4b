package appclient

import (
	"bufio"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/experiments/journal"
)

// recorder is a journal for one app's outcomes, with the run's zero a
// second ago.
type recorder struct {
	mu     sync.Mutex
	events []journal.Event
	output []string
	start  time.Time
}

func newRecorder() *recorder { return &recorder{start: time.Now().Add(-time.Second)} }

func (r *recorder) outcomes(name string) outcomes {
	return newOutcomes(name, r.record, func(t time.Time) float64 { return float64(t.Sub(r.start).Microseconds()) / 1000 },
		func(stream, line string) { r.mu.Lock(); r.output = append(r.output, stream+": "+line); r.mu.Unlock() }, nil,
		[]string{"us-east-1", "us-west-2"})
}

func (r *recorder) record(e journal.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) of(typ string) []journal.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []journal.Event
	for _, e := range r.events {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

// On stdout, plain text is the app's logging and a line that starts with
// '{' is an outcome: accepted, or rejected with the reason and the line in
// the journal. On the events pipe every non-empty line is an outcome.
func TestOutcomeLinesAcceptedAndRejected(t *testing.T) {
	r := newRecorder()
	o := r.outcomes("app")
	now := time.Now()
	good := fmt.Sprintf(`{"time":%.3f,"operation":"GetItem","region":"us-east-1","ok":true,"latency_ms":2}`, float64(now.UnixMilli())/1000)
	ms := fmt.Sprintf(`{"time":%d,"operation":"GetItem","region":"us-east-1","ok":true}`, now.UnixMilli())
	short := fmt.Sprintf(`{"t":%d,"op":"GetItem"}`, now.UnixMilli())
	o.scan("stdout", strings.NewReader(strings.Join([]string{
		"starting on :8080", good, "", "{not json", ms, short,
		`{"time":"` + now.UTC().Format(time.RFC3339Nano) + `","operation":"GetItem","region":"us-east-1","ok":"false"}`,
		`  {"time":1,"operation":"GetItem","region":"us-east-1","ok":true}`,
	}, "\n")))
	o.scan("events", strings.NewReader("\nGetItem ok\n"+good+"\n"))
	o.scan("stderr", strings.NewReader(`{"this":"is logging on stderr"}`+"\n"))

	if reqs := r.of(journal.Request); len(reqs) != 2 || !reqs[0].Succeeded() || reqs[0].LatencyMS != 2 {
		t.Errorf("requests = %+v; want the two good lines", reqs)
	}
	rejected := r.of(journal.OutcomeRejected)
	want := []struct{ line, reason string }{
		{"{not json", "not valid JSON"},
		{ms, "looks like unix milliseconds; write seconds (or RFC 3339)"},
		{short, `"time": missing (the line has "op", "t")`},
		{`"ok":"false"`, `"ok": got "false" (a string); expected true or false`},
		{`{"time":1,`, `"time": 1 (1970-01-01T00:00:01.000Z) is before the run began`},
		{"GetItem ok", "not a JSON object; expected one JSON object per line like {"},
	}
	if len(rejected) != len(want) {
		t.Fatalf("rejected %d lines; want %d:\n%+v", len(rejected), len(want), rejected)
	}
	for i, w := range want {
		e := rejected[i]
		if e.Client != "app" || !strings.Contains(e.Line, w.line) || !strings.Contains(e.Detail, w.reason) {
			t.Errorf("rejected[%d] = line %q, reason %q; want the line %q and a reason saying %q", i, e.Line, e.Detail, w.line, w.reason)
		}
	}
	if !strings.Contains(rejected[5].Detail, "on the events pipe every line is an outcome") {
		t.Errorf("a plain line on the events pipe: %q; want it said that every line there is an outcome", rejected[5].Detail)
	}
	if o.tail.String() == "(none)" || !strings.Contains(o.tail.String(), "rejected: ") {
		t.Errorf("the tail %q lacks the rejected lines", o.tail)
	}
	joined := strings.Join(r.output, "\n")
	for _, want := range []string{"stdout: starting on :8080", "stderr: {\"this\"", "rejected outcome line (not valid JSON"} {
		if !strings.Contains(joined, want) {
			t.Errorf("the output lacks %q:\n%s", want, joined)
		}
	}
}

// The first 20 rejected lines are journaled with their text, cut to about
// 200 bytes; the later ones with the reason only.
func TestRejectedLinesKeepTheirTextTwentyTimes(t *testing.T) {
	r := newRecorder()
	o := r.outcomes("chatty")
	var lines []string
	for i := range 30 {
		lines = append(lines, fmt.Sprintf(`{"n":%d,"op":"GetItem","pad":"%s"}`, i, strings.Repeat("x", 400)))
	}
	o.scan("stdout", strings.NewReader(strings.Join(lines, "\n")))
	rejected := r.of(journal.OutcomeRejected)
	if len(rejected) != 30 {
		t.Fatalf("rejected %d; want 30", len(rejected))
	}
	for i, e := range rejected {
		switch {
		case e.Detail == "":
			t.Errorf("rejected[%d] has no reason", i)
		case i < 20 && (len(e.Line) < 150 || len(e.Line) > 210 || !strings.HasPrefix(e.Line, fmt.Sprintf(`{"n":%d,`, i))):
			t.Errorf("rejected[%d].Line = %q (%d bytes); want the line cut to about 200 bytes", i, e.Line, len(e.Line))
		case i >= 20 && e.Line != "":
			t.Errorf("rejected[%d].Line = %q; want none after the first 20", i, e.Line)
		}
	}
	if o.rejected.Load() != 30 {
		t.Errorf("counted %d", o.rejected.Load())
	}
}

// A line naming a region the experiment does not have is rejected (its
// request would count on no primary); a line without latency_ms counts in no
// latency percentile; a line longer than the bound is rejected and reading
// goes on with the next line — nothing after it is lost.
func TestRegionsLatencyAndLongLines(t *testing.T) {
	r := newRecorder()
	o := r.outcomes("app")
	now := float64(time.Now().UnixMilli()) / 1000
	line := func(region string, latency string) string {
		return fmt.Sprintf(`{"time":%.3f,"operation":"GetItem","region":%q,"ok":true%s}`, now, region, latency)
	}
	long := `{"time":1,"pad":"` + strings.Repeat("x", maxLine+10) + `"}`
	o.scan("stdout", strings.NewReader(strings.Join([]string{
		line("primary", `,"latency_ms":2`), line("us-east-1", ""), long, line("us-west-2", `,"latency_ms":3`),
	}, "\n")))
	reqs, rejected := r.of(journal.Request), r.of(journal.OutcomeRejected)
	if len(reqs) != 2 || len(rejected) != 2 {
		t.Fatalf("%d requests, %d rejected; want 2 and 2 (%+v)", len(reqs), len(rejected), rejected)
	}
	if !strings.Contains(rejected[0].Detail, `"primary" is not a region of the experiment; expected one of: us-east-1, us-west-2`) {
		t.Errorf("region rejected for %q", rejected[0].Detail)
	}
	if !strings.Contains(rejected[1].Detail, "longer than") || len(rejected[1].Line) > 2*lineBytes {
		t.Errorf("long line rejected for %q with %d bytes of it kept", rejected[1].Detail, len(rejected[1].Line))
	}
	if !reqs[0].LatencyUnknown || reqs[1].LatencyUnknown || reqs[1].Region != "us-west-2" {
		t.Errorf("requests %+v: want the first without a latency, the line after the long one read", reqs)
	}
}

func TestReadLine(t *testing.T) {
	br := bufio.NewReaderSize(strings.NewReader("abc\r\n"+strings.Repeat("y", 40)+"\nlast"), 16)
	for _, want := range []struct {
		line    string
		tooLong bool
		end     bool
	}{{"abc", false, false}, {strings.Repeat("y", 20), true, false}, {"last", false, true}} {
		line, tooLong, err := readLine(br, 20)
		if string(line) != want.line || tooLong != want.tooLong || (err != nil) != want.end {
			t.Errorf("readLine = %q, %v, %v; want %q, %v, end %v", line, tooLong, err, want.line, want.tooLong, want.end)
		}
	}
}

// Structured logging on stdout (Go's slog, pino, structlog) is logging: a
// JSON object with none of an outcome's fields is not a rejected outcome.
func TestStructuredLoggingIsNotRejected(t *testing.T) {
	r := newRecorder()
	o := r.outcomes("app")
	o.scan("stdout", strings.NewReader(strings.Join([]string{
		`{"time":"2026-12-02T05:00:00Z","level":"INFO","msg":"listening","port":8080}`,
		`{"level":30,"time":1796187121883,"pid":7,"hostname":"h","msg":"request done"}`,
		`{"event":"retrying","timestamp":"2026-12-02T05:00:00Z","level":"warning"}`,
		`{"t":1796187121883,"op":"GetItem"}`, // a near miss of the schema: an outcome, rejected
	}, "\n")))
	if got := r.of(journal.OutcomeRejected); len(got) != 1 || !strings.Contains(got[0].Line, `"op"`) {
		t.Errorf("rejected %+v; want only the near miss", got)
	}
}
