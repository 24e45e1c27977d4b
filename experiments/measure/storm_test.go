package measure

import (
	"cmp"
	"slices"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/experiments/assert"
	"github.com/faultline-dev/faultline/experiments/journal"
)

// stormJournal writes a retry storm by hand: a fleet of 2,000 on legacy
// retries against a backend of 100 requests/s. Seconds 1–10 are steady (50
// offered and served, p99 5 ms, no retry: 55 attempts for 50 logical
// requests); the record is empty from 10 s to 20 s (the backend sees
// nothing, the fleet retries: 150 attempts for 50, none served); from 21 s
// on, second by second, after(s) says what the backend and the fleet did.
// The run ends at end seconds.
type stormSecond struct {
	offered, served, throttled, queue int
	p99                               float64
	logical, attempts, ok             int
}

var (
	steadySecond     = stormSecond{offered: 55, served: 55, p99: 5, logical: 50, attempts: 55, ok: 50}
	overloadedSecond = stormSecond{offered: 400, served: 100, throttled: 300, queue: 60, p99: 900, logical: 50, attempts: 400, ok: 10}
)

func stormJournal(end int, window float64, after func(s int) stormSecond, extra ...journal.Event) []journal.Event {
	evs := []journal.Event{
		{T: 0.001, Type: journal.RunStart, Detail: "storm", MetastableAfterMS: window},
		{T: 0.5, Type: journal.DDBCapacity, Region: "us-east-1", Load: &journal.Load{CapacityRPS: 100, Burst: 20}},
		{T: 0.6, Type: journal.FleetStart, Client: "herd", Strategy: "legacy", Region: "us-east-1", Rate: 50, Size: 2000, TimeoutMS: 1000},
	}
	evs = append(evs, extra...)
	for s := 1; s <= end; s++ {
		t := float64(s * 1000)
		if s == 10 {
			evs = append(evs, journal.Event{T: 10_000, Type: journal.FaultApplied, Fault: "f1", Kind: "dns.empty",
				Target: "dynamodb.us-east-1.amazonaws.com.", Reach: ReachDNS})
		}
		if s == 20 {
			evs = append(evs, journal.Event{T: 20_000, Type: journal.FaultHealed, Fault: "f1", Kind: "dns.empty"})
		}
		var x stormSecond
		switch {
		case s <= 10:
			x = steadySecond
		case s <= 20:
			x = stormSecond{logical: 50, attempts: 150}
		default:
			x = after(s)
		}
		// The backend's tick and the fleet's are not the same instant.
		evs = append(evs,
			journal.Event{T: t + 3, Type: journal.DDBLoad, Region: "us-east-1", Load: &journal.Load{Offered: x.offered, Served: x.served,
				Throttled: x.throttled, Queue: x.queue, P50MS: x.p99 / 2, P99MS: x.p99}},
			journal.Event{T: t + 7, Type: journal.FleetLoad, Client: "herd", Load: &journal.Load{Logical: x.logical, Offered: x.attempts,
				Served: x.ok, Throttled: x.throttled, Failed: x.logical - x.ok, P99MS: 40}})
	}
	return append(evs, journal.Event{T: float64(end*1000) + 100, Type: journal.RunEnd, Status: "complete"})
}

// val is a metric's value as the reports write it ("null" for nil).
func val(p *float64) string { return valueText(p) }

func wantValue(t *testing.T, name string, got *float64, want float64) {
	t.Helper()
	if got == nil || *got != want {
		t.Errorf("%s = %s, want %g", name, val(got), want)
	}
}

func wantNull(t *testing.T, st *Storm, name, reasonHas string) {
	t.Helper()
	if v, ok := st.Value(name); ok {
		t.Errorf("%s = %g, want null (%s)", name, v, reasonHas)
		return
	}
	if why := st.Why(name); !strings.Contains(why, reasonHas) {
		t.Errorf("%s is null because %q, want a reason saying %q", name, why, reasonHas)
	}
}

