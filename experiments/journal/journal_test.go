package journal

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestWriteAndReadBack(t *testing.T) {
	var buf bytes.Buffer
	j := New(&buf)
	var rec Recorder
	seen := 0
	j.Observe(rec.Add)
	j.Observe(func(Event) { seen++ }) // under the journal's lock: no race
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
	if len(events) != 401 || len(rec.Events()) != 401 || seen != 401 {
		t.Errorf("read %d events, observed %d and %d; want 401", len(events), len(rec.Events()), seen)
	}
	for i, e := range rec.Events() {
		if e.Type != events[i].Type || e.T != events[i].T {
			t.Fatalf("event %d observed as %+v, written as %+v: observers see the file's order", i, e, events[i])
		}
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

func TestScanStreamsAndStops(t *testing.T) {
	in := `{"t_ms":1,"type":"run.start"}` + "\n" + `{"t_ms":2,"type":"phase"}` + "\n" + `{"t_ms":3,"type":"run.end"}` + "\n"
	var got []string
	stop := errors.New("enough")
	err := Scan(strings.NewReader(in), "j", func(e Event) error {
		got = append(got, e.Type)
		if len(got) == 2 {
			return stop
		}
		return nil
	})
	if err != stop || len(got) != 2 {
		t.Errorf("Scan = %v after %v; want the callback's error after two events", err, got)
	}
}

func TestStampsComeInFileOrder(t *testing.T) {
	// A stamped event is never before an event recorded ahead of it that
	// carried its own (earlier) time: the stamp is read under the lock.
	var rec Recorder
	j := New(nil)
	j.Observe(rec.Add)
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 200; k++ {
				if k%2 == 0 {
					j.Add(Event{Type: Phase})
				} else {
					j.Add(Event{Type: DNSQuery, T: j.Now()})
				}
			}
		}()
	}
	wg.Wait()
	last := -1.0
	for _, e := range rec.Events() {
		if e.Type == Phase {
			if e.T < last {
				t.Fatalf("a stamped event at %v follows one at %v", e.T, last)
			}
		}
		last = max(last, e.T)
	}
}
