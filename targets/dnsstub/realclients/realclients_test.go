package realclients

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/faultline-dev/faultline/targets/dnsstub"
	"github.com/faultline-dev/faultline/targets/dnsstub/dnsstubtest"
)

const endpoint = "dynamodb.us-east-1.amazonaws.com."

func need(t *testing.T, tool string) {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		t.Skipf("%s is not installed (.ci/run installs it)", tool)
	}
}

func server(t *testing.T, addr string) *dnsstub.Server {
	t.Helper()
	s := dnsstubtest.StartConfig(t, dnsstub.Config{Addr: addr, Zones: []dnsstub.Zone{{Origin: "amazonaws.com.", SOA: dnsstub.SOA{TTL: 2, Minimum: 2}}}})
	if err := s.SetRecords(endpoint, dns.TypeA, 5, []string{"127.0.1.1", "127.0.1.2"}); err != nil {
		t.Fatal(err)
	}
	return s
}

var actions = []struct {
	name   string
	action dnsstub.Action
	// what dig prints
	status  string
	aa      bool
	answers int
	soa     bool
	// what getent and Go's cgo resolver report
	resolves bool
}{
	{"normal", nil, "NOERROR", true, 2, false, true},
	{"empty", dnsstub.Empty(dnsstub.EmptyOptions{}), "NOERROR", true, 0, true, false},
	{"nxdomain", dnsstub.NXDomain(), "NXDOMAIN", true, 0, true, false},
	{"servfail", dnsstub.ServFail(), "SERVFAIL", false, 0, false, false},
	{"refused", dnsstub.Refused(), "REFUSED", false, 0, false, false},
}

func TestDig(t *testing.T) {
	need(t, "dig")
	s := server(t, "127.0.0.1:0")
	host, port, _ := net.SplitHostPort(s.Addr())
	for _, a := range actions {
		for _, proto := range []string{"+notcp", "+tcp"} {
			remove := func() {}
			if a.action != nil {
				remove = dnsstubtest.Rule(t, s, dnsstub.Rule{Name: endpoint, Action: a.action})
			}
			out, err := exec.Command("dig", "@"+host, "-p", port, proto, "+time=1", "+tries=1", endpoint, "A").CombinedOutput()
			remove()
			if err != nil {
				t.Fatalf("dig: %v\n%s", err, out)
			}
			text := string(out)
			if !strings.Contains(text, "status: "+a.status) {
				t.Errorf("%s %s: dig did not see status %s:\n%s", a.name, proto, a.status, text)
			}
			if got := strings.Contains(flags(text), " aa"); got != a.aa {
				t.Errorf("%s %s: aa = %v, want %v (flags %q)", a.name, proto, got, a.aa, flags(text))
			}
			if !strings.Contains(text, fmt.Sprintf("ANSWER: %d,", a.answers)) {
				t.Errorf("%s %s: want ANSWER: %d:\n%s", a.name, proto, a.answers, text)
			}
			if got := strings.Contains(text, "IN\tSOA"); got != a.soa {
				t.Errorf("%s %s: SOA in authority = %v, want %v", a.name, proto, got, a.soa)
			}
		}
	}
}

func flags(dig string) string {
	for _, l := range strings.Split(dig, "\n") {
		if i := strings.Index(l, "flags:"); i >= 0 {
			return l[i:]
		}
	}
	return ""
}

// inNetns re-runs this test binary inside a new network and mount namespace
// (as root), where the child binds the server on 127.0.0.1:53 and points
// /etc/resolv.conf at it; it returns the child's output.
func inNetns(t *testing.T, test string) string {
	t.Helper()
	need(t, "unshare")
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	cmd := exec.Command("unshare", "--net", "--mount", os.Args[0], "-test.run=^"+test+"$", "-test.v")
	cmd.Env = append(os.Environ(), "FAULTLINE_NETNS_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("in the namespace: %v\n%s", err, out)
	}
	return string(out)
}

func childSetup(t *testing.T) *dnsstub.Server {
	t.Helper()
	if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up: %v %s", err, out)
	}
	conf := filepath.Join(t.TempDir(), "resolv.conf")
	os.WriteFile(conf, []byte("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n"), 0o644)
	if out, err := exec.Command("mount", "--bind", conf, "/etc/resolv.conf").CombinedOutput(); err != nil {
		t.Fatalf("bind-mounting resolv.conf: %v %s", err, out)
	}
	return server(t, "127.0.0.1:53")
}