func TestStormThatStaysOverloadedIsMetastable(t *testing.T) {
	s := summarize(stormJournal(60, 0, func(int) stormSecond { return overloadedSecond }))
	st := s.Storm
	if st == nil {
		t.Fatal("no storm in the summary")
	}
	wantValue(t, "steady_rps", st.SteadyRPS, 55)
	wantValue(t, "steady_p99_ms", st.SteadyP99MS, 5)
	wantValue(t, "peak_after_heal_rps", st.PeakAfterHealRPS, 400)
	wantValue(t, "recovery_surge", st.RecoverySurge, *ptr(400.0 / 55))
	if st.Metastable == nil || !*st.Metastable {
		t.Errorf("metastable = %v, want true: throttling 40 s after the heal with nothing faulted", st.Metastable)
	}
	wantNull(t, st, MetricDrainMS, "still overloaded")
	if st.MetastableAfterMS != DefaultMetastableAfterMS {
		t.Errorf("window %g, want the default %g", st.MetastableAfterMS, DefaultMetastableAfterMS)
	}
	// Attempts per logical request: 55/50 before, 150/50 during, 400/50 after.
	wantValue(t, "amplification_before", st.Amplification.Before, 1.1)
	wantValue(t, "amplification_during", st.Amplification.During, 3)
	wantValue(t, "amplification_after", st.Amplification.After, 8)
	wantValue(t, "goodput_before_rps", st.Goodput.Before, 50)
	wantValue(t, "goodput_during_rps", st.Goodput.During, 0)
	wantValue(t, "goodput_after_rps", st.Goodput.After, 10)
	if len(st.Server) != 60 || st.Server[0].TMS != 1000 || st.Server[59].Throttled != 300 {
		t.Errorf("server series: %d seconds, first %+v", len(st.Server), st.Server[0])
	}
	if len(st.Capacity) != 1 || st.Capacity[0].RPS != 100 || len(st.Fleets) != 1 || st.Fleets[0].Size != 2000 || st.Fleets[0].Retry != "legacy" {
		t.Errorf("capacity %+v, fleets %+v", st.Capacity, st.Fleets)
	}
}

func TestStormThatDrainsIsNotMetastable(t *testing.T) {
	// Overloaded for seconds 21–25, then one good second, one bad, then
	// good: the drain starts at the run of three good seconds (28–30), the
	// second ending at 28 s starting at 27 s, 7 s after the heal.
	bad := []int{21, 22, 23, 24, 25, 27}
	s := summarize(stormJournal(60, 0, func(sec int) stormSecond {
		if slices.Contains(bad, sec) {
			return overloadedSecond
		}
		x := steadySecond
		x.p99 = 14 // within steady + 10 ms: back
		return x
	}))
	st := s.Storm
	wantValue(t, "drain_ms", st.DrainMS, 7000)
	if st.Metastable == nil || *st.Metastable {
		t.Errorf("metastable = %v, want false: drained 7 s after the heal, within 30 s", st.Metastable)
	}
	if len(st.Nulls) != 0 {
		t.Errorf("nulls %+v, want none", st.Nulls)
	}
}

func TestDrainTakesLatencyIntoAccount(t *testing.T) {
	// Nothing throttled or queued after the heal, but the p99 stays at
	// 40 ms (steady 5 ms: the bound is 15 ms) until 45 s: drained at 44 s,
	// past a window of 10 s.
	s := summarize(stormJournal(60, 10_000, func(sec int) stormSecond {
		x := steadySecond
		if sec <= 45 {
			x.p99 = 40
		}
		return x
	}))
	wantValue(t, "drain_ms", s.Storm.DrainMS, 25_000)
	if m := s.Storm.Metastable; m == nil || !*m {
		t.Errorf("metastable = %v, want true: slow for 25 s with a window of 10 s", m)
	}
	if s.Storm.MetastableAfterMS != 10_000 {
		t.Errorf("window %g, want run.start's 10000", s.Storm.MetastableAfterMS)
	}
}

