package applog

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestParseBothTimeForms(t *testing.T) {
	a, err := Parse([]byte(`{"time":"2026-11-23T15:04:05.250Z","operation":"GetItem","region":"us-east-1","ok":true,"latency_ms":3.5}`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse([]byte(`{"time":1795446245.25,"operation":"GetItem","region":"us-west-2","ok":false,"error":"lookup dynamodb.us-east-1.amazonaws.com: no such host"}`))
	if err != nil {
		t.Fatal(err)
	}
	if !a.Time.Equal(time.Date(2026, 11, 23, 15, 4, 5, 250e6, time.UTC)) || !a.OK || a.LatencyMS != 3.5 {
		t.Errorf("a = %+v", a)
	}
	if b.Time.UnixMilli() != 1795446245250 || b.OK || b.Region != "us-west-2" {
		t.Errorf("b = %+v", b)
	}
	// The journal event: started latency before the outcome, classed from the text.
	start := a.Time.Add(-time.Second)
	since := func(t time.Time) float64 { return float64(t.Sub(start).Microseconds()) / 1000 }
	if e := a.Event("app", since); e.T != 996.5 || e.End() != 1000 || !e.Succeeded() || e.Client != "app" || e.Op != "GetItem" {
		t.Errorf("event = %+v", e)
	}
	if e := b.Event("app", since); e.Error != "dns-notfound" || !strings.Contains(e.Detail, "no such host") {
		t.Errorf("failed event = %+v", e)
	}
}

func TestParseRoundTrip(t *testing.T) {
	l := Line{Time: time.Unix(1795446245, 5e8).UTC(), Operation: "PutItem", Region: "r", OK: false, Error: "reset", LatencyMS: 2}
	got, err := Parse(l.Marshal())
	if err != nil || !got.Time.Equal(l.Time) || got.Operation != "PutItem" || got.Region != "r" || got.OK || got.Error != "reset" || got.LatencyMS != 2 {
		t.Errorf("round trip: %+v, %v; want %+v", got, err, l)
	}
}

func TestParseRejects(t *testing.T) {
	for line, want := range map[string]string{
		`starting up on port 8080`: "not a JSON object",
		`{"time":`:                 "not valid JSON",
		`{"operation":"GetItem","region":"r","ok":true}`:                          `"time": missing (the line has "ok", "operation", "region")`,
		`{"time":"yesterday","operation":"GetItem","region":"r","ok":true}`:       `"time": "yesterday": expected RFC 3339`,
		`{"time":-5,"operation":"GetItem","region":"r","ok":true}`:                `"time": -5`,
		`{"time":1,"region":"r","ok":true}`:                                       `"operation"`,
		`{"time":1,"operation":"GetItem","ok":true}`:                              `"region"`,
		`{"time":1,"operation":"GetItem","region":"r"}`:                           `"ok": missing (the line has "operation", "region", "time"); expected true or false`,
		`{"time":1,"operation":"GetItem","region":"r","ok":true,"latency_ms":-1}`: `"latency_ms"`,
	} {
		_, err := Parse([]byte(line))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%s) = %v; want an error saying %q", line, err, want)
		}
		if strings.HasPrefix(line, "{") && errors.Is(err, ErrNotJSON) {
			t.Errorf("Parse(%s): a schema error is not ErrNotJSON", line)
		}
	}
}

