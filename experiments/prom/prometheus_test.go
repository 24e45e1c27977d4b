package prom

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/experiments/clients"
	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/experiments/livetest"
	"github.com/faultline-dev/faultline/faults"
)

type sample struct {
	Metric map[string]string
	Value  float64
}

// query runs an instant PromQL query through Prometheus's HTTP API.
func query(t *testing.T, base, q string) []sample {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Status string
		Error  string
		Data   struct {
			ResultType string
			Result     []struct {
				Metric map[string]string
				Value  [2]any
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.Status != "success" {
		t.Fatalf("query %s: %v %s %s", q, err, r.Status, r.Error)
	}
	var out []sample
	for _, s := range r.Data.Result {
		v, _ := strconv.ParseFloat(fmt.Sprint(s.Value[1]), 64)
		out = append(out, sample{s.Metric, v})
	}
	return out
}

// until polls a query until check accepts its result (scrapes come every
// second), for up to 20 s.
func until(t *testing.T, base, q, what string, check func([]sample) bool) []sample {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := query(t, base, q)
		if check(got) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s returned %+v after 20 s", what, q, got)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func one(want float64, cmp func(a, b float64) bool) func([]sample) bool {
	return func(s []sample) bool { return len(s) == 1 && cmp(s[0].Value, want) }
}

func eq(a, b float64) bool { return a == b }
func gt(a, b float64) bool { return a > b }

// A real Prometheus scrapes the exporter of a live Engine while dns.empty
// empties us-east-1's record: the README's PromQL queries, through
// Prometheus's HTTP API, return the series a Grafana panel would draw.
func TestPrometheusScrapesTheExporter(t *testing.T) {
	e := livetest.Open(t)
	x, err := New(e)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	mux := http.NewServeMux()
	mux.Handle("/metrics", x)
	target := strings.TrimPrefix(livetest.Serve(t, mux), "http://")
	prom := livetest.Prometheus(t, target, "")

	livetest.Client(t, e, 0, "naive", clients.SingleRegion, 20, "us-east-1")
	livetest.Client(t, e, 1, "failover", clients.Failover, 20, "us-east-1", "us-west-2")
	until(t, prom, `up{job="faultline"}`, "the exporter scraped", one(1, eq))
	until(t, prom, `sum(faultline_requests_total{client="naive",outcome="ok"})`, "naive's successes", one(0, gt))

	if _, err := e.Apply(faults.Fault{Kind: "dns.empty", Target: livetest.East}, "test"); err != nil {
		t.Fatal(err)
	}
	p99 := 3.0
	e.Record(journal.Event{Type: journal.HarnessLag, LagMS: 4, SchedP99MS: &p99})

	until(t, prom, `sum by (kind, target) (faultline_faults_active)`, "the active fault",
		func(s []sample) bool {
			return len(s) == 1 && s[0].Value == 1 && s[0].Metric["kind"] == "dns.empty" && s[0].Metric["target"] == "dynamodb.us-east-1.amazonaws.com"
		})
	// Availability per client: naive falls, failover holds up.
	until(t, prom, `sum by (client) (faultline_requests_total{outcome="error",error_class="dns-notfound"})`, "naive failing with dns-notfound",
		func(s []sample) bool {
			for _, x := range s {
				if x.Metric["client"] == "naive" && x.Value >= 5 {
					return true
				}
			}
			return false
		})
	avail := until(t, prom, `sum by (client) (rate(faultline_requests_total{outcome="ok"}[5s])) / sum by (client) (rate(faultline_requests_total[5s]))`,
		"availability per client, naive's below failover's", func(s []sample) bool {
			by := map[string]float64{}
			for _, x := range s {
				by[x.Metric["client"]] = x.Value
			}
			return len(s) == 2 && by["naive"] < 0.5 && by["failover"] > by["naive"]
		})
	until(t, prom, `sum by (client) (rate(faultline_requests_total{client="failover",region="us-west-2",outcome="ok"}[5s]))`,
		"failover succeeding in us-west-2", one(0, gt))
	until(t, prom, `sum(rate(faultline_dns_answers_total{shaped="true",name="dynamodb.us-east-1.amazonaws.com"}[5s]))`,
		"DNS answers shaped by the fault per second", one(0, gt))
	until(t, prom, `histogram_quantile(0.99, sum by (le, client) (rate(faultline_request_duration_seconds_bucket[10s])))`,
		"p99 latency per client", func(s []sample) bool { return len(s) == 2 })
	until(t, prom, `sum by (region) (faultline_target_health{state="healthy"})`, "one healthy target per region",
		func(s []sample) bool { return len(s) == 2 && s[0].Value == 1 && s[1].Value == 1 })
	until(t, prom, `faultline_harness_timer_lag_seconds`, "the harness's timer lag", one(0.004, eq))
	until(t, prom, `faultline_harness_sched_latency_p99_seconds`, "the harness's scheduling p99", one(0.003, eq))
	until(t, prom, `faultline_events_missed_total`, "no event missed", one(0, eq))

	if err := e.HealAll("done", "test"); err != nil {
		t.Fatal(err)
	}
	until(t, prom, `sum(faultline_faults_active)`, "no active fault after the heal", one(0, eq))
	until(t, prom, `faultline_faults_healed_total{kind="dns.empty"}`, "the heal counted", one(1, eq))
	t.Logf("availability during the fault (5 s rate): %+v", avail)
}
