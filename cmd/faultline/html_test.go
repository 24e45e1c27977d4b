package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The HTML report of a real run (a fault, two clients, failover) opens in
// headless Chromium with the network cut off: no script error, and every
// chart painted pixels on its canvas. The screenshot is kept in
// $FAULTLINE_ARTIFACTS when set, for a person to look at.
func TestHTMLReportRendersInChromium(t *testing.T) {
	browser := chromium(t)
	out := t.TempDir()
	exp := writeFile(t, "html.yaml", strings.NewReplacer("duration: 20s", "duration: 4s", "duration: 15s", "duration: 2s",
		"  - name: failover\n", "  - {name: naive, strategy: single-region, regions: [us-east-1]}\n  - name: failover\n").Replace(shortFlagship))
	// The page is what is tested, not the verdict: a run whose harness was
	// starved (invalid, exit 3) still writes it, after a few tries.
	if code, text, starved := unstarved(t, func() (int, string) { return faultline(t, "run", "-q", "--out", out, exp) }); code != 0 && code != 1 && !starved {
		t.Fatalf("run: exit %d\n%s", code, text)
	} // a starved run's page is drawn all the same: check it
	page, err := os.ReadFile(filepath.Join(out, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	// Self-contained: nothing is loaded from elsewhere.
	if loads := regexp.MustCompile(`(?i)<(script|img|iframe)[^>]+src=|<link[^>]+href=`).FindAll(page, -1); len(loads) > 0 {
		t.Errorf("report.html loads external resources: %q", loads)
	}

	run := headless(t, browser)
	url := "file://" + filepath.Join(out, "report.html")
	dom := run("--dump-dom", url)
	checkCharts(t, dom, 4)
	for _, want := range []string{">naive<", ">failover<", "DNS answers", "Target health", "dns.empty"} {
		if !strings.Contains(string(dom), want) {
			t.Errorf("the rendered page lacks %q", want)
		}
	}
	shot := filepath.Join(t.TempDir(), "report.png")
	if dir := os.Getenv("FAULTLINE_ARTIFACTS"); dir != "" {
		shot = filepath.Join(dir, "report.png")
	}
	run("--window-size=1300,2000", "--screenshot="+shot, url)
	if info, err := os.Stat(shot); err != nil || info.Size() < 20000 {
		t.Errorf("screenshot %s: %v (size %v); want a page's worth of pixels", shot, err, info)
	}
}

// The page of a long run (more requests than MaxPoints per client, a
// target flapping all along), re-rendered from its journal: its charts
// draw the per-bucket points as well as the first ones.
func TestHTMLReportOfALongRunRendersInChromium(t *testing.T) {
	browser := chromium(t)
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString(`{"t_ms":0,"type":"run.start","detail":"long","k":5}` + "\n")
	for _, c := range []string{"a", "b"} {
		fmt.Fprintf(&b, `{"t_ms":1,"type":"client.start","client":"%s","strategy":"failover","region":"us-east-1","addr":"127.0.0.11"}`+"\n", c)
	}
	b.WriteString(`{"t_ms":1000,"type":"fault.applied","fault":"f1","kind":"hc.flap","target":"us-east-1","reach":"health"}` + "\n")
	for i := 0; i < 12_000; i++ { // 10 minutes at 20/s, each client
		t0 := 10 + float64(i)*50
		for k, c := range []string{"a", "b"} {
			ok, region := i%37 != 0, []string{"us-east-1", "us-west-2"}[(i/500+k)%2]
			fmt.Fprintf(&b, `{"t_ms":%g,"type":"request","client":"%s","region":"%s","latency_ms":%g,"ok":%v}`+"\n", t0, c, region, 1+float64(i%11), ok)
		}
		if i%40 == 0 {
			fmt.Fprintf(&b, `{"t_ms":%g,"type":"target.state","region":"us-east-1","target":"127.0.100.1:9","from":"healthy","to":"%s"}`+"\n", t0,
				[]string{"unhealthy", "healthy"}[i/40%2])
			fmt.Fprintf(&b, `{"t_ms":%g,"type":"dns.other","counts":{"NOERROR":%d}}`+"\n", t0, i%300)
		}
	}
	b.WriteString(`{"t_ms":300000,"type":"fault.healed","fault":"f1","kind":"hc.flap","target":"us-east-1"}` + "\n")
	b.WriteString(`{"t_ms":600100,"type":"run.end","status":"complete"}` + "\n")
	journalPath := writeFile(t, "journal.jsonl", b.String())
	if code, text := faultline(t, "report", "--out", dir, journalPath); code != 0 && code != 1 {
		t.Fatalf("report: exit %d\n%s", code, text)
	}
	page, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	if len(page) > 3<<20 {
		t.Errorf("report.html is %d bytes: the points should be bounded", len(page))
	}
	dom := headless(t, browser)("--dump-dom", "file://"+filepath.Join(dir, "report.html"))
	checkCharts(t, dom, 4)
	if !strings.Contains(string(dom), "each point is the slowest") {
		t.Error("the page does not say its later points are per-bucket maxima")
	}
}

func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Chromium (apt-get install chromium; .ci/run installs it)")
	return ""
}

// headless runs Chromium headless with the network cut off.
func headless(t *testing.T, browser string) func(args ...string) []byte {
	return func(args ...string) []byte {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
			"--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9", "--virtual-time-budget=5000",
			"--user-data-dir=" + t.TempDir()}
		cmd := exec.CommandContext(ctx, browser, append(base, args...)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("chromium %v: %v\n%s", args, err, stderr.Bytes())
		}
		return stdout.Bytes()
	}
}

