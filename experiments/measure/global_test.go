package measure

import (
	"fmt"
	"math/rand"
	"sort"
	"testing"

	"github.com/faultline-dev/faultline/experiments/assert"
	"github.com/faultline-dev/faultline/experiments/journal"
)

const east, west = "us-east-1", "us-west-2"

func v(n int64) *int64 { return &n }

// item requests: a write (PutItem) or a read (GetItem) of the client's item,
// 10 ms long; version nil on a read: no item.
func (e j) put(client, region string, t float64, item string, version int64) j {
	return append(e, journal.Event{T: t, Type: journal.Request, Client: client, Region: region, Op: "PutItem", LatencyMS: 10,
		OK: journal.Bool(true), Item: item, ItemVersion: v(version)})
}

func (e j) get(client, region string, t float64, item string, version *int64) j {
	return append(e, journal.Event{T: t, Type: journal.Request, Client: client, Region: region, Op: "GetItem", LatencyMS: 10,
		OK: journal.Bool(true), Item: item, ItemVersion: version})
}

func (e j) failed(client, region string, t float64) j {
	return append(e, journal.Event{T: t, Type: journal.Request, Client: client, Region: region, Op: "PutItem", LatencyMS: 10,
		OK: journal.Bool(false), Error: "dns-notfound"})
}

func (e j) ddbWrite(region string, t float64, item string, version int64) j {
	return append(e, journal.Event{T: t, Type: journal.DDBWrite, Region: region, Name: "orders", Item: item, ItemVersion: v(version), Op: "PutItem"})
}

func (e j) replicated(from, to string, written, t float64, item string, version int64, status string) j {
	return append(e, journal.Event{T: t, Type: journal.DDBReplicated, Region: from, To: to, Name: "orders", Item: item,
		ItemVersion: v(version), WrittenMS: f(written), Status: status})
}

func (e j) replication(from, to string, t float64, status string) j {
	return append(e, journal.Event{T: t, Type: journal.DDBReplication, Region: from, To: to, Status: status, Fault: "f1"})
}

func (e j) at(t float64, typ string) j { return append(e, journal.Event{T: t, Type: typ}) }

// failoverJournal: the client writes v1 and v2 in us-east-1; v1 reaches
// us-west-2 at 305, then replication from us-east-1 pauses with v2 in its
// backlog; the client fails over at 500 and reads v1 (stale), writes v3 in
// us-west-2 (a conflict with v2), reads an item it never wrote; the heal at
// 1000; v2 arrives superseded, v3 reaches us-east-1 at 1200, the client
// fails back at 1300.
func failoverJournal(lastStatus string) j {
	end := 1000.0
	e := j{{T: 0, Type: journal.RunStart, Detail: "global"}}.client("app", east, "127.0.0.10")
	e = e.put("app", east, 100, "app/k0", 1).ddbWrite(east, 105, "app/k0", 1)
	e = e.put("app", east, 200, "app/k0", 2).ddbWrite(east, 205, "app/k0", 2)
	e = e.replicated(east, west, 105, 305, "app/k0", 1, "applied")
	e = e.fault("f1", "dns.empty", east, 300, nil).replication(east, west, 300, "paused")
	e = e.failed("app", east, 400)
	e = e.get("app", west, 500, "app/k0", v(1))
	e = e.put("app", west, 600, "app/k0", 3).ddbWrite(west, 605, "app/k0", 3)
	e = e.get("app", west, 700, "app/k9", nil)
	e = append(e, journal.Event{T: end, Type: journal.FaultHealed, Fault: "f1", Kind: "dns.empty", Target: east})
	e = e.replication(east, west, end, "resumed")
	if lastStatus == "superseded" {
		// last-writer-wins kept v2: v3 is lost everywhere
		e = e.replicated(east, west, 205, 1100, "app/k0", 2, "applied")
		e = e.replicated(west, east, 605, 1200, "app/k0", 3, "superseded")
	} else {
		e = e.replicated(east, west, 205, 1100, "app/k0", 2, "superseded")
		e = e.replicated(west, east, 605, 1200, "app/k0", 3, "applied")
	}
	e = e.get("app", east, 1300, "app/k0", v(3))
	return append(e, journal.Event{T: 1500, Type: journal.RunEnd, Status: "complete"})
}

func intIs(t *testing.T, name string, got *int, want int) {
	t.Helper()
	if got == nil || *got != want {
		t.Errorf("%s = %v, want %d", name, intStr(got), want)
	}
}

func intStr(p *int) any {
	if p == nil {
		return "null"
	}
	return *p
}

