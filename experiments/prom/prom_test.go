package prom

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/faultline-dev/faultline/experiments/clients"
	"github.com/faultline-dev/faultline/experiments/engine"
	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/experiments/livetest"
	"github.com/faultline-dev/faultline/faults"
)

// eventually polls cond for up to 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The exporter counts a real Engine's events: a client's requests failing
// under dns.empty (class dns-notfound), the DNS answers the fault shaped,
// target health, the active fault read from the Engine at each scrape and
// back to 0 after its heal, the harness's lag, and the labels bounded.
func TestExporterCountsTheEngine(t *testing.T) {
	e := livetest.Open(t)
	x, err := New(e)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	livetest.Client(t, e, 0, "naive", clients.SingleRegion, 40, "us-east-1")
	eventually(t, "naive's first successes", func() bool {
		return testutil.ToFloat64(x.requests.WithLabelValues("naive", "us-east-1", "ok", "none")) >= 3
	})
	if _, err := e.Apply(faults.Fault{Kind: "dns.empty", Target: livetest.East}, "test"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "naive failing with dns-notfound", func() bool {
		return testutil.ToFloat64(x.requests.WithLabelValues("naive", "us-east-1", "error", clients.ClassDNSNotFound)) >= 3
	})
	eventually(t, "DNS answers shaped by the fault", func() bool {
		return testutil.ToFloat64(x.dns.WithLabelValues("dynamodb.us-east-1.amazonaws.com", "NODATA", "true", "authoritative")) >= 1
	})
	page := scrape(t, x)
	for _, want := range []string{
		`faultline_faults_active{kind="dns.empty",target="dynamodb.us-east-1.amazonaws.com"} 1`,
		`faultline_faults_applied_total{kind="dns.empty"} 1`,
		`faultline_target_health{region="us-east-1",state="initial",target="127.0.100.1:`,
		`faultline_request_duration_seconds_bucket{client="naive",outcome="ok",region="us-east-1",le="+Inf"}`,
		`faultline_request_send_lag_seconds_count{client="naive"}`,
		`go_goroutines `, `process_resident_memory_bytes `,
	} {
		if !strings.Contains(page, "\n"+want) {
			t.Errorf("the scrape lacks %s", want)
		}
	}
	eventually(t, "both targets healthy (one per region)", func() bool {
		healthy := 0
		for _, line := range strings.Split(scrape(t, x), "\n") {
			if strings.HasPrefix(line, `faultline_target_health{`) && strings.Contains(line, `state="healthy"`) && strings.HasSuffix(line, " 1") {
				healthy++
			}
		}
		return healthy == 2
	})
	if err := e.HealAll("done", "test"); err != nil {
		t.Fatal(err)
	}
	if page := scrape(t, x); !strings.Contains(page, "\n"+`faultline_faults_active{kind="dns.empty",target="dynamodb.us-east-1.amazonaws.com"} 0`) {
		t.Error("after the heal, the active fault is not reported as 0")
	}

	p99 := 7.0
	e.Record(journal.Event{Type: journal.HarnessLag, LagMS: 12.5, SchedP99MS: &p99})
	// A stranger's names and classes get no labels of their own.
	e.Record(journal.Event{Type: journal.DNSQuery, Name: "evil.example.", Rcode: "WHATEVER", Answers: journal.Int(1)})
	e.Record(journal.Event{Type: journal.Request, Client: "naive", Region: "mars-1", OK: journal.Bool(false), Error: "made-up"})
	eventually(t, "the harness's lag", func() bool { return testutil.ToFloat64(x.timerLag) == 0.0125 })
	if v := testutil.ToFloat64(x.schedP99); v != 0.007 {
		t.Errorf("sched p99 = %v; want 0.007", v)
	}
	// Answers a CoreDNS plugin shaped in a cluster: one server label for
	// every instance and pod.
	for _, pod := range []string{"coredns-a", "coredns-b"} {
		e.Record(journal.Event{Type: journal.DNSQuery, Addr: "10.244.1.7:5353", Name: livetest.East, QType: "A", Rcode: "NXDOMAIN",
			Answers: journal.Int(0), Fault: "f9", Detail: "coredns:" + pod})
	}
	eventually(t, "the CoreDNS plugin's answers under server coredns", func() bool {
		return testutil.ToFloat64(x.dns.WithLabelValues("dynamodb.us-east-1.amazonaws.com", "NXDOMAIN", "true", "coredns")) == 2
	})
	eventually(t, "the stranger's events counted as other", func() bool {
		return testutil.ToFloat64(x.dns.WithLabelValues("other", "other", "false", "authoritative")) == 1 &&
			testutil.ToFloat64(x.requests.WithLabelValues("naive", "other", "error", "other")) == 1
	})
	if v := testutil.ToFloat64(x.missed); v != 0 {
		t.Errorf("missed %v events; want none", v)
	}
}

func TestBoundedLabels(t *testing.T) {
	b := newBounded(2)
	for _, c := range []struct{ in, want string }{{"a", "a"}, {"b", "b"}, {"c", "other"}, {"a", "a"}, {"", "none"}} {
		if got := b.of(c.in); got != c.want {
			t.Errorf("of(%q) = %q; want %q", c.in, got, c.want)
		}
	}
}

// A subscriber that falls behind resumes; when what it missed is no
// longer retained, it counts it in faultline_events_missed_total instead
// of guessing: every sequence number is either counted or missed.
func TestExporterCountsWhatItMissed(t *testing.T) {
	e := livetest.Open(t)
	hold := make(chan struct{})
	held := make(chan struct{}, 1)
	x, err := newExporter(e, 1, func() {
		select {
		case held <- struct{}{}:
		default:
		}
		<-hold
	})
	if err != nil {
		t.Fatal(err)
	}
	<-held // the exporter is stuck on its first event
	for range engine.Retained + 100 {
		e.Record(journal.Event{Type: journal.Phase, Detail: "noise"})
	}
	close(hold)
	eventually(t, "events missed", func() bool { return testutil.ToFloat64(x.missed) > 0 })
	e.Record(journal.Event{Type: journal.Phase, Detail: "after"})
	eventually(t, "the exporter following again", func() bool {
		return testutil.ToFloat64(x.events.WithLabelValues(journal.Phase)) > 0
	})
	e.Close()
	<-x.done
	counted := sum(x.events)
	missed := testutil.ToFloat64(x.missed)
	if missed < 100 || uint64(counted+missed) != x.lastSeq {
		t.Errorf("counted %v + missed %v; want every one of %d events, more than 100 of them missed", counted, missed, x.lastSeq)
	}
}

// sum adds up a counter vector's values.
func sum(c prometheus.Collector) float64 {
	ch := make(chan prometheus.Metric, 1024)
	c.Collect(ch)
	close(ch)
	total := 0.0
	for m := range ch {
		var d dto.Metric
		m.Write(&d)
		total += d.GetCounter().GetValue()
	}
	return total
}

func scrape(t *testing.T, x *Exporter) string {
	t.Helper()
	rec := httptest.NewRecorder()
	x.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Result().Body)
	if rec.Code != 200 {
		t.Fatalf("scrape: %d %s", rec.Code, body)
	}
	return string(body)
}
