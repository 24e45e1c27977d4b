// Package prom exports a live Engine as Prometheus metrics: requests by
// client, region, outcome and error class, their latency, DNS answers by
// name, rcode and whether a fault shaped them, target health, active faults
// and the harness's own lag, on a registry of its own (never the global
// one), fed by the Engine's event stream.
//
//	x, err := prom.New(e) // follows e's events until e closes (or x.Close)
//	mux.Handle("/metrics", x)
//
// The exporter replays the events the Engine still retains (so counters
// start from the run's start when it is made right after engine.Open),
// then follows the stream. A subscription that fell behind resumes where it
// left off; when the events it missed are no longer retained it does not
// guess them: it counts them in faultline_events_missed_total, and
// faultline_target_health, a state, is read again from the world.
//
// Label values are bounded by the world, not by what clients send:
// regions and DNS names are the topology's (anything else is "other"),
// rcodes and error classes come from fixed lists, fault kinds from the
// catalogue, and at most MaxClients clients and MaxTargets targets get
// labels of their own.
package prom

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/faultline-dev/faultline/experiments/clients"
	"github.com/faultline-dev/faultline/experiments/engine"
	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/faults"
	"github.com/faultline-dev/faultline/targets/nlb"
)

// Bounds of the label space.
const (
	MaxClients = 64  // distinct client labels; later clients are "other"
	MaxTargets = 256 // distinct target labels
)

// Buffer is the exporter's subscription buffer.
const Buffer = 4096

// Exporter is an http.Handler serving the metrics in Prometheus's text
// format (and OpenMetrics, when asked).
type Exporter struct {
	e       *engine.Engine
	reg     *prometheus.Registry
	handler http.Handler

	requests, probes       *prometheus.CounterVec
	latency                *prometheus.HistogramVec
	sendLag                *prometheus.HistogramVec
	dns                    *prometheus.CounterVec
	health                 *prometheus.GaugeVec
	applied, healed        *prometheus.CounterVec
	linkToxics             *prometheus.CounterVec
	timerLag, schedP99     prometheus.Gauge
	events                 *prometheus.CounterVec
	missed                 prometheus.Counter
	clientLabel, tgtLabel  *bounded
	regions, names, kinds  map[string]string
	buffer                 int
	beforeEvent            func() // tests: runs before each event is counted
	stop, done             chan struct{}
	closeOnce              sync.Once
	activeMu               sync.Mutex
	activeSeen             map[[2]string]bool // kind/target pairs once active: reported as 0 when no longer
	subscribeRetry         time.Duration
	lastSeq                uint64
	targetStates           []string
	rcodes, classes, types map[string]bool
}

// New makes an exporter of e's events and starts following them; it stops
// when e closes or at Close.
func New(e *engine.Engine) (*Exporter, error) {
	return newExporter(e, Buffer, nil)
}

func newExporter(e *engine.Engine, buffer int, beforeEvent func()) (*Exporter, error) {
	x := &Exporter{e: e, reg: prometheus.NewRegistry(), buffer: buffer, beforeEvent: beforeEvent,
		stop: make(chan struct{}), done: make(chan struct{}), activeSeen: map[[2]string]bool{},
		clientLabel: newBounded(MaxClients), tgtLabel: newBounded(MaxTargets), subscribeRetry: time.Second,
		regions: map[string]string{}, names: map[string]string{}, kinds: map[string]string{},
		targetStates: []string{nlb.StateInitial, nlb.StateHealthy, nlb.StateUnhealthy, nlb.StateDraining, nlb.StateUnused},
		rcodes:       set("NOERROR", "NODATA", "NXDOMAIN", "SERVFAIL", "REFUSED", "DROPPED", "FORMERR", "NOTIMP", "BADVERS"),
		classes:      set(clients.Classes...),
		types: set(journal.RunStart, journal.Assertion, journal.SteadyState, journal.StopCondition, journal.RunEnd, journal.Phase,
			journal.ClientStart, journal.FaultApplied, journal.FaultHealed, journal.DNSQuery, journal.DNSPublish, journal.DNSAutomation,
			journal.HCResult, journal.TargetState, journal.ConnAccepted, journal.ConnClosed, journal.ConnFailed, journal.Request,
			journal.Backend, journal.OutcomeRejected, journal.ClientReady, journal.ConnRefused, journal.HarnessLag, journal.LinkToxic, journal.DNSOther,
			"node.down", "node.up", "target.propagating")}
	for _, r := range e.World().Regions() {
		x.regions[r] = r
		if name, ok := e.World().Endpoint(r); ok {
			x.names[fqdn(name)] = strings.TrimSuffix(fqdn(name), ".")
		}
	}
	for _, k := range faults.Names() {
		x.kinds[k] = k
	}
	x.define()

	sub, err := e.Resume(0, buffer)
	if errors.Is(err, engine.ErrGone) {
		sub, err = e.Subscribe(buffer) // the gap before its first event counts as missed
	}
	if err != nil {
		return nil, err
	}
	x.readHealth()
	go x.follow(sub)
	return x, nil
}

