package measure

import (
	"fmt"
	"math"
	"slices"

	"github.com/faultline-dev/faultline/experiments/journal"
)

// The oracle of the retry-storm metrics: each read straight off the whole
// journal, the way the README defines it, with no running sums.

func oracleIsLoad(e journal.Event) bool {
	switch e.Type {
	case journal.DDBCapacity, journal.DDBLoad, journal.FleetStart, journal.FleetLoad:
		return true
	}
	return false
}

// oracleSeries is the load of type typ per second, in time order: of the
// region or fleet named by name (all of them: nil).
func oracleSeries(events []journal.Event, typ string, name *string) []LoadSecond {
	of := func(e journal.Event) bool {
		return e.Type == typ && e.Load != nil && (name == nil || (typ == journal.DDBLoad && e.Region == *name) || (typ == journal.FleetLoad && e.Client == *name))
	}
	var secs []int
	for _, e := range events {
		if of(e) && !slices.Contains(secs, int(math.Round(e.T/1000))) {
			secs = append(secs, int(math.Round(e.T/1000)))
		}
	}
	slices.Sort(secs)
	out := []LoadSecond{}
	for _, s := range secs {
		ls := LoadSecond{TMS: float64(s) * 1000}
		for _, e := range events {
			if !of(e) || int(math.Round(e.T/1000)) != s {
				continue
			}
			ls.Logical += e.Load.Logical
			ls.Offered += e.Load.Offered
			ls.Served += e.Load.Served
			ls.Throttled += e.Load.Throttled
			ls.Failed += e.Load.Failed
			ls.Queue += e.Load.Queue
			if e.Load.P99MS > ls.P99MS {
				ls.P99MS = e.Load.P99MS
			}
		}
		out = append(out, ls)
	}
	return out
}