func msIs(t *testing.T, name string, got *float64, want float64) {
	t.Helper()
	if got == nil || *got != want {
		t.Errorf("%s = %s, want %v", name, str(got), want)
	}
}

func TestGlobalMetricsOfAFailoverWithABacklog(t *testing.T) {
	s := summarize(failoverJournal("applied"))
	m := s.Clients[0].Metrics
	intIs(t, "writes_at_risk", m.WritesAtRisk, 1) // v2, acknowledged at 210, not in us-west-2 at 500
	msIs(t, "rpo_ms", m.RPOMS, 290)
	intIs(t, "stale_reads_after_failover", m.StaleReadsAfterFailover, 1) // v1 read after v2 acknowledged; app/k9 unknown: not stale
	intIs(t, "lost_writes", m.LostWrites, 0)
	intIs(t, "conflicting_writes", m.ConflictingWrites, 1) // v3 in us-west-2 while v2 had not arrived
	msIs(t, "convergence_ms", m.ConvergenceMS, 200)        // the backlog at the heal (1000) arrived by 1200
	msIs(t, "replication_lag_max_ms", m.ReplicationLagMaxMS, 895)
	msIs(t, "replication_lag_p50_ms", m.ReplicationLagP50MS, 595)
	r := s.Replication
	if r == nil || len(r.Directions) != 2 || !r.Converged || r.ConflictingWrites != 1 || r.Items != 1 {
		t.Fatalf("replication = %s", jsonOf(r))
	}
	d := r.Directions[0] // us-east-1 → us-west-2
	if d.From != east || d.To != west || d.Applied != 1 || d.Superseded != 1 || d.Pauses != 1 || *d.LagMaxMS != 895 || *d.LagP50MS != 547.5 {
		t.Errorf("east → west = %s", jsonOf(d))
	}
	if w := r.Directions[1]; w.Applied != 1 || *w.LagP99MS != 595 {
		t.Errorf("west → east = %s", jsonOf(w))
	}
	for _, name := range GlobalMetrics {
		if _, err := assert.ParseExpr(name + " >= 0"); err != nil {
			t.Errorf("the assertion grammar refuses %s: %v", name, err)
		}
		if _, ok := m.Value(name); !ok {
			t.Errorf("%s has no value", name)
		}
	}
}

func TestLastWriterWinsLosesAnAcknowledgedWrite(t *testing.T) {
	m := summarize(failoverJournal("superseded")).Clients[0].Metrics
	intIs(t, "lost_writes", m.LostWrites, 1) // v3: both replicas hold v2
	// the backlog drained at 1200, when v3 reached us-east-1 (superseded there)
	msIs(t, "convergence_ms", m.ConvergenceMS, 200)
}

func TestNoGlobalTable(t *testing.T) {
	// The same client's requests without any ddb.* event: each region's
	// table on its own. Stale reads are still what the client saw; the rest
	// is null.
	var e j
	for _, ev := range failoverJournal("applied") {
		if !oracleIsDDB(ev) {
			e = append(e, ev)
		}
	}
	s := summarize(e)
	m := s.Clients[0].Metrics
	if s.Replication != nil || m.WritesAtRisk != nil || m.RPOMS != nil || m.LostWrites != nil || m.ConflictingWrites != nil ||
		m.ConvergenceMS != nil || m.ReplicationLagP99MS != nil {
		t.Errorf("without a global table: %s, replication %s", jsonOf(m), jsonOf(s.Replication))
	}
	intIs(t, "stale_reads_after_failover", m.StaleReadsAfterFailover, 1)
	if _, ok := m.Value("lost_writes"); ok {
		t.Error("lost_writes has a value without a global table")
	}
}

func TestUnversionedWorkloadIsNull(t *testing.T) {
	// The default workload: no item, no version; a global table all the same.
	e := j{{T: 0, Type: journal.RunStart}}.client("app", east, "127.0.0.10").reqs("app", 0, "..xxss..")
	e = e.ddbWrite(east, 50, "seed", 1).replicated(east, west, 50, 90, "seed", 1, "applied")
	m := summarize(e).Clients[0].Metrics
	if m.WritesAtRisk != nil || m.StaleReadsAfterFailover != nil || m.LostWrites != nil || m.ConflictingWrites != nil || m.RPOMS != nil {
		t.Errorf("an unversioned workload: %s", jsonOf(m))
	}
	msIs(t, "replication_lag_p99_ms", m.ReplicationLagP99MS, 40)
	if m.ConvergenceMS != nil {
		t.Errorf("convergence without a heal: %v", *m.ConvergenceMS)
	}
}

