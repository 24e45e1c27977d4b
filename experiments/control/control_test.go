package control_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"

	"github.com/faultline-dev/faultline/experiments/control"
	"github.com/faultline-dev/faultline/experiments/engine"
	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/experiments/testbed"
)

const token = "0123456789abcdef0123456789abcdef"

// live is a control server on a testbed's Engine, on a real loopback
// listener, with every exchange checked against openapi.yaml.
type live struct {
	t    *testing.T
	tb   *testbed.Testbed
	srv  *control.Server
	base string
	v    validator.Validator

	mu      sync.Mutex
	covered map[string]bool // "METHOD /path/template STATUS"
}

func newValidator(t *testing.T) validator.Validator {
	t.Helper()
	doc, err := libopenapi.NewDocument(control.OpenAPI)
	if err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatalf("openapi.yaml: %v", errs)
	}
	return v
}

func start(t *testing.T, opts control.Options) *live {
	t.Helper()
	tb := testbed.Start(t, testbed.Options{})
	opts.Engine = tb.Engine()
	if opts.Token == "" {
		opts.Token = token
	}
	if opts.Operator == "" {
		opts.Operator = "alice"
	}
	w := tb.World()
	opts.World = control.World{Experiment: "test", DNS: w.DNSAddr(), ClientDNS: w.ClientDNSAddr(), Environment: []string{"AWS_REGION=us-east-1"},
		RunDir: t.TempDir(), Journal: "journal.jsonl", TokenFile: "api-token"}
	for _, r := range []string{"us-east-1", "us-west-2"} {
		u, _ := w.EndpointURL(r)
		lb, _ := w.NLB(r)
		opts.World.Regions = append(opts.World.Regions, control.Region{Name: r, Endpoint: "dynamodb." + r + ".amazonaws.com", URL: u, Nodes: lb.NodeAddrs()})
	}
	srv, err := control.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return &live{t: t, tb: tb, srv: srv, base: control.URL(ln.Addr()), v: newValidator(t), covered: map[string]bool{}}
}

