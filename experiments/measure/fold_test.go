package measure

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/faultline-dev/faultline/experiments/assert"
	"github.com/faultline-dev/faultline/experiments/journal"
)

// Every journal a test summarizes is kept, and after the tests the fold's
// summary of each is checked against the oracle's: the fold must give
// exactly the same Summary on every hand-written journal.
var (
	summarizedMu sync.Mutex
	summarized   [][]journal.Event
)

func summarize(events []journal.Event) Summary {
	summarizedMu.Lock()
	summarized = append(summarized, append([]journal.Event(nil), events...))
	summarizedMu.Unlock()
	return Summarize(events)
}

func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		for i, events := range summarized {
			if d := diffSummaries(Summarize(events), oracleSummarize(events)); d != "" {
				fmt.Fprintf(os.Stderr, "FAIL: journal %d of the tests: the fold's summary differs from the oracle's:\n%s\n", i, d)
				code = 1
			}
		}
		if code == 0 {
			fmt.Fprintf(os.Stderr, "the fold agreed with the oracle on the %d journals the tests summarized\n", len(summarized))
		}
	}
	os.Exit(code)
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// diffSummaries is "" when a and b are the same summary, latency
// histograms included.
func diffSummaries(a, b Summary) string {
	if len(a.Clients) != len(b.Clients) {
		return fmt.Sprintf("clients: %d vs %d", len(a.Clients), len(b.Clients))
	}
	var diffs []string
	for i := range a.Clients {
		ha, hb := a.Clients[i].latency, b.Clients[i].latency
		if !reflect.DeepEqual(ha.all.Export(), hb.all.Export()) || !reflect.DeepEqual(ha.ok.Export(), hb.ok.Export()) {
			diffs = append(diffs, "latency histograms of "+a.Clients[i].Name)
		}
	}
	ca, cb := a, b
	ca.Clients, cb.Clients = append([]ClientReport(nil), a.Clients...), append([]ClientReport(nil), b.Clients...)
	for i := range ca.Clients {
		ca.Clients[i].latency, cb.Clients[i].latency = latencyHistograms{}, latencyHistograms{}
	}
	if !reflect.DeepEqual(ca, cb) {
		ja, jb := jsonOf(ca), jsonOf(cb)
		k := 0
		for k < len(ja) && k < len(jb) && ja[k] == jb[k] {
			k++
		}
		from := max(0, k-300)
		diffs = append(diffs, fmt.Sprintf("fold   ...%s\noracle ...%s", cut(ja[from:], 900), cut(jb[from:], 900)))
	}
	return strings.Join(diffs, "\n")
}

