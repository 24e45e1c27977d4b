package faults_test

import (
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/faults"
)

// The replication kinds: their parameters, and that they need a global
// table (the spec and the Engine refuse them otherwise).
func TestReplicationKinds(t *testing.T) {
	lag, _ := faults.Lookup("ddb.replication-lag")
	pause, _ := faults.Lookup("ddb.replication-pause")
	if !lag.Meta().NeedsReplication || !pause.Meta().NeedsReplication {
		t.Fatal("the replication kinds do not say they need a global table")
	}
	p, err := lag.Parse(map[string]string{"lag": "2s", "jitter": "500ms", "direction": "in"})
	if err != nil {
		t.Fatal(err)
	}
	if l := p.(faults.DDBReplicationLag); l.Lag != 2*time.Second || l.Jitter != 500*time.Millisecond || l.Direction != "in" || l.AddedLag() != 2500*time.Millisecond {
		t.Errorf("parsed %+v", l)
	}
	if p, _ := pause.Parse(nil); p.(faults.DDBReplicationPause).Direction != "both" {
		t.Errorf("pause's direction defaults to %q, want both", p.(faults.DDBReplicationPause).Direction)
	}
	for params, want := range map[*map[string]string]string{
		{"jitter": "1s"}:                 "required",
		{"lag": "1s", "jitter": "2s"}:    "must not exceed the lag",
		{"lag": "1s", "direction": "up"}: "expected in, out or both",
		{"lag": "11m"}:                   "must be between",
	} {
		if _, err := lag.Parse(*params); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: %v, want %q", *params, err, want)
		}
	}
	// On a world without a global table, applying says so.
	w := newWorld(t)
	if _, err := (faults.DDBReplicationPause{Direction: "both"}).Apply(w, faults.Fault{ID: "f1", Target: "us-east-1"}); err == nil ||
		!strings.Contains(err.Error(), "no global table") {
		t.Errorf("pause on a world without replication: %v", err)
	}
}