// call makes a request and checks the exchange against the document: the
// request too when valid says it is one (bad input is bad on purpose).
func (l *live) call(method, path string, body any, valid bool, hdr ...string) (int, []byte) {
	l.t.Helper()
	var raw []byte
	switch b := body.(type) {
	case nil:
	case []byte:
		raw = b
	case string:
		raw = []byte(b)
	default:
		raw, _ = json.Marshal(b)
	}
	req, _ := http.NewRequest(method, l.base+path, bytes.NewReader(raw))
	if body == nil {
		req.Body, req.ContentLength = http.NoBody, 0
	} else {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		l.t.Fatalf("%s %s: %v", method, path, err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	l.check(req, raw, resp, data, valid)
	return resp.StatusCode, data
}

// check validates one exchange against the document.
func (l *live) check(req *http.Request, reqBody []byte, resp *http.Response, data []byte, valid bool) {
	l.t.Helper()
	vreq := req.Clone(context.Background())
	vreq.Body = io.NopCloser(bytes.NewReader(reqBody))
	resp.Body = io.NopCloser(bytes.NewReader(data))
	if valid {
		if ok, errs := l.v.ValidateHttpRequest(vreq); !ok {
			l.t.Errorf("%s %s: the request does not match openapi.yaml: %s", req.Method, req.URL.Path, verrs(errs))
		}
		vreq.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	if ok, errs := l.v.ValidateHttpResponse(vreq, resp); !ok {
		l.t.Errorf("%s %s → %d: the response does not match openapi.yaml: %s\n%s", req.Method, req.URL.Path, resp.StatusCode, verrs(errs), data)
	}
	l.mu.Lock()
	l.covered[fmt.Sprintf("%s %s %d", req.Method, template(req.URL.Path), resp.StatusCode)] = true
	l.mu.Unlock()
}

func verrs(errs any) string {
	b, _ := json.Marshal(errs)
	return string(b)
}

// template turns a concrete path into the route it matches.
func template(p string) string {
	p = strings.TrimPrefix(p, control.Prefix)
	parts := strings.Split(p, "/")
	if len(parts) == 3 && parts[1] == "faults" {
		parts[2] = "{id}"
	}
	if len(parts) == 3 && parts[1] == "apps" {
		parts[2] = "{name}"
	}
	return control.Prefix + strings.Join(parts, "/")
}

func errorOf(t *testing.T, data []byte) control.APIError {
	t.Helper()
	var eb control.ErrorBody
	if err := json.Unmarshal(data, &eb); err != nil || eb.Error.Code == "" {
		t.Fatalf("not an error body: %s", data)
	}
	return eb.Error
}

func TestOpenAPIDocumentIsValid31(t *testing.T) {
	v := newValidator(t)
	if ok, errs := v.ValidateDocument(); !ok {
		t.Fatalf("openapi.yaml is not a valid OpenAPI document: %s", verrs(errs))
	}
	if !bytes.HasPrefix(control.OpenAPI, []byte("openapi: 3.1.")) {
		t.Error("openapi.yaml is not OpenAPI 3.1")
	}
}

// Every route the server has is in the document, and every operation of
// the document is a route of the server.
func TestRoutesAndDocumentAgree(t *testing.T) {
	doc, err := libopenapi.NewDocument(control.OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	model, err := doc.BuildV3Model()
	if err != nil {
		t.Fatal(err)
	}
	var documented []string
	for path, item := range model.Model.Paths.PathItems.FromOldest() {
		for method := range item.GetOperations().FromOldest() {
			documented = append(documented, strings.ToUpper(method)+" "+control.Prefix+path)
		}
	}
	sort.Strings(documented)
	served := control.Routes()
	sort.Strings(served)
	if !slices.Equal(documented, served) {
		t.Errorf("the server's routes and openapi.yaml differ:\nserved:     %v\ndocumented: %v", served, documented)
	}
}

func TestAPIAgainstItsDocument(t *testing.T) {
	shut := make(chan struct{}, 1)
	// A stand-in for the runner's StartCommand: it prints two lines and
	// runs until stopped.
	fakeApp := func(req control.AppRequest, h control.AppHooks) (string, func(), error) {
		if req.Name == "taken" {
			return "", nil, fmt.Errorf("a client named %q runs already: %w", req.Name, control.ErrAppRefused)
		}
		h.Output("stdout", "hello")
		h.Output("stderr", "starting")
		var once sync.Once
		return "127.53.0.9", func() { once.Do(func() { h.Exited("signal: terminated", nil) }) }, nil
	}
	l := start(t, control.Options{Shutdown: func() { shut <- struct{}{} }, DefaultBound: time.Minute, StartApp: fakeApp})
	ok := func(method, path string, body any, want int) []byte {
		t.Helper()
		code, data := l.call(method, path, body, true)
		if code != want {
			t.Fatalf("%s %s: %d, want %d: %s", method, path, code, want, data)
		}
		return data
	}
	// The world and the catalogue.
	var w control.World
	json.Unmarshal(ok("GET", "/api/v1/world", nil, 200), &w)
	if len(w.Regions) != 2 || len(w.Regions[0].Nodes) != 2 || w.DNS == "" {
		t.Errorf("world: %+v", w)
	}
	var kinds control.KindList
	json.Unmarshal(ok("GET", "/api/v1/kinds", nil, 200), &kinds)
	if i := slices.IndexFunc(kinds.Kinds, func(k control.KindView) bool { return k.Name == "dns.delay" }); i < 0 || len(kinds.Kinds[i].Params) == 0 {
		t.Errorf("kinds: no dns.delay with its parameters: %+v", kinds)
	}
	ok("GET", "/api/v1/openapi.yaml", nil, 200)

	// Apply without a bound: the default, said so.
	var applied control.ApplyResponse
	json.Unmarshal(ok("POST", "/api/v1/faults", map[string]any{"kind": "dns.empty", "target": "dynamodb.us-east-1.amazonaws.com"}, 201), &applied)
	if !applied.BoundDefaulted || applied.Fault.Bound == nil || *applied.Fault.Bound != "1m0s" || !strings.Contains(applied.Message, "default bound of 1m0s") {
		t.Errorf("apply without for: %+v", applied)
	}
	f1 := applied.Fault.ID
	// With a bound and typed parameters.
	json.Unmarshal(ok("POST", "/api/v1/faults", map[string]any{"id": "slow", "kind": "dns.delay", "target": "dynamodb.us-west-2.amazonaws.com",
		"params": map[string]any{"delay": "50ms", "probability": 1}, "for": "30s"}, 201), &applied)
	if applied.BoundDefaulted || applied.Fault.ID != "slow" || *applied.Fault.BoundMS != 30000 || applied.Fault.By != "api:alice" {
		t.Errorf("apply with for: %+v", applied)
	}
	var list control.FaultList
	json.Unmarshal(ok("GET", "/api/v1/faults", nil, 200), &list)
	if len(list.Faults) != 2 || list.Faults[0].ID != f1 || list.Faults[1].ExpiresAt == nil || !strings.HasPrefix(list.Faults[1].From, "127.0.0.1:") {
		t.Errorf("active faults: %+v", list)
	}
	ok("GET", "/api/v1/faults/slow", nil, 200)
	ok("DELETE", "/api/v1/faults/slow", nil, 200)
	var healed control.FaultView
	waitFor(t, "the healed fault's record", func() bool {
		json.Unmarshal(ok("GET", "/api/v1/faults/slow", nil, 200), &healed)
		return healed.State == "healed"
	})
	if healed.HealedBy != "api:alice" {
		t.Errorf("healed by %q, want api:alice", healed.HealedBy)
	}
	var all control.HealAllResponse
	json.Unmarshal(ok("POST", "/api/v1/heal-all", nil, 200), &all)
	if !slices.Equal(all.Healed, []string{f1}) {
		t.Errorf("heal-all healed %v, want [%s]", all.Healed, f1)
	}
	if n := len(l.tb.Engine().Active()); n != 0 {
		t.Errorf("%d faults active after heal-all", n)
	}
	// Clients with live metrics: the testbed's client makes requests.
	for range 5 {
		resp, err := l.tb.HTTPClient().Get(l.tb.Endpoint("us-east-1") + "/")
		if err == nil {
			resp.Body.Close()
		}
	}
	var cl control.ClientList
	waitFor(t, "the test client's requests in /clients", func() bool {
		json.Unmarshal(ok("GET", "/api/v1/clients", nil, 200), &cl)
		i := slices.IndexFunc(cl.Clients, func(c control.ClientView) bool { return c.Name == testbed.ClientName })
		return i >= 0 && cl.Clients[i].Requests >= 5 && cl.Clients[i].LatencyP99MS != nil && cl.Clients[i].Availability != nil
	})
	// Events, retained, not followed.
	code, data := l.call("GET", "/api/v1/events?follow=false&types=fault.applied,fault.healed", nil, true)
	if code != 200 || strings.Count(string(data), `"type":"fault.applied"`) != 2 || strings.Count(string(data), `"type":"fault.healed"`) != 2 ||
		!strings.Contains(string(data), "event: end") {
		t.Errorf("events: %d\n%s", code, data)
	}
	// Programs.
	var app control.AppView
	json.Unmarshal(ok("POST", "/api/v1/apps", map[string]any{"name": "shop", "argv": []string{"python3", "shop.py"}, "env": map[string]string{"A": "b"}}, 201), &app)
	if app.DNS != "127.53.0.9" || app.State != "running" || len(app.Lines) != 2 || app.By != "api:alice" {
		t.Errorf("started: %+v", app)
	}
	json.Unmarshal(ok("GET", "/api/v1/apps/shop?lines_after=1", nil, 200), &app)
	if len(app.Lines) != 1 || app.Lines[0].Text != "starting" || app.NextLine != 2 {
		t.Errorf("lines after 1: %+v", app)
	}
	ok("GET", "/api/v1/apps", nil, 200)
	ok("DELETE", "/api/v1/apps/shop", nil, 202)
	json.Unmarshal(ok("GET", "/api/v1/apps/shop", nil, 200), &app)
	if app.State != "exited" || app.Exit != "signal: terminated" {
		t.Errorf("stopped: %+v", app)
	}
	ok("POST", "/api/v1/shutdown", nil, 202)
	select {
	case <-shut:
	case <-time.After(5 * time.Second):
		t.Error("shutdown was not called")
	}
	// Journaled with who: fault events and the control events.
	var byAlice, control_ int
	for _, e := range l.tb.Events() {
		if (e.Type == journal.FaultApplied || e.Type == journal.FaultHealed) && e.By == "api:alice" && strings.HasPrefix(e.Addr, "127.0.0.1:") {
			byAlice++
		}
		if e.Type == journal.Control && e.By == "api:alice" {
			control_++
		}
	}
	if byAlice != 4 || control_ != 4 {
		t.Errorf("journaled %d fault events and %d control events by api:alice from the caller's address, want 4 and 4 (heal-all, exec, stop-app, shutdown)", byAlice, control_)
	}
	// The DNS routes (TestDNSRulesFollowTheFaults tries them in depth).
	ok("GET", "/api/v1/dns/rules?timeout=0", nil, 200)
	ok("POST", "/api/v1/dns/answers", control.DNSAnswers{Answers: []control.DNSAnswer{}}, 200)
	l.badInput(t)
	// Every route was called, and its exchanges matched the document.
	for _, r := range control.Routes() {
		called := false
		for c := range l.covered {
			called = called || strings.HasPrefix(c, r+" ")
		}
		if !called {
			t.Errorf("%s was never called", r)
		}
	}
}

// badInput: every route's refusals, each a JSON error naming the field,
// matching the document, and nothing applied.
func (l *live) badInput(t *testing.T) {
	cases := []struct {
		method, path string
		body         any
		hdr          []string
		status       int
		code, field  string
		msg          string
	}{
		{"GET", "/api/v1/world", nil, []string{"Authorization", ""}, 401, "unauthorized", "Authorization", "no token"},
		{"GET", "/api/v1/faults", nil, []string{"Authorization", "Bearer nope-nope-nope-nope"}, 401, "unauthorized", "Authorization", "wrong token"},
		{"POST", "/api/v1/heal-all", nil, []string{"Authorization", "Basic " + token}, 401, "unauthorized", "Authorization", "Bearer"},
		{"POST", "/api/v1/faults", map[string]any{"kind": "dns.gone", "target": "dynamodb.us-east-1.amazonaws.com"}, nil, 400, "unknown_kind", "kind", `unknown kind "dns.gone"; expected one of: ddb.replication-lag, ddb.replication-pause, dns.delay`},
		{"POST", "/api/v1/faults", map[string]any{"kind": "dns.delay", "target": "dynamodb.us-east-1.amazonaws.com", "params": map[string]any{"delay": "soon"}}, nil, 400, "bad_param", "params.delay", "expected a duration like 250ms or 2s"},
		{"POST", "/api/v1/faults", map[string]any{"kind": "dns.empty", "target": "dynamodb.us-east-1.amazonaws.com", "params": map[string]any{"colour": "red"}}, nil, 400, "bad_param", "params.colour", "unknown parameter for dns.empty"},
		{"POST", "/api/v1/faults", map[string]any{"kind": "dns.empty", "target": "dynamodb.eu-west-9.amazonaws.com"}, nil, 400, "bad_target", "target", "expected one of: dynamodb.us-east-1.amazonaws.com, dynamodb.us-west-2.amazonaws.com"},
		{"POST", "/api/v1/faults", map[string]any{"kind": "link.down", "target": "mars-1"}, nil, 400, "bad_target", "target", `"mars-1" is not one (expected one of: us-east-1, us-west-2)`},
		{"POST", "/api/v1/faults", map[string]any{"kind": "dns.empty", "target": "dynamodb.us-east-1.amazonaws.com", "for": "ten"}, nil, 400, "bad_duration", "for", `expected a duration like 30s or 10m, got "ten"`},
		{"POST", "/api/v1/faults", map[string]any{"kind": "dns.empty", "target": "dynamodb.us-east-1.amazonaws.com", "for": "-1s"}, nil, 400, "bad_duration", "for", "longer than 0s"},
		{"POST", "/api/v1/faults", map[string]any{"kind": "dns.empty", "target": "dynamodb.us-east-1.amazonaws.com", "for": "25h"}, nil, 400, "bound_too_long", "for", "past the maximum bound of 24h0m0s"},
		{"POST", "/api/v1/faults", map[string]any{"kind": "dns.empty"}, nil, 400, "missing_field", "target", "required"},
		{"POST", "/api/v1/faults", map[string]any{"kind": "dns.empty", "target": "x", "colour": 1}, nil, 400, "unknown_field", "colour", "unknown field"},
		{"POST", "/api/v1/faults", "{not json", nil, 400, "bad_json", "", "not JSON"},
		{"POST", "/api/v1/faults", `{"kind": 3, "target": "x"}`, nil, 400, "bad_json", "kind", "expected a string"},
		{"POST", "/api/v1/faults", map[string]any{"id": "Bad Id", "kind": "dns.empty", "target": "dynamodb.us-east-1.amazonaws.com"}, nil, 400, "bad_id", "id", "lowercase"},
		{"POST", "/api/v1/faults", `{"kind":"dns.empty","target":"` + strings.Repeat("a", 70<<10) + `"}`, nil, 413, "body_too_large", "", "larger than 65536 bytes"},
		{"POST", "/api/v1/faults", `kind=dns.empty`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "unsupported_media_type", "Content-Type", "expected application/json"},
		{"POST", "/api/v1/faults", map[string]any{"kind": "dns.plan-race", "target": "dynamodb.us-east-1.amazonaws.com"}, nil, 400, "unknown_kind", "kind", "acts on the DNS automation"},
		{"GET", "/api/v1/faults/nope", nil, nil, 404, "unknown_fault", "id", `no fault "nope" was applied`},
		{"DELETE", "/api/v1/faults/nope", nil, nil, 404, "unknown_fault", "id", `no fault "nope" was applied`},
		{"DELETE", "/api/v1/faults/slow", nil, nil, 409, "already_healed", "id", "fault slow is healed already (by api:alice: healed through the control API)"},
		{"GET", "/api/v1/events?after=soon", nil, nil, 400, "bad_param", "after", "expected an event id"},
		{"GET", "/api/v1/apps/nope", nil, nil, 404, "unknown_app", "name", `no program "nope"`},
		{"GET", "/api/v1/apps/nope?lines_after=-1", nil, nil, 400, "bad_param", "lines_after", "expected a line number"},
		{"DELETE", "/api/v1/apps/nope", nil, nil, 404, "unknown_app", "name", `no program "nope"`},
		{"POST", "/api/v1/apps", map[string]any{"name": "taken", "argv": []string{"true"}}, nil, 409, "refused", "", `a client named "taken" runs already`},
		{"POST", "/api/v1/apps", map[string]any{"name": "shop", "argv": []string{"true"}}, nil, 409, "duplicate_name", "name", `a program named "shop" was started already`},
		{"POST", "/api/v1/apps", map[string]any{"name": "x"}, nil, 400, "missing_field", "argv", "required"},
		{"DELETE", "/api/v1/apps/shop", nil, nil, 409, "already_exited", "name", "has exited already"},
	}
	for _, c := range cases {
		before := len(l.tb.Engine().Active())
		code, data := l.call(c.method, c.path, c.body, false, c.hdr...)
		if code != c.status {
			t.Errorf("%s %s %v: %d, want %d: %s", c.method, c.path, c.body, code, c.status, data)
			continue
		}
		e := errorOf(t, data)
		if e.Code != c.code || e.Field != c.field || !strings.Contains(e.Message, c.msg) {
			t.Errorf("%s %s %v: %+v, want code %s, field %q, a message with %q", c.method, c.path, c.body, e, c.code, c.field, c.msg)
		}
		if after := len(l.tb.Engine().Active()); after != before {
			t.Errorf("%s %s %v: %d faults active, %d before: bad input applied something", c.method, c.path, c.body, after, before)
		}
	}
	// A duplicate id: 409, the first fault left as it was.
	l.call("POST", "/api/v1/faults", map[string]any{"id": "dup", "kind": "dns.empty", "target": "dynamodb.us-east-1.amazonaws.com", "for": "1m"}, true)
	code, data := l.call("POST", "/api/v1/faults", map[string]any{"id": "dup", "kind": "dns.servfail", "target": "dynamodb.us-east-1.amazonaws.com", "for": "1m"}, true)
	if e := errorOf(t, data); code != 409 || e.Code != "duplicate_id" || e.Field != "id" {
		t.Errorf("duplicate id: %d %+v", code, e)
	}
	if a := l.tb.Engine().Active(); len(a) != 1 || a[0].Fault.Kind != "dns.empty" {
		t.Errorf("after a duplicate: %+v", a)
	}
	l.tb.Engine().HealAll("test", "test")
	// No route, a wrong method: JSON too (not in the document: no check).
	for _, c := range []struct {
		method, path string
		status       int
		code         string
	}{{"GET", "/api/v1/nope", 404, "not_found"}, {"PUT", "/api/v1/faults", 405, "method_not_allowed"}} {
		req, _ := http.NewRequest(c.method, l.base+c.path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if e := errorOf(t, data); resp.StatusCode != c.status || e.Code != c.code {
			t.Errorf("%s %s: %d %+v", c.method, c.path, resp.StatusCode, e)
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10s for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sse reads a stream until stop says so or it ends.
func sse(t *testing.T, base, lastID, query string, stop func(control.SSE) bool) []control.SSE {
	t.Helper()
	c := &control.Client{Base: base, Token: token, HTTP: &http.Client{}}
	var got []control.SSE
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := c.Events(ctx, query, lastID, func(e control.SSE) bool {
		got = append(got, e)
		return !stop(e)
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestEventsResumeWithLastEventID(t *testing.T) {
	l := start(t, control.Options{})
	eng := l.tb.Engine()
	ready := make(chan struct{})
	var first []control.SSE
	done := make(chan struct{})
	go func() {
		defer close(done)
		n := 0
		first = sse(t, l.base, "", "types=test.mark", func(e control.SSE) bool {
			if e.Event == "" {
				n++
			}
			return n == 3
		})
	}()
	// The stream is subscribed once its first comment arrived; mark until
	// it has three.
	go func() {
		defer close(ready)
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
				eng.Record(journal.Event{Type: "test.mark", Detail: strconv.Itoa(i)})
			}
		}
	}()
	<-done
	<-ready
	last := first[len(first)-1]
	// More events while it was away; resuming gets exactly those after.
	for i := range 5 {
		eng.Record(journal.Event{Type: "test.after", Detail: strconv.Itoa(i)})
	}
	got := sse(t, l.base, last.ID, "types=test.after&follow=false", func(control.SSE) bool { return false })
	var details []string
	for _, e := range got {
		var se control.StreamEvent
		if e.Event == "" {
			json.Unmarshal([]byte(e.Data), &se)
			details = append(details, se.Detail)
			if strconv.FormatUint(se.Seq, 10) != e.ID {
				t.Errorf("id %s, seq %d", e.ID, se.Seq)
			}
		}
	}
	if !slices.Equal(details, []string{"0", "1", "2", "3", "4"}) || got[len(got)-1].Event != "end" {
		t.Errorf("resumed after %s: %v (last %+v)", last.ID, details, got[len(got)-1])
	}
	// A resume past what is retained: a "gone" event, then the oldest.
	for range engine.Retained + 10 {
		eng.Record(journal.Event{Type: "test.flood"})
	}
	got = sse(t, l.base, last.ID, "follow=false&types=none", func(control.SSE) bool { return false })
	if len(got) == 0 || got[0].Event != "gone" || !strings.Contains(got[0].Data, "no longer retained") {
		t.Errorf("resume past the retained events: %+v", got[:min(len(got), 2)])
	}
}

// A reader that does not read is cut off with a "lagged" event that says
// where to resume; the world never waits for it, and its connection is the
// only thing it costs.
func TestSlowReaderIsCutOffAndMayResume(t *testing.T) {
	l := start(t, control.Options{})
	eng := l.tb.Engine()
	conn, err := net.Dial("tcp", strings.TrimPrefix(l.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", token)
	br := bufio.NewReader(conn)
	if line, _ := br.ReadString('\n'); !strings.Contains(line, "200") {
		t.Fatalf("stream: %q", line)
	}
	// Flood without reading: kernel buffers fill, then the subscription's.
	big := strings.Repeat("x", 2000)
	startFlood := time.Now()
	for i := range 20000 {
		eng.Record(journal.Event{Type: "test.flood", Detail: big, K: i})
	}
	if d := time.Since(startFlood); d > 10*time.Second {
		t.Errorf("recording 20000 events with a stalled reader took %s", d)
	}
	// Now read: the stream ends with a lagged event naming the last id.
	var lagged control.Lagged
	deadline := time.Now().Add(20 * time.Second)
	conn.SetReadDeadline(deadline)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("no lagged event before the stream ended: %v", err)
		}
		if strings.HasPrefix(line, "event: lagged") {
			data, _ := br.ReadString('\n')
			json.Unmarshal([]byte(strings.TrimPrefix(data, "data: ")), &lagged)
			break
		}
	}
	if lagged.Missed == 0 || lagged.LastID >= lagged.Missed || !strings.Contains(lagged.Message, "Last-Event-ID") {
		t.Errorf("lagged: %+v", lagged)
	}
}

func TestMountedHandlersAndCookie(t *testing.T) {
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "faultline_up 1\n") })
	l := start(t, control.Options{Handlers: map[string]http.Handler{"GET /metrics": metrics}})
	get := func(path string, hdr ...string) (*http.Response, string) {
		req, _ := http.NewRequest("GET", l.base+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	if resp, _ := get("/metrics"); resp.StatusCode != 401 {
		t.Errorf("/metrics without a token: %d", resp.StatusCode)
	}
	if _, body := get("/metrics", "Authorization", "Bearer "+token); body != "faultline_up 1\n" {
		t.Errorf("/metrics: %q", body)
	}
	if _, body := get("/", "Authorization", "Bearer "+token); !strings.Contains(body, "/api/v1/openapi.yaml") {
		t.Errorf("the placeholder page: %q", body)
	}
	// A browser: ?token= sets the cookie and drops the token from the URL.
	resp, _ := get("/?token=" + url.QueryEscape(token))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" || len(resp.Cookies()) != 1 {
		t.Fatalf("?token=: %d %v %v", resp.StatusCode, resp.Header, resp.Cookies())
	}
	c := resp.Cookies()[0]
	if resp, _ := get("/api/v1/faults", "Cookie", c.Name+"="+c.Value); resp.StatusCode != 200 {
		t.Errorf("GET with the cookie: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("POST", l.base+"/api/v1/heal-all", nil)
	req.AddCookie(c)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Errorf("POST with only the cookie: %v %v (a cookie is for reading only)", resp.StatusCode, err)
	}
	// A handler under /api/ is refused.
	_, err := control.New(control.Options{Engine: l.tb.Engine(), Token: token, Handlers: map[string]http.Handler{"/api/v1/x": metrics}})
	if err == nil || !strings.Contains(err.Error(), "/api/ is the API's") {
		t.Errorf("a handler under /api/: %v", err)
	}
}

func TestCheckListen(t *testing.T) {
	for _, c := range []struct {
		addr   string
		remote bool
		ok     bool
	}{
		{"127.0.0.1:0", false, true}, {"127.9.9.9:80", false, true}, {"[::1]:0", false, true}, {"localhost:7878", false, true},
		{"0.0.0.0:7878", false, false}, {"192.168.1.5:7878", false, false}, {":7878", false, false}, {"example.com:80", false, false},
		{"0.0.0.0:7878", true, true}, {"nope", false, false},
	} {
		err := control.CheckListen(c.addr, c.remote)
		if (err == nil) != c.ok {
			t.Errorf("CheckListen(%q, %v) = %v", c.addr, c.remote, err)
		}
	}
}
