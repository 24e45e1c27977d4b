package main

import (
	"bytes"
	"context"
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
	browser := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			browser = p
			break
		}
	}
	if browser == "" {
		t.Skip("no Chromium (apt-get install chromium; .ci/run installs it)")
	}
	out := t.TempDir()
	exp := writeFile(t, "html.yaml", strings.NewReplacer("duration: 20s", "duration: 4s", "duration: 15s", "duration: 2s",
		"  - name: failover\n", "  - {name: naive, strategy: single-region, regions: [us-east-1]}\n  - name: failover\n").Replace(shortFlagship))
	if code, text := faultline(t, "run", "-q", "--out", out, exp); code != 0 && code != 1 {
		t.Fatalf("run: exit %d\n%s", code, text)
	}
	page, err := os.ReadFile(filepath.Join(out, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	// Self-contained: nothing is loaded from elsewhere.
	if loads := regexp.MustCompile(`(?i)<(script|img|iframe)[^>]+src=|<link[^>]+href=`).FindAll(page, -1); len(loads) > 0 {
		t.Errorf("report.html loads external resources: %q", loads)
	}

	run := func(args ...string) []byte {
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
	url := "file://" + filepath.Join(out, "report.html")
	dom := run("--dump-dom", url)
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
	// Two clients, DNS answers, target health.
	if expected == nil || drawn == nil || string(expected[1]) != "4" || string(drawn[1]) != "4" {
		t.Errorf("body %s: want 4 charts expected and 4 drawn", body)
	}
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
