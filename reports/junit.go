package reports

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/faultline-dev/faultline/experiments/measure"
)

// junit.xml in the Apache Ant JUnit format that CI systems read (Jenkins,
// GitLab, GitHub's test-report actions); reports/junit.xsd is its schema and
// the tests validate every junit.xml faultline writes against it.
type (
	jProperty struct {
		Name  string `xml:"name,attr"`
		Value string `xml:"value,attr"`
	}
	jProperties struct {
		Property []jProperty `xml:"property"`
	}
	jFailure struct {
		Message string `xml:"message,attr"`
		Type    string `xml:"type,attr"`
		Text    cdata  `xml:",cdata"`
	}
	// jSkipped: Ant's <skipped> has a message and no type.
	jSkipped struct {
		Message string `xml:"message,attr"`
		Text    cdata  `xml:",cdata"`
	}
	// jOut is a system-out: CDATA, so that the terminal summary reads as it
	// printed (newlines kept, nothing escaped).
	jOut struct {
		Text cdata `xml:",cdata"`
	}
	jCase struct {
		Name      string    `xml:"name,attr"`
		Classname string    `xml:"classname,attr"`
		Time      string    `xml:"time,attr"`
		Failure   *jFailure `xml:"failure,omitempty"`
		Error     *jFailure `xml:"error,omitempty"`
		Skipped   *jSkipped `xml:"skipped,omitempty"`
		SystemOut *jOut     `xml:"system-out"`
	}
	jSuite struct {
		Name       string       `xml:"name,attr"`
		Tests      int          `xml:"tests,attr"`
		Failures   int          `xml:"failures,attr"`
		Errors     int          `xml:"errors,attr"`
		Skipped    int          `xml:"skipped,attr"`
		Time       string       `xml:"time,attr"`
		Timestamp  string       `xml:"timestamp,attr,omitempty"`
		Hostname   string       `xml:"hostname,attr"`
		Properties *jProperties `xml:"properties"`
		Cases      []jCase      `xml:"testcase"`
		SystemOut  jOut         `xml:"system-out"`
		SystemErr  string       `xml:"system-err"`
	}
	jSuites struct {
		XMLName   xml.Name `xml:"testsuites"`
		Name      string   `xml:"name,attr"`
		Tests     int      `xml:"tests,attr"`
		Failures  int      `xml:"failures,attr"`
		Errors    int      `xml:"errors,attr"`
		Skipped   int      `xml:"skipped,attr"`
		Time      string   `xml:"time,attr"`
		Timestamp string   `xml:"timestamp,attr,omitempty"`
		Suites    []jSuite `xml:"testsuite"`
	}
)

// cdata is text that XML can carry: a character XML 1.0 forbids (a
// control character in an application's error) becomes U+FFFD.
type cdata string

func xmlText(s string) cdata {
	return cdata(strings.Map(func(r rune) rune {
		if r == 0x9 || r == 0xA || r == 0xD || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF {
			return r
		}
		return '\uFFFD'
	}, s))
}

// out is a test case's system-out, none when there is nothing to say.
func out(s string) *jOut {
	if s == "" {
		return nil
	}
	return &jOut{Text: xmlText(s)}
}

func (s *jSuite) add(c jCase) {
	switch {
	case c.Failure != nil:
		s.Failures++
	case c.Error != nil:
		s.Errors++
	case c.Skipped != nil:
		s.Skipped++
	}
	s.Cases = append(s.Cases, c)
	s.Tests = len(s.Cases)
}

func (s *jSuite) prop(name, value string) {
	if value == "" {
		return // a property has a value; one the journal does not know is left out
	}
	if s.Properties == nil {
		s.Properties = &jProperties{}
	}
	s.Properties.Property = append(s.Properties.Property, jProperty{Name: name, Value: value})
}

// seconds formats a duration in milliseconds as JUnit's time: seconds, never
// negative.
func seconds(ms float64) string { return fmt.Sprintf("%.3f", max(ms, 0)/1000) }

