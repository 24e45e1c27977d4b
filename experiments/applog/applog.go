// Package applog is the JSON-lines contract between faultline and an
// application it runs (a container, or a sandboxed command): one line per
// request the application made, written to its standard output or to the
// events pipe.
//
//	{"time":"2026-11-23T15:04:05.123Z","operation":"GetItem","region":"us-east-1","ok":true,"latency_ms":3.2}
//	{"time":1795446245.9,"operation":"GetItem","region":"us-east-1","ok":false,"error":"dial tcp: lookup dynamodb.us-east-1.amazonaws.com: no such host"}
//
// Fields: time (required) is when the outcome was known, as RFC 3339 or
// seconds since the Unix epoch, and it must fall inside the run (Window);
// operation (required, a string); region (required, a string) the region the
// request went to; ok (required, true or false); error, a string, free text
// or one of faultline's error classes, for a failure; latency_ms, optional,
// a number, how long the request took. For global tables (what a failover
// cost in data), optional: item, a string, the key of the item the request
// wrote or read; version, a whole number from 0 to 2^53 or null, with item:
// the version the request wrote, or the one a read returned (null or absent
// on a successful read: the item was not there). "item_version" is refused
// with a hint to write version. Other fields are ignored.
//
// Which lines are meant as outcomes is the reader's call: on standard output
// a line that starts with '{' (other lines are the application's own
// logging); on the events pipe every non-empty line. A line meant as an
// outcome that Parse refuses is rejected, with the reason Parse gives: it
// names the field and what the schema expects.
package applog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
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
	// LatencyKnown: the line had latency_ms (without it the request counts
	// in no latency percentile).
	LatencyKnown bool
	// Item and Version: the item written or read, and its version (nil:
	// none, or not given).
	Item    string
	Version *int64

	// How time was written, for the hints when it falls outside the run:
	// the number (seconds since the epoch), or the RFC 3339 text.
	timeNumber float64
	timeText   string
}

// ErrNotJSON marks a line that does not start with '{': on standard output
// the application's own logging, not an outcome.
var ErrNotJSON = errors.New("not a JSON object")

// Expected is the schema in one line, for messages.
const Expected = `expected one JSON object per line like {"time":"2026-11-23T15:04:05.123Z","operation":"GetItem","region":"us-east-1","ok":true,"latency_ms":3.2}`

// Parse reads one line against the schema, without a window for its time.
// A line that breaks the schema is an error that names the field and what
// the schema expects; a line that does not start with '{' is ErrNotJSON.
func Parse(b []byte) (Line, error) { return parse(b) }

// Window is where an outcome's time may fall: from the run's start (the
// journal's zero) less a second, to the moment the line arrived plus a
// couple of seconds (clocks and buffering).
type Window struct{ From, To time.Time }

// Slack on either side of the run for an outcome's time.
const (
	SlackBefore = time.Second
	SlackAfter  = 2 * time.Second
)

// WindowFor is the window of a line that arrived at arrived, in a run that
// started at start.
func WindowFor(start, arrived time.Time) Window {
	return Window{From: start.Add(-SlackBefore), To: arrived.Add(SlackAfter)}
}

// ParseIn reads one line and checks its time against w: a time outside is
// rejected with a hint (unix milliseconds where seconds are expected, a
// time zone off by whole hours).
func ParseIn(b []byte, w Window) (Line, error) {
	l, err := parse(b)
	if err != nil {
		return l, err
	}
	return l, w.check(l)
}

func parse(b []byte) (Line, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return Line{}, fmt.Errorf("%w; %s", ErrNotJSON, Expected)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return Line{}, fmt.Errorf("not valid JSON (%v); %s", jsonReason(err), Expected)
	}
	var l Line
	var err error
	if l.Time, l.timeNumber, l.timeText, err = parseTime(fields["time"], has(fields)); err != nil {
		return Line{}, err
	}
	if l.Operation, err = requiredString(fields, "operation", `the operation's name, e.g. "GetItem"`); err != nil {
		return Line{}, err
	}
	if l.Region, err = requiredString(fields, "region", `the region the request went to, e.g. "us-east-1"`); err != nil {
		return Line{}, err
	}
	switch raw, ok := fields["ok"]; {
	case !ok:
		return Line{}, fmt.Errorf(`"ok": missing%s; expected true or false`, has(fields))
	case json.Unmarshal(raw, &l.OK) != nil || isNull(raw):
		return Line{}, fmt.Errorf(`"ok": %s; expected true or false (a JSON boolean, without quotes)`, got(raw))
	}
	if raw, ok := fields["error"]; ok && !isNull(raw) {
		if json.Unmarshal(raw, &l.Error) != nil {
			return Line{}, fmt.Errorf(`"error": %s; expected a string: the failure's text or one of faultline's error classes`, got(raw))
		}
	}
	if raw, ok := fields["latency_ms"]; ok && !isNull(raw) {
		var v float64
		if json.Unmarshal(raw, &v) != nil {
			return Line{}, fmt.Errorf(`"latency_ms": %s; expected a number of milliseconds, like 3.2`, got(raw))
		}
		if v < 0 || v > 3.6e6 {
			return Line{}, fmt.Errorf(`"latency_ms": %v: expected milliseconds from 0 to one hour`, v)
		}
		l.LatencyMS, l.LatencyKnown = v, true
	}
	if l.Item, l.Version, err = parseItem(fields); err != nil {
		return Line{}, err
	}
	return l, nil
}

