package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"
	"github.com/miekg/dns"

	"github.com/faultline-dev/faultline/experiments/control"
	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/targets/sandbox"
)

// upProcess is a real `faultline up`, started as a user would, in a run
// directory of its own.
type upProcess struct {
	t      *testing.T
	dir    string
	cmd    *exec.Cmd
	out    *bytes.Buffer
	exited chan error
	state  control.State
	token  string
}

// startUp runs `faultline up --out DIR --operator tester ARGS...` and waits
// for its state file: the world is live then.
func startUp(t *testing.T, args ...string) *upProcess {
	t.Helper()
	return startUpEnv(t, nil, args...)
}

// startUpEnv is startUp with env added to the process's environment.
func startUpEnv(t *testing.T, env []string, args ...string) *upProcess {
	t.Helper()
	u := &upProcess{t: t, dir: filepath.Join(t.TempDir(), "run"), out: &bytes.Buffer{}, exited: make(chan error, 1)}
	u.cmd = exec.Command(binary, append([]string{"up", "--out", u.dir, "--operator", "tester"}, args...)...)
	u.cmd.Env = append(os.Environ(), env...)
	pr, pw := io.Pipe()
	u.cmd.Stdout, u.cmd.Stderr = pw, pw
	lines := make(chan string, 1024)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
	}()
	if err := u.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { err := u.cmd.Wait(); pw.Close(); u.exited <- err }()
	t.Cleanup(func() {
		// Whatever the test did: the world goes down, healing everything.
		if u.cmd.ProcessState == nil {
			u.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-u.exited:
			case <-time.After(60 * time.Second):
				u.cmd.Process.Kill()
				<-u.exited
			}
		}
	})
	deadline := time.After(90 * time.Second)
	for {
		if st, err := control.ReadState(u.dir); err == nil {
			u.state = st
			break
		}
		select {
		case err := <-u.exited:
			u.exited <- err
			t.Fatalf("faultline up exited before the world was up: %v\n%s", err, drain(lines))
		case <-deadline:
			t.Fatalf("faultline up: no live state after 90s\n%s", drain(lines))
		case <-time.After(50 * time.Millisecond):
		}
	}
	tok, err := control.ReadToken(u.state.TokenFile)
	if err != nil {
		t.Fatal(err)
	}
	u.token = tok
	go func() {
		for l := range lines {
			u.t.Log("up: " + l)
		}
	}()
	return u
}

func drain(lines chan string) string {
	var b strings.Builder
	for {
		select {
		case l := <-lines:
			b.WriteString(l + "\n")
		default:
			return b.String()
		}
	}
}

// verb runs a CLI verb on this run.
func (u *upProcess) verb(args ...string) (int, string) {
	u.t.Helper()
	return faultline(u.t, append(args, "--run", u.dir)...)
}

// wait waits for the process to exit and returns its exit code.
func (u *upProcess) wait(bound time.Duration) int {
	u.t.Helper()
	select {
	case err := <-u.exited:
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode()
		}
		if err != nil {
			u.t.Fatal(err)
		}
		return 0
	case <-time.After(bound):
		u.t.Fatalf("faultline up did not exit within %s", bound)
	}
	return -1
}