// Wrong types get reasons that name the field, what came and what the
// schema expects.
func TestParseWrongTypes(t *testing.T) {
	for line, want := range map[string]string{
		`{"time":1795446245,"operation":"GetItem","region":"r","ok":"true"}`:                     `"ok": got "true" (a string); expected true or false`,
		`{"time":1795446245,"operation":"GetItem","region":"r","ok":1}`:                          `"ok": got 1 (a number); expected true or false`,
		`{"time":1795446245,"operation":"GetItem","region":"r","ok":null}`:                       `"ok": got null; expected true or false`,
		`{"time":1795446245,"operation":"GetItem","region":"r","ok":true,"latency_ms":"12ms"}`:   `"latency_ms": got "12ms" (a string); expected a number of milliseconds`,
		`{"time":1795446245,"operation":"GetItem","region":"r","ok":true,"latency_ms":[1]}`:      `"latency_ms": got [1] (an array)`,
		`{"time":1795446245,"operation":7,"region":"r","ok":true}`:                               `"operation": got 7 (a number); expected a string`,
		`{"time":1795446245,"operation":"GetItem","region":{"name":"r"},"ok":true}`:              `"region": got {"name":"r"} (an object); expected a string`,
		`{"time":1795446245,"operation":"","region":"r","ok":true}`:                              `"operation": empty`,
		`{"time":1795446245,"operation":"GetItem","region":"r","ok":false,"error":{"code":"X"}}`: `"error": got {"code":"X"} (an object); expected a string`,
		`{"time":true,"operation":"GetItem","region":"r","ok":true}`:                             `"time": got true (a boolean); expected RFC 3339`,
		`{"time":"1795446245.5","operation":"GetItem","region":"r","ok":true}`:                   `"time": "1795446245.5" is a number in a string`,
		`{"time":"2026-11-23T15:04:05","operation":"GetItem","region":"r","ok":true}`:            `"time": "2026-11-23T15:04:05" has no time zone`,
		`{"t":1795446245123,"op":"GetItem","region":"r","ok":true}`:                              `"time": missing (the line has "ok", "op", "region", "t"); expected`,
		`{"time":1795446245,"operation":"GetItem","region":"r","ok":true} trailing`:              `not valid JSON`,
		`{"time":1795446245,"operation":"GetItem","region":"r","ok":true,"latency_ms":1e9}`:      `"latency_ms": 1e+09: expected milliseconds from 0 to one hour`,
	} {
		_, err := Parse([]byte(line))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%s) = %v;\nwant an error saying %q", line, err, want)
		}
	}
	// null for the optional fields is their absence.
	if l, err := Parse([]byte(`{"time":1795446245,"operation":"GetItem","region":"r","ok":true,"error":null,"latency_ms":null}`)); err != nil || l.LatencyMS != 0 {
		t.Errorf("optional fields as null: %+v, %v", l, err)
	}
}

// A time outside the run's window is rejected, with a hint for the usual
// mistakes: unix milliseconds (or micro-, nanoseconds) where seconds are
// expected, a time zone off by whole hours.
func TestParseInWindow(t *testing.T) {
	start := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)
	arrived := start.Add(30 * time.Second)
	w := WindowFor(start, arrived)
	ok := func(time string) string {
		return `{"time":` + time + `,"operation":"GetItem","region":"r","ok":true}`
	}
	secs := arrived.Add(-100 * time.Millisecond).UnixMilli()
	for line, want := range map[string]string{
		ok(fmt.Sprint(secs)):                       "looks like unix milliseconds; write seconds (or RFC 3339)",
		ok(fmt.Sprint(secs * 1000)):                "looks like unix microseconds",
		ok(fmt.Sprint(secs * 1000000)):             "looks like unix nanoseconds",
		ok(`"2026-11-23T17:00:29.9Z"`):             "after the line arrived by about 2 h: a time zone?",
		ok(`"2026-11-23T10:00:29+00:00"`):          "before the run began by about 5 h: a time zone?",
		ok(`"2026-11-23T15:00:29.9+05:30"`):        "before the run began by about 5 h 30 min: a time zone?",
		ok(`"2026-11-23T14:58:00Z"`):               "before the run began; the run's window is 2026-11-23T14:59:59.000Z to 2026-11-23T15:00:32.000Z",
		ok(`"2026-11-23T15:00:40Z"`):               "after the line arrived; the run's window",
		ok(fmt.Sprint(start.Unix() - 3600*24*365)): "before the run began; the run's window",
	} {
		_, err := ParseIn([]byte(line), w)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseIn(%s) = %v;\nwant an error saying %q", line, err, want)
		}
	}
	// Inside the window, with its slack on both sides: accepted.
	for _, when := range []time.Time{start.Add(-900 * time.Millisecond), start, arrived, arrived.Add(1900 * time.Millisecond)} {
		if _, err := ParseIn([]byte(ok(`"`+when.Format(time.RFC3339Nano)+`"`)), w); err != nil {
			t.Errorf("%s: %v", when, err)
		}
		if _, err := ParseIn([]byte(ok(fmt.Sprintf("%.3f", float64(when.UnixMilli())/1000))), w); err != nil {
			t.Errorf("%s as seconds: %v", when, err)
		}
	}
}

