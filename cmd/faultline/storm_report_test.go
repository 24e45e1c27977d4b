package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// stormJournalText is a retry storm's journal, written by hand: a backend of
// 100 requests/s and a fleet steady at 50 for 10 s, the record empty from
// 10 s to 20 s, then the herd: 400 offered, 300 throttled, until the end at
// 60 s (metastable), or drained after drainAt seconds.
func stormJournalText(drainAt int) string {
	var b strings.Builder
	b.WriteString(`{"t_ms":0,"type":"run.start","detail":"storm","k":5,"metastable_after_ms":20000}` + "\n")
	b.WriteString(`{"t_ms":1,"type":"assertion","client":"*","expr":"metastable == false"}` + "\n")
	b.WriteString(`{"t_ms":1,"type":"assertion","client":"*","expr":"drain_ms < 30000"}` + "\n")
	b.WriteString(`{"t_ms":2,"type":"ddb.capacity","region":"us-east-1","load":{"offered":0,"served":0,"throttled":0,"capacity_rps":100,"burst":20}}` + "\n")
	b.WriteString(`{"t_ms":3,"type":"fleet.start","client":"herd","strategy":"legacy","region":"us-east-1","rate":50,"size":2000,"timeout_ms":1000}` + "\n")
	for s := 1; s <= 60; s++ {
		if s == 10 {
			b.WriteString(`{"t_ms":10000,"type":"fault.applied","fault":"f1","kind":"dns.empty","target":"dynamodb.us-east-1.amazonaws.com.","reach":"dns"}` + "\n")
		}
		if s == 20 {
			b.WriteString(`{"t_ms":20000,"type":"fault.healed","fault":"f1","kind":"dns.empty","target":"dynamodb.us-east-1.amazonaws.com."}` + "\n")
		}
		offered, served, throttled, queue, p99, logical, attempts, ok := 50, 50, 0, 0, 5.0, 50, 52, 50
		switch {
		case s > 10 && s <= 20:
			offered, served, p99, attempts, ok = 0, 0, 0, 150, 0
		case s > 20 && (drainAt == 0 || s < drainAt):
			offered, served, throttled, queue, p99, attempts, ok = 400, 100, 300, 60, 900, 400, 10
		}
		fmt.Fprintf(&b, `{"t_ms":%d,"type":"ddb.load","region":"us-east-1","load":{"offered":%d,"served":%d,"throttled":%d,"queue":%d,"p99_ms":%g}}`+"\n",
			s*1000+2, offered, served, throttled, queue, p99)
		fmt.Fprintf(&b, `{"t_ms":%d,"type":"fleet.load","client":"herd","load":{"logical":%d,"offered":%d,"served":%d,"throttled":%d,"failed":%d,"p99_ms":40}}`+"\n",
			s*1000+5, logical, attempts, ok, throttled, logical-ok)
	}
	b.WriteString(`{"t_ms":60100,"type":"run.end","status":"complete"}` + "\n")
	return b.String()
}

// A retry storm's journal, re-rendered: every report carries the load and
// its metrics, and the HTML page's load lane paints in Chromium.
func TestStormReports(t *testing.T) {
	for _, c := range []struct {
		name       string
		drainAt    int
		metastable bool
		exit       int
	}{{"stays overloaded", 0, true, 1}, {"drains", 26, false, 0}} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			journalPath := writeFile(t, "journal.jsonl", stormJournalText(c.drainAt))
			if code, text := faultline(t, "report", "--out", dir, journalPath); code != c.exit {
				t.Fatalf("report: exit %d, want %d\n%s", code, c.exit, text)
			}
			var rep struct {
				Storm struct {
					Metastable    *bool    `json:"metastable"`
					DrainMS       *float64 `json:"drain_ms"`
					RecoverySurge *float64 `json:"recovery_surge"`
					Server        []any    `json:"server"`
				} `json:"storm"`
			}
			data, err := os.ReadFile(filepath.Join(dir, "report.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(data, &rep); err != nil {
				t.Fatal(err)
			}
			st := rep.Storm
			if st.Metastable == nil || *st.Metastable != c.metastable || len(st.Server) != 60 || st.RecoverySurge == nil || *st.RecoverySurge != 8 {
				t.Errorf("report.json storm: metastable %v, surge %v, %d seconds", st.Metastable, st.RecoverySurge, len(st.Server))
			}
			if c.metastable != (st.DrainMS == nil) {
				t.Errorf("drain_ms %v with metastable %v", st.DrainMS, c.metastable)
			}
			md, _ := os.ReadFile(filepath.Join(dir, "report.md"))
			junit, _ := os.ReadFile(filepath.Join(dir, "junit.xml"))
			for file, wants := range map[string][]string{
				"report.md": {"## Load", "| recovery_surge | 8× |", "  backends |", fmt.Sprintf("| metastable | %v (window 20.0s) |", c.metastable), "Backend us-east-1: capacity 100 requests/s, burst 20", "| herd | legacy | 2000 | 50/s | us-east-1 | 1.04× | 3× |"},
				"junit.xml": {`name="storm.metastable" value="` + fmt.Sprint(c.metastable) + `"`, `name="storm.recovery_surge" value="8"`, `name="fleet.herd.amplification_during" value="3"`, `name="metastable == false"`},
			} {
				text := map[string][]byte{"report.md": md, "junit.xml": junit}[file]
				for _, w := range wants {
					if !strings.Contains(string(text), w) {
						t.Errorf("%s lacks %q", file, w)
					}
				}
			}
			browser := chromium(t)
			dom := headless(t, browser)("--dump-dom", "file://"+filepath.Join(dir, "report.html"))
			checkCharts(t, dom, 1) // the load lane (no client ran: no request chart)
			for _, want := range []string{">Load<", "fleet attempts", "recovery_surge", ">amplification before<"} {
				if !strings.Contains(string(dom), want) {
					t.Errorf("the rendered page lacks %q", want)
				}
			}
		})
	}
}
