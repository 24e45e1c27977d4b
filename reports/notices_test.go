package reports

import (
	"bytes"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/experiments/measure"
)

// An application whose lines were all rejected, and a starved harness: every
// report says so before its numbers, and none reads as a pass.
func TestEveryReportSaysWhyTheNumbersCannotBeTrusted(t *testing.T) {
	line := `{"t": 1795446245123, "op": "GetItem"}`
	ev := journalOf()
	end := ev[len(ev)-1]
	ev = append(ev[:len(ev)-1],
		journal.Event{T: 1, Type: journal.ClientStart, Client: "orders", Strategy: "app", Region: "us-east-1", Addr: "127.0.99.54"},
		journal.Event{T: 0, Type: journal.Phase, Detail: "experiment"},
		journal.Event{T: 700, Type: journal.HarnessLag, LagMS: 640},
	)
	for i := 0; i < 5; i++ {
		ev = append(ev, journal.Event{T: 200, Type: journal.OutcomeRejected, Client: "orders", Detail: `"time": missing`, Line: line})
	}
	ev = append(ev, end)
	s := measure.Summarize(ev)
	if s.Verdict != measure.Invalid {
		t.Fatalf("verdict %s, want invalid", s.Verdict)
	}
	var term, md, junit bytes.Buffer
	if err := Terminal(&term, s, TraceOf(ev)); err != nil {
		t.Fatal(err)
	}
	if err := Markdown(&md, s, TraceOf(ev)); err != nil {
		t.Fatal(err)
	}
	if err := JUnit(&junit, s, TraceOf(ev)); err != nil {
		t.Fatal(err)
	}
	data := chartData(s, TraceOf(ev))
	html := strings.Join(data.Notices, "\n") + data.Harness
	for name, text := range map[string]string{"terminal": term.String(), "report.md": md.String(), "junit.xml": junit.String(), "report.html": html} {
		for _, want := range []string{"client orders was not measured", "harness was starved", "640 ms"} {
			if !strings.Contains(text, want) && !strings.Contains(text, strings.ReplaceAll(want, "harness was starved", "harness STARVED")) {
				t.Errorf("%s does not say %q:\n%s", name, want, text)
			}
		}
	}
	if !strings.Contains(term.String(), "INVALID") {
		t.Errorf("terminal verdict line: %s", term.String())
	}
}

func TestRejectedLinesWithinTheShareAreStillShown(t *testing.T) {
	c := measure.ClientReport{Name: "orders", Requests: 100, Rejected: 2,
		RejectedSamples: []measure.Rejection{{Reason: `"ok": expected true or false`, Line: `{"ok":"yes"}`}}}
	got := notices(measure.Summary{Verdict: measure.Pass, Clients: []measure.ClientReport{c}})
	if len(got) != 1 || !strings.Contains(got[0], "2 outcome lines rejected") || !strings.Contains(got[0], `{"ok":"yes"}`) {
		t.Errorf("notices = %q", got)
	}
}