// antTimestamp is the Ant format's timestamp: ISO 8601 without a zone (the
// schema's pattern allows none), in UTC; "" when started is not a time.
func antTimestamp(started string) string {
	t, err := time.Parse(time.RFC3339Nano, started)
	if err != nil {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05")
}

// hostname: the journal's; a journal written before it was recorded says
// nothing, and the Ant format requires one: "localhost" then.
func hostname(h string) string {
	if h == "" {
		return "localhost"
	}
	return h
}

// JUnit writes junit.xml: one test suite for the experiment, one test case
// per assertion and client (a failure carrying the measured value and the
// threshold), per steady-state check, a case in error when the run broke or
// proves nothing, and a skipped case for a client the fault never reached.
// The suite carries when and where the run went (timestamp, hostname, time),
// its seed, faultline's version, the backend and every fault window as
// properties, and the terminal summary as system-out; each case its
// client's numbers. tr may be nil (no timelines in system-out).
func JUnit(w io.Writer, s measure.Summary, tr *Trace) error {
	suite, err := junitSuite(s, tr)
	if err != nil {
		return err
	}
	return writeJUnit(w, jSuites{Name: suite.Name, Tests: suite.Tests, Failures: suite.Failures, Errors: suite.Errors,
		Skipped: suite.Skipped, Time: suite.Time, Timestamp: suite.Timestamp, Suites: []jSuite{suite}})
}

func writeJUnit(w io.Writer, doc jSuites) error {
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func junitSuite(s measure.Summary, tr *Trace) (jSuite, error) {
	var term bytes.Buffer
	if err := Terminal(&term, s, tr); err != nil {
		return jSuite{}, err
	}
	// timestamp: when the run started (the journal's run.start; for an
	// older journal ReadJournal estimates it from the file, and says so in
	// the started_estimated property). Left out only when nothing knows it
	// (a summary of events held in memory without a run.start time).
	suite := jSuite{Name: "faultline." + s.Experiment, Time: seconds(s.DurationMS), Timestamp: antTimestamp(s.Started),
		Hostname: hostname(s.Host), SystemOut: jOut{Text: xmlText(term.String())}}
	runProperties(&suite, "", s)
	for _, c := range junitCases(s) {
		suite.add(c)
	}
	return suite, nil
}

// runProperties: what a CI page shows beside the cases, so a result says
// which run it was (prefix "trial.03." in the trials' aggregate).
func runProperties(suite *jSuite, prefix string, s measure.Summary) {
	p := func(name, value string) { suite.prop(prefix+name, value) }
	p("experiment", s.Experiment)
	p("verdict", s.Verdict)
	p("status", s.Status)
	if s.Seed != nil {
		p("seed", fmt.Sprint(*s.Seed))
	}
	p("started", s.Started)
	if s.StartedEstimated {
		p("started_estimated", "true")
	}
	p("duration_ms", trimNum(s.DurationMS))
	p("faultline.version", s.Version)
	p("backend", s.Backend)
	for _, f := range s.Faults {
		pre := "fault." + f.ID + "."
		p(pre+"kind", f.Kind)
		p(pre+"target", f.Target)
		p(pre+"start_ms", trimNum(f.StartMS))
		if f.EndMS != nil {
			p(pre+"end_ms", trimNum(*f.EndMS))
		} else {
			p(pre+"end_ms", "null (never healed)")
		}
		p(pre+"applied_by", f.AppliedBy)
		p(pre+"healed_by", f.HealedBy)
	}
	if r := s.Replication; r != nil {
		for _, d := range r.Directions {
			pre := "replication." + d.From + ">" + d.To + "."
			p(pre+"lag_p50_ms", ms(d.LagP50MS))
			p(pre+"lag_p99_ms", ms(d.LagP99MS))
			p(pre+"lag_max_ms", ms(d.LagMaxMS))
			p(pre+"pauses", fmt.Sprint(d.Pauses))
		}
		p("replication.conflicting_writes", fmt.Sprint(r.ConflictingWrites))
		p("replication.convergence_ms", ms(r.ConvergenceMS))
	}
	stormProperties(p, s.Storm)
}

func trimNum(v float64) string { return fmt.Sprintf("%g", v) }

// fault is the fault an assertion is relative to: id, or the first ("").
func fault(s measure.Summary, id string) *measure.FaultReport {
	for i := range s.Faults {
		if id == "" || s.Faults[i].ID == id {
			return &s.Faults[i]
		}
	}
	return nil
}

// faultRelative: metrics measured from a fault's start on.
var faultRelative = append(slices.Clone(measure.FaultMetrics), "dns_queries_in_fault")

// evalWindow is how long the span a metric is evaluated over lasted, in
// ms: a fault-relative metric (detect, failover, recover, DNS queries the
// fault shaped) from the fault's start to the end of the run (recover_ms
// reaches past the heal); every other metric the whole run.
func evalWindow(s measure.Summary, metric, faultID string) float64 {
	if slices.Contains(faultRelative, metric) {
		if f := fault(s, faultID); f != nil {
			return s.DurationMS - f.StartMS
		}
	}
	return s.DurationMS
}

// steadyWindow: the steady state is checked before the first fault (from
// the start to it) and after the last heal (from it to the end).
func steadyWindow(s measure.Summary, when string) float64 {
	if len(s.Faults) == 0 {
		return s.DurationMS
	}
	if when == "before" {
		return s.Faults[0].StartMS
	}
	last := 0.0
	for _, f := range s.Faults {
		if f.EndMS == nil {
			return 0 // never healed: there was no after
		}
		last = max(last, *f.EndMS)
	}
	return s.DurationMS - last
}

// clientNumbers is a client's line of numbers relative to a fault ("" the
// first), the testcase's system-out.
func clientNumbers(s measure.Summary, client, faultID string) string {
	i := slices.IndexFunc(s.Clients, func(c measure.ClientReport) bool { return c.Name == client })
	if i < 0 {
		return ""
	}
	c := s.Clients[i]
	m, rel := c.Metrics, "the first fault"
	if f := fault(s, faultID); f != nil {
		rel = "fault " + f.ID
		if faultID != "" && len(s.Faults) > 0 && f.ID != s.Faults[0].ID {
			for _, bc := range s.ByFault[f.ID] {
				if bc.Name == client {
					m = bc.Metrics
				}
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s, primary %s): %d requests, %d errors", c.Name, c.Strategy, c.Primary, m.Requests, m.Errors)
	if len(c.ErrorClasses) > 0 {
		fmt.Fprintf(&b, " (%s)", classes(c.ErrorClasses))
	}
	fmt.Fprintf(&b, "\nrelative to %s: detect %s, failover %s, recover %s, dns queries in fault %d, fault reached %v",
		rel, ms(m.DetectMS), ms(m.FailoverMS), ms(m.RecoverMS), m.DNSQueriesInFault, m.FaultReached)
	fmt.Fprintf(&b, "\navailability %s, latency p50 %s p99 %s, ok latency p50 %s p99 %s, slow requests %d, dns answer changes %d\n",
		pct(m.Availability), ms(m.LatencyP50MS), ms(m.LatencyP99MS), ms(m.OKLatencyP50MS), ms(m.OKLatencyP99MS), m.Slow, m.DNSAnswerChanges)
	if hasGlobal(s) {
		fmt.Fprintf(&b, "global table: replication lag p50 %s p99 %s max %s, writes at risk %s, rpo %s, stale reads after failover %s, lost writes %s, conflicting writes %s, convergence %s\n",
			ms(m.ReplicationLagP50MS), ms(m.ReplicationLagP99MS), ms(m.ReplicationLagMaxMS), count(m.WritesAtRisk), ms(m.RPOMS),
			count(m.StaleReadsAfterFailover), count(m.LostWrites), count(m.ConflictingWrites), ms(m.ConvergenceMS))
	}
	return b.String()
}

func junitCases(s measure.Summary) []jCase {
	class := func(client string) string {
		if client == "" {
			return "faultline." + s.Experiment
		}
		return "faultline." + s.Experiment + "." + client
	}
	var cases []jCase
	for _, a := range s.Assertions {
		tc := jCase{Classname: class(a.Client), Name: a.Expr, Time: seconds(evalWindow(s, a.Metric, a.Fault)),
			SystemOut: out(clientNumbers(s, a.Client, a.Fault))}
		if isStormMetric(a.Metric) {
			tc.SystemOut = out(stormNumbers(s.Storm)) // the run's load, not a client's
		}
		if !a.Pass {
			msg := fmt.Sprintf("%s = %s, want %s", a.Metric, metricValue(a.Metric, a.Value), a.Expr)
			if a.Note != "" {
				msg += " (" + a.Note + ")"
			}
			tc.Failure = &jFailure{Message: msg, Type: "assertion", Text: xmlText(msg)}
		}
		cases = append(cases, tc)
	}
	for _, o := range s.SteadyState {
		tc := jCase{Classname: class(o.Client), Name: "steady state " + o.When + " the faults: " + o.Expr,
			Time: seconds(steadyWindow(s, o.When)), SystemOut: out(clientNumbers(s, o.Client, ""))}
		if !o.Holds {
			msg := fmt.Sprintf("%s the faults: value %s, want %s", o.When, num(o.Value), o.Expr)
			if o.When == "before" {
				tc.Error = &jFailure{Message: msg, Type: "invalid", Text: xmlText("the steady state did not hold before the faults: the run proves nothing; " + msg)}
			} else {
				tc.Failure = &jFailure{Message: msg, Type: "steady-state", Text: xmlText(msg)}
			}
		}
		cases = append(cases, tc)
	}
	run := seconds(s.DurationMS)
	if s.Status == "invalid" {
		cases = append(cases, jCase{Classname: class(""), Name: "run", Time: run, SystemOut: out(harnessText(s.Harness)),
			Error: &jFailure{Message: s.Reason, Type: "invalid", Text: xmlText("the run could not measure what it set out to: " + s.Reason)}})
	} else if s.Status != "complete" {
		reason := s.Reason
		if reason == "" {
			reason = "the run did not complete"
		}
		cases = append(cases, jCase{Classname: class(""), Name: "run", Time: run, SystemOut: out(harnessText(s.Harness)),
			Error: &jFailure{Message: reason, Type: "incomplete", Text: xmlText("the run broke or was interrupted; nothing is proven: " + reason)}})
	}
	if s.Harness.Starved {
		msg := strings.Join(s.Harness.Reasons, "; ")
		cases = append(cases, jCase{Classname: class(""), Name: "harness was not starved", Time: run, SystemOut: out(harnessText(s.Harness)),
			Error: &jFailure{Message: msg, Type: "invalid", Text: xmlText("the harness was starved, so the numbers measured faultline, not the client: " + msg + "\n" + harnessText(s.Harness))}})
	}
	for _, c := range s.Clients {
		if c.Unmeasured != "" || c.Rejected > 0 {
			tc := jCase{Classname: class(c.Name), Name: "outcome lines follow the schema", Time: run, SystemOut: out(rejectedText(c))}
			if c.Unmeasured != "" {
				tc.Error = &jFailure{Message: c.Unmeasured, Type: "invalid", Text: xmlText(c.Unmeasured)}
			} else {
				tc.Name = fmt.Sprintf("outcome lines follow the schema (%d rejected, within %.0f%%)", c.Rejected, measure.MaxRejectedShare*100)
			}
			cases = append(cases, tc)
		}
		if c.Warning != "" {
			// The fault never reached the client: its assertions are not
			// failures, but nothing was tested either — skipped says so.
			// The case lasted the first fault's window: what it was
			// exposed to without meeting it.
			exposed := s.DurationMS
			if f := fault(s, ""); f != nil {
				exposed = s.DurationMS - f.StartMS
				if f.EndMS != nil {
					exposed = *f.EndMS - f.StartMS
				}
			}
			cases = append(cases, jCase{Classname: class(c.Name), Name: "fault reached the client", Time: seconds(exposed),
				Skipped: &jSkipped{Message: c.Warning, Text: xmlText(c.Warning)}, SystemOut: out(clientNumbers(s, c.Name, ""))})
		}
	}
	return cases
}
