// Package dashboard serves faultline's live dashboard over an Engine: the
// page at "/" is report.html (reports.LiveHTML: the same page, charts and
// script) fed by the Engine's event stream, a server-sent-events URL the
// driver serves (the control API's /api/v1/events). Fault bands open and
// close as faults are applied and healed, clients' points arrive as their
// requests end, DNS answers and target health move with the world.
//
//	mux.Handle("/", dashboard.Handler(e, "/api/v1/events", dashboard.Title("game day")))
//
// The page is rendered at each GET with what was true before it opened:
// the active faults and every target's current health, read from the
// Engine, so a page opened in the middle of a fault shows its band. The
// stream supplies the rest. The browser keeps only the last Window of the
// run and at most MaxPoints points per client.
package dashboard

import (
	"bytes"
	"net/http"
	"net/url"
	"time"

	"github.com/faultline-dev/faultline/experiments/engine"
	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/reports"
)

// An Option sets up the dashboard.
type Option func(*reports.LivePage)

// Title is the page's title (default "live").
func Title(s string) Option { return func(p *reports.LivePage) { p.Title = s } }

// Window is how much of the run the page keeps and shows (default 10
// minutes).
func Window(d time.Duration) Option { return func(p *reports.LivePage) { p.Window = d } }

// MaxPoints bounds each client's points in the browser (default 3000).
func MaxPoints(n int) Option { return func(p *reports.LivePage) { p.MaxPoints = n } }

// Handler serves the dashboard page at "/" (GET and HEAD; other paths are
// 404, so it can sit at the root of a mux whose API routes are more
// specific). eventsURL is the event stream the page opens: one journal event
// (its JSON line) per message, id: the Engine's sequence number.
func Handler(e *engine.Engine, eventsURL string, opts ...Option) http.Handler {
	base := reports.LivePage{Events: eventsURL}
	for _, o := range opts {
		o(&base)
	}
	csp := "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; connect-src 'self'"
	if u, err := url.Parse(eventsURL); err == nil && u.Host != "" {
		csp += " " + u.Scheme + "://" + u.Host
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" && r.URL.Path != "/index.html" {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "the dashboard is read with GET", http.StatusMethodNotAllowed)
			return
		}
		p := base
		p.NowMS = e.Journal().Now()
		p.Seed = Seed(e, p.NowMS)
		var buf bytes.Buffer
		if err := reports.LiveHTML(&buf, p); err != nil {
			http.Error(w, "rendering the dashboard: "+err.Error(), http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", csp)
		w.Write(buf.Bytes())
	})
}

// Seed is the state before a page opens, as the events that made it: a
// fault.applied for every active fault (at the time it was applied), and a
// target.state for every target (its current state, at nowMS).
func Seed(e *engine.Engine, nowMS float64) []journal.Event {
	var seed []journal.Event
	for _, a := range e.Active() {
		seed = append(seed, journal.Event{T: a.AtMS, Type: journal.FaultApplied, Fault: a.Fault.ID, Kind: a.Fault.Kind,
			Target: a.Fault.Target, By: a.By})
	}
	w := e.World()
	for _, region := range w.Regions() {
		lb, ok := w.NLB(region)
		if !ok {
			continue
		}
		for _, t := range lb.Targets() {
			seed = append(seed, journal.Event{T: nowMS, Type: journal.TargetState, Region: region, Target: t.Addr, To: t.State})
		}
	}
	return seed
}
