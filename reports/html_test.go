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
	if err := HTML(&buf, s, events); err != nil {
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

// uPlot's MIT licence asks for its notice in every copy: the page carries
// LICENSE-uPlot verbatim in an HTML comment just before the inlined script,
// and nothing in the notice can end the comment early.
func TestHTMLCarriesUPlotNotice(t *testing.T) {
	events := journalOf()
	var buf bytes.Buffer
	if err := HTML(&buf, measure.Summarize(events), events); err != nil {
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