var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
var lagBuckets = []float64{.0001, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}

func (x *Exporter) define() {
	f := prometheus.WrapRegistererWithPrefix("faultline_", x.reg)
	x.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "requests_total",
		Help: "Client requests by client, region (none: it never reached one), outcome (ok|error) and error class (none when ok). Probes are not requests."},
		[]string{"client", "region", "outcome", "error_class"})
	x.probes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "probes_total",
		Help: "A failed-over client's probes of its primary, by client, region and outcome."},
		[]string{"client", "region", "outcome"})
	x.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "request_duration_seconds",
		Help: "Client request latency (retries included) by client, region and outcome; requests of unknown latency are left out.", Buckets: latencyBuckets},
		[]string{"client", "region", "outcome"})
	x.sendLag = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "request_send_lag_seconds",
		Help: "How late the harness sent each request against its schedule (reference clients; 0 for requests it did not schedule).", Buckets: lagBuckets},
		[]string{"client"})
	x.dns = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dns_answers_total",
		Help: "DNS answers by name (the topology's endpoints; other), rcode (NODATA: NOERROR with no answer; DROPPED: none sent), " +
			"whether a fault shaped the answer (unknown for queries from no client), and server (authoritative, the caching resolver clients ask, or coredns: answers the CoreDNS plugin shaped in a cluster)."},
		[]string{"name", "rcode", "shaped", "server"})
	x.health = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "target_health",
		Help: "Each NLB target's health state: 1 for its current state (initial, healthy, unhealthy, draining, unused), 0 for the others."},
		[]string{"region", "target", "state"})
	x.applied = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "faults_applied_total", Help: "Faults applied, by kind."}, []string{"kind"})
	x.healed = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "faults_healed_total", Help: "Faults healed, by kind."}, []string{"kind"})
	x.linkToxics = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "link_toxic_changes_total",
		Help: "Toxics added, updated or removed through toxiproxy's API (not faults), by region and action."}, []string{"region", "action"})
	x.timerLag = prometheus.NewGauge(prometheus.GaugeOpts{Name: "harness_timer_lag_seconds",
		Help: "How late a timer of the harness's own woke at worst over the last sampling window (harness.lag)."})
	x.schedP99 = prometheus.NewGauge(prometheus.GaugeOpts{Name: "harness_sched_latency_p99_seconds",
		Help: "The Go runtime's scheduling latency p99 over the last sampling window (harness.lag)."})
	x.events = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "events_total", Help: "Events the exporter counted, by journal type."}, []string{"type"})
	x.missed = prometheus.NewCounter(prometheus.CounterOpts{Name: "events_missed_total",
		Help: "Events the exporter never saw: it fell behind and they were no longer retained. Counters undercount by what these were."})
	f.MustRegister(x.requests, x.probes, x.latency, x.sendLag, x.dns, x.health, x.applied, x.healed, x.linkToxics,
		x.timerLag, x.schedP99, x.events, x.missed, activeCollector{x})
	x.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	x.handler = promhttp.HandlerFor(x.reg, promhttp.HandlerOpts{Registry: x.reg, MaxRequestsInFlight: 4,
		Timeout: 10 * time.Second, EnableOpenMetrics: true})
}