func TestCut(t *testing.T) {
	if got := Cut(strings.Repeat("é", 150), 201); got != strings.Repeat("é", 100)+"…" {
		t.Errorf("Cut on a rune boundary: %q", got)
	}
	if got := Cut("short", 200); got != "short" {
		t.Errorf("Cut of a short line: %q", got)
	}
}

func TestItemAndVersion(t *testing.T) {
	start := time.Unix(1795446244, 0)
	since := func(t time.Time) float64 { return float64(t.Sub(start).Microseconds()) / 1000 }
	w, err := Parse([]byte(`{"time":1795446245,"operation":"PutItem","region":"us-west-2","ok":true,"item":"orders/42","version":7}`))
	if err != nil {
		t.Fatal(err)
	}
	if e := w.Event("app", since); e.Item != "orders/42" || e.ItemVersion == nil || *e.ItemVersion != 7 {
		t.Errorf("write event = %+v", e)
	}
	// A read that found no item: version null or absent.
	for _, line := range []string{
		`{"time":1795446245,"operation":"GetItem","region":"us-west-2","ok":true,"item":"orders/42","version":null}`,
		`{"time":1795446245,"operation":"GetItem","region":"us-west-2","ok":true,"item":"orders/42"}`,
	} {
		r, err := Parse([]byte(line))
		if err != nil {
			t.Fatal(err)
		}
		if e := r.Event("app", since); e.Item != "orders/42" || e.ItemVersion != nil || e.Detail != "no item" || !e.Succeeded() {
			t.Errorf("%s: event = %+v", line, e)
		}
	}
	// The round trip keeps them.
	got, err := Parse(w.Marshal())
	if err != nil || got.Item != "orders/42" || got.Version == nil || *got.Version != 7 {
		t.Errorf("round trip: %+v, %v", got, err)
	}
	const head = `{"time":1,"operation":"GetItem","region":"r","ok":true,`
	for line, want := range map[string]string{
		head + `"item":42}`:                                          `"item": got 42 (a number); expected a string`,
		head + `"item":""}`:                                          `"item": 0 bytes; expected the item's key`,
		head + `"version":3}`:                                        `"version": without "item"`,
		head + `"item":"a","version":"3"}`:                           `"version": got "3" (a string); expected a whole number`,
		head + `"item":"a","version":2.5}`:                           `"version": 2.5: expected a whole number`,
		head + `"item":"a","version":-1}`:                            `"version": -1: expected a whole number`,
		head + `"item":"a","version":1e300}`:                         `"version": 1e300: expected a whole number from 0 to 2^53`,
		head + `"item":"a","item_version":3}`:                        `"item_version": not a field of the outcome line; write the item's version as "version"`,
		head + `"item":["a"],"version":3}`:                           `"item": got ["a"] (an array)`,
		head + `"item":"a","version":{"v":3}}`:                       `"version": got {"v":3} (an object)`,
		head + `"item":"` + strings.Repeat("k", MaxItemLen+1) + `"}`: `"item": 2049 bytes`,
	} {
		_, err := Parse([]byte(line))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%.80s) = %v; want an error saying %q", line, err, want)
		}
	}
}
