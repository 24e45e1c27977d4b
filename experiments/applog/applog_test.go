package applog

import (
	"errors"
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
	if err != nil || !got.Time.Equal(l.Time) || got != (Line{Time: got.Time, Operation: "PutItem", Region: "r", Error: "reset", LatencyMS: 2}) {
		t.Errorf("round trip: %+v, %v; want %+v", got, err, l)
	}
}

func TestParseRejects(t *testing.T) {
	for line, want := range map[string]string{
		`starting up on port 8080`: "not a JSON object",
		`{"time":`:                 "not a JSON object",
		`{"operation":"GetItem","region":"r","ok":true}`:                          `"time": missing`,
		`{"time":"yesterday","operation":"GetItem","region":"r","ok":true}`:       `"time": "yesterday": expected RFC 3339`,
		`{"time":-5,"operation":"GetItem","region":"r","ok":true}`:                `"time": -5`,
		`{"time":1,"region":"r","ok":true}`:                                       `"operation"`,
		`{"time":1,"operation":"GetItem","ok":true}`:                              `"region"`,
		`{"time":1,"operation":"GetItem","region":"r"}`:                           `"ok": expected true or false`,
		`{"time":1,"operation":"GetItem","region":"r","ok":true,"latency_ms":-1}`: `"latency_ms"`,
	} {
		_, err := Parse([]byte(line))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%s) = %v; want an error saying %q", line, err, want)
		}
		if strings.HasPrefix(line, "{\"time\":1") && errors.Is(err, ErrNotJSON) {
			t.Errorf("Parse(%s): a schema error is not ErrNotJSON", line)
		}
	}
}