func TestStormMetricsWithoutWhatMeasuresThemAreNull(t *testing.T) {
	t.Run("no load events at all", func(t *testing.T) {
		s := summarize([]journal.Event{{T: 0.001, Type: journal.RunStart}, {T: 1000, Type: journal.RunEnd, Status: "complete"}})
		if s.Storm != nil {
			t.Fatalf("storm %+v without any load event", s.Storm)
		}
		wantNull(t, s.Storm, MetricMetastable, "no ddb.load or fleet.load")
	})
	t.Run("fleets only, no backend capacity", func(t *testing.T) {
		var evs []journal.Event
		for _, e := range stormJournal(40, 0, func(int) stormSecond { return overloadedSecond }) {
			if e.Type != journal.DDBLoad && e.Type != journal.DDBCapacity {
				evs = append(evs, e)
			}
		}
		st := summarize(evs).Storm
		for _, m := range []string{MetricSteadyRPS, MetricRecoverySurge, MetricDrainMS, MetricMetastable} {
			wantNull(t, st, m, "no ddb.load")
		}
		wantValue(t, "amplification_after", st.Amplification.After, 8)
	})
	t.Run("no fault", func(t *testing.T) {
		var evs []journal.Event
		for _, e := range stormJournal(40, 0, func(int) stormSecond { return steadySecond }) {
			if e.Type != journal.FaultApplied && e.Type != journal.FaultHealed {
				evs = append(evs, e)
			}
		}
		st := summarize(evs).Storm
		if st.SteadyRPS == nil {
			t.Error("steady_rps is null: the whole run is before the (absent) faults")
		}
		for _, m := range []string{MetricRecoverySurge, MetricDrainMS, MetricMetastable, MetricAmplificationDuring, MetricGoodputAfter} {
			wantNull(t, st, m, "no fault was applied")
		}
	})
	t.Run("a fault never healed", func(t *testing.T) {
		var evs []journal.Event
		for _, e := range stormJournal(40, 0, func(int) stormSecond { return overloadedSecond }) {
			if e.Type != journal.FaultHealed {
				evs = append(evs, e)
			}
		}
		st := summarize(evs).Storm
		for _, m := range []string{MetricRecoverySurge, MetricDrainMS, MetricMetastable, MetricAmplificationAfter} {
			wantNull(t, st, m, "f1 was never healed")
		}
		wantValue(t, "amplification_during", st.Amplification.During, *ptr((10*150 + 20*400) / (30 * 50.0)))
	})
	t.Run("no steady period before the fault", func(t *testing.T) {
		var evs []journal.Event
		for _, e := range stormJournal(60, 0, func(int) stormSecond { return steadySecond }) {
			if (e.Type == journal.DDBLoad || e.Type == journal.FleetLoad) && e.T < 11_000 {
				continue // the load began with the fault (the second ending at 10 s is before it)
			}
			evs = append(evs, e)
		}
		st := summarize(evs).Storm
		for _, m := range []string{MetricSteadyRPS, MetricRecoverySurge, MetricDrainMS, MetricMetastable} {
			wantNull(t, st, m, "before the first fault")
		}
		wantNull(t, st, MetricAmplificationBefore, "no fleet load measured before the first fault")
	})
	t.Run("load not measured long enough after the heal", func(t *testing.T) {
		st := summarize(stormJournal(35, 0, func(int) stormSecond { return overloadedSecond })).Storm
		wantNull(t, st, MetricMetastable, "too short for the metastable window")
		wantNull(t, st, MetricDrainMS, "still overloaded")
		wantValue(t, "recovery_surge", st.RecoverySurge, *ptr(400.0 / 55))
	})
}

func TestRegionsOfOneSecondAreSummed(t *testing.T) {
	// Two regions' ticks of the same second, 40 ms apart on either side of
	// the second's end, make one second: offered summed, p99 the worse.
	evs := []journal.Event{{T: 0.001, Type: journal.RunStart}}
	for s := 1; s <= 5; s++ {
		t := float64(s * 1000)
		evs = append(evs,
			journal.Event{T: t - 20, Type: journal.DDBLoad, Region: "us-east-1", Load: &journal.Load{Offered: 30, Served: 30, P99MS: 4}},
			journal.Event{T: t + 20, Type: journal.DDBLoad, Region: "us-west-2", Load: &journal.Load{Offered: 10, Served: 8, Throttled: 2, P99MS: 9}})
	}
	st := summarize(evs).Storm
	if len(st.Server) != 5 {
		t.Fatalf("%d seconds, want 5: %+v", len(st.Server), st.Server)
	}
	if got := st.Server[2]; got != (LoadSecond{TMS: 3000, Offered: 40, Served: 38, Throttled: 2, P99MS: 9}) {
		t.Errorf("second 3: %+v", got)
	}
	wantValue(t, "steady_rps", st.SteadyRPS, 40)
	if len(st.Regions) != 2 || st.Regions[1].Region != "us-west-2" || len(st.Regions[1].Seconds) != 5 ||
		st.Regions[1].Seconds[4] != (LoadSecond{TMS: 5000, Offered: 10, Served: 8, Throttled: 2, P99MS: 9}) {
		t.Errorf("regions: %+v", st.Regions)
	}
}

