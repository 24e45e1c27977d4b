package faultline_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/faultline-dev/faultline/experiments/control"
	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/targets/dnsstub"
	"github.com/faultline-dev/faultline/targets/tempdirs"
)

// The system tests: the CoreDNS that `make coredns` builds, on loopback,
// forwarding to faultline's own DNS server standing in for Route 53, its
// plugin following a real `faultline up`, asked by dig from chosen
// loopback addresses.

const (
	endpoint = "dynamodb.us-east-1.amazonaws.com."
	address  = "3.218.182.10" // the upstream's answer (never dialled)
	faulted  = "127.0.0.201"  // the client address the faults select
	bystand  = "127.0.0.202"  // another client
)

// corednsBinary is the plugin-enabled CoreDNS: $FAULTLINE_COREDNS_PLUGIN,
// or where `make coredns` puts it.
func corednsBinary(t *testing.T) string {
	t.Helper()
	p := os.Getenv("FAULTLINE_COREDNS_PLUGIN")
	if p == "" {
		home, _ := os.UserHomeDir()
		p = filepath.Join(home, ".cache", "faultline", "coredns-faultline-v1.15.0", "coredns")
	}
	if _, err := os.Stat(p); err != nil {
		t.Skipf("no CoreDNS with the faultline plugin at %s (build it with `make coredns`, about 4 minutes; FAULTLINE_COREDNS_PLUGIN names another): %v", p, err)
	}
	if _, err := exec.LookPath("dig"); err != nil {
		t.Skip("no dig (apt-get install bind9-dnsutils)")
	}
	return p
}

var (
	buildOnce sync.Once
	built     string
	buildErr  error
)

// faultlineBinary builds faultline from the main module (../../../.. from
// here), once per test binary.
func faultlineBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := tempdirs.Make("", "cli") // a test's faultline binary, as the CLI tests'
		if err != nil {
			buildErr = err
			return
		}
		built = filepath.Join(dir, "faultline")
		cmd := exec.Command("go", "build", "-o", built, "./cmd/faultline")
		cmd.Dir = filepath.Join("..", "..", "..", "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/faultline: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return built
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built != "" {
		os.RemoveAll(filepath.Dir(built))
	}
	os.Exit(code)
}

// upstream stands in for Route 53: the amazonaws.com zone with the
// endpoint's A record.
func upstream(t *testing.T) *dnsstub.Server {
	t.Helper()
	s, err := dnsstub.Start(dnsstub.Config{Zones: []dnsstub.Zone{{Origin: "amazonaws.com.", SOA: dnsstub.SOA{Minimum: 60, TTL: 900}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.SetRecords(endpoint, dns.TypeA, 60, []string{address}); err != nil {
		t.Fatal(err)
	}
	return s
}

// freePorts are n distinct ports free on 127.0.0.1 for UDP and TCP just
// now (each held until all are found, so none is handed out twice).
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var held []io.Closer
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	var out []int
	for tries := 0; len(out) < n && tries < 100; tries++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, ln)
		port := ln.Addr().(*net.TCPAddr).Port
		if pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			held = append(held, pc)
			out = append(out, port)
		}
	}
	if len(out) < n {
		t.Fatal("no free ports")
	}
	return out
}

// coreDNS is a running CoreDNS.
type coreDNS struct {
	t       *testing.T
	cmd     *exec.Cmd
	port    int
	metrics string // its prometheus plugin's address
	mu      sync.Mutex
	log     bytes.Buffer
	exited  chan error
}

// startCoreDNS runs CoreDNS with a server block on 127.0.0.1: the given
// faultline block, cache, forward to the upstream, prometheus.
func startCoreDNS(t *testing.T, faultlineBlock string, up *dnsstub.Server) *coreDNS {
	t.Helper()
	bin := corednsBinary(t)
	ports := freePorts(t, 2)
	c := &coreDNS{t: t, port: ports[0], metrics: fmt.Sprintf("127.0.0.1:%d", ports[1]), exited: make(chan error, 1)}
	corefile := fmt.Sprintf(".:%d {\n    bind 127.0.0.1\n%s\n    cache 30\n    forward . %s\n    prometheus %s\n}\n", c.port, faultlineBlock, up.Addr(), c.metrics)
	path := filepath.Join(t.TempDir(), "Corefile")
	if err := os.WriteFile(path, []byte(corefile), 0o644); err != nil {
		t.Fatal(err)
	}
	c.cmd = exec.Command(bin, "-conf", path)
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // gone with the test, even one that panics
	pr, pw := io.Pipe()
	c.cmd.Stdout, c.cmd.Stderr = pw, pw
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			c.mu.Lock()
			c.log.WriteString(sc.Text() + "\n")
			c.mu.Unlock()
		}
	}()
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { err := c.cmd.Wait(); pw.Close(); c.exited <- err }()
	t.Cleanup(func() {
		c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-c.exited:
			c.exited <- err
		case <-time.After(20 * time.Second):
			c.cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("CoreDNS's log:\n%s", c.output())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		if a := c.dig(bystand, "A"); a.status != "" {
			break
		}
		select {
		case err := <-c.exited:
			c.exited <- err
			t.Fatalf("CoreDNS exited: %v\n%s\n%s", err, corefile, c.output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("CoreDNS does not answer after 60s:\n%s", c.output())
		}
		time.Sleep(200 * time.Millisecond)
	}
	return c
}

func (c *coreDNS) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.log.String()
}

