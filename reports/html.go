package reports

import (
	_ "embed"
	"encoding/json"
	"io"
	"math"
	"sort"
	"text/template"

	"github.com/faultline-dev/faultline/experiments/measure"
)

// The charting library, uPlot (MIT), and the page's own script and style,
// inlined so that report.html is one file that opens without a network;
// uPlot's licence asks for its notice in every copy, so the page carries it
// in a comment beside the script.
var (
	//go:embed assets/uPlot.iife.min.js
	uplotJS string
	//go:embed assets/LICENSE-uPlot
	uplotLicense string
	//go:embed assets/uPlot.min.css
	uplotCSS string
	//go:embed assets/report.js
	reportJS string
	//go:embed assets/report.css
	reportCSS string
	//go:embed assets/report.html.tmpl
	pageTemplate string
)

var page = template.Must(template.New("report").Parse(pageTemplate))

// HTML writes report.html: the summary, the assertions and a timeline of the
// run drawn from the journal: fault bands, each client's requests as points
// coloured by outcome and region against their latency, the DNS server's
// answers by rcode, each target's health, and the detect, failover and
// recover marks. A client's requests are points up to MaxPoints; beyond,
// one point per bucket and region (the slowest, n saying how many).
func HTML(w io.Writer, s measure.Summary, tr *Trace) error {
	data, err := json.Marshal(chartData(s, tr)) // escapes <, > and &: safe inside <script>
	if err != nil {
		return err
	}
	return page.Execute(w, map[string]any{
		"Title":        s.Experiment,
		"Verdict":      s.Verdict,
		"Data":         string(data),
		"UPlotJS":      uplotJS,
		"UPlotCSS":     uplotCSS,
		"UPlotLicense": uplotLicense,
		"ReportJS":     reportJS,
		"ReportCSS":    reportCSS,
	})
}

// charts is the page's data: everything in seconds from the run's start.
type charts struct {
	Experiment string        `json:"experiment"`
	Verdict    string        `json:"verdict"`
	Status     string        `json:"status"`
	Reason     string        `json:"reason,omitempty"`
	Seed       *int64        `json:"seed,omitempty"`
	Duration   float64       `json:"duration"`
	Faults     []faultBand   `json:"faults"`
	Clients    []clientChart `json:"clients"`
	Regions    []string      `json:"regions"`
	DNS        dnsChart      `json:"dns"`
	Targets    []targetLane  `json:"targets"`
	// Replication: the global table's lane (null: none); GlobalTable what
	// each client's failover cost in data (a header row, then a row per
	// client; absent without a global table or versioned writes).
	Replication *replicationChart `json:"replication,omitempty"`
	GlobalTable [][]string        `json:"global_table,omitempty"`
	GlobalNotes []string          `json:"global_notes,omitempty"`
	// Load: the load lane (null: no ddb.load or fleet.load); LoadTable
	// the load's metrics (a header row, then a row per metric).
	Load       *loadChart     `json:"load,omitempty"`
	LoadTable  [][]string     `json:"load_table,omitempty"`
	FleetTable [][]string     `json:"fleet_table,omitempty"`
	Assertions []assertionRow `json:"assertions"`
	Steady     []assertionRow `json:"steady_state,omitempty"`
	Table      [][]string     `json:"table"` // the clients table: a header row, then a row per client
	// Notices come before the numbers: why the verdict is not a pass,
	// rejected outcome lines; Harness is what faultline measured of itself.
	Notices []string `json:"notices,omitempty"`
	Harness string   `json:"harness"`
}

type faultBand struct {
	ID     string   `json:"id"`
	Kind   string   `json:"kind"`
	Target string   `json:"target"`
	From   float64  `json:"from"`
	To     *float64 `json:"to"` // null: never healed
	// Who applied and healed it ("" when the journal does not say).
	By       string `json:"by,omitempty"`
	HealedBy string `json:"healed_by,omitempty"`
}

type clientChart struct {
	Name     string         `json:"name"`
	Strategy string         `json:"strategy"`
	Primary  string         `json:"primary"`
	Marks    []mark         `json:"marks"`
	T        []float64      `json:"t"`       // when each request's outcome was known
	Latency  []float64      `json:"latency"` // ms
	OK       []bool         `json:"ok"`
	Region   []string       `json:"region"`
	Class    []string       `json:"class"`
	Classes  map[string]int `json:"classes"`
	// Requests is how many requests the client made; N, when it made more
	// than MaxPoints, how many each point stands for (the slowest of a
	// Bucket-second bucket in one region, after the first MaxPoints).
	Requests int     `json:"requests"`
	N        []int   `json:"n,omitempty"`
	Bucket   float64 `json:"bucket,omitempty"`
}

