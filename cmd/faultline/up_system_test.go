package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/experiments/livetest"
)

// A game day watched as the README says: a real Prometheus scraping
// `faultline up` with the run's token, and the dashboard in headless
// Chromium, while faults go in and out through the CLI (the control API).
// The fault's band opens and closes on the page; PromQL through
// Prometheus's HTTP API sees it active, then not.
func TestPrometheusAndDashboardOnUp(t *testing.T) {
	prometheus, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("no prometheus binary (apt-get install prometheus; .ci/run installs it)")
	}
	u := startUp(t)
	api, _ := url.Parse(u.state.API)
	prom := startScraper(t, prometheus, api.Host, u.state.TokenFile)

	page := livetest.Chromium(t, u.state.API+"/?token="+url.QueryEscape(u.token))
	type band struct {
		ID   string
		Open bool
	}
	bands := func() []band {
		var raw string
		if err := page.Eval(`document.body ? document.body.dataset.live || "" : ""`, &raw); err != nil || raw == "" {
			return nil
		}
		var s struct {
			Connected bool
			Faults    []band
		}
		if err := json.Unmarshal([]byte(raw), &s); err != nil {
			t.Fatalf("data-live %q: %v", raw, err)
		}
		if !s.Connected {
			return nil
		}
		return s.Faults
	}
	hasBand := func(id string, open bool) func() bool {
		return func() bool {
			for _, b := range bands() {
				if b.ID == id && b.Open == open {
					return true
				}
			}
			return false
		}
	}
	active := func(want float64) func() bool {
		return func() bool {
			v, ok := promValue(t, prom, `sum(faultline_faults_active{kind="dns.empty"})`)
			return ok && v == want
		}
	}

	eventually(t, 30*time.Second, "the page connected to the event stream", func() bool {
		var raw string
		return page.Eval(`document.body ? document.body.dataset.live || "" : ""`, &raw) == nil && strings.Contains(raw, `"connected":true`)
	})
	if code, out := u.verb("inject", "dns.empty", east, "--for", "5m"); code != 0 {
		t.Fatalf("inject: %d %s", code, out)
	}
	eventually(t, 30*time.Second, "the fault's band open on the page", hasBand("f1", true))
	eventually(t, 60*time.Second, "Prometheus seeing the fault active", active(1))
	if code, out := u.verb("heal", "--all"); code != 0 {
		t.Fatalf("heal --all: %d %s", code, out)
	}
	eventually(t, 30*time.Second, "the fault's band closed on the page", hasBand("f1", false))
	eventually(t, 60*time.Second, "Prometheus seeing no fault active", active(0))
	var errs string
	page.Eval(`(document.getElementById("script-errors") || {}).textContent || ""`, &errs)
	if strings.TrimSpace(errs) != "" {
		t.Errorf("the page's script errors: %s", errs)
	}
}

// startScraper runs a real Prometheus scraping target's /metrics every
// second with the token file as its credentials, as the README's scrape
// configuration does. It returns Prometheus's base URL.
func startScraper(t *testing.T, bin, target, tokenFile string) string {
	t.Helper()
	dir := t.TempDir()
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: faultline
    authorization: {credentials_file: %q}
    static_configs: [{targets: [%q]}]
`, tokenFile, target)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var logs bytes.Buffer
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("prometheus's log:\n%s", logs.String())
		}
	})
	base := "http://" + addr
	eventually(t, 60*time.Second, "Prometheus ready", func() bool {
		select {
		case err := <-exited:
			t.Fatalf("prometheus exited: %v\n%s", err, logs.String())
		default:
		}
		resp, err := http.Get(base + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return base
}

// promValue runs an instant query; ok is false when it has no sample.
func promValue(t *testing.T, base, q string) (float64, bool) {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	var r struct {
		Status string
		Data   struct {
			Result []struct {
				Value [2]any
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.Status != "success" || len(r.Data.Result) == 0 {
		return 0, false
	}
	s, _ := r.Data.Result[0].Value[1].(string)
	v, err := strconv.ParseFloat(s, 64)
	return v, err == nil
}