// glibc (getent) and Go's cgo resolver, through resolv.conf, in a namespace.
func TestGetentAndCgoResolverInNetns(t *testing.T) {
	if os.Getenv("FAULTLINE_NETNS_CHILD") == "" {
		out := inNetns(t, "TestGetentAndCgoResolverInNetns")
		if !strings.Contains(out, "--- PASS: TestGetentAndCgoResolverInNetns") {
			t.Errorf("child did not pass:\n%s", out)
		}
		return
	}
	need(t, "getent")
	s := childSetup(t)
	cgo := &net.Resolver{PreferGo: false}
	pure := &net.Resolver{PreferGo: true}
	for _, a := range actions {
		remove := func() {}
		if a.action != nil {
			remove = dnsstubtest.Rule(t, s, dnsstub.Rule{Name: endpoint, Action: a.action})
		}
		// getent hosts (gethostbyname): ahosts would use AI_ADDRCONFIG, which a
		// namespace with only loopback turns into "no IPv4 here".
		out, err := exec.Command("getent", "hosts", strings.TrimSuffix(endpoint, ".")).CombinedOutput()
		if resolved := err == nil && strings.Contains(string(out), "127.0.1.1"); resolved != a.resolves {
			t.Errorf("%s: getent resolved = %v, want %v (%v %s)", a.name, resolved, a.resolves, err, out)
		}
		for name, r := range map[string]*net.Resolver{"cgo": cgo, "go": pure} {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			addrs, err := r.LookupIPAddr(ctx, strings.TrimSuffix(endpoint, "."))
			cancel()
			if (err == nil && len(addrs) > 0) != a.resolves {
				t.Errorf("%s: %s resolver: %v %v, want resolves=%v", a.name, name, addrs, err, a.resolves)
			}
			var de *net.DNSError
			if a.name == "empty" && (!errors.As(err, &de) || !de.IsNotFound) {
				t.Errorf("empty: %s resolver reports %v, want not found", name, err)
			}
		}
		remove()
	}
}

// unbound in front of the server caches the empty answer for the negative TTL
// (min(SOA TTL, MINIMUM) = 2 s here), as the dnscache presets model it.
func TestUnboundNegativeCaching(t *testing.T) {
	need(t, "unbound")
	s := server(t, "127.0.0.1:0")
	_, port, _ := net.SplitHostPort(s.Addr())
	dir := t.TempDir()
	pc, _ := net.ListenPacket("udp", "127.0.0.3:0")
	uport := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	conf := fmt.Sprintf(`server:
  interface: 127.0.0.3
  port: %d
  do-ip6: no
  username: ""
  chroot: ""
  directory: "%s"
  pidfile: "%s/unbound.pid"
  use-syslog: no
  logfile: ""
  verbosity: 0
  access-control: 127.0.0.0/8 allow
  do-not-query-localhost: no
  module-config: "iterator"
  qname-minimisation: no
  cache-max-negative-ttl: 3600
stub-zone:
  name: "amazonaws.com."
  stub-addr: 127.0.0.1@%s
remote-control:
  control-enable: no
`, uport, dir, dir, port)
	file := filepath.Join(dir, "unbound.conf")
	os.WriteFile(file, []byte(conf), 0o644)
	cmd := exec.Command("unbound", "-d", "-c", file)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.3:%d", uport)
	askName := func(name string) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		r, _, err := (&dns.Client{Timeout: time.Second}).Exchange(m, addr)
		if err != nil {
			return nil
		}
		return r
	}
	ask := func() *dns.Msg { return askName(endpoint) }
	deadline := time.Now().Add(10 * time.Second)
	// Wait for unbound with another name, so the endpoint is not cached yet.
	for askName("ready.amazonaws.com.") == nil && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	remove := dnsstubtest.Rule(t, s, dnsstub.Rule{Name: endpoint, Action: dnsstub.Empty(dnsstub.EmptyOptions{})})
	if r := ask(); r == nil || len(r.Answer) != 0 || r.Rcode != dns.RcodeSuccess {
		t.Fatalf("through unbound during the fault: %v", r)
	}
	remove()
	if r := ask(); r == nil || len(r.Answer) != 0 {
		t.Errorf("right after the heal unbound should still serve the cached empty answer: %v", r)
	}
	healed := time.Now()
	for time.Since(healed) < 10*time.Second {
		if r := ask(); r != nil && len(r.Answer) == 2 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	// unbound keeps TTLs in whole seconds: the 2 s entry lasts 2 to 3 s.
	if took := time.Since(healed); took < time.Second || took > 5*time.Second {
		t.Errorf("unbound served the record again %s after the heal; want the cached empty answer to last the 2 s negative TTL (whole seconds)", took)
	}
}