// api calls the control API as a program would.
func (u *upProcess) api(method, path, body string, hdr ...string) (int, []byte) {
	u.t.Helper()
	req, _ := http.NewRequest(method, u.state.API+control.Prefix+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+u.token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		u.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

func (u *upProcess) journal() []journal.Event {
	u.t.Helper()
	events, err := journal.ReadFile(filepath.Join(u.dir, "journal.jsonl"))
	if err != nil {
		u.t.Fatal(err)
	}
	return events
}

func eventually(t *testing.T, bound time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", bound, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

const east = "dynamodb.us-east-1.amazonaws.com"

// The verbs against a real `faultline up`: inject, status, heal, events,
// down; bad input is exit 2, no live run exit 3; the token file is the
// owner's only; afterwards `faultline report` renders the game day with
// who did what.
func TestUpCLIVerbsAndReport(t *testing.T) {
	t.Parallel()
	u := startUp(t)
	if info, err := os.Stat(u.state.TokenFile); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("token file %s: %v, mode %v, want 0600", u.state.TokenFile, err, info.Mode().Perm())
	}
	code, out := u.verb("inject", "dns.empty", east, "--for", "1m")
	if code != 0 || !strings.Contains(out, "applied f1: dns.empty on "+east+".; it heals by itself after 1m0s") {
		t.Fatalf("inject: %d %s", code, out)
	}
	code, out = u.verb("inject", "dns.delay", "dynamodb.us-west-2.amazonaws.com", "--param", "delay=100ms")
	if code != 0 || !strings.Contains(out, "no `for` was given, so it heals by itself after the default bound of 10m0s") {
		t.Errorf("inject without --for: %d %s", code, out)
	}
	code, out = u.verb("status")
	if code != 0 || !strings.Contains(out, "f1       dns.empty") || !strings.Contains(out, "api:tester") || !strings.Contains(out, "f2       dns.delay") {
		t.Errorf("status: %d %s", code, out)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"inject", "dns.gone", east}, `kind: unknown kind "dns.gone"; expected one of: ddb.replication-lag, ddb.replication-pause, dns.delay`},
		{[]string{"inject", "dns.delay", east, "--param", "delay=soon"}, `params.delay: parameter "delay": expected a duration like 250ms or 2s, got "soon"`},
		{[]string{"inject", "dns.empty", "dynamodb.mars-1.amazonaws.com"}, "target: dns.empty acts on an endpoint name"},
		{[]string{"inject", "dns.empty", east, "--for", "25h"}, "for: 25h0m0s is past the maximum bound of 24h0m0s"},
		{[]string{"inject", "dns.empty", east, "--param", "nonsense"}, "expected NAME=VALUE"},
		{[]string{"inject", "dns.empty"}, "usage: faultline inject"},
		{[]string{"heal", "f9"}, `id: no fault "f9" was applied`},
		{[]string{"heal"}, "usage: faultline heal"},
	} {
		code, out := u.verb(c.args...)
		if code != exitUsage || !strings.Contains(out, c.want) {
			t.Errorf("faultline %v: exit %d, want 2, with %q:\n%s", c.args, code, c.want, out)
		}
	}
	if code, out := u.verb("heal", "f1"); code != 0 || !strings.Contains(out, "healed f1") {
		t.Errorf("heal f1: %d %s", code, out)
	}
	if code, out := u.verb("heal", "f1"); code != exitUsage || !strings.Contains(out, "fault f1 is healed already (by api:tester") {
		t.Errorf("heal f1 again: %d %s", code, out)
	}
	code, out = u.verb("events", "--types", "fault.applied,fault.healed")
	if code != 0 || !strings.Contains(out, "fault.applied f1 dns.empty on "+east+" by api:tester from 127.0.0.1:") ||
		!strings.Contains(out, "fault.healed f1 dns.empty on "+east+" by api:tester") {
		t.Errorf("events: %d %s", code, out)
	}
	if code, out := u.verb("events", "--json", "--types", "fault.applied"); code != 0 || !strings.Contains(out, `"by":"api:tester"`) {
		t.Errorf("events --json: %d %s", code, out)
	}
	if code, out := u.verb("down"); code != 0 || !strings.Contains(out, "the world is down") {
		t.Fatalf("down: %d %s", code, out)
	}
	if code := u.wait(60 * time.Second); code != 0 {
		t.Errorf("faultline up exited %d after down, want 0", code)
	}
	for _, f := range []string{control.StateFile, control.TokenFile} {
		if _, err := os.Stat(filepath.Join(u.dir, f)); !os.IsNotExist(err) {
			t.Errorf("%s outlived the world: %v", f, err)
		}
	}
	if code, out := u.verb("status"); code != exitBrokenRun || !strings.Contains(out, "no live run in") {
		t.Errorf("status after down: %d %s", code, out)
	}
	// f2 was left on: down healed it, as the journal says.
	var healedF2 string
	for _, e := range u.journal() {
		if e.Type == journal.FaultHealed && e.Fault == "f2" {
			healedF2 = e.By
		}
	}
	if healedF2 != "rollback" {
		t.Errorf("f2 healed by %q, want rollback (down heals everything)", healedF2)
	}
	code, out = faultline(t, "report", u.dir)
	if code != 0 || !strings.Contains(out, "fault f1 dns.empty on "+east+". from") || !strings.Contains(out, "(applied by api:tester, healed by api:tester)") ||
		!strings.Contains(out, "(applied by api:tester, healed by rollback)") {
		t.Errorf("report of the game day: %d %s", code, out)
	}
	code, out = faultline(t, "report", "--format", "md", u.dir)
	if !strings.Contains(out, "| api:tester | api:tester |") {
		t.Errorf("report.md of the game day: %d %s", code, out)
	}
}