// answer is what dig printed.
type answer struct {
	status    string   // NOERROR, NXDOMAIN, ... ("" when dig got no answer)
	answers   []string // the answer section's rdata
	authority []string // the authority section's record types
	queryMS   int
	raw       string
}

var (
	statusRE = regexp.MustCompile(`status: ([A-Z]+)`)
	timeRE   = regexp.MustCompile(`Query time: (\d+) msec`)
)

// dig asks CoreDNS for the endpoint from a source address.
func (c *coreDNS) dig(from, qtype string) answer {
	c.t.Helper()
	out, _ := exec.Command("dig", "-b", from, "@127.0.0.1", "-p", strconv.Itoa(c.port), endpoint, qtype,
		"+tries=1", "+time=8", "+noall", "+comments", "+answer", "+authority", "+stats").CombinedOutput()
	a := answer{raw: string(out)}
	if m := statusRE.FindStringSubmatch(a.raw); m != nil {
		a.status = m[1]
	}
	if m := timeRE.FindStringSubmatch(a.raw); m != nil {
		a.queryMS, _ = strconv.Atoi(m[1])
	}
	section := ""
	for _, line := range strings.Split(a.raw, "\n") {
		switch {
		case strings.HasPrefix(line, ";; ANSWER SECTION"):
			section = "answer"
		case strings.HasPrefix(line, ";; AUTHORITY SECTION"):
			section = "authority"
		case line == "" || strings.HasPrefix(line, ";"):
			if line == "" {
				section = ""
			}
		default:
			f := strings.Fields(line)
			if len(f) >= 5 && section == "answer" {
				a.answers = append(a.answers, f[4])
			}
			if len(f) >= 4 && section == "authority" {
				a.authority = append(a.authority, f[3])
			}
		}
	}
	return a
}

func (a answer) normal() bool {
	return a.status == "NOERROR" && len(a.answers) == 1 && a.answers[0] == address
}

func (a answer) String() string {
	return fmt.Sprintf("%s answers %v authority %v in %d ms", a.status, a.answers, a.authority, a.queryMS)
}

// eventually polls cond for up to bound (generous: a busy machine).
func eventually(t *testing.T, bound time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; last: %s", what, bound, last)
		}
		time.Sleep(150 * time.Millisecond)
	}
}

// up is a running `faultline up`.
type up struct {
	t      *testing.T
	cmd    *exec.Cmd
	dir    string
	state  control.State
	token  string
	exited chan error
}

