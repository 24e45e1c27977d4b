package journal

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestWriteAndReadBack(t *testing.T) {
	var buf bytes.Buffer
	j := New(&buf)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 50; k++ {
				j.Add(Event{Type: Request, T: j.Now(), Client: "c", OK: Bool(true), LatencyMS: 1})
			}
		}()
	}
	wg.Wait()
	j.Add(Event{Type: RunEnd, Status: "complete"})
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j.Add(Event{Type: Phase}) // after Close: ignored
	events, err := Read(&buf, "journal.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 401 || len(j.Events()) != 401 {
		t.Errorf("read %d events, kept %d; want 401", len(events), len(j.Events()))
	}
	if last := events[len(events)-1]; last.Type != RunEnd || last.T <= 0 {
		t.Errorf("last event %+v: want run.end stamped with a time", last)
	}
}

func TestSinceUsesTheRunClock(t *testing.T) {
	j := New(nil)
	at := j.Start().Add(1500*time.Millisecond + 250*time.Microsecond)
	if got := j.Since(at); got != 1500.25 {
		t.Errorf("Since = %v ms, want 1500.25 (milliseconds from the journal's zero, to the microsecond)", got)
	}
}

func TestTornLastLineIsIgnoredOtherBadLinesAreNot(t *testing.T) {
	good := `{"t_ms":1,"type":"run.start"}` + "\n"
	if evs, err := Read(strings.NewReader(good+`{"t_ms":2,"ty`), "j"); err != nil || len(evs) != 1 {
		t.Errorf("torn last line: %d events, %v", len(evs), err)
	}
	if _, err := Read(strings.NewReader(good+"garbage\n"+good), "j"); err == nil || !strings.Contains(err.Error(), "j:2:") {
		t.Errorf("bad middle line: %v, want an error naming line 2", err)
	}
	if _, err := Read(strings.NewReader(`{"t_ms":1}`+"\n"), "j"); err == nil || !strings.Contains(err.Error(), `no "type"`) {
		t.Errorf("event without type: %v", err)
	}
}