// The emergency stop: one call heals every active fault.
func TestUpEmergencyStop(t *testing.T) {
	t.Parallel()
	u := startUp(t)
	for _, f := range [][]string{{"dns.empty", east}, {"dns.servfail", "dynamodb.us-west-2.amazonaws.com"}, {"link.latency", "us-east-1", "--param", "latency=50ms"}} {
		if code, out := u.verb(append([]string{"inject"}, append(f, "--for", "5m")...)...); code != 0 {
			t.Fatalf("inject %v: %d %s", f, code, out)
		}
	}
	code, out := u.verb("heal", "--all")
	if code != 0 || !strings.Contains(out, "healed 3 faults: f1, f2, f3") {
		t.Fatalf("heal --all: %d %s", code, out)
	}
	if code, out := u.verb("status"); code != 0 || !strings.Contains(out, "no fault is active") {
		t.Errorf("status after the emergency stop: %d %s", code, out)
	}
	if code, out := u.verb("heal", "--all"); code != 0 || !strings.Contains(out, "no fault was active") {
		t.Errorf("heal --all again: %d %s", code, out)
	}
	u.cmd.Process.Signal(syscall.SIGTERM)
	if code := u.wait(60 * time.Second); code != 0 {
		t.Errorf("faultline up exited %d on SIGTERM, want 0", code)
	}
	var healed []string
	stop := 0
	for _, e := range u.journal() {
		if e.Type == journal.FaultHealed {
			healed = append(healed, e.Fault+" by "+e.By)
		}
		if e.Type == journal.Control && e.Op == "heal-all" && e.By == "api:tester" {
			stop++
		}
	}
	if strings.Join(healed, ", ") != "f3 by api:tester, f2 by api:tester, f1 by api:tester" || stop != 2 {
		t.Errorf("healed: %v; heal-all control events: %d, want 2", healed, stop)
	}
}

// A fault's bound heals it though the client that applied it was killed
// with SIGKILL while it waited.
func TestUpBoundHealsAfterTheCallerIsKilled(t *testing.T) {
	t.Parallel()
	u := startUp(t)
	inject := exec.Command(binary, "inject", "dns.empty", east, "--for", "2s", "--wait", "--run", u.dir)
	var out bytes.Buffer
	inject.Stdout, inject.Stderr = &out, &out
	if err := inject.Start(); err != nil {
		t.Fatal(err)
	}
	var f control.FaultView
	eventually(t, 30*time.Second, "the fault to be active", func() bool {
		code, data := u.api("GET", "/faults/f1", "")
		return code == 200 && json.Unmarshal(data, &f) == nil && f.State == "active"
	})
	inject.Process.Signal(syscall.SIGKILL)
	inject.Wait()
	eventually(t, 30*time.Second, "the fault to heal at its bound", func() bool {
		code, data := u.api("GET", "/faults/f1", "")
		return code == 200 && json.Unmarshal(data, &f) == nil && f.State == "healed"
	})
	if f.HealedBy != "bound" || !strings.Contains(f.HealedWhy, "bound of 2s reached") {
		t.Errorf("healed by %q (%s), want bound", f.HealedBy, f.HealedWhy)
	}
	// At its bound: not before, and not long after (a loaded machine's
	// timers are late, never early).
	if held := *f.HealedMS - f.AppliedMS; held < 1990 || held > 12000 {
		t.Errorf("the fault was on %.0f ms, want its bound, 2000 ms", held)
	}
	if code, out := u.verb("down"); code != 0 {
		t.Fatalf("down: %d %s", code, out)
	}
	u.wait(60 * time.Second)
	n := 0
	for _, e := range u.journal() {
		if e.Type == journal.FaultHealed && e.Fault == "f1" {
			n++
			if e.By != "bound" {
				t.Errorf("journal: f1 healed by %q, want bound", e.By)
			}
		}
	}
	if n != 1 {
		t.Errorf("f1 healed %d times in the journal, want once", n)
	}
}