// MaxItemLen bounds an item's key (DynamoDB's partition key: 2048 bytes).
const MaxItemLen = 2048

// maxVersion: versions are whole numbers a JSON number holds exactly.
const maxVersion = 1 << 53

func parseItem(fields map[string]json.RawMessage) (item string, version *int64, err error) {
	if _, ok := fields["item_version"]; ok {
		return "", nil, errors.New(`"item_version": not a field of the outcome line; write the item's version as "version" (with "item")`)
	}
	if raw, ok := fields["item"]; ok && !isNull(raw) {
		if json.Unmarshal(raw, &item) != nil {
			return "", nil, fmt.Errorf(`"item": %s; expected a string, the key of the item written or read, like "orders/42"`, got(raw))
		}
		if item == "" || len(item) > MaxItemLen {
			return "", nil, fmt.Errorf(`"item": %d bytes; expected the item's key, 1 to %d bytes`, len(item), MaxItemLen)
		}
	}
	raw, ok := fields["version"]
	if !ok || isNull(raw) {
		return item, nil, nil
	}
	if item == "" {
		return "", nil, errors.New(`"version": without "item"; expected "item" too: the key of the item whose version it is`)
	}
	var f float64
	if json.Unmarshal(raw, &f) != nil {
		return "", nil, fmt.Errorf(`"version": %s; expected a whole number, the item's version written or read (null: no item)`, got(raw))
	}
	if f != math.Trunc(f) || f < 0 || f > maxVersion {
		return "", nil, fmt.Errorf(`"version": %s: expected a whole number from 0 to 2^53`, strings.TrimSpace(string(raw)))
	}
	v := int64(f)
	return item, &v, nil
}

// has lists the fields a line has, for a message about a missing one:
// ` + "`" + ` (the line has "op", "t")` + "`" + `.
func has(fields map[string]json.RawMessage) string {
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, strconv.Quote(k))
	}
	if len(names) == 0 {
		return " (the line has no fields)"
	}
	slices.Sort(names)
	if len(names) > 8 {
		names = append(names[:8], "…")
	}
	return " (the line has " + strings.Join(names, ", ") + ")"
}

// jsonReason is encoding/json's complaint without its package prefix.
func jsonReason(err error) string {
	r := strings.TrimPrefix(err.Error(), "json: ")
	if strings.Contains(r, "after top-level value") {
		r += ": more than one JSON object on one line? write each outcome on a line of its own, ending in a newline (and flush it)"
	}
	return r
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// got names a value and its JSON type: `got "true" (a string)`.
func got(raw json.RawMessage) string {
	v := string(bytes.TrimSpace(raw))
	if len(v) > 40 {
		v = v[:40] + "…"
	}
	kind := "a number"
	switch {
	case v == "null":
		return "got null"
	case v == "true" || v == "false":
		kind = "a boolean"
	case strings.HasPrefix(v, `"`):
		kind = "a string"
	case strings.HasPrefix(v, "{"):
		kind = "an object"
	case strings.HasPrefix(v, "["):
		kind = "an array"
	}
	return fmt.Sprintf("got %s (%s)", v, kind)
}

func requiredString(fields map[string]json.RawMessage, name, expected string) (string, error) {
	raw, ok := fields[name]
	if !ok {
		return "", fmt.Errorf("%q: missing%s; expected %s", name, has(fields), expected)
	}
	var s string
	if json.Unmarshal(raw, &s) != nil || isNull(raw) {
		return "", fmt.Errorf("%q: %s; expected a string, %s", name, got(raw), expected)
	}
	if s == "" {
		return "", fmt.Errorf("%q: empty; expected %s", name, expected)
	}
	return s, nil
}

const timeExpected = `RFC 3339 ("2026-11-23T15:04:05.123Z") or seconds since the epoch (1795446245.123)`

func parseTime(raw json.RawMessage, has string) (t time.Time, number float64, text string, err error) {
	if len(raw) == 0 {
		return t, 0, "", errors.New(`"time": missing` + has + `; expected when the outcome was known, as ` + timeExpected)
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t, 0, s, nil
		}
		if _, err := time.Parse("2006-01-02T15:04:05.999999999", s); err == nil {
			return t, 0, "", fmt.Errorf(`"time": %q has no time zone; expected RFC 3339 with one, "Z" for UTC or an offset like +02:00`, s)
		}
		if _, err := strconv.ParseFloat(s, 64); err == nil {
			return t, 0, "", fmt.Errorf(`"time": %q is a number in a string; write seconds since the epoch without quotes, or RFC 3339`, s)
		}
		return t, 0, "", fmt.Errorf(`"time": %q: expected %s`, s, timeExpected)
	}
	f, perr := strconv.ParseFloat(string(bytes.TrimSpace(raw)), 64)
	if perr != nil {
		return t, 0, "", fmt.Errorf(`"time": %s; expected %s`, got(raw), timeExpected)
	}
	if f <= 0 || math.IsInf(f, 0) || f > 1e19 {
		return t, 0, "", fmt.Errorf(`"time": %s: expected seconds since the epoch (or RFC 3339)`, raw)
	}
	return fromSeconds(f), f, "", nil
}

