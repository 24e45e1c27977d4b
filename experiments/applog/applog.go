// Package applog is the JSON-lines contract between faultline and an
// application it runs (a container, or a sandboxed command): one line per
// request the application made, written to its standard output.
//
//	{"time":"2026-11-23T15:04:05.123Z","operation":"GetItem","region":"us-east-1","ok":true,"latency_ms":3.2}
//	{"time":1795446245.9,"operation":"GetItem","region":"us-east-1","ok":false,"error":"dial tcp: lookup dynamodb.us-east-1.amazonaws.com: no such host"}
//
// Fields: time (required) is when the outcome was known, as RFC 3339 or
// seconds since the Unix epoch; operation (required); region (required) the
// region the request went to; ok (required); error, free text or one of
// faultline's error classes, for a failure; latency_ms, optional, how long
// the request took. Other fields are ignored, and so are lines that are not
// JSON objects (an application's own logging), which are counted.
package applog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/faultline-dev/faultline/experiments/clients"
	"github.com/faultline-dev/faultline/experiments/journal"
)

// Line is one request outcome an application reported.
type Line struct {
	Time      time.Time
	Operation string
	Region    string
	OK        bool
	Error     string
	LatencyMS float64
}

// wire is a line as written; Time takes either form.
type wire struct {
	Time      json.RawMessage `json:"time"`
	Operation string          `json:"operation"`
	Region    string          `json:"region"`
	OK        *bool           `json:"ok"`
	Error     string          `json:"error,omitempty"`
	LatencyMS *float64        `json:"latency_ms,omitempty"`
}

// ErrNotJSON marks a line that is not a JSON object: the application's own
// output, not an outcome.
var ErrNotJSON = errors.New("not a JSON object")

// Parse reads one line. A JSON object that breaks the schema is an error
// that names the field and what was expected.
func Parse(b []byte) (Line, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return Line{}, ErrNotJSON
	}
	var w wire
	if err := json.Unmarshal(b, &w); err != nil {
		return Line{}, fmt.Errorf("%w: %v", ErrNotJSON, err)
	}
	var l Line
	var err error
	if l.Time, err = parseTime(w.Time); err != nil {
		return Line{}, err
	}
	switch {
	case w.Operation == "":
		return Line{}, errors.New(`"operation": expected the operation's name, e.g. "GetItem"`)
	case w.Region == "":
		return Line{}, errors.New(`"region": expected the region the request went to, e.g. "us-east-1"`)
	case w.OK == nil:
		return Line{}, errors.New(`"ok": expected true or false`)
	}
	l.Operation, l.Region, l.OK, l.Error = w.Operation, w.Region, *w.OK, w.Error
	if w.LatencyMS != nil {
		if *w.LatencyMS < 0 || math.IsNaN(*w.LatencyMS) || *w.LatencyMS > 3.6e6 {
			return Line{}, fmt.Errorf(`"latency_ms": %v: expected milliseconds from 0 to one hour`, *w.LatencyMS)
		}
		l.LatencyMS = *w.LatencyMS
	}
	return l, nil
}

func parseTime(raw json.RawMessage) (time.Time, error) {
	if len(raw) == 0 {
		return time.Time{}, errors.New(`"time": missing; expected RFC 3339 ("2026-11-23T15:04:05.123Z") or seconds since the epoch`)
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return time.Time{}, fmt.Errorf(`"time": %q: expected RFC 3339, e.g. "2026-11-23T15:04:05.123Z"`, s)
		}
		return t, nil
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || f <= 0 || math.IsInf(f, 0) {
		return time.Time{}, fmt.Errorf(`"time": %s: expected RFC 3339 or seconds since the epoch`, raw)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), nil
}

// Event is the journal's request event for a line of client's: it started
// latency before the outcome was known. since maps a wall-clock time to the
// journal's milliseconds.
func (l Line) Event(client string, since func(time.Time) float64) journal.Event {
	end := since(l.Time)
	e := journal.Event{T: end - l.LatencyMS, Type: journal.Request, Client: client, Region: l.Region, Op: l.Operation,
		LatencyMS: l.LatencyMS, OK: journal.Bool(l.OK)}
	if !l.OK {
		e.Error, e.Detail = clients.ClassifyText(l.Error), l.Error
	}
	return e
}

// Marshal writes a line in the wire form, RFC 3339 time: what an
// application in Go (faultline's own test app) prints.
func (l Line) Marshal() []byte {
	ok := l.OK
	lat := l.LatencyMS
	b, _ := json.Marshal(struct {
		Time      string   `json:"time"`
		Operation string   `json:"operation"`
		Region    string   `json:"region"`
		OK        *bool    `json:"ok"`
		Error     string   `json:"error,omitempty"`
		LatencyMS *float64 `json:"latency_ms,omitempty"`
	}{l.Time.UTC().Format(time.RFC3339Nano), l.Operation, l.Region, &ok, l.Error, &lat})
	return b
}
