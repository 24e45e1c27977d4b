package reports

import (
	_ "embed"
	"encoding/json"
	"io"
	"math"
	"sort"
	"text/template"

	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/experiments/measure"
)

// The charting library, uPlot (MIT), and the page's own script and style,
// inlined so that report.html is one file that opens without a network.
var (
	//go:embed assets/uPlot.iife.min.js
	uplotJS string
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
// recover marks.
func HTML(w io.Writer, s measure.Summary, events []journal.Event) error {
	data, err := json.Marshal(chartData(s, events)) // escapes <, > and &: safe inside <script>
	if err != nil {
		return err
	}
	return page.Execute(w, map[string]any{
		"Title":     s.Experiment,
		"Verdict":   s.Verdict,
		"Data":      string(data),
		"UPlotJS":   uplotJS,
		"UPlotCSS":  uplotCSS,
		"ReportJS":  reportJS,
		"ReportCSS": reportCSS,
	})
}

// charts is the page's data: everything in seconds from the run's start.
type charts struct {
	Experiment string         `json:"experiment"`
	Verdict    string         `json:"verdict"`
	Status     string         `json:"status"`
	Reason     string         `json:"reason,omitempty"`
	Seed       *int64         `json:"seed,omitempty"`
	Duration   float64        `json:"duration"`
	Faults     []faultBand    `json:"faults"`
	Clients    []clientChart  `json:"clients"`
	Regions    []string       `json:"regions"`
	DNS        dnsChart       `json:"dns"`
	Targets    []targetLane   `json:"targets"`
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

func chartData(s measure.Summary, events []journal.Event) charts {
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
		cc := clientChart{Name: cr.Name, Strategy: cr.Strategy, Primary: cr.Primary, Classes: cr.ErrorClasses}
		reqs := measure.Requests(events, cr.Name)
		sort.SliceStable(reqs, func(i, j int) bool { return reqs[i].End() < reqs[j].End() })
		for _, r := range reqs {
			cc.T = append(cc.T, r.End()/1000)
			cc.Latency = append(cc.Latency, math.Max(r.LatencyMS, 0.01))
			cc.OK = append(cc.OK, r.Succeeded())
			cc.Region = append(cc.Region, r.Region)
			cc.Class = append(cc.Class, r.Error)
			regions[r.Region] = true
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
	c.DNS = dnsBuckets(events, s.DurationMS)
	c.Targets = targetLanes(events)
	for _, a := range s.Assertions {
		c.Assertions = append(c.Assertions, assertionRow{Client: a.Client, Expr: a.Expr, Value: a.Value, Pass: a.Pass, Note: a.Note})
	}
	for _, st := range s.SteadyState {
		c.Steady = append(c.Steady, assertionRow{Client: st.Client, Expr: st.Expr, Value: st.Value, Pass: st.Holds, When: st.When})
	}
	c.Table = clientTable(s)
	return c
}

// dnsBuckets counts the DNS server's answers per rcode in about 200 buckets
// over the run, as answers per second.
func dnsBuckets(events []journal.Event, durationMS float64) dnsChart {
	bucket := math.Max(100, math.Ceil(durationMS/200/50)*50) // ms, a multiple of 50
	n := int(math.Ceil(durationMS/bucket)) + 1
	d := dnsChart{Bucket: bucket / 1000, Rcodes: map[string][]float64{}}
	for i := 0; i < n; i++ {
		d.T = append(d.T, float64(i)*bucket/1000)
	}
	for _, e := range events {
		if e.Type != journal.DNSQuery {
			continue
		}
		rcode := e.Rcode
		if rcode == "NOERROR" && e.Answers != nil && *e.Answers == 0 {
			rcode = "NODATA"
		}
		i := int(e.T / bucket)
		if i < 0 || i >= n {
			continue
		}
		if d.Rcodes[rcode] == nil {
			d.Rcodes[rcode] = make([]float64, n)
		}
		d.Rcodes[rcode][i] += 1000 / bucket
	}
	return d
}

// targetLanes is each target's health over the run, from its state changes.
func targetLanes(events []journal.Event) []targetLane {
	index := map[string]int{}
	var lanes []targetLane
	for _, e := range events {
		if e.Type != journal.TargetState {
			continue
		}
		key := e.Region + "/" + e.Target
		i, ok := index[key]
		if !ok {
			i = len(lanes)
			index[key] = i
			lanes = append(lanes, targetLane{Region: e.Region, Target: e.Target})
			if e.From != "" {
				lanes[i].States = append(lanes[i].States, stateStep{0, e.From})
			}
		}
		lanes[i].States = append(lanes[i].States, stateStep{e.T / 1000, e.To})
	}
	sort.SliceStable(lanes, func(i, j int) bool {
		if lanes[i].Region != lanes[j].Region {
			return lanes[i].Region < lanes[j].Region
		}
		return lanes[i].Target < lanes[j].Target
	})
	return lanes
}
