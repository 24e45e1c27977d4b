package dashboard

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/experiments/clients"
	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/experiments/livetest"
	"github.com/faultline-dev/faultline/faults"
)

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// The page is report.html in live mode: its config names the event stream
// and seeds the state before it opened (an active fault, each target's
// health); it loads nothing from elsewhere and says so in its CSP.
func TestPageCarriesTheStreamAndTheState(t *testing.T) {
	e := livetest.Open(t)
	if _, err := e.Apply(faults.Fault{Kind: "dns.empty", Target: livetest.East}, "test"); err != nil {
		t.Fatal(err)
	}
	base := livetest.Serve(t, Handler(e, "/api/v1/events", Title("game day"), Window(time.Minute)))
	resp, page := get(t, base+"/")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "connect-src 'self'") {
		t.Fatalf("GET /: %d %v", resp.StatusCode, resp.Header)
	}
	if loads := regexp.MustCompile(`(?i)<(script|img|iframe)[^>]+src=|<link[^>]+href=`).FindAllString(page, -1); len(loads) > 0 {
		t.Errorf("the page loads external resources: %q", loads)
	}
	raw := regexp.MustCompile(`(?s)<script id="live-config" type="application/json">(.*?)</script>`).FindStringSubmatch(page)
	if raw == nil {
		t.Fatal("no live config in the page")
	}
	var cfg struct {
		Events string
		NowMS  float64 `json:"now_ms"`
		Window float64
		Seed   []journal.Event
	}
	if err := json.Unmarshal([]byte(raw[1]), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Events != "/api/v1/events" || cfg.Window != 60 || cfg.NowMS <= 0 {
		t.Errorf("config %+v", cfg)
	}
	var faultsSeen, targets int
	for _, ev := range cfg.Seed {
		switch ev.Type {
		case journal.FaultApplied:
			faultsSeen++
			if ev.Fault != "f1" || ev.Kind != "dns.empty" || ev.By != "test" {
				t.Errorf("seeded fault %+v", ev)
			}
		case journal.TargetState:
			targets++
		}
	}
	if faultsSeen != 1 || targets != 2 {
		t.Errorf("seed: %d faults, %d targets; want the active fault and both targets", faultsSeen, targets)
	}
	for _, want := range []string{"<title>faultline: game day (live)</title>", "window.faultlineReport", "new EventSource(cfg.events)"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if resp, _ := get(t, base+"/elsewhere"); resp.StatusCode != 404 {
		t.Errorf("GET /elsewhere: %d; want 404", resp.StatusCode)
	}
	resp, err := http.Post(base+"/", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 {
		t.Errorf("POST /: %d; want 405", resp.StatusCode)
	}
}

type liveState struct {
	Connected bool
	Events    int
	LastSeq   uint64 `json:"last_seq"`
	Faults    []struct {
		ID, Kind string
		Open     bool
	}
	Clients []struct {
		Name     string
		Requests int
	}
}

// The live page in headless Chromium, the network cut off but for
// loopback: it connects to the event stream, the client's points arrive; a
// fault applied through the Engine opens a band, its heal closes it; every
// chart paints and no script fails. The screenshot is kept in
// $FAULTLINE_ARTIFACTS when set.
func TestDashboardLiveInChromium(t *testing.T) {
	e := livetest.Open(t)
	mux := http.NewServeMux()
	mux.Handle("/", Handler(e, "/api/v1/events"))
	// The stream can be cut (as a proxy or a restart would): the page must
	// reconnect and resume after the last event it had.
	var cutMu sync.Mutex
	gen := make(chan struct{}) // closed to cut the streams open now
	resumedAfter := make(chan string, 4)
	events := livetest.EventsHandler(e)
	mux.Handle("/api/v1/events", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if last := r.Header.Get("Last-Event-ID"); last != "" {
			select {
			case resumedAfter <- last:
			default:
			}
		}
		cutMu.Lock()
		g := gen
		cutMu.Unlock()
		ctx, stop := context.WithCancel(r.Context())
		defer stop()
		go func() {
			select {
			case <-g:
				stop()
			case <-ctx.Done():
			}
		}()
		events.ServeHTTP(w, r.WithContext(ctx))
	}))
	base := livetest.Serve(t, mux)
	livetest.Client(t, e, 0, "naive", clients.SingleRegion, 20, "us-east-1")

	b := livetest.Chromium(t, base+"/")
	state := func() liveState {
		t.Helper()
		var raw string
		if err := b.Eval(`document.body ? document.body.dataset.live || "" : ""`, &raw); err != nil {
			return liveState{} // the page is not there yet
		}
		var s liveState
		if raw != "" {
			if err := json.Unmarshal([]byte(raw), &s); err != nil {
				t.Fatalf("data-live %q: %v", raw, err)
			}
		}
		return s
	}
	until := func(what string, cond func(liveState) bool) liveState {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			s := state()
			if cond(s) {
				return s
			}
			if time.Now().After(deadline) {
				var errs string
				b.Eval(`document.getElementById("script-errors").textContent.slice(0, 2000)`, &errs)
				t.Fatalf("after 20 s, %s: data-live %+v; script errors: %q", what, s, errs)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	band := func(s liveState, id string) (exists, open bool) {
		for _, f := range s.Faults {
			if f.ID == id {
				exists, open = true, f.Open
			}
		}
		return
	}

	until("connected, naive's requests arriving", func(s liveState) bool {
		return s.Connected && len(s.Clients) == 1 && s.Clients[0].Name == "naive" && s.Clients[0].Requests >= 5
	})
	a, err := e.Apply(faults.Fault{Kind: "dns.empty", Target: livetest.East}, "test")
	if err != nil {
		t.Fatal(err)
	}
	until("the fault's band open", func(s liveState) bool { ex, open := band(s, a.Fault.ID); return ex && open })
	time.Sleep(time.Second) // a second of the fault on the charts
	if err := e.Heal(a.Fault.ID, "done", "test"); err != nil {
		t.Fatal(err)
	}
	s := until("the fault's band closed", func(s liveState) bool { ex, open := band(s, a.Fault.ID); return ex && !open })
	if s.Events < 10 {
		t.Errorf("the page took %d events", s.Events)
	}

	// Cut the stream: the page resumes after its last event, and a second
	// fault's band opens and closes as the first did.
	cutMu.Lock()
	close(gen)
	gen = make(chan struct{})
	cutMu.Unlock()
	select {
	case last := <-resumedAfter:
		if n, err := strconv.ParseUint(last, 10, 64); err != nil || n < s.LastSeq {
			t.Errorf("the page resumed after event %q; it had read %d", last, s.LastSeq)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the page did not reconnect with Last-Event-ID within 15 s")
	}
	b2, err := e.Apply(faults.Fault{Kind: "link.latency", Target: "us-east-1", Params: map[string]string{"latency": "20ms"}}, "test")
	if err != nil {
		t.Fatal(err)
	}
	until("the second fault's band open after the reconnection", func(s liveState) bool { ex, open := band(s, b2.Fault.ID); return ex && open })
	if err := e.Heal(b2.Fault.ID, "done", "test"); err != nil {
		t.Fatal(err)
	}
	until("the second fault's band closed", func(s liveState) bool { ex, open := band(s, b2.Fault.ID); return ex && !open })

	// Every chart painted (the client, DNS answers, target health), and no
	// script error.
	var drawn struct{ Expected, Drawn, Errors string }
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := b.Eval(`({expected: document.body.dataset.chartsExpected || "", drawn: document.body.dataset.chartsDrawn || "",
			errors: document.getElementById("script-errors").textContent.slice(0, 2000)})`, &drawn); err != nil {
			t.Fatal(err)
		}
		if (drawn.Expected == "3" && drawn.Drawn == "3") || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if drawn.Expected != "3" || drawn.Drawn != "3" {
		t.Errorf("charts expected %s, drawn %s; want 3 and 3", drawn.Expected, drawn.Drawn)
	}
	if drawn.Errors != "" {
		t.Errorf("script errors: %s", drawn.Errors)
	}
	var text string
	if err := b.Eval(`document.getElementById("facts").textContent + " " + document.getElementById("clients").textContent`, &text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"fault f1: dns.empty", "fault f2: link.latency", "naive", "availability"} {
		if !strings.Contains(text, want) {
			t.Errorf("the page's facts and table lack %q: %s", want, text)
		}
	}
	if dir := os.Getenv("FAULTLINE_ARTIFACTS"); dir != "" {
		if png, err := b.Screenshot(); err != nil {
			t.Errorf("screenshot: %v", err)
		} else if err := os.WriteFile(filepath.Join(dir, "dashboard.png"), png, 0o644); err != nil {
			t.Error(err)
		}
	}
}