// checkCharts: no script error, and every chart painted its canvas.
func checkCharts(t *testing.T, dom []byte, want int) {
	t.Helper()
	body := regexp.MustCompile(`<body[^>]*>`).Find(dom)
	if body == nil {
		t.Fatalf("no <body> in the rendered page:\n%.2000s", dom)
	}
	if strings.Contains(string(body), "data-script-errors") {
		errs := regexp.MustCompile(`<ul id="script-errors"[^>]*>.*?</ul>`).Find(dom)
		t.Errorf("script errors: %s", errs)
	}
	expected := regexp.MustCompile(`data-charts-expected="(\d+)"`).FindSubmatch(body)
	drawn := regexp.MustCompile(`data-charts-drawn="(\d+)"`).FindSubmatch(body)
	if expected == nil || drawn == nil || string(expected[1]) != fmt.Sprint(want) || string(drawn[1]) != fmt.Sprint(want) {
		t.Errorf("body %s: want %d charts expected and %d drawn", body, want, want)
	}
}

// A global table's run, re-rendered from its journal: the replication lane
// (lag per direction, a pause as a band) paints, and the page has the
// global table's numbers.
func TestHTMLReplicationLaneRendersInChromium(t *testing.T) {
	browser := chromium(t)
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString(`{"t_ms":0,"type":"run.start","detail":"global","k":5}` + "\n")
	b.WriteString(`{"t_ms":1,"type":"client.start","client":"w","strategy":"failover","region":"us-east-1","addr":"127.0.0.11"}` + "\n")
	b.WriteString(`{"t_ms":3000,"type":"fault.applied","fault":"f1","kind":"ddb.replication-pause","target":"us-east-1","reach":"region"}` + "\n")
	b.WriteString(`{"t_ms":3000,"type":"ddb.replication","region":"us-east-1","to":"us-west-2","status":"paused","fault":"f1"}` + "\n")
	version := 0
	for i := 0; i < 200; i++ { // 10 s at 20/s: a write, then a read
		t0 := 10 + float64(i)*50
		region := "us-east-1"
		if t0 >= 4000 && t0 < 7000 {
			region = "us-west-2"
		}
		if i%2 == 0 {
			version++
			fmt.Fprintf(&b, `{"t_ms":%g,"type":"request","client":"w","region":"%s","op":"PutItem","item":"w/item-0000","item_version":%d,"latency_ms":2,"ok":true}`+"\n", t0, region, version)
			fmt.Fprintf(&b, `{"t_ms":%g,"type":"ddb.write","region":"%s","name":"orders","item":"w/item-0000","item_version":%d,"client":"w","op":"PutItem"}`+"\n", t0+1, region, version)
			other := map[string]string{"us-east-1": "us-west-2", "us-west-2": "us-east-1"}[region]
			lag := 40 + float64(i%7)*10
			if region == "us-east-1" && t0 >= 3000 {
				lag = 7000 - t0 // held by the pause until the heal
			}
			fmt.Fprintf(&b, `{"t_ms":%g,"type":"ddb.replicated","region":"%s","to":"%s","name":"orders","item":"w/item-0000","item_version":%d,"written_ms":%g,"status":"applied"}`+"\n",
				t0+1+lag, region, other, version, t0+1)
		} else {
			fmt.Fprintf(&b, `{"t_ms":%g,"type":"request","client":"w","region":"%s","op":"GetItem","item":"w/item-0000","item_version":%d,"latency_ms":2,"ok":true}`+"\n", t0, region, version)
		}
	}
	b.WriteString(`{"t_ms":7000,"type":"fault.healed","fault":"f1","kind":"ddb.replication-pause","target":"us-east-1"}` + "\n")
	b.WriteString(`{"t_ms":7000,"type":"ddb.replication","region":"us-east-1","to":"us-west-2","status":"resumed","fault":"f1"}` + "\n")
	b.WriteString(`{"t_ms":10100,"type":"run.end","status":"complete"}` + "\n")
	journalPath := writeFile(t, "journal.jsonl", b.String())
	if code, text := faultline(t, "report", "--out", dir, journalPath); code != 0 && code != 1 {
		t.Fatalf("report: exit %d\n%s", code, text)
	}
	dom := headless(t, browser)("--dump-dom", "file://"+filepath.Join(dir, "report.html"))
	checkCharts(t, dom, 2) // the client's requests and the replication lane
	for _, want := range []string{"Replication", "writes at risk", "us-east-1 → us-west-2"} {
		if !strings.Contains(string(dom), want) {
			t.Errorf("the rendered page lacks %q", want)
		}
	}
}