func fromSeconds(f float64) time.Time {
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9))
}

func (w Window) contains(t time.Time) bool { return !t.Before(w.From) && !t.After(w.To) }

// check rejects a time outside the window, with a hint where one fits.
func (w Window) check(l Line) error {
	if w.From.IsZero() || w.contains(l.Time) {
		return nil
	}
	where := "after the line arrived"
	if l.Time.Before(w.From) {
		where = "before the run began"
	}
	span := fmt.Sprintf("the run's window is %s to %s", stamp(w.From), stamp(w.To))
	if l.timeNumber != 0 {
		for _, u := range []struct {
			div  float64
			name string
		}{{1e3, "milliseconds"}, {1e6, "microseconds"}, {1e9, "nanoseconds"}} {
			if w.contains(fromSeconds(l.timeNumber / u.div)) {
				return fmt.Errorf(`"time": %s is %s; looks like unix %s; write seconds (or RFC 3339)`,
					strconv.FormatFloat(l.timeNumber, 'f', -1, 64), where, u.name)
			}
		}
		return fmt.Errorf(`"time": %s (%s) is %s; %s; expected seconds since the epoch when the outcome was known`,
			strconv.FormatFloat(l.timeNumber, 'f', -1, 64), stamp(l.Time), where, span)
	}
	// Off by whole (or half) hours, and by more than clocks and buffers
	// explain: a time zone.
	if d := w.distance(l.Time); d > 10*time.Minute {
		for k := 1; k <= 28; k++ { // up to 14 h either way
			for _, sign := range []int{1, -1} {
				off := time.Duration(sign*k) * 30 * time.Minute
				if w.contains(l.Time.Add(-off)) {
					return fmt.Errorf(`"time": %q is %s by about %s: a time zone? Write UTC with "Z", or the local time with its offset (like +02:00)`,
						l.timeText, where, hoursMinutes(off.Abs()))
				}
			}
		}
	}
	return fmt.Errorf(`"time": %q is %s; %s; expected when the outcome was known`, l.timeText, where, span)
}

// distance is how far t lies outside the window.
func (w Window) distance(t time.Time) time.Duration {
	if t.Before(w.From) {
		return w.From.Sub(t)
	}
	return t.Sub(w.To)
}

func hoursMinutes(d time.Duration) string {
	h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
	switch {
	case m == 0:
		return fmt.Sprintf("%d h", h)
	case h == 0:
		return fmt.Sprintf("%d min", m)
	}
	return fmt.Sprintf("%d h %d min", h, m)
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// Event is the journal's request event for a line of client's: it started
// latency before the outcome was known. since maps a wall-clock time to the
// journal's milliseconds.
func (l Line) Event(client string, since func(time.Time) float64) journal.Event {
	end := since(l.Time)
	e := journal.Event{T: end - l.LatencyMS, Type: journal.Request, Client: client, Region: l.Region, Op: l.Operation,
		LatencyMS: l.LatencyMS, LatencyUnknown: !l.LatencyKnown, OK: journal.Bool(l.OK)}
	if l.Item != "" {
		e.Item, e.ItemVersion = l.Item, l.Version
		if l.OK && l.Version == nil && l.Operation == clients.GetItem {
			e.Detail = "no item"
		}
	}
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
		Item      string   `json:"item,omitempty"`
		Version   *int64   `json:"version,omitempty"`
	}{l.Time.UTC().Format(time.RFC3339Nano), l.Operation, l.Region, &ok, l.Error, &lat, l.Item, l.Version})
	return b
}

// Cut shortens a line for the journal: at most n bytes, on a rune boundary,
// with "…" when cut.
func Cut(line string, n int) string {
	if len(line) <= n {
		return line
	}
	i := n
	for i > 0 && i < len(line) && line[i]&0xC0 == 0x80 {
		i--
	}
	return line[:i] + "…"
}