func cut(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// A random journal as a run writes it: events stamped when journaled are in
// time order; answers and connections are journaled a little after they
// happened; requests when they end (an application's lines up to seconds
// later), so in about the order their outcomes were known.
func randomJournal(rng *rand.Rand) []journal.Event {
	type timed struct {
		at float64 // when it was journaled
		e  journal.Event
	}
	var evs []timed
	add := func(at float64, e journal.Event) { evs = append(evs, timed{at, e}) }
	stamp := func(e journal.Event) { add(e.T, e) }
	length := 2000 + rng.Float64()*40000
	k := 1 + rng.Intn(6)
	seed := rng.Int63()
	window := []float64{0, 0, 2000, 10000}[rng.Intn(4)] // metrics.metastable_after (0: the default)
	stamp(journal.Event{T: 0.001, Type: journal.RunStart, Detail: "random", Seed: &seed, K: k, MetastableAfterMS: window})

	regions := []string{"us-east-1", "us-west-2"}
	endpoint := func(r string) string { return "dynamodb." + r + ".amazonaws.com." }
	type client struct {
		name, ip, primary, strategy string
		rate, timeout, objective    float64
	}
	var clients []client
	for i := 0; i < 1+rng.Intn(4); i++ {
		c := client{name: fmt.Sprintf("c%d", i), ip: fmt.Sprintf("127.0.0.%d", 11+i), primary: regions[rng.Intn(2)],
			strategy: []string{"failover", "naive", "app"}[rng.Intn(3)], rate: float64(5 + rng.Intn(60)), timeout: float64(200 + rng.Intn(2000))}
		if c.strategy == "app" {
			c.rate, c.timeout = 0, 0
			if rng.Intn(2) == 0 {
				c.name = fmt.Sprintf("app%d.server", i)
			}
		}
		if rng.Intn(3) == 0 {
			c.objective = float64(20 + rng.Intn(300))
		}
		clients = append(clients, c)
	}
	metrics := assert.MetricNames
	for i := 0; i < rng.Intn(4); i++ {
		who := "*"
		if rng.Intn(2) == 0 {
			who = clients[rng.Intn(len(clients))].name
		}
		stamp(journal.Event{T: 0.002, Type: journal.Assertion, Client: who, Expr: fmt.Sprintf("%s < %d", metrics[rng.Intn(len(metrics))], rng.Intn(3000)),
			Fault: []string{"", "", "f1", "f2", "f9"}[rng.Intn(5)]})
	}
	if rng.Intn(2) == 0 {
		for _, m := range []string{"availability >= 0.9", "latency_p99_ms < 200", "errors < 5"}[:1+rng.Intn(3)] {
			stamp(journal.Event{T: 0.003, Type: journal.SteadyState, Client: "*", Expr: m})
		}
	}
	for _, c := range clients {
		stamp(journal.Event{T: 1 + rng.Float64()*5, Type: journal.ClientStart, Client: c.name, Strategy: c.strategy, Region: c.primary,
			Addr: c.ip, Rate: c.rate, TimeoutMS: c.timeout, ObjectiveMS: c.objective})
	}
	experiment := 10 + rng.Float64()*200
	stop := length - rng.Float64()*300
	stamp(journal.Event{T: experiment, Type: journal.Phase, Detail: "experiment"})
	stamp(journal.Event{T: stop, Type: journal.Phase, Detail: "stop"})

	// Faults, one of each reach, at random.
	type fault struct {
		id, kind, target, reach, node, name string
		start, end                          float64
		healed                              bool
	}
	var faults []fault
	for i := 0; i < rng.Intn(4); i++ {
		f := fault{id: fmt.Sprintf("f%d", i+1), start: experiment + rng.Float64()*length*0.6}
		f.end = f.start + 200 + rng.Float64()*length*0.4
		f.healed = f.end < length && rng.Intn(6) != 0
		reg := regions[rng.Intn(2)]
		switch rng.Intn(5) {
		case 0:
			f.kind, f.target, f.reach = "dns.empty", endpoint(reg), ReachDNS
		case 1:
			f.kind, f.target, f.reach = "dns.plan-race", endpoint(reg), ReachDNSEmpty
		case 2:
			f.kind, f.target, f.reach, f.name = "hc.flap", reg, ReachHealth, endpoint(reg)
		case 3:
			f.kind, f.target, f.reach = "link.down", reg, ReachRegion
		default:
			f.kind, f.target, f.reach, f.node = "nlb.node-down", reg, ReachNode, "127.0.1.1:443"
		}
		if rng.Intn(8) == 0 {
			f.reach = "" // an old journal: the kind says it
		}
		faults = append(faults, f)
		stamp(journal.Event{T: f.start, Type: journal.FaultApplied, Fault: f.id, Kind: f.kind, Target: f.target, Reach: f.reach,
			Node: f.node, Name: f.name, LagMS: rng.Float64() * 30})
		if f.healed {
			stamp(journal.Event{T: f.end, Type: journal.FaultHealed, Fault: f.id, Kind: f.kind, Target: f.target, LagMS: rng.Float64() * 30})
		}
	}
	activeAt := func(t float64, reg string) *fault {
		for i := range faults {
			f := &faults[i]
			if t >= f.start && (!f.healed || t < f.end) && (f.target == reg || f.target == endpoint(reg)) {
				return f
			}
		}
		return nil
	}

	// Retry storms: backends with a capacity and fleets, journaled once
	// per second each (a little late or early, sometimes missing), with
	// overloaded stretches and quiet ones.
	if rng.Intn(2) == 0 {
		capacity := float64(50 + rng.Intn(200))
		loaded := regions[:1+rng.Intn(2)]
		if rng.Intn(4) != 0 {
			for _, reg := range loaded {
				stamp(journal.Event{T: 0.5, Type: journal.DDBCapacity, Region: reg, Load: &journal.Load{CapacityRPS: capacity, Burst: rng.Intn(100)}})
			}
		}
		fleets := rng.Intn(3)
		for i := 0; i < fleets; i++ {
			if rng.Intn(5) == 0 {
				continue // a fleet whose start the journal lacks
			}
			stamp(journal.Event{T: experiment + 1, Type: journal.FleetStart, Client: fmt.Sprintf("fleet%d", i), Strategy: []string{"legacy", "standard", "adaptive"}[rng.Intn(3)],
				Region: regions[0], Rate: capacity / 2, Size: 100 + rng.Intn(2000), TimeoutMS: 1000})
		}
		overload := rng.Float64() // how often a second is overloaded
		// Or a herd: overloaded from the first fault on, for a while or
		// to the end.
		herdFrom, herdTo := math.Inf(1), math.Inf(1)
		if len(faults) > 0 && rng.Intn(2) == 0 {
			herdFrom = faults[0].start
			if rng.Intn(2) == 0 {
				herdTo = herdFrom + rng.Float64()*length
			}
		}
		for sec := 1 + rng.Intn(3); float64(sec*1000) < length; sec++ {
			over := rng.Float64() < overload
			if !math.IsInf(herdFrom, 1) {
				over = float64(sec*1000) > herdFrom && float64(sec*1000) < herdTo
			}
			for _, reg := range loaded {
				if rng.Intn(30) == 0 {
					continue // a second not journaled
				}
				l := journal.Load{Offered: rng.Intn(int(capacity)), P99MS: 1 + rng.Float64()*8}
				l.Served = l.Offered
				if over {
					l.Offered += rng.Intn(500)
					l.Served = int(capacity)
					l.Throttled, l.Queue, l.P99MS = rng.Intn(200), rng.Intn(50), 20+rng.Float64()*500
				}
				if rng.Intn(10) == 0 {
					l = journal.Load{} // idle
				}
				t := float64(sec*1000) + (rng.Float64()-0.5)*60
				stamp(journal.Event{T: t, Type: journal.DDBLoad, Region: reg, Load: &l})
			}
			for i := 0; i < fleets; i++ {
				if rng.Intn(30) == 0 {
					continue
				}
				l := journal.Load{Logical: rng.Intn(int(capacity))}
				l.Offered = l.Logical + rng.Intn(1+l.Logical)
				l.Served = rng.Intn(1 + l.Logical)
				if over {
					l.Throttled, l.Failed = rng.Intn(1+l.Offered), rng.Intn(1+l.Logical)
				}
				t := float64(sec*1000) + (rng.Float64()-0.5)*60
				stamp(journal.Event{T: t, Type: journal.FleetLoad, Client: fmt.Sprintf("fleet%d", i), Load: &l})
			}
		}
	}

	// The harness's own measurements, health checks.
	for t := experiment; t < stop; t += 500 {
		p := rng.Float64() * 3
		stamp(journal.Event{T: t + rng.Float64(), Type: journal.HarnessLag, LagMS: rng.Float64() * 8, SchedP99MS: &p})
	}
	for t := 5.0; t < length; t += 300 + rng.Float64()*400 {
		e := journal.Event{T: t, Type: journal.HCResult, Region: regions[rng.Intn(2)], Target: "127.0.100.1:9", OK: journal.Bool(rng.Intn(4) != 0), LagMS: rng.Float64() * 5}
		if rng.Intn(20) == 0 {
			e.Status = journal.HCDiscarded
		}
		stamp(e)
	}

	classes := []string{"dns-notfound", "connect-refused", "timeout", "http-5xx", "reset", ""}
	for _, c := range clients {
		interval := 1000 / float64(5+rng.Intn(40))
		answers := map[string]int{}
		for t := experiment + rng.Float64()*interval; t < stop; t += interval * (0.5 + rng.Float64()) {
			reg := c.primary
			if rng.Intn(4) == 0 {
				reg = regions[rng.Intn(2)]
			}
			f := activeAt(t, reg)
			// DNS, now and then, marked by a DNS fault that shapes it.
			if rng.Intn(5) == 0 {
				name := endpoint(reg)
				n := answers[name]
				if rng.Intn(3) == 0 {
					n = rng.Intn(3)
				}
				q := journal.Event{T: t, Type: journal.DNSQuery, Addr: c.ip + ":5353", Proto: "udp", Name: name, QType: []string{"A", "A", "AAAA"}[rng.Intn(3)],
					Rcode: "NOERROR", Answers: journal.Int(n)}
				if f != nil && strings.HasPrefix(f.kind, "dns.") && rng.Intn(2) == 0 {
					q.Fault, q.Answers = f.id, journal.Int(0)
				}
				if f != nil && f.kind == "dns.plan-race" {
					q.Answers = journal.Int(0)
				}
				if q.QType == "A" {
					answers[name] = *q.Answers
				}
				add(t+rng.Float64()*40, q)
			}
			base := BaseName(c.name)
			if rng.Intn(6) == 0 {
				typ := []string{journal.ConnAccepted, journal.ConnFailed, journal.ConnRefused, journal.ConnClosed}[rng.Intn(4)]
				add(t+rng.Float64()*40, journal.Event{T: t, Type: typ, Region: reg, Node: []string{"127.0.1.1:443", "127.0.1.2:443"}[rng.Intn(2)],
					Client: base, Addr: c.ip + ":40000"})
			}
			ok := rng.Intn(5) != 0
			if f != nil && rng.Intn(3) != 0 {
				ok = false
			}
			lat := rng.ExpFloat64() * 20
			if rng.Intn(30) == 0 {
				lat = rng.Float64() * max(c.timeout, 1500)
			}
			r := journal.Event{T: t, Type: journal.Request, Client: c.name, Region: reg, Op: "GetItem", LatencyMS: lat, OK: journal.Bool(ok),
				LagMS: rng.ExpFloat64() * 5}
			if !ok {
				r.Error = classes[rng.Intn(len(classes))]
			}
			if c.strategy == "app" && rng.Intn(10) == 0 {
				r.LatencyMS, r.LatencyUnknown = 0, true
			}
			if rng.Intn(40) == 0 {
				r.Probe = true
			}
			late := rng.Float64() * 30
			if c.strategy == "app" {
				late = rng.Float64() * 3000 // an application's lines come when it flushes them
			}
			add(r.End()+late, r)
			if c.strategy == "app" && rng.Intn(50) == 0 {
				add(t+late, journal.Event{T: t + late, Type: journal.OutcomeRejected, Client: c.name, Detail: []string{"no time", "bad region"}[rng.Intn(2)], Line: "{}"})
			}
		}
	}
	// Another process's queries.
	for i := 0; i < rng.Intn(20); i++ {
		t := rng.Float64() * length
		add(t, journal.Event{T: t, Type: journal.DNSQuery, Addr: "127.0.0.200:53000", Name: endpoint("us-east-1"), QType: "A", Rcode: "NOERROR", Answers: journal.Int(rng.Intn(3))})
	}
	if rng.Intn(8) != 0 {
		stamp(journal.Event{T: length + 100, Type: journal.RunEnd, Status: []string{"complete", "complete", "stopped", "incomplete"}[rng.Intn(4)]})
	}
	// Journal order: by when each was journaled (a stable sort: events
	// stamped at the same instant keep their order).
	sortTimed := func(a, b timed) int {
		switch {
		case a.at < b.at:
			return -1
		case a.at > b.at:
			return 1
		}
		return 0
	}
	slicesSortStable(evs, sortTimed)
	// Half the journals on a coarse clock: ties everywhere (a request
	// ending as a fault starts, two known at once).
	coarse := rng.Intn(2) == 0
	out := make([]journal.Event, len(evs))
	for i, e := range evs {
		if coarse {
			e.e.T, e.e.LatencyMS = math.Round(e.e.T/10)*10, math.Round(e.e.LatencyMS/10)*10
		}
		out[i] = e.e
	}
	return out
}

func TestFoldAgreesWithTheOracleOnRandomJournals(t *testing.T) {
	n := 150
	if testing.Short() {
		n = 40
	}
	late := 0
	for seed := int64(1); seed <= int64(n); seed++ {
		events := randomJournal(rand.New(rand.NewSource(seed)))
		fold := NewFold()
		for _, e := range events {
			fold.Add(e)
		}
		got := fold.Summary()
		if d := diffSummaries(got, oracleSummarize(events)); d != "" {
			t.Fatalf("seed %d (%d events, stats %+v): the fold differs from the oracle:\n%s", seed, len(events), fold.Stats(), d)
		}
		late += fold.Stats().Late
		if fold.Stats().MaxBuffered > maxBuffered {
			t.Fatalf("seed %d: %d requests buffered", seed, fold.Stats().MaxBuffered)
		}
	}
	if late != 0 {
		t.Errorf("%d events came later than the fold's bounds in journals that keep to them", late)
	}
}

func slicesSortStable[T any](s []T, cmp func(a, b T) int) { slices.SortStableFunc(s, cmp) }

// Beyond ExactSamples a client's percentiles come from its HDR histogram:
// within its three significant digits of the exact ones.
func TestPercentilesBeyondTheExactBound(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	ev := j{}.client("c", "us-east-1", "127.0.0.11")
	var lat []float64
	for i := 0; i < ExactSamples+5000; i++ {
		l := 1 + rng.ExpFloat64()*30
		lat = append(lat, l)
		ev = ev.req("c", "us-east-1", float64(i), l, true, "")
	}
	s := Summarize(ev)
	m := s.Clients[0].Metrics
	for _, p := range []struct {
		got *float64
		p   float64
	}{{m.LatencyP50MS, 50}, {m.LatencyP99MS, 99}, {m.OKLatencyP99MS, 99}} {
		want := percentile(lat, p.p)
		if p.got == nil || math.Abs(*p.got-*want) > *want*0.002+0.001 {
			t.Errorf("p%v = %s, want about %v (the exact percentile)", p.p, str(p.got), *want)
		}
	}
	if m.Requests != len(lat) {
		t.Errorf("requests = %d", m.Requests)
	}
}

// A long run holds no more than a few seconds of requests: the fold's
// buffers are bounded by the world's rates, not by the run's length.
func TestFoldBuffersStayBounded(t *testing.T) {
	f := NewFold()
	f.Add(journal.Event{T: 0, Type: journal.RunStart, Detail: "long"})
	f.Add(journal.Event{T: 1, Type: journal.ClientStart, Client: "c", Region: "us-east-1", Addr: "127.0.0.11", Rate: 100, TimeoutMS: 2000})
	f.Add(journal.Event{T: 2, Type: journal.Phase, Detail: "experiment"})
	maxQueue := 0
	for i := 0; i < 300_000; i++ { // 50 minutes at 100/s
		t0 := 10 + float64(i)*10
		if i%50 == 0 {
			f.Add(journal.Event{T: t0, Type: journal.HarnessLag, LagMS: 1})
			f.Add(journal.Event{T: t0, Type: journal.DNSQuery, Addr: "127.0.0.11:1", Name: "x.", QType: "A", Answers: journal.Int(i % 3)})
		}
		f.Add(journal.Event{T: t0, Type: journal.Request, Client: "c", Region: "us-east-1", LatencyMS: 3, OK: journal.Bool(true)})
		maxQueue = max(maxQueue, len(f.queue)-f.qHead)
	}
	if st := f.Stats(); st.MaxBuffered > 1500 || st.Late != 0 || maxQueue > 1000 || cap(f.queue) > 4096 {
		t.Errorf("stats %+v, queue up to %d (capacity %d): want about 12 s of requests at most, a queue of a few seconds", st, maxQueue, cap(f.queue))
	}
	if s := f.Summary(); s.Clients[0].Requests != 300_000 || s.Clients[0].Metrics.DNSAnswerChanges != 5999 {
		t.Errorf("requests %d, answer changes %d", s.Clients[0].Requests, s.Clients[0].Metrics.DNSAnswerChanges)
	}
}

// A request journaled far later than its end is still counted, and the
// fold says it came late.
func TestLateRequestIsCounted(t *testing.T) {
	f := NewFold()
	f.Add(journal.Event{Type: journal.ClientStart, Client: "c", Region: "us-east-1", Addr: "127.0.0.11"})
	f.Add(journal.Event{T: 100, Type: journal.Request, Client: "c", Region: "us-east-1", LatencyMS: 1, OK: journal.Bool(true)})
	f.Add(journal.Event{T: 60_000, Type: journal.HarnessLag})
	f.Add(journal.Event{T: 50, Type: journal.Request, Client: "c", Region: "us-east-1", LatencyMS: 1, OK: journal.Bool(false)})
	if s := f.Summary(); s.Clients[0].Requests != 2 || f.Stats().Late != 1 {
		t.Errorf("requests %d, late %d; want 2 and 1", s.Clients[0].Requests, f.Stats().Late)
	}
}

func TestSummarizeFileStreams(t *testing.T) {
	path := t.TempDir() + "/journal.jsonl"
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	jr := journal.New(out)
	ev := j{{T: 0, Type: journal.RunStart, Detail: "exp"}}.client("c", "us-east-1", "127.0.0.11").fault("f1", "dns.empty", "x.", 1000, f(2000)).
		dns("127.0.0.11:1", "f1", 1001).reqs("c", 0, "..........xxxxx...........")
	ev = append(ev, journal.Event{T: 3000, Type: journal.RunEnd, Status: "complete"})
	for _, e := range ev {
		jr.Add(e)
	}
	jr.Close()
	out.Close()
	s, err := SummarizeFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if d := diffSummaries(s, oracleSummarize(ev)); d != "" || s.Clients[0].Metrics.DetectMS == nil {
		t.Errorf("SummarizeFile differs from the oracle: %s", d)
	}
}
