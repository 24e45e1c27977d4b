package reports

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"github.com/faultline-dev/faultline/experiments/measure"
)

// JUnit writes junit.xml: one test suite for the experiment, one test case
// per assertion and client, a failure carrying the measured value and the
// threshold. A run that broke is one test case in error, so CI systems do not
// show a broken run as passing.
func JUnit(w io.Writer, s measure.Summary) error {
	type failure struct {
		Message string `xml:"message,attr"`
		Type    string `xml:"type,attr"`
		Text    string `xml:",chardata"`
	}
	type testcase struct {
		Classname string   `xml:"classname,attr"`
		Name      string   `xml:"name,attr"`
		Time      string   `xml:"time,attr"`
		Failure   *failure `xml:"failure,omitempty"`
		Error     *failure `xml:"error,omitempty"`
		Skipped   *failure `xml:"skipped,omitempty"`
	}
	type testsuite struct {
		Name     string     `xml:"name,attr"`
		Tests    int        `xml:"tests,attr"`
		Failures int        `xml:"failures,attr"`
		Errors   int        `xml:"errors,attr"`
		Skipped  int        `xml:"skipped,attr"`
		Time     string     `xml:"time,attr"`
		Cases    []testcase `xml:"testcase"`
	}
	type testsuites struct {
		XMLName xml.Name    `xml:"testsuites"`
		Suites  []testsuite `xml:"testsuite"`
	}
	suite := testsuite{Name: "faultline." + s.Experiment, Time: fmt.Sprintf("%.3f", s.DurationMS/1000)}
	for _, a := range s.Assertions {
		tc := testcase{Classname: "faultline." + s.Experiment + "." + a.Client, Name: a.Expr, Time: "0"}
		if !a.Pass {
			msg := fmt.Sprintf("%s = %s, want %s", a.Metric, num(a.Value), a.Expr)
			if a.Note != "" {
				msg += " (" + a.Note + ")"
			}
			tc.Failure = &failure{Message: msg, Type: "assertion", Text: msg}
			suite.Failures++
		}
		suite.Cases = append(suite.Cases, tc)
	}
	for _, o := range s.SteadyState {
		tc := testcase{Classname: "faultline." + s.Experiment + "." + o.Client, Name: "steady state " + o.When + " the faults: " + o.Expr, Time: "0"}
		if !o.Holds {
			msg := fmt.Sprintf("%s the faults: value %s, want %s", o.When, num(o.Value), o.Expr)
			if o.When == "before" {
				tc.Error = &failure{Message: msg, Type: "invalid", Text: "the steady state did not hold before the faults: the run proves nothing; " + msg}
				suite.Errors++
			} else {
				tc.Failure = &failure{Message: msg, Type: "steady-state", Text: msg}
				suite.Failures++
			}
		}
		suite.Cases = append(suite.Cases, tc)
	}
	if s.Status == "invalid" {
		suite.Cases = append(suite.Cases, testcase{Classname: "faultline." + s.Experiment, Name: "run", Time: "0",
			Error: &failure{Message: s.Reason, Type: "invalid", Text: "the run could not measure what it set out to: " + s.Reason}})
		suite.Errors++
	} else if s.Status != "complete" {
		reason := s.Reason
		if reason == "" {
			reason = "the run did not complete"
		}
		suite.Cases = append(suite.Cases, testcase{Classname: "faultline." + s.Experiment, Name: "run", Time: "0",
			Error: &failure{Message: reason, Type: "incomplete", Text: "the run broke or was interrupted; nothing is proven: " + reason}})
		suite.Errors++
	}
	if s.Harness.Starved {
		msg := strings.Join(s.Harness.Reasons, "; ")
		suite.Cases = append(suite.Cases, testcase{Classname: "faultline." + s.Experiment, Name: "harness was not starved", Time: "0",
			Error: &failure{Message: msg, Type: "invalid", Text: "the harness was starved, so the numbers measured faultline, not the client: " + msg + "\n" + harnessText(s.Harness)}})
		suite.Errors++
	}
	for _, c := range s.Clients {
		if c.Unmeasured != "" || c.Rejected > 0 {
			tc := testcase{Classname: "faultline." + s.Experiment + "." + c.Name, Name: "outcome lines follow the schema", Time: "0"}
			if c.Unmeasured != "" {
				tc.Error = &failure{Message: c.Unmeasured, Type: "invalid", Text: c.Unmeasured}
				suite.Errors++
			} else {
				tc.Name = fmt.Sprintf("outcome lines follow the schema (%d rejected, within %.0f%%)", c.Rejected, measure.MaxRejectedShare*100)
			}
			suite.Cases = append(suite.Cases, tc)
		}
		if c.Warning != "" {
			// The fault never reached the client: its assertions are not
			// failures, but nothing was tested either — skipped says so.
			suite.Cases = append(suite.Cases, testcase{Classname: "faultline." + s.Experiment + "." + c.Name,
				Name: "fault reached the client", Time: "0",
				Skipped: &failure{Message: c.Warning, Type: "not-reached", Text: c.Warning}})
			suite.Skipped++
		}
	}
	suite.Tests = len(suite.Cases)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(testsuites{Suites: []testsuite{suite}}); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