func TestEachFleetHasItsOwnAmplification(t *testing.T) {
	// Beside the legacy herd, a fleet on standard retries with a quota:
	// 50 logical requests a second, 60 attempts during the fault, 55 after.
	evs := stormJournal(60, 0, func(int) stormSecond { return overloadedSecond },
		journal.Event{T: 0.7, Type: journal.FleetStart, Client: "calm", Strategy: "standard", Region: "us-east-1", Rate: 50, Size: 500, TimeoutMS: 1000})
	for s := 1; s <= 60; s++ {
		attempts := 50
		switch {
		case s > 10 && s <= 20:
			attempts = 60
		case s > 20:
			attempts = 55
		}
		evs = append(evs, journal.Event{T: float64(s*1000) + 9, Type: journal.FleetLoad, Client: "calm", Load: &journal.Load{Logical: 50, Offered: attempts, Served: 40}})
	}
	st := summarize(evs).Storm
	if len(st.Fleets) != 2 || st.Fleets[1].Name != "calm" || st.Fleets[1].Retry != "standard" || len(st.Fleets[1].Seconds) != 60 {
		t.Fatalf("fleets: %+v", st.Fleets)
	}
	herd, calm := st.Fleets[0], st.Fleets[1]
	wantValue(t, "herd's amplification_after", herd.Amplification.After, 8)
	wantValue(t, "calm's amplification_during", calm.Amplification.During, 1.2)
	wantValue(t, "calm's amplification_after", calm.Amplification.After, 1.1)
	wantValue(t, "calm's goodput_after_rps", calm.Goodput.After, 40)
	// Together: (400+55)/(50+50) attempts per request after the heal.
	wantValue(t, "amplification_after", st.Amplification.After, 4.55)
	if len(herd.Nulls)+len(calm.Nulls) != 0 {
		t.Errorf("nulls: %+v %+v", herd.Nulls, calm.Nulls)
	}
}

func TestAssertionsOnStormMetrics(t *testing.T) {
	asserts := []journal.Event{
		{T: 0.002, Type: journal.Assertion, Client: "*", Expr: "metastable == false"},
		{T: 0.002, Type: journal.Assertion, Client: "*", Expr: "recovery_surge < 3"},
		{T: 0.002, Type: journal.Assertion, Client: "*", Expr: "drain_ms < 30000"},
		{T: 0.002, Type: journal.Assertion, Client: "*", Expr: "amplification_after <= 8"},
	}
	s := summarize(stormJournal(60, 0, func(int) stormSecond { return overloadedSecond }, asserts...))
	if len(s.Assertions) != 4 {
		t.Fatalf("%d outcomes, want one per assertion (the run's metrics, not a client's): %+v", len(s.Assertions), s.Assertions)
	}
	want := []struct {
		pass  bool
		value string
	}{{false, "1"}, {false, "7.273"}, {false, "null"}, {true, "8"}}
	for i, o := range s.Assertions {
		if o.Pass != want[i].pass || val(o.Value) != want[i].value || o.Unmeasured != "" {
			t.Errorf("%s: pass %v value %s unmeasured %q, want pass %v value %s", o.Expr, o.Pass, val(o.Value), o.Unmeasured, want[i].pass, want[i].value)
		}
	}
	if !strings.Contains(s.Assertions[2].Note, "still overloaded") {
		t.Errorf("drain_ms's note %q does not say why it is null", s.Assertions[2].Note)
	}
	if s.Verdict != Fail {
		t.Errorf("verdict %s, want fail: %v", s.Verdict, s.Reasons)
	}

	// Without any load, an assertion on it measured nothing: invalid.
	s = summarize([]journal.Event{{T: 0.001, Type: journal.RunStart}, asserts[0], {T: 1000, Type: journal.RunEnd, Status: "complete"}})
	if len(s.Assertions) != 1 || s.Assertions[0].Unmeasured == "" || s.Verdict != Invalid {
		t.Errorf("without load: %+v, verdict %s; want unmeasured, invalid", s.Assertions, s.Verdict)
	}
}

