package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os/exec"
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
	if _, err := exec.LookPath("prometheus"); err != nil {
		t.Skip("no prometheus binary (apt-get install prometheus; .ci/run installs it)")
	}
	u := startUp(t)
	api, _ := url.Parse(u.state.API)
	prom := livetest.Prometheus(t, api.Host, u.state.TokenFile)

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
