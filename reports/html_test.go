package reports

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/experiments/measure"
)

// The page carries the run's data: fault bands, each request, the marks at
// fault start + detect / failover and heal + recover, DNS answers by rcode
// (NODATA told apart) and target lanes. (cmd/faultline's test renders a real
// run's page in Chromium.)
func TestHTMLCarriesTheTimeline(t *testing.T) {
	events := append(journalOf(),
		journal.Event{T: 50, Type: journal.TargetState, Region: "us-east-1", Target: "127.0.100.1:9", From: "initial", To: "healthy"},
		journal.Event{T: 600, Type: journal.TargetState, Region: "us-east-1", Target: "127.0.100.1:9", From: "healthy", To: "unhealthy"})
	s := measure.Summarize(events)
	var buf bytes.Buffer
	if err := HTML(&buf, s, TraceOf(events)); err != nil {
		t.Fatal(err)
	}
	raw := regexp.MustCompile(`(?s)<script id="report-data" type="application/json">(.*?)</script>`).FindSubmatch(buf.Bytes())
	if raw == nil {
		t.Fatal("no report data in the page")
	}
	var c charts
	if err := json.Unmarshal(raw[1], &c); err != nil {
		t.Fatal(err)
	}
	if len(c.Faults) != 1 || c.Faults[0].From != 0.3 || c.Faults[0].To == nil || *c.Faults[0].To != 0.9 {
		t.Errorf("faults = %+v", c.Faults)
	}
	var fo *clientChart
	for i := range c.Clients {
		if c.Clients[i].Name == "failover" {
			fo = &c.Clients[i]
		}
	}
	if fo == nil || len(fo.T) != 6 || fo.OK[1] || fo.Region[2] != "us-west-2" || fo.Class[1] != "dns-notfound" {
		t.Fatalf("failover client = %+v", fo)
	}
	m := s.Clients[0].Metrics
	want := map[string]float64{"detect": (300 + *m.DetectMS) / 1000, "failover": (300 + *m.FailoverMS) / 1000, "recover": (900 + *m.RecoverMS) / 1000}
	for _, mk := range fo.Marks {
		if w, ok := want[mk.Label]; !ok || mk.T != w {
			t.Errorf("mark %s at %v; want %v", mk.Label, mk.T, w)
		}
		delete(want, mk.Label)
	}
	if len(want) > 0 {
		t.Errorf("marks missing: %v", want)
	}
	if nodata := c.DNS.Rcodes["NODATA"]; nodata == nil || sum(nodata)*c.DNS.Bucket != 1 {
		t.Errorf("DNS = %+v; want the one NODATA answer", c.DNS)
	}
	if len(c.Targets) != 1 || len(c.Targets[0].States) != 3 || c.Targets[0].States[2].State != "unhealthy" {
		t.Errorf("targets = %+v", c.Targets)
	}
	page := buf.String()
	for _, want := range []string{"<title>faultline: dynamodb-empty-dns (", "uPlot", "report-data"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
}

func sum(xs []float64) float64 {
	t := 0.0
	for _, x := range xs {
		t += x
	}
	return t
}

// A client with more requests than MaxPoints: every point up to it, then
// one per bucket and region, the slowest, saying how many it stands for;
// the page's data stays bounded however long the run.
func TestHTMLBoundsTheClientPoints(t *testing.T) {
	tr := NewTrace()
	events := []journal.Event{{T: 0, Type: journal.RunStart, Detail: "long"},
		{Type: journal.ClientStart, Client: "c", Strategy: "naive", Region: "us-east-1", Addr: "127.0.0.11"}}
	const n = 200_000 // 100/s for 2000 s
	for i := 0; i < n; i++ {
		e := journal.Event{T: float64(i) * 10, Type: journal.Request, Client: "c", Region: "us-east-1", LatencyMS: float64(1 + i%7), OK: journal.Bool(i%100 != 0)}
		if i%100 == 0 {
			e.Error = "timeout"
		}
		events = append(events, e)
	}
	events = append(events, journal.Event{T: n * 10, Type: journal.RunEnd, Status: "complete"})
	for _, e := range events {
		tr.Add(e)
	}
	s := measure.Summarize(events)
	c := chartData(s, tr).Clients[0]
	if c.Requests != n || len(c.T) > MaxPoints+2*gridCells || len(c.N) != len(c.T) || c.Bucket <= 0 {
		t.Fatalf("requests %d, %d points (n %d), bucket %v: want every request counted in at most MaxPoints+2 per cell", c.Requests, len(c.T), len(c.N), c.Bucket)
	}
	total, failed := 0, 0
	for i, k := range c.N {
		total += k
		if !c.OK[i] {
			failed += k
		}
		if i > 0 && c.T[i] < c.T[i-1] {
			t.Fatalf("points out of time order at %d", i)
		}
		if c.Latency[i] > 7 {
			t.Fatalf("point %d latency %v: beyond the slowest request", i, c.Latency[i])
		}
	}
	if total != n || failed != n/100 {
		t.Errorf("points stand for %d requests (%d failed), want %d (%d)", total, failed, n, n/100)
	}
	if tl := timelines(s, tr, 60); strings.Count(strings.Split(tl, "\n")[1], "~") != 60 {
		t.Errorf("timeline:\n%s\nwant every cell mixed (one failure in a hundred)", tl)
	}
	if len(c.T) < MaxPoints {
		t.Errorf("only %d points", len(c.T))
	}
}

// The DNS chart counts other sources' queries from their dns.other events,
// and its buckets match the per-query ones.
func TestDNSChartCountsOtherSources(t *testing.T) {
	events := []journal.Event{{T: 0, Type: journal.RunStart},
		{T: 120, Type: journal.DNSQuery, Rcode: "NOERROR", Answers: journal.Int(1)},
		{T: 1000, Type: journal.DNSOther, Counts: map[string]int{"NOERROR": 500, "NXDOMAIN": 20}},
		{T: 2000, Type: journal.RunEnd, Status: "complete"}}
	d := TraceOf(events).dnsBuckets(2000)
	if sum(d.Rcodes["NOERROR"])*d.Bucket != 501 || sum(d.Rcodes["NXDOMAIN"])*d.Bucket != 20 {
		t.Errorf("dns = %+v; want 501 NOERROR and 20 NXDOMAIN answers", d.Rcodes)
	}
}

// uPlot's MIT licence asks for its notice in every copy: the page carries
// LICENSE-uPlot verbatim in an HTML comment just before the inlined script,
// and nothing in the notice can end the comment early.
func TestHTMLCarriesUPlotNotice(t *testing.T) {
	events := journalOf()
	var buf bytes.Buffer
	if err := HTML(&buf, measure.Summarize(events), TraceOf(events)); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, want := range []string{"Copyright (c) 2022 Leon Sorokin", "Permission is hereby granted, free of charge", `THE SOFTWARE IS PROVIDED "AS IS"`} {
		if !strings.Contains(uplotLicense, want) {
			t.Fatalf("assets/LICENSE-uPlot lacks %q", want)
		}
	}
	if strings.Contains(uplotLicense, "--") {
		t.Fatal("assets/LICENSE-uPlot contains --, which would end the HTML comment")
	}
	m := regexp.MustCompile(`(?s)<!--\n(uPlot [^\n]*)\n(.*?)\n-->\n<script>/\*! https://github.com/leeoniya/uPlot`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no uPlot notice in a comment just before uPlot's script")
	}
	if m[2] != uplotLicense {
		t.Errorf("the page's notice is not LICENSE-uPlot verbatim:\n%s", m[2])
	}
	if n := strings.Count(page, "Permission is hereby granted"); n != 1 {
		t.Errorf("the notice appears %d times; want once", n)
	}
}