// ServeHTTP serves the metrics.
func (x *Exporter) ServeHTTP(w http.ResponseWriter, r *http.Request) { x.handler.ServeHTTP(w, r) }

// Registry is the exporter's registry, for a driver that adds its own.
func (x *Exporter) Registry() *prometheus.Registry { return x.reg }

// Close stops following the events (the metrics stay as they were). It
// is idempotent; the exporter also stops when the Engine closes.
func (x *Exporter) Close() {
	x.closeOnce.Do(func() { close(x.stop) })
	<-x.done
}

// follow counts the events until the Engine or the exporter closes,
// resuming a subscription that fell behind.
func (x *Exporter) follow(sub *engine.Subscription) {
	defer close(x.done)
	for {
		select {
		case <-x.stop:
			sub.Close()
			return
		case d, ok := <-sub.C():
			if ok {
				x.count(d)
				continue
			}
			var lagged *engine.LaggedError
			if !errors.As(sub.Err(), &lagged) {
				return // the Engine closed
			}
			if sub = x.resubscribe(); sub == nil {
				return
			}
		}
	}
}

// resubscribe resumes after the last event counted or, when that is gone,
// subscribes afresh: the gap is counted as missed at the next event.
func (x *Exporter) resubscribe() *engine.Subscription {
	for {
		sub, err := x.e.Resume(x.lastSeq, x.buffer)
		if errors.Is(err, engine.ErrGone) {
			if sub, err = x.e.Subscribe(x.buffer); err == nil {
				x.readHealth() // a state: read it again rather than miss a change
			}
		}
		switch {
		case err == nil:
			return sub
		case errors.Is(err, engine.ErrClosed):
			return nil
		}
		select { // too many subscribers: try again
		case <-x.stop:
			return nil
		case <-time.After(x.subscribeRetry):
		}
	}
}

func (x *Exporter) count(d engine.Delivery) {
	if x.beforeEvent != nil {
		x.beforeEvent()
	}
	if d.Seq > x.lastSeq+1 {
		x.missed.Add(float64(d.Seq - x.lastSeq - 1))
	}
	if d.Seq > x.lastSeq {
		x.lastSeq = d.Seq
	}
	ev := d.Event
	x.events.WithLabelValues(x.oneOf(x.types, ev.Type)).Inc()
	switch ev.Type {
	case journal.Request:
		x.request(ev)
	case journal.DNSQuery:
		rcode := ev.Rcode
		if rcode == "NOERROR" && ev.Answers != nil && *ev.Answers == 0 {
			rcode = "NODATA"
		}
		server := "authoritative"
		switch {
		case strings.HasPrefix(ev.Detail, "resolver:"):
			server = "resolver"
		case strings.HasPrefix(ev.Detail, "coredns:"):
			// Answers a CoreDNS plugin in a cluster shaped: one label
			// value for every instance and pod (their names stay in the
			// journal), so the series stay few however many pods ask.
			server = "coredns"
		}
		name, ok := x.names[fqdn(ev.Name)]
		if !ok {
			name = "other"
		}
		x.dns.WithLabelValues(name, x.oneOf(x.rcodes, rcode), boolLabel(ev.Fault != ""), server).Inc()
	case journal.DNSOther:
		// Queries from sources that are no client's (a service on the host
		// in a game day, a flood), counted per second (rcode → count):
		// neither their names nor whether a fault shaped them are kept.
		for rcode, n := range ev.Counts {
			x.dns.WithLabelValues("other", x.oneOf(x.rcodes, rcode), "unknown", "authoritative").Add(float64(n))
		}
	case journal.TargetState:
		x.setHealth(ev.Region, ev.Target, ev.To)
	case journal.FaultApplied:
		x.applied.WithLabelValues(x.label(x.kinds, ev.Kind)).Inc()
	case journal.FaultHealed:
		x.healed.WithLabelValues(x.label(x.kinds, ev.Kind)).Inc()
	case journal.LinkToxic:
		x.linkToxics.WithLabelValues(x.label(x.regions, ev.Region), x.oneOf(toxicActions, ev.Status)).Inc()
	case journal.HarnessLag:
		x.timerLag.Set(ev.LagMS / 1000)
		if ev.SchedP99MS != nil {
			x.schedP99.Set(*ev.SchedP99MS / 1000)
		}
	}
}