func TestStormMetricNamesAgree(t *testing.T) {
	st := &Storm{}
	for _, m := range StormMetrics {
		if !slices.Contains(assert.MetricNames, m) {
			t.Errorf("%s is not a metric assertions may name", m)
		}
		if _, err := assert.ParseExpr(m + " == 1"); err != nil && !slices.Contains(assert.BooleanMetrics, m) {
			t.Errorf("%s: %v", m, err)
		}
		st.Nulls = nil
		if _, ok := st.Value(m); ok {
			t.Errorf("%s has a value in an empty storm", m)
		}
	}
	// Every metric Value knows is listed (a name Value answers for is one
	// assertions may use).
	full := &Storm{Metastable: boolPtr(false)}
	one := 1.0
	full.RecoverySurge, full.DrainMS, full.SteadyRPS, full.PeakAfterHealRPS = &one, &one, &one, &one
	full.Amplification = Periods{&one, &one, &one}
	full.Goodput = Periods{&one, &one, &one}
	n := 0
	for _, m := range StormMetrics {
		if _, ok := full.Value(m); ok {
			n++
		}
	}
	if n != len(StormMetrics) {
		t.Errorf("Value answers for %d of the %d storm metrics", n, len(StormMetrics))
	}
}

func TestStormMetricsAcrossTrials(t *testing.T) {
	drainsAt := func(last int) []journal.Event {
		return stormJournal(60, 0, func(sec int) stormSecond {
			if sec <= last {
				return overloadedSecond
			}
			return steadySecond
		}, journal.Event{T: 0.002, Type: journal.Assertion, Client: "*", Expr: "max(drain_ms) < 10000"})
	}
	// Drained 2 s and 6 s after the heal, and never (metastable).
	ts := SummarizeTrials([]Summary{Summarize(drainsAt(22)), Summarize(drainsAt(26)), Summarize(drainsAt(60))})
	d := ts.Storm[MetricDrainMS]
	if d.N != 2 || *d.Min != 2000 || *d.Max != 6000 {
		t.Errorf("drain_ms across trials: %+v", d)
	}
	if m := ts.Storm[MetricMetastable]; m.N != 3 || *m.Mean != *ptr(1.0 / 3) {
		t.Errorf("metastable across trials: %+v, want a mean of 1/3 (one trial in three)", m)
	}
	if len(ts.Assertions) != 1 || !ts.Assertions[0].Pass || val(ts.Assertions[0].Value) != "6000" {
		t.Errorf("max(drain_ms) < 10000 across trials: %+v", ts.Assertions)
	}
}

func TestOnlyTheExperimentsSecondsCount(t *testing.T) {
	// The backend journals its load from when the world is up: idle
	// seconds while it is built (before the experiment phase at 3.5 s) and
	// torn down (after the stop at 45 s). Neither is a steady state nor a
	// drain: the herd never drained within the experiment.
	var evs []journal.Event
	for _, e := range stormJournal(60, 0, func(sec int) stormSecond {
		if sec > 45 {
			return stormSecond{}
		}
		return overloadedSecond
	}) {
		if e.Type == journal.DDBLoad && e.T < 4000 {
			e.Load = &journal.Load{} // still building: nothing offered
		}
		evs = append(evs, e)
		if e.Type == journal.FleetStart {
			evs = append(evs, journal.Event{T: 3500, Type: journal.Phase, Detail: "experiment"},
				journal.Event{T: 45_500, Type: journal.Phase, Detail: "stop"})
		}
	}
	slices.SortStableFunc(evs, func(a, b journal.Event) int { return cmp.Compare(a.T, b.T) })
	st := summarize(evs).Storm
	// Seconds 5–10 are the steady ones (the one ending at 4 s began before
	// the experiment): 55 offered each, not diluted by the idle ones.
	wantValue(t, "steady_rps", st.SteadyRPS, 55)
	// Overloaded from 21 s to the stop at 45.5 s; the idle seconds after
	// it are not a drain. 25 s of load after the heal: too short to tell
	// for a window of 30 s.
	wantNull(t, st, MetricDrainMS, "still overloaded")
	wantNull(t, st, MetricMetastable, "too short for the metastable window")
	if len(st.Server) != 60 {
		t.Errorf("the series keeps every second (%d), for the chart", len(st.Server))
	}
}