// Bad input on every route of a real process: a JSON error that says what
// was expected, and nothing applied.
func TestUpAPIBadInput(t *testing.T) {
	t.Parallel()
	u := startUp(t)
	if code, _ := u.api("POST", "/faults", `{"id":"ok","kind":"dns.empty","target":"`+east+`","for":"1m"}`); code != 201 {
		t.Fatalf("apply: %d", code)
	}
	if code, _ := u.api("DELETE", "/faults/ok", ""); code != 200 {
		t.Fatalf("heal: %d", code)
	}
	cases := []struct {
		method, path, body string
		hdr                []string
		status             int
		field, msg         string
	}{
		{"GET", "/world", "", []string{"Authorization", ""}, 401, "Authorization", "no token"},
		{"GET", "/kinds", "", []string{"Authorization", "Bearer wrong"}, 401, "Authorization", "wrong token"},
		{"POST", "/faults", `{"kind":"dns.gone","target":"` + east + `"}`, nil, 400, "kind", `unknown kind "dns.gone"`},
		{"POST", "/faults", `{"kind":"dns.delay","target":"` + east + `","params":{"delay":"soon"}}`, nil, 400, "params.delay", "expected a duration"},
		{"POST", "/faults", `{"kind":"dns.empty","target":"nowhere.example.com"}`, nil, 400, "target", "expected one of: " + east},
		{"POST", "/faults", `{"kind":"dns.empty","target":"` + east + `","for":"48h"}`, nil, 400, "for", "past the maximum bound of 24h0m0s"},
		{"POST", "/faults", `{"kind":"dns.empty","target":"` + strings.Repeat("x", 100<<10) + `"}`, nil, 413, "", "larger than 65536 bytes"},
		{"GET", "/faults/nope", "", nil, 404, "id", `no fault "nope"`},
		{"DELETE", "/faults/nope", "", nil, 404, "id", `no fault "nope"`},
		{"DELETE", "/faults/ok", "", nil, 409, "id", "healed already"},
		{"POST", "/heal-all", "", []string{"Authorization", ""}, 401, "Authorization", "no token"},
		{"GET", "/clients", "", []string{"Authorization", "Token x"}, 401, "Authorization", "Bearer"},
		{"GET", "/events?after=x", "", nil, 400, "after", "expected an event id"},
		{"POST", "/apps", `{"name":"x","argv":["true"]}`, nil, 409, "", "not in faultline's sandbox"},
		{"GET", "/apps/nope", "", nil, 404, "name", "no program"},
		{"POST", "/shutdown", "", []string{"Authorization", ""}, 401, "Authorization", "no token"},
	}
	for _, c := range cases {
		code, data := u.api(c.method, c.path, c.body, c.hdr...)
		var eb control.ErrorBody
		if code != c.status || json.Unmarshal(data, &eb) != nil || eb.Error.Field != c.field || !strings.Contains(eb.Error.Message, c.msg) {
			t.Errorf("%s %s: %d %s; want %d, field %q, a message with %q", c.method, c.path, code, data, c.status, c.field, c.msg)
		}
	}
	if code, data := u.api("GET", "/faults", ""); code != 200 || !strings.Contains(string(data), `"faults": []`) {
		t.Errorf("bad input applied something: %s", data)
	}
}

