package reports

import (
	_ "embed"
	"encoding/json"
	"html"
	"io"
	"time"

	"github.com/faultline-dev/faultline/experiments/journal"
)

//go:embed assets/live.js
var liveJS string

// LivePage is what the live dashboard's page needs: where the event
// stream is, and what was true before the page opened.
type LivePage struct {
	Title string
	// Events is the URL of the server-sent-events stream: one journal
	// event (its JSON line) per message, id: its sequence number.
	Events string
	// NowMS is the journal time when the page is served: the time axis
	// runs from it until events arrive.
	NowMS float64
	// Seed are events that describe the state before the page opened (the
	// active faults' fault.applied, each target's current target.state):
	// the page takes them as if they had come from the stream.
	Seed []journal.Event
	// Window is how much of the run the page keeps and shows (default 10
	// minutes); MaxPoints bounds each client's points (default 3000).
	Window    time.Duration
	MaxPoints int
}

type liveConfig struct {
	Events    string          `json:"events"`
	NowMS     float64         `json:"now_ms"`
	Window    float64         `json:"window"` // seconds
	MaxPoints int             `json:"max_points"`
	Seed      []journal.Event `json:"seed"`
}

// LiveHTML writes the live dashboard: report.html's page and charts with no
// run in it yet, and a script (assets/live.js) that opens an EventSource on
// p.Events and draws each event as it arrives: fault bands open at
// fault.applied and close at fault.healed, clients' requests become
// points, DNS answers and target health go on their charts. It redraws at
// most a few times a second and keeps only the last Window of the run.
func LiveHTML(w io.Writer, p LivePage) error {
	if p.Window <= 0 {
		p.Window = 10 * time.Minute
	}
	if p.MaxPoints <= 0 {
		p.MaxPoints = 3000
	}
	title := p.Title
	if title == "" {
		title = "live"
	}
	empty := charts{Experiment: title, Verdict: "live", Status: "connecting", Duration: p.NowMS / 1000,
		Faults: []faultBand{}, Clients: []clientChart{}, Regions: []string{}, DNS: dnsChart{Bucket: 1, T: []float64{}, Rcodes: map[string][]float64{}},
		Targets: []targetLane{}, Table: [][]string{}, Harness: "not measured yet"}
	data, err := json.Marshal(empty) // escapes <, > and &: safe inside <script>
	if err != nil {
		return err
	}
	live, err := json.Marshal(liveConfig{Events: p.Events, NowMS: p.NowMS, Window: p.Window.Seconds(), MaxPoints: p.MaxPoints, Seed: p.Seed})
	if err != nil {
		return err
	}
	return page.Execute(w, map[string]any{
		"Title":     html.EscapeString(title), // the template writes it as it is
		"Verdict":   "live",
		"Data":      string(data),
		"Live":      string(live),
		"LiveJS":    liveJS,
		"UPlotJS":   uplotJS,
		"UPlotCSS":  uplotCSS,
		"ReportJS":  reportJS,
		"ReportCSS": reportCSS,
	})
}