func TestPauseUntilTheEndDropsAndNeverConverges(t *testing.T) {
	e := j{{T: 0, Type: journal.RunStart}}.client("app", east, "127.0.0.10")
	e = e.replication(east, west, 10, "paused")
	e = e.put("app", east, 100, "app/k0", 1).ddbWrite(east, 105, "app/k0", 1)
	e = e.put("app", east, 200, "app/k0", 2).ddbWrite(east, 205, "app/k0", 2)
	e = e.fault("f1", "ddb.replication-pause", east, 10, f(900))
	e = e.replicated(east, west, 105, 1000, "app/k0", 1, "dropped").replicated(east, west, 205, 1000, "app/k0", 2, "dropped")
	e = append(e, journal.Event{T: 1000, Type: journal.RunEnd, Status: "complete"})
	s := summarize(e)
	m := s.Clients[0].Metrics
	if s.Replication == nil || s.Replication.Converged || s.Replication.ConvergenceMS != nil || m.ConvergenceMS != nil {
		t.Errorf("a backlog never delivered converged: %s", jsonOf(s.Replication))
	}
	if d := s.Replication.Directions[0]; d.Dropped != 2 || d.Pauses != 1 || d.LagP99MS != nil {
		t.Errorf("direction = %s", jsonOf(d))
	}
	if m.WritesAtRisk != nil || m.ReplicationLagMaxMS != nil {
		t.Errorf("no switch, no lag: %s", jsonOf(m))
	}
	intIs(t, "lost_writes", m.LostWrites, 0) // us-east-1 holds v2
}

// Random journals of global tables: clients writing and reading versioned
// items, switching regions now and then, replicas acknowledging and
// replicating with random lag, some writes superseded or dropped, pauses;
// journaled as a run writes them (requests when they end). The fold agrees
// with the oracle on each.
func TestGlobalFoldAgreesWithTheOracleOnRandomJournals(t *testing.T) {
	regions := []string{east, west, "eu-west-1"}
	for seed := int64(1); seed <= 60; seed++ {
		rng := rand.New(rand.NewSource(seed))
		type timed struct {
			at float64
			e  journal.Event
		}
		var evs []timed
		add := func(at float64, e journal.Event) { evs = append(evs, timed{at, e}) }
		add(0, journal.Event{T: 0, Type: journal.RunStart, Detail: "random-global"})
		nr := 2 + rng.Intn(2)
		heal := 2000 + rng.Float64()*3000
		add(1000, journal.Event{T: 1000, Type: journal.FaultApplied, Fault: "f1", Kind: "dns.empty", Target: east})
		add(heal, journal.Event{T: heal, Type: journal.FaultHealed, Fault: "f1", Kind: "dns.empty", Target: east})
		if rng.Intn(2) == 0 {
			add(1000, journal.Event{T: 1000, Type: journal.DDBReplication, Region: east, To: west, Status: "paused"})
			add(heal, journal.Event{T: heal, Type: journal.DDBReplication, Region: east, To: west, Status: "resumed"})
		}
		end := 8000.0
		statuses := []string{"applied", "applied", "applied", "superseded", "dropped"}
		if seed%3 == 0 {
			statuses = statuses[:4] // everything arrives: the replicas may converge
		}
		for ci, name := range []string{"a", "b"}[:1+rng.Intn(2)] {
			add(1, journal.Event{T: 1, Type: journal.ClientStart, Client: name, Strategy: "failover", Region: east, Addr: fmt.Sprintf("127.0.0.%d", 10+ci)})
			region, version := east, map[string]int64{}
			for t0 := 10.0; t0 < end-500; t0 += 20 + rng.Float64()*80 {
				if rng.Intn(15) == 0 {
					region = regions[rng.Intn(nr)]
				}
				item := fmt.Sprintf("%s/item-%d", name, rng.Intn(3))
				lat := 1 + rng.Float64()*20
				ok := rng.Intn(12) != 0
				e := journal.Event{T: t0, Type: journal.Request, Client: name, Region: region, LatencyMS: lat, OK: journal.Bool(ok), Item: item}
				if !ok {
					e.Error = "dns-notfound"
				}
				if rng.Intn(2) == 0 {
					e.Op = "PutItem"
					version[item]++
					e.ItemVersion = v(version[item])
					if ok {
						written := t0 + lat/2
						add(written, journal.Event{T: written, Type: journal.DDBWrite, Region: region, Item: item, ItemVersion: v(version[item]), Client: name, Op: "PutItem"})
						for _, to := range regions[:nr] {
							if to == region {
								continue
							}
							at, status := written+rng.ExpFloat64()*300, statuses[rng.Intn(len(statuses))]
							if status == "dropped" {
								at = end
							}
							add(at, journal.Event{T: at, Type: journal.DDBReplicated, Region: region, To: to, Item: item, ItemVersion: v(version[item]), WrittenMS: f(written), Status: status})
						}
					}
				} else {
					e.Op = "GetItem"
					if n := version[item]; n > 0 && rng.Intn(4) != 0 {
						e.ItemVersion = v(rng.Int63n(n + 1))
					}
				}
				add(e.End(), e)
			}
		}
		add(end, journal.Event{T: end, Type: journal.RunEnd, Status: "complete"})
		sort.SliceStable(evs, func(i, j int) bool { return evs[i].at < evs[j].at })
		var events []journal.Event
		for _, te := range evs {
			events = append(events, te.e)
		}
		got := summarize(events)
		if d := diffSummaries(got, oracleSummarize(events)); d != "" {
			t.Fatalf("seed %d: the fold's summary differs from the oracle's:\n%s", seed, d)
		}
		if seed <= 3 || got.Replication.Converged {
			t.Logf("seed %d: %s %s", seed, jsonOf(got.Clients[0].Metrics), jsonOf(got.Replication))
		}
		if got.Replication == nil {
			t.Fatalf("seed %d: no replication", seed)
		}
	}
}