func (x *Exporter) request(ev journal.Event) {
	client := x.clientLabel.of(ev.Client)
	region := "none"
	if ev.Region != "" {
		region = x.label(x.regions, ev.Region)
	}
	outcome, class := "ok", "none"
	if !ev.Succeeded() {
		outcome, class = "error", x.oneOf(x.classes, ev.Error)
	}
	if ev.Probe {
		x.probes.WithLabelValues(client, region, outcome).Inc()
		return
	}
	x.requests.WithLabelValues(client, region, outcome, class).Inc()
	if !ev.LatencyUnknown {
		x.latency.WithLabelValues(client, region, outcome).Observe(ev.LatencyMS / 1000)
	}
	x.sendLag.WithLabelValues(client).Observe(ev.LagMS / 1000)
}

// readHealth sets every target's health from the world as it is now.
func (x *Exporter) readHealth() {
	for _, r := range x.e.World().Regions() {
		if lb, ok := x.e.World().NLB(r); ok {
			for _, t := range lb.Targets() {
				x.setHealth(r, t.Addr, t.State)
			}
		}
	}
}

func (x *Exporter) setHealth(region, target, state string) {
	region, target = x.label(x.regions, region), x.tgtLabel.of(target)
	for _, s := range x.targetStates {
		v := 0.0
		if s == state {
			v = 1
		}
		x.health.WithLabelValues(region, target, s).Set(v)
	}
}

// label is v when m has it, else "other".
func (x *Exporter) label(m map[string]string, v string) string {
	if l, ok := m[v]; ok {
		return l
	}
	return "other"
}

// oneOf is v when s has it, else "other" ("none" for the empty string).
func (x *Exporter) oneOf(s map[string]bool, v string) string {
	switch {
	case v == "":
		return "none"
	case s[v]:
		return v
	}
	return "other"
}

// activeCollector reports the Engine's active faults at each scrape, by
// kind and target: exact whatever the stream did. A kind/target once
// active is reported as 0 afterwards, so a panel shows it going away.
type activeCollector struct{ x *Exporter }

var activeDesc = prometheus.NewDesc("faults_active", "Faults applied and not yet healed, by kind and target (read from the Engine at each scrape).",
	[]string{"kind", "target"}, nil)

func (c activeCollector) Describe(ch chan<- *prometheus.Desc) { ch <- activeDesc }

func (c activeCollector) Collect(ch chan<- prometheus.Metric) {
	x := c.x
	n := map[[2]string]int{}
	for _, a := range x.e.Active() {
		k := [2]string{x.label(x.kinds, a.Fault.Kind), strings.TrimSuffix(a.Fault.Target, ".")}
		n[k]++
	}
	x.activeMu.Lock()
	defer x.activeMu.Unlock()
	for k := range n {
		if len(x.activeSeen) < MaxTargets {
			x.activeSeen[k] = true
		}
	}
	for k := range x.activeSeen {
		if _, ok := n[k]; !ok {
			n[k] = 0
		}
	}
	for k, v := range n {
		ch <- prometheus.MustNewConstMetric(activeDesc, prometheus.GaugeValue, float64(v), k[0], k[1])
	}
}

// bounded gives the first max distinct values labels of their own, and
// every later one "other".
type bounded struct {
	mu   sync.Mutex
	max  int
	seen map[string]bool
}

func newBounded(max int) *bounded { return &bounded{max: max, seen: map[string]bool{}} }

func (b *bounded) of(v string) string {
	if v == "" {
		return "none"
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.seen[v] {
		return v
	}
	if len(b.seen) >= b.max {
		return "other"
	}
	b.seen[v] = true
	return v
}

var toxicActions = set("added", "updated", "removed")

func set(vs ...string) map[string]bool {
	m := map[string]bool{}
	for _, v := range vs {
		m[v] = true
	}
	return m
}

func fqdn(name string) string {
	name = strings.ToLower(name)
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	return name
}

func boolLabel(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