func oracleStorm(events []journal.Event, windows []FaultWindow) *Storm {
	if !slices.ContainsFunc(events, oracleIsLoad) {
		return nil
	}
	st := &Storm{Capacity: []Capacity{}, Regions: []RegionLoad{}, Fleets: []Fleet{}, Server: oracleSeries(events, journal.DDBLoad, nil),
		Clients: oracleSeries(events, journal.FleetLoad, nil), MetastableAfterMS: DefaultMetastableAfterMS}
	for _, e := range events {
		switch {
		case e.Type == journal.DDBCapacity && e.Load != nil:
			st.Capacity = append(st.Capacity, Capacity{Region: e.Region, RPS: e.Load.CapacityRPS, Burst: e.Load.Burst})
		case e.Type == journal.DDBLoad && e.Load != nil && !slices.ContainsFunc(st.Regions, func(r RegionLoad) bool { return r.Region == e.Region }):
			st.Regions = append(st.Regions, RegionLoad{Region: e.Region, Seconds: oracleSeries(events, journal.DDBLoad, &e.Region)})
		case (e.Type == journal.FleetStart || (e.Type == journal.FleetLoad && e.Load != nil)) && !slices.ContainsFunc(st.Fleets, func(f Fleet) bool { return f.Name == e.Client }):
			f := Fleet{Name: e.Client, Seconds: oracleSeries(events, journal.FleetLoad, &e.Client)}
			// What the fleet's first start says.
			if i := slices.IndexFunc(events, func(x journal.Event) bool { return x.Type == journal.FleetStart && x.Client == e.Client }); i >= 0 {
				x := events[i]
				f.Retry, f.Region, f.Rate, f.Size, f.TimeoutMS = x.Strategy, x.Region, x.Rate, x.Size, x.TimeoutMS
			}
			st.Fleets = append(st.Fleets, f)
		case e.Type == journal.RunStart:
			st.MetastableAfterMS = DefaultMetastableAfterMS
			if e.MetastableAfterMS > 0 {
				st.MetastableAfterMS = e.MetastableAfterMS
			}
		}
	}
	if len(st.Server) == 0 {
		st.Server = []LoadSecond{}
	}
	first, lastHeal, open := math.Inf(1), -1.0, ""
	for _, w := range windows {
		first = math.Min(first, w.StartMS)
		if w.EndMS == nil && open == "" {
			open = w.ID
		}
		if w.EndMS != nil {
			lastHeal = math.Max(lastHeal, *w.EndMS)
		}
	}
	from, to := oracleExperimentWindow(events)
	in := func(s LoadSecond, period string) bool {
		if s.TMS-1000 < from || s.TMS > to {
			return false // not one of the experiment's seconds
		}
		before := s.TMS <= first
		after := !before && open == "" && lastHeal >= 0 && s.TMS > lastHeal
		switch period {
		case "before":
			return before
		case "after":
			return after
		}
		return !before && !after
	}
	var nulls []NullMetric
	null := func(reason string, metrics ...string) {
		for _, m := range metrics {
			nulls = append(nulls, NullMetric{m, reason})
		}
	}

	// The backends.
	var before, after []LoadSecond
	for _, s := range st.Server {
		if in(s, "before") {
			before = append(before, s)
		}
		if in(s, "after") {
			after = append(after, s)
		}
	}
	afterMetrics := []string{MetricPeakAfterHealRPS, MetricRecoverySurge, MetricDrainMS, MetricMetastable}
	switch {
	case len(st.Server) == 0:
		null("no backend load in the journal (no ddb.load: no region has a capacity)", append([]string{MetricSteadyRPS}, afterMetrics...)...)
	case len(before) == 0:
		null("no backend load measured before the first fault: the steady rate is unknown", append([]string{MetricSteadyRPS}, afterMetrics...)...)
	default:
		total := 0.0
		var p99s []float64
		for _, s := range before {
			total += float64(s.Offered)
			if s.Served > 0 {
				p99s = append(p99s, s.P99MS)
			}
		}
		st.SteadyRPS = ptr(total / float64(len(before)))
		st.SteadyP99MS = percentile(p99s, 50)
		switch {
		case len(windows) == 0:
			null("no fault was applied", afterMetrics...)
		case open != "":
			null(fmt.Sprintf("fault %s was never healed: nothing is measured after the faults", open), afterMetrics...)
		case len(after) == 0:
			null("no backend load measured after the last heal", afterMetrics...)
		default:
			peak := 0.0
			for _, s := range after {
				peak = math.Max(peak, float64(s.Offered))
			}
			st.PeakAfterHealRPS = ptr(peak)
			if *st.SteadyRPS > 0 {
				st.RecoverySurge = ptr(peak / *st.SteadyRPS)
			} else {
				null("no request reached the backends before the first fault (steady rate 0)", MetricRecoverySurge)
			}
			if st.SteadyP99MS == nil {
				null("the backends served nothing before the first fault: no steady latency to come back to", MetricDrainMS, MetricMetastable)
				break
			}
			p99 := *st.SteadyP99MS
			back := func(s LoadSecond) bool {
				return s.Throttled == 0 && s.Queue == 0 && (s.P99MS <= 2*p99 || s.P99MS <= p99+10)
			}
			// The first i from which DrainSeconds seconds in a row are back.
			for i := 0; i+DrainSeconds <= len(after) && st.DrainMS == nil; i++ {
				if slices.IndexFunc(after[i:i+DrainSeconds], func(s LoadSecond) bool { return !back(s) }) < 0 {
					st.DrainMS = ptr(math.Max(0, after[i].TMS-1000-lastHeal))
				}
			}
			span := after[len(after)-1].TMS - lastHeal
			if st.DrainMS != nil {
				m := *st.DrainMS > st.MetastableAfterMS
				st.Metastable = &m
			} else if span >= st.MetastableAfterMS+DrainSeconds*1000 {
				null(fmt.Sprintf("the backends were still overloaded (throttling, queueing or slow) when the load ended, %s after the last heal", seconds(span)), MetricDrainMS)
				m := true
				st.Metastable = &m
			} else {
				null(fmt.Sprintf("the backends were still overloaded when the load ended, %s after the last heal", seconds(span)), MetricDrainMS)
				null(fmt.Sprintf("the load was measured for %s after the last heal: too short for the metastable window (%s, and %d s to see a drain)",
					seconds(span), seconds(st.MetastableAfterMS), DrainSeconds), MetricMetastable)
			}
		}
	}

	// The fleets, together and each.
	oracleFleetPeriods(st.Clients, windows, open, in, &st.Amplification, &st.Goodput, null)
	for i := range st.Fleets {
		f := &st.Fleets[i]
		oracleFleetPeriods(f.Seconds, windows, open, in, &f.Amplification, &f.Goodput, func(reason string, metrics ...string) {
			for _, m := range metrics {
				f.Nulls = append(f.Nulls, NullMetric{m, reason})
			}
		})
	}
	st.Nulls = nulls
	return st
}

func oracleFleetPeriods(all []LoadSecond, windows []FaultWindow, open string, in func(LoadSecond, string) bool, amp, good *Periods, null func(reason string, metrics ...string)) {
	for _, p := range []struct {
		period, what, amp, good string
		a, g                    **float64
	}{
		{"before", "before the first fault", MetricAmplificationBefore, MetricGoodputBefore, &amp.Before, &good.Before},
		{"during", "during the faults", MetricAmplificationDuring, MetricGoodputDuring, &amp.During, &good.During},
		{"after", "after the last heal", MetricAmplificationAfter, MetricGoodputAfter, &amp.After, &good.After},
	} {
		var secs []LoadSecond
		for _, s := range all {
			if in(s, p.period) {
				secs = append(secs, s)
			}
		}
		switch {
		case len(all) == 0:
			null("no fleet load in the journal (no fleet.load: no fleet ran)", p.amp, p.good)
		case p.period != "before" && len(windows) == 0:
			null("no fault was applied", p.amp, p.good)
		case p.period == "after" && open != "":
			null(fmt.Sprintf("fault %s was never healed", open), p.amp, p.good)
		case len(secs) == 0:
			null("no fleet load measured "+p.what, p.amp, p.good)
		default:
			logical, offered, served := 0, 0, 0
			for _, s := range secs {
				logical, offered, served = logical+s.Logical, offered+s.Offered, served+s.Served
			}
			*p.g = ptr(float64(served) / float64(len(secs)))
			if logical == 0 {
				null("the fleets started no logical request "+p.what, p.amp)
			} else {
				*p.a = ptr(float64(offered) / float64(logical))
			}
		}
	}
}