type mark struct {
	Label string  `json:"label"`
	T     float64 `json:"t"`
}

type dnsChart struct {
	Bucket float64              `json:"bucket"` // seconds
	T      []float64            `json:"t"`
	Rcodes map[string][]float64 `json:"rcodes"` // answers per second, by rcode (NODATA: NOERROR with no answers)
}

type targetLane struct {
	Region string      `json:"region"`
	Target string      `json:"target"`
	States []stateStep `json:"states"`
}

type stateStep struct {
	T     float64 `json:"t"`
	State string  `json:"state"`
}

type assertionRow struct {
	Client string   `json:"client"`
	Expr   string   `json:"expr"`
	Value  *float64 `json:"value"`
	Pass   bool     `json:"pass"`
	Note   string   `json:"note,omitempty"`
	When   string   `json:"when,omitempty"`
}

func chartData(s measure.Summary, tr *Trace) charts {
	if tr == nil {
		tr = NewTrace()
	}
	c := charts{Experiment: s.Experiment, Verdict: s.Verdict, Status: s.Status, Reason: s.Reason, Seed: s.Seed,
		Duration: s.DurationMS / 1000, Notices: notices(s), Harness: harnessText(s.Harness)}
	for _, f := range s.Faults {
		b := faultBand{ID: f.ID, Kind: f.Kind, Target: f.Target, From: f.StartMS / 1000, By: f.AppliedBy, HealedBy: f.HealedBy}
		if f.EndMS != nil {
			to := *f.EndMS / 1000
			b.To = &to
		}
		c.Faults = append(c.Faults, b)
	}
	regions := map[string]bool{}
	for _, cr := range s.Clients {
		cc := clientChart{Name: cr.Name, Strategy: cr.Strategy, Primary: cr.Primary, Classes: cr.ErrorClasses, Requests: cr.Requests}
		pts, n := tr.requests(cr.Name)
		for _, r := range pts {
			cc.T = append(cc.T, r.end/1000)
			cc.Latency = append(cc.Latency, math.Max(r.latency, 0.01))
			cc.OK = append(cc.OK, r.ok)
			cc.Region = append(cc.Region, r.region)
			cc.Class = append(cc.Class, r.class)
			regions[r.region] = true
		}
		if n != nil {
			cc.N, cc.Bucket = n, tr.width/1000
		}
		if len(s.Faults) > 0 {
			f := s.Faults[0]
			m := cr.Metrics
			add := func(label string, base float64, v *float64) {
				if v != nil {
					cc.Marks = append(cc.Marks, mark{label, (base + *v) / 1000})
				}
			}
			add("detect", f.StartMS, m.DetectMS)
			if m.DetectMS != nil { // failover 0 without a failure says nothing to draw
				add("failover", f.StartMS, m.FailoverMS)
			}
			if f.EndMS != nil {
				add("recover", *f.EndMS, m.RecoverMS)
			}
		}
		c.Clients = append(c.Clients, cc)
	}
	for r := range regions {
		c.Regions = append(c.Regions, r)
	}
	sort.Strings(c.Regions)
	c.DNS = tr.dnsBuckets(s.DurationMS)
	c.Targets = tr.targetLanes()
	c.Replication = tr.replicationLane(s.DurationMS)
	c.Load, c.LoadTable = loadLane(s.Storm), loadTable(s.Storm)
	if s.Storm != nil {
		c.FleetTable = fleetRows(s.Storm)
	}
	if hasGlobal(s) {
		c.GlobalTable, c.GlobalNotes = dataRows(s), globalNotes(s)
	}
	for _, a := range s.Assertions {
		c.Assertions = append(c.Assertions, assertionRow{Client: a.Client, Expr: a.Expr, Value: a.Value, Pass: a.Pass, Note: a.Note})
	}
	for _, st := range s.SteadyState {
		c.Steady = append(c.Steady, assertionRow{Client: st.Client, Expr: st.Expr, Value: st.Value, Pass: st.Holds, When: st.When})
	}
	c.Table = clientTable(s)
	return c
}
