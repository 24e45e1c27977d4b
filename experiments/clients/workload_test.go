package clients

import (
	"fmt"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/experiments/measure"
	"github.com/faultline-dev/faultline/targets/dnsstub"
	"github.com/faultline-dev/faultline/targets/dnsstub/dnsstubtest"
)

func TestReadYourWritesAgainstTheBackend(t *testing.T) {
	w := newWorld(t)
	ev := &events{}
	cfg := w.config("rw", SingleRegion, "127.0.0.41", ev)
	cfg.Operations, cfg.Workload, cfg.OwnItems = nil, ReadYourWrites, 3
	runFor(t, cfg, time.Second)
	reqs := ev.requests(false)
	if len(reqs) < 4 {
		t.Fatalf("%d requests, want a few", len(reqs))
	}
	written := map[string]int64{} // item → the latest version written
	acked := map[string][]journal.Event{}
	for i, r := range reqs {
		if !r.Succeeded() {
			t.Fatalf("request failed: %s", show(r))
		}
		wantOp, wantItem := PutItem, fmt.Sprintf("rw/item-%04d", (i/2)%3)
		if i%2 == 1 {
			wantOp, wantItem = GetItem, fmt.Sprintf("rw/item-%04d", (i/2+1)%3)
		}
		if r.Op != wantOp || r.Item != wantItem {
			t.Errorf("request %d: %s; want %s of %s", i, show(r), wantOp, wantItem)
		}
		if r.Op == PutItem {
			if r.ItemVersion == nil || *r.ItemVersion != written[r.Item]+1 {
				t.Errorf("write %s; want version %d of %s", show(r), written[r.Item]+1, r.Item)
			} else {
				written[r.Item] = *r.ItemVersion
			}
			acked[r.Item] = append(acked[r.Item], r)
		}
	}
	// A read returns a version written, and one no older than every write of
	// the item acknowledged before the read started (strongly consistent,
	// one region).
	for _, r := range reqs {
		if r.Op != GetItem {
			continue
		}
		var newest int64
		for _, a := range acked[r.Item] {
			if a.End() <= r.T {
				newest = max(newest, *a.ItemVersion)
			}
		}
		switch {
		case r.ItemVersion == nil && newest > 0:
			t.Errorf("read %s found no item; version %d had been acknowledged", show(r), newest)
		case r.ItemVersion == nil && r.Detail != "no item":
			t.Errorf("read of a missing item %s; want detail \"no item\"", show(r))
		case r.ItemVersion != nil && (*r.ItemVersion < newest || *r.ItemVersion > written[r.Item]):
			t.Errorf("read %s; want a version in [%d, %d]", show(r), newest, written[r.Item])
		}
	}
}

// A failover client with the read-your-writes workload finds none of its
// items in us-west-2 (no global table: each region's table on its own):
// the reads there are stale, and the metrics say so, with what needs a
// global table null.
func TestReadYourWritesFailoverReadsStale(t *testing.T) {
	w := newWorld(t)
	ev := &events{}
	cfg := w.config("rwf", Failover, "127.0.0.42", ev)
	cfg.Operations, cfg.Workload, cfg.OwnItems = nil, ReadYourWrites, 2
	cfg.ProbeInterval = time.Hour // stay in us-west-2
	runFor(t, cfg, 1600*time.Millisecond,
		step{500 * time.Millisecond, func() {
			dnsstubtest.Rule(t, w.dns, dnsstub.Rule{Name: east, Fault: "f1", Action: dnsstub.Empty(dnsstub.EmptyOptions{})})
		}})
	events := append([]journal.Event{{Type: journal.RunStart}, cfg.StartEvent()}, ev.requests(false)...)
	var missing int
	for _, r := range ev.requests(false) {
		if r.Region == "us-west-2" && r.Op == GetItem && r.Succeeded() && r.ItemVersion == nil {
			missing++
		}
	}
	if missing == 0 {
		t.Fatalf("no read in us-west-2 found its item missing: %v", ev.requests(false))
	}
	m := measure.Summarize(events).Clients[0].Metrics
	if m.StaleReadsAfterFailover == nil || *m.StaleReadsAfterFailover == 0 {
		t.Errorf("stale_reads_after_failover = %v, want some", m.StaleReadsAfterFailover)
	}
	if m.WritesAtRisk != nil || m.LostWrites != nil {
		t.Errorf("without a global table writes at risk and lost writes are null: %v %v", m.WritesAtRisk, m.LostWrites)
	}
}

func TestWorkloadValidation(t *testing.T) {
	w := newWorld(t)
	cfg := w.config("v", SingleRegion, "127.0.0.43", &events{})
	cfg.Workload = "write-heavy"
	if err := cfg.Validate(); err == nil {
		t.Error("an unknown workload was accepted")
	}
	cfg.Workload = ReadYourWrites // with operations [GetItem, PutItem]
	if err := cfg.Validate(); err == nil {
		t.Error("read-your-writes with operations of its own was accepted")
	}
	cfg.Operations = nil
	if err := cfg.Validate(); err != nil {
		t.Error(err)
	}
}