func startUp(t *testing.T) *up {
	t.Helper()
	bin := faultlineBinary(t)
	u := &up{t: t, dir: filepath.Join(t.TempDir(), "run"), exited: make(chan error, 1)}
	u.cmd = exec.Command(bin, "up", "--out", u.dir, "--operator", "tester")
	u.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // gone with the test, even one that panics
	var out bytes.Buffer
	u.cmd.Stdout, u.cmd.Stderr = &out, &out
	if err := u.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { u.exited <- u.cmd.Wait() }()
	t.Cleanup(func() { u.stop(syscall.SIGTERM) })
	deadline := time.Now().Add(90 * time.Second)
	for {
		st, err := control.ReadState(u.dir)
		if err == nil {
			u.state = st
			break
		}
		select {
		case err := <-u.exited:
			u.exited <- err
			t.Fatalf("faultline up exited: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("faultline up: no live state after 90s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	tok, err := control.ReadToken(u.state.TokenFile)
	if err != nil {
		t.Fatal(err)
	}
	u.token = tok
	return u
}

func (u *up) stop(sig syscall.Signal) {
	if u.cmd.ProcessState != nil {
		return
	}
	u.cmd.Process.Signal(sig)
	select {
	case err := <-u.exited:
		u.exited <- err
	case <-time.After(60 * time.Second):
		u.cmd.Process.Kill()
	}
}

func (u *up) api(method, path, body string) (int, string) {
	u.t.Helper()
	req, _ := http.NewRequest(method, u.state.API+control.Prefix+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+u.token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		u.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

func (u *up) apply(id, kind string, params map[string]string) {
	u.t.Helper()
	var ps []string
	for k, v := range params {
		ps = append(ps, fmt.Sprintf("%q: %q", k, v))
	}
	body := fmt.Sprintf(`{"id": %q, "kind": %q, "target": "dynamodb.us-east-1.amazonaws.com", "for": "5m", "params": {%s}}`, id, kind, strings.Join(ps, ", "))
	if code, data := u.api("POST", "/faults", body); code != 201 {
		u.t.Fatalf("apply %s: %d %s", kind, code, data)
	}
}

func (u *up) heal(id string) {
	u.t.Helper()
	if code, data := u.api("DELETE", "/faults/"+id, ""); code != 200 {
		u.t.Fatalf("heal %s: %d %s", id, code, data)
	}
}

// journaled are the dns.query events of CoreDNS instance inst for fault.
func (u *up) journaled(inst, fault string) []journal.Event {
	events, _ := journal.ReadFile(filepath.Join(u.dir, "journal.jsonl"))
	var out []journal.Event
	for _, e := range events {
		if e.Type == journal.DNSQuery && e.Detail == control.ServerPrefix+inst && e.Fault == fault {
			out = append(out, e)
		}
	}
	return out
}

func controlBlock(u *up) string {
	return fmt.Sprintf("    faultline {\n        control %s\n        token_file %s\n        instance test-coredns\n    }", u.state.API, u.state.TokenFile)
}

// The acceptance: each DNS fault applied by `faultline up` for one
// client address shapes that client's answers in CoreDNS and no other's,
// the heal restores them at once, and the shaped answers are in up's
// journal; with up gone, CoreDNS answers normally.
func TestCoreDNSFollowsFaultlineUp(t *testing.T) {
	corednsBinary(t)
	u := startUp(t)
	c := startCoreDNS(t, controlBlock(u), upstream(t))
	if a := c.dig(faulted, "A"); !a.normal() {
		t.Fatalf("before any fault: %s, want %s", a, address)
	}

	cases := []struct {
		id, kind string
		params   map[string]string
		shaped   func(answer) bool
		want     string
	}{
		{"empty", "dns.empty", nil, func(a answer) bool {
			return a.status == "NOERROR" && len(a.answers) == 0 && len(a.authority) == 1 && a.authority[0] == "SOA"
		}, "NODATA with the SOA"},
		{"nx", "dns.nxdomain", nil, func(a answer) bool {
			return a.status == "NXDOMAIN" && len(a.answers) == 0 && len(a.authority) == 1 && a.authority[0] == "SOA"
		}, "NXDOMAIN with the SOA"},
		{"fail", "dns.servfail", nil, func(a answer) bool { return a.status == "SERVFAIL" && len(a.answers) == 0 }, "SERVFAIL"},
		// A delay's floor only: a busy machine adds, never removes.
		{"slow", "dns.delay", map[string]string{"delay": "1500ms"}, func(a answer) bool { return a.normal() && a.queryMS >= 1400 }, "the answer after 1.5 s"},
	}
	for _, tc := range cases {
		t.Run(tc.kind, func(t *testing.T) {
			params := map[string]string{"client": faulted}
			for k, v := range tc.params {
				params[k] = v
			}
			u.apply(tc.id, tc.kind, params)
			var last answer
			eventually(t, 30*time.Second, tc.kind+" reaching CoreDNS", func() (bool, string) {
				last = c.dig(faulted, "A")
				return tc.shaped(last), last.String()
			})
			if a := c.dig(bystand, "A"); !a.normal() {
				t.Errorf("%s for %s: %s got %s, want the real answer", tc.kind, faulted, bystand, a)
			}
			u.heal(tc.id)
			eventually(t, 30*time.Second, "the heal of "+tc.kind, func() (bool, string) {
				a := c.dig(faulted, "A")
				return a.normal() && a.queryMS < 1400, a.String()
			})
			// The shaped answers are in up's journal, from the client's address.
			eventually(t, 30*time.Second, "the shaped answers in the journal", func() (bool, string) {
				evs := u.journaled("test-coredns", tc.id)
				for _, e := range evs {
					if strings.HasPrefix(e.Addr, faulted+":") && e.Name == endpoint && e.QType == "A" && e.Rcode == last.status {
						return true, ""
					}
				}
				return false, fmt.Sprintf("%d events: %+v", len(evs), evs)
			})
		})
	}

	t.Run("events and Prometheus", func(t *testing.T) {
		// `faultline events` prints them, told apart by their server.
		out, err := exec.Command(faultlineBinary(t), "events", "--types", "dns.query", "--run", u.dir).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "dynamodb.us-east-1.amazonaws.com. A NXDOMAIN fault nx coredns:test-coredns") {
			t.Errorf("faultline events: %v\n%s\nwant the NXDOMAIN shaped by nx in CoreDNS test-coredns", err, out)
		}
		// Prometheus counts them under server="coredns".
		req, _ := http.NewRequest("GET", u.state.API+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+u.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !regexp.MustCompile(`dns_answers_total\{name="dynamodb.us-east-1.amazonaws.com",rcode="NXDOMAIN",server="coredns",shaped="true"\} [1-9]`).Match(data) {
			t.Errorf("up's /metrics has no series of server=\"coredns\":\n%s", grepLines(string(data), "dns"))
		}
	})

	t.Run("dns.flap", func(t *testing.T) {
		u.apply("flap", "dns.flap", map[string]string{"client": faulted, "with": "dns.nxdomain", "period": "2s", "duty": "0.5"})
		sawFault, sawNormal := false, false
		eventually(t, 40*time.Second, "both phases of the flap", func() (bool, string) {
			a := c.dig(faulted, "A")
			sawFault = sawFault || a.status == "NXDOMAIN"
			sawNormal = sawNormal || a.normal()
			if b := c.dig(bystand, "A"); !b.normal() {
				t.Errorf("flap for %s: %s got %s", faulted, bystand, b)
			}
			return sawFault && sawNormal, fmt.Sprintf("fault seen %v, normal seen %v (last %s)", sawFault, sawNormal, a)
		})
		u.heal("flap")
		eventually(t, 30*time.Second, "the flap's heal", func() (bool, string) {
			// Normal several times in a row: past a flap's normal phase.
			for range 6 {
				if a := c.dig(faulted, "A"); !a.normal() {
					return false, a.String()
				}
				time.Sleep(200 * time.Millisecond)
			}
			return true, ""
		})
		eventually(t, 30*time.Second, "the flap's answers in the journal", func() (bool, string) {
			evs := u.journaled("test-coredns", "flap")
			for _, e := range evs {
				if e.Rcode == "NXDOMAIN" {
					return true, ""
				}
			}
			return false, fmt.Sprintf("%+v", evs)
		})
		// Its normal phase is not reported as shaped.
		for _, e := range u.journaled("test-coredns", "flap") {
			if e.Rcode != "NXDOMAIN" {
				t.Errorf("an answer of the flap's normal phase was reported as shaped: %+v", e)
			}
		}
	})

	t.Run("prompt shutdown", func(t *testing.T) {
		// A long poll in flight must not hold CoreDNS's shutdown (or a
		// reload) for its 25 s.
		c2 := startCoreDNS(t, controlBlock(u), upstream(t))
		eventually(t, 30*time.Second, "the second CoreDNS following up", func() (bool, string) {
			return strings.Contains(c2.output(), "following the DNS faults of"), c2.output()
		})
		time.Sleep(time.Second) // its long poll is waiting now
		start := time.Now()
		c2.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-c2.exited:
			c2.exited <- err
			if d := time.Since(start); d > 15*time.Second {
				t.Errorf("CoreDNS took %s to stop", d)
			}
		case <-time.After(20 * time.Second):
			t.Error("CoreDNS did not stop within 20 s of SIGTERM: the plugin's long poll held it")
		}
	})

	t.Run("control gone", func(t *testing.T) {
		// A fault applied, then up killed without a heal: CoreDNS must
		// not keep faulting by accident.
		u.apply("orphan", "dns.servfail", map[string]string{"client": faulted})
		eventually(t, 30*time.Second, "the fault reaching CoreDNS", func() (bool, string) {
			a := c.dig(faulted, "A")
			return a.status == "SERVFAIL", a.String()
		})
		u.stop(syscall.SIGKILL)
		eventually(t, 60*time.Second, "normal answers with the control API gone", func() (bool, string) {
			a := c.dig(faulted, "A")
			return a.normal(), a.String()
		})
		if a := c.dig(bystand, "A"); !a.normal() {
			t.Errorf("%s with the control API gone: %s", bystand, a)
		}
		eventually(t, 30*time.Second, "coredns_faultline_control_up 0", func() (bool, string) {
			resp, err := http.Get("http://" + c.metrics + "/metrics")
			if err != nil {
				return false, err.Error()
			}
			defer resp.Body.Close()
			data, _ := io.ReadAll(resp.Body)
			return bytes.Contains(data, []byte("coredns_faultline_control_up 0")) &&
				bytes.Contains(data, []byte(`coredns_faultline_control_errors_total{reason="unreachable"}`)), ""
		})
		if !strings.Contains(c.output(), "the control API is unreachable") {
			t.Errorf("CoreDNS's log does not say the control API is gone:\n%s", c.output())
		}
		if n := strings.Count(c.output(), "no fault of it applies"); n > 3 {
			t.Errorf("the log says the API is gone %d times: once per change of state is expected", n)
		}
	})
}

// Fixed faults from the Corefile, without any control API.
func TestCoreDNSStaticFault(t *testing.T) {
	corednsBinary(t)
	c := startCoreDNS(t, "    faultline {\n        fault dns.empty dynamodb.*.amazonaws.com client="+faulted+" qtype=A\n"+
		"        fault dns.servfail dynamodb.us-east-1.amazonaws.com qtype=AAAA\n    }", upstream(t))
	if a := c.dig(faulted, "A"); a.status != "NOERROR" || len(a.answers) != 0 || len(a.authority) != 1 {
		t.Errorf("A from %s: %s, want NODATA with the SOA", faulted, a)
	}
	if a := c.dig(bystand, "A"); !a.normal() {
		t.Errorf("A from %s: %s, want the real answer", bystand, a)
	}
	// One answer per query: a SERVFAIL the plugin wrote is not followed
	// by CoreDNS's own.
	conn, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", c.port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	q, _ := new(dns.Msg).SetQuestion(endpoint, dns.TypeAAAA).Pack()
	conn.Write(q)
	buf := make([]byte, 4096)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := conn.Read(buf)
	m := new(dns.Msg)
	if err != nil || m.Unpack(buf[:n]) != nil || m.Rcode != dns.RcodeServerFailure {
		t.Fatalf("AAAA under dns.servfail: %v %v", err, m)
	}
	conn.SetReadDeadline(time.Now().Add(time.Second))
	if n, err := conn.Read(buf); err == nil {
		m2 := new(dns.Msg)
		m2.Unpack(buf[:n])
		t.Errorf("a second answer to one query: %v", m2)
	}
}

// A bad faultline block: CoreDNS refuses to start, with the Corefile's
// position and what was expected.
func TestCoreDNSRefusesABadBlock(t *testing.T) {
	bin := corednsBinary(t)
	cases := []struct{ block, want string }{
		{"faultline {\n    fault dns.empty\n}", "Corefile:3 - Error during parsing: fault: expected KIND TARGET"},
		{"faultline {\n    fault dns.nope x.amazonaws.com\n}", `Corefile:3 - Error during parsing: fault dns.nope x.amazonaws.com: unknown fault kind "dns.nope"`},
		{"faultline {\n    fault dns.delay x.amazonaws.com delay=fast\n}", "Corefile:3 - Error during parsing: fault dns.delay x.amazonaws.com"},
		{"faultline {\n    fault dns.empty x.amazonaws.com client=pods\n}", "expected an address like"},
		{"faultline {\n    colour blue\n}", `Corefile:3 - Error during parsing: unknown property "colour"`},
		{"faultline {\n    control ftp://x\n    token_file /t\n}", "Corefile:3 - Error during parsing: control: expected the control API's URL"},
		{"faultline {\n    control http://127.0.0.1:7878\n}", "control needs token_file"},
		{"faultline {\n    control\n}", "Corefile:3 - Error during parsing: Wrong argument count"},
		{"faultline", "needs a control URL"},
	}
	for _, tc := range cases {
		dir := t.TempDir()
		corefile := ".:0 {\n" + tc.block + "\n    forward . 127.0.0.1:1\n}\n"
		path := filepath.Join(dir, "Corefile")
		os.WriteFile(path, []byte(corefile), 0o644)
		cmd := exec.Command(bin, "-conf", path)
		done := make(chan struct{})
		var out []byte
		var err error
		go func() { out, err = cmd.CombinedOutput(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Errorf("%q: CoreDNS did not exit: it started with a bad block", tc.block)
			continue
		}
		var exit *exec.ExitError
		if !errors.As(err, &exit) || !strings.Contains(string(out), tc.want) || !strings.Contains(string(out), "plugin/faultline") {
			t.Errorf("%q: %v\n%s\nwant an exit naming plugin/faultline and %q", tc.block, err, out, tc.want)
		}
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
