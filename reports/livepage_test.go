package reports

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/experiments/journal"
)

// The live page is report.html with no run in it, a config naming the
// event stream (and the state before the page opened), and live.js; the
// static report has neither.
func TestLiveHTMLIsTheReportPageInLiveMode(t *testing.T) {
	var buf bytes.Buffer
	seed := []journal.Event{{T: 10, Type: journal.FaultApplied, Fault: "f1", Kind: "dns.empty", Target: "x."}}
	if err := LiveHTML(&buf, LivePage{Title: "game <day>", Events: "/api/v1/events?x=1&y=</script>", NowMS: 1500, Seed: seed, Window: time.Minute}); err != nil {
		t.Fatal(err)
	}
	live := buf.String()
	raw := regexp.MustCompile(`(?s)<script id="live-config" type="application/json">(.*?)</script>`).FindStringSubmatch(live)
	if raw == nil {
		t.Fatal("no live config")
	}
	var cfg liveConfig
	if err := json.Unmarshal([]byte(raw[1]), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Events != "/api/v1/events?x=1&y=</script>" || cfg.NowMS != 1500 || cfg.Window != 60 || cfg.MaxPoints != 3000 || len(cfg.Seed) != 1 {
		t.Errorf("config %+v", cfg)
	}
	data := regexp.MustCompile(`(?s)<script id="report-data" type="application/json">(.*?)</script>`).FindStringSubmatch(live)
	var c charts
	if data == nil || json.Unmarshal([]byte(data[1]), &c) != nil || c.Verdict != "live" || c.Duration != 1.5 || c.DNS.T == nil || c.Faults == nil {
		t.Errorf("the page's data: %v", data)
	}
	for _, want := range []string{"<title>faultline: game &lt;day&gt; (live)</title>", "new EventSource(cfg.events)", "window.faultlineReport", "Data: the Engine's event stream, live."} {
		if !strings.Contains(live, want) {
			t.Errorf("the live page lacks %q", want)
		}
	}
	buf.Reset()
	if err := page.Execute(&buf, map[string]any{"Title": "x", "Verdict": "pass", "Data": "{}", "ReportJS": reportJS}); err != nil { // as HTML renders it
		t.Fatal(err)
	}
	if static := buf.String(); strings.Contains(static, "live-config") || strings.Contains(static, "new EventSource") {
		t.Error("the static report carries the live mode")
	}
}
