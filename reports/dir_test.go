package reports

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/experiments/measure"
)

// WriteDir writes every report of a run's directory; "" writes nothing.
func TestWriteDir(t *testing.T) {
	events := []journal.Event{
		{T: 0, Type: journal.RunStart, Detail: "x"},
		{T: 10, Type: journal.RunEnd, Status: "complete"},
	}
	s := measure.Summarize(events)
	if err := WriteDir("", s, TraceOf(events)); err != nil {
		t.Fatalf("WriteDir(\"\") = %v, want nil", err)
	}
	dir := t.TempDir()
	if err := WriteDir(dir, s, TraceOf(events)); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"report.json", "report.md", "junit.xml", "report.html"} {
		if info, err := os.Stat(filepath.Join(dir, name)); err != nil || info.Size() == 0 {
			t.Errorf("%s: %v (empty or missing)", name, err)
		}
	}
	if err := WriteDir(filepath.Join(dir, "missing"), s, TraceOf(events)); err == nil {
		t.Error("WriteDir into a missing directory succeeded")
	}
}