// The event stream of a real process resumes after the last event read.
func TestUpEventsResume(t *testing.T) {
	t.Parallel()
	u := startUp(t)
	cl := &control.Client{Base: u.state.API, Token: u.token, HTTP: &http.Client{}}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Read what is retained: the last id.
	last := ""
	if err := cl.Events(ctx, "follow=false", "0", func(e control.SSE) bool {
		if e.Event == "" {
			last = e.ID
		}
		return true
	}); err != nil || last == "" {
		t.Fatalf("events: %v, last %q", err, last)
	}
	// Faults while the reader is away.
	u.verb("inject", "dns.empty", east, "--for", "1m")
	u.verb("heal", "f1")
	var got []string
	if err := cl.Events(ctx, "follow=false&types=fault.applied,fault.healed", last, func(e control.SSE) bool {
		if e.Event == "" {
			var se control.StreamEvent
			json.Unmarshal([]byte(e.Data), &se)
			got = append(got, fmt.Sprintf("%s %s %s", se.Type, se.Fault, se.By))
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, "; ") != "fault.applied f1 api:tester; fault.healed f1 api:tester" {
		t.Errorf("resumed after %s: %v", last, got)
	}
	// Following: an event applied now arrives.
	done := make(chan string, 1)
	go func() {
		cl.Events(ctx, "types=fault.applied", "", func(e control.SSE) bool {
			if e.Event == "" && strings.Contains(e.Data, `"fault":"f2"`) {
				done <- e.Data
				return false
			}
			return true
		})
	}()
	eventually(t, 30*time.Second, "the followed fault", func() bool {
		u.verb("inject", "dns.empty", east, "--for", "1m", "--id", "f2")
		select {
		case <-done:
			return true
		default:
			return false
		}
	})
}

func TestUpRefusesARemoteListenAddress(t *testing.T) {
	t.Parallel()
	code, out := faultline(t, "up", "--out", t.TempDir(), "--listen", "0.0.0.0:0")
	if code != exitUsage || !strings.Contains(out, "is not a loopback address") || !strings.Contains(out, "--allow-remote") {
		t.Errorf("up --listen 0.0.0.0:0: %d %s", code, out)
	}
	if code, out := faultline(t, "status", "--run", t.TempDir()); code != exitBrokenRun || !strings.Contains(out, "no live run") {
		t.Errorf("status without a live run: %d %s", code, out)
	}
}

// faultline exec starts a program in the live sandbox: its own DNS relay,
// the environment of an application, its outcome lines journaled as a
// client, its exit status returned.
func TestUpExecInTheSandbox(t *testing.T) {
	if err := sandbox.Check(); err != nil {
		t.Skip(err)
	}
	t.Parallel()
	u := startUp(t, "--sandbox")
	script := writeFile(t, "app.sh", `#!/bin/sh
grep nameserver /etc/resolv.conf
echo "endpoint $FAULTLINE_ENDPOINT_US_EAST_1"
for i in 1 2 3 4 5; do
  echo "{\"time\": $(date +%s.%N), \"operation\": \"GetItem\", \"region\": \"us-east-1\", \"ok\": true, \"latency_ms\": 1.5}"
done
echo done >&2
exit 7
`)
	os.Chmod(script, 0o755)
	code, out := faultline(t, "exec", "--run", u.dir, "--name", "shop", "--", script)
	if code != 7 || !strings.Contains(out, "nameserver 127.53.") || !strings.Contains(out, "endpoint https://dynamodb.us-east-1.amazonaws.com") ||
		!strings.Contains(out, "shop ended (exit status 7)") {
		t.Errorf("exec: %d %s", code, out)
	}
	var cl control.ClientList
	eventually(t, 30*time.Second, "shop's requests in /clients", func() bool {
		_, data := u.api("GET", "/clients", "")
		json.Unmarshal(data, &cl)
		for _, c := range cl.Clients {
			if c.Name == "shop" && c.Requests == 5 {
				return true
			}
		}
		return false
	})
	if code, out := u.verb("down"); code != 0 {
		t.Fatalf("down: %d %s", code, out)
	}
	u.wait(60 * time.Second)
	var report struct {
		Clients []struct {
			Name     string `json:"name"`
			Requests int    `json:"requests"`
		} `json:"clients"`
	}
	data, _ := os.ReadFile(filepath.Join(u.dir, "report.json"))
	json.Unmarshal(data, &report)
	found := false
	for _, c := range report.Clients {
		found = found || (c.Name == "shop" && c.Requests == 5)
	}
	if !found {
		t.Errorf("report.json has no client shop with 5 requests: %s", data)
	}
}

// The live world's other faces on a real `faultline up`: the dashboard at
// / and Prometheus metrics at /metrics behind the run's token, and
// toxiproxy's own API over the links (--toxiproxy-api) driven with
// toxiproxy's Go client, each change journaled.
// A live world with a global table says so to the applications that
// ask it: what a failover can cost them depends on it.
func TestUpWorldSaysItsGlobalTable(t *testing.T) {
	t.Parallel()
	u := startUp(t, "dynamodb-global-table-failover")
	code, body := u.api("GET", "/world", "")
	var world control.World
	if code != 200 || json.Unmarshal(body, &world) != nil {
		t.Fatalf("world: %d %s", code, body)
	}
	if world.Table == "" || world.Global == nil || world.Global.Consistency != "eventual" || world.Global.ReplicationLagMS <= 0 {
		t.Fatalf("world of a global table: table %q, global %+v; want an eventual global table with its lag\n%s", world.Table, world.Global, body)
	}
}

func TestUpDashboardMetricsAndToxiproxyAPI(t *testing.T) {
	t.Parallel()
	u := startUp(t, "--toxiproxy-api", "127.0.0.1:0")
	get := func(path string, auth bool) (int, string) {
		req, _ := http.NewRequest("GET", u.state.API+path, nil)
		if auth {
			req.Header.Set("Authorization", "Bearer "+u.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(data)
	}
	if code, _ := get("/metrics", false); code != http.StatusUnauthorized {
		t.Errorf("/metrics without the token: %d, want 401", code)
	}
	if code, _ := get("/", false); code != http.StatusUnauthorized {
		t.Errorf("/ without the token: %d, want 401", code)
	}
	if code, page := get("/", true); code != 200 || !strings.Contains(page, control.Prefix+"/events") || !strings.Contains(page, defaultWorldName) {
		t.Errorf("the dashboard: %d, want a page titled %s that streams %s/events:\n%.300s", code, defaultWorldName, control.Prefix, page)
	}

	code, body := u.api("GET", "/world", "")
	var world control.World
	if code != 200 || json.Unmarshal(body, &world) != nil || world.ToxiproxyAPI == "" {
		t.Fatalf("world: %d %s; want toxiproxy_api", code, body)
	}
	proxies, err := toxiproxy.NewClient(world.ToxiproxyAPI).Proxies()
	if err != nil || len(proxies) == 0 {
		t.Fatalf("toxiproxy's client listing the links: %v, %d proxies", err, len(proxies))
	}
	var link *toxiproxy.Proxy
	for _, p := range proxies {
		link = p
		break
	}
	if _, err := link.AddToxic("slow", "latency", "downstream", 1, toxiproxy.Attributes{"latency": 50}); err != nil {
		t.Fatalf("adding a toxic through toxiproxy's client: %v", err)
	}
	if err := link.RemoveToxic("slow"); err != nil {
		t.Fatalf("removing it: %v", err)
	}
	code, out := u.verb("inject", "dns.empty", east, "--for", "1m")
	if code != 0 {
		t.Fatalf("inject: %d %s", code, out)
	}
	// A query from no client of the world (this test) is counted as
	// name="other", with the fault's NODATA.
	q := new(dns.Msg).SetQuestion(east+".", dns.TypeA)
	if _, _, err := new(dns.Client).Exchange(q, world.DNS); err != nil {
		t.Fatalf("asking the world's DNS server: %v", err)
	}
	var metrics string
	want := []string{`faultline_faults_applied_total{kind="dns.empty"} 1`, `faultline_link_toxic_changes_total{action="added"`,
		`faultline_dns_answers_total{name="other",rcode="NODATA",server="authoritative",shaped="unknown"} 1`}
	deadline := time.Now().Add(30 * time.Second)
	for missing := want; len(missing) > 0; {
		if time.Now().After(deadline) {
			t.Fatalf("/metrics lacks %q after 30s:\n%s", missing, metrics)
		}
		time.Sleep(100 * time.Millisecond)
		_, metrics = get("/metrics", true)
		missing = nil
		for _, w := range want {
			if !strings.Contains(metrics, w) {
				missing = append(missing, w)
			}
		}
	}
	if code, out := u.verb("down"); code != 0 {
		t.Fatalf("down: %d %s", code, out)
	}
	if code := u.wait(60 * time.Second); code != 0 {
		t.Errorf("faultline up exited %d after down, want 0", code)
	}
	var toxics []string
	for _, e := range u.journal() {
		if e.Type == journal.LinkToxic {
			toxics = append(toxics, e.Status+" by "+e.By)
		}
	}
	if strings.Join(toxics, ", ") != "added by toxiproxy-api, removed by toxiproxy-api" {
		t.Errorf("link.toxic events: %v, want the toxic added and removed by toxiproxy-api", toxics)
	}
}

// --toxiproxy-api has no token, so it is loopback only.
func TestUpRefusesARemoteToxiproxyAPI(t *testing.T) {
	t.Parallel()
	code, out := faultline(t, "up", "--out", t.TempDir(), "--toxiproxy-api", "0.0.0.0:8474")
	if code != exitUsage || !strings.Contains(out, "--toxiproxy-api") || !strings.Contains(out, "not on loopback") {
		t.Errorf("up --toxiproxy-api 0.0.0.0:8474: exit %d, want 2 saying it is not on loopback:\n%s", code, out)
	}
}