// Writes after the heal do not hold convergence open: only the backlog the
// heal found counts, even when a later write never arrives.
func TestConvergenceIsTheBacklogAtTheHeal(t *testing.T) {
	e := failoverJournal("applied")
	e = e[:len(e)-1] // run.end
	e = e.put("app", east, 1400, "app/k0", 4).ddbWrite(east, 1405, "app/k0", 4)
	e = e.replicated(east, west, 1405, 1500, "app/k0", 4, "dropped")
	e = append(e, journal.Event{T: 1500, Type: journal.RunEnd, Status: "complete"})
	s := summarize(e)
	msIs(t, "convergence_ms", s.Clients[0].Metrics.ConvergenceMS, 200)
	if s.Replication.Converged {
		t.Error("the replicas disagree at the end (v4 never reached us-west-2), yet converged is true")
	}
}

// On a strongly consistent table (its writes journaled with detail strong)
// an acknowledged write is on a majority: the eventual mode's risk measures
// are null, not counts of replicas the write had yet to reach; stale reads
// are still measured.
func TestStrongTableHasNoEventualRiskMetrics(t *testing.T) {
	events := failoverJournal("applied")
	for i := range events {
		if events[i].Type == journal.DDBWrite || events[i].Type == journal.DDBReplicated {
			events[i].Detail = journal.StrongConsistency
		}
	}
	m := summarize(events).Clients[0].Metrics
	for name, v := range map[string]*int{"writes_at_risk": m.WritesAtRisk, "lost_writes": m.LostWrites, "conflicting_writes": m.ConflictingWrites} {
		if v != nil {
			t.Errorf("%s = %d on a strongly consistent table, want null", name, *v)
		}
	}
	if m.RPOMS != nil {
		t.Errorf("rpo_ms = %v on a strongly consistent table, want null", *m.RPOMS)
	}
	intIs(t, "stale_reads_after_failover", m.StaleReadsAfterFailover, 1)
}

// The replica that makes a strong write's majority applies it before its
// source acknowledges it: that is no lag, not a negative one.
func TestReplicationAppliedBeforeTheAcknowledgementIsNoLag(t *testing.T) {
	events := j{{T: 0, Type: journal.RunStart, Detail: "global"}}.client("app", east, "127.0.0.10").
		put("app", "us-east-1", 90, "k1", 1).
		ddbWrite("us-east-1", 100, "k1", 1).
		replicated("us-east-1", "us-west-2", 100, 95, "k1", 1, "applied").
		replicated("us-east-1", "us-east-2", 100, 130, "k1", 1, "applied")
	for i := range events {
		if events[i].Type == journal.DDBWrite || events[i].Type == journal.DDBReplicated {
			events[i].Detail = journal.StrongConsistency
		}
	}
	events = append(events, journal.Event{T: 200, Type: journal.RunEnd, Status: "complete"})
	m := summarize(events).Clients[0].Metrics
	if m.ReplicationLagP50MS == nil || *m.ReplicationLagP50MS < 0 || m.ReplicationLagMaxMS == nil || *m.ReplicationLagMaxMS != 30 {
		t.Fatalf("replication lag p50 %v, max %v: want no negative lag and a max of 30 ms", fmtMS(m.ReplicationLagP50MS), fmtMS(m.ReplicationLagMaxMS))
	}
}

func fmtMS(p *float64) any {
	if p == nil {
		return "null"
	}
	return *p
}
