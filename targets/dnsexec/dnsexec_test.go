package dnsexec_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/goleak"

	"github.com/faultline-dev/faultline/targets/dnscache"
	"github.com/faultline-dev/faultline/targets/dnsexec"
	"github.com/faultline-dev/faultline/targets/dnsstub"
	"github.com/faultline-dev/faultline/targets/dnsstub/dnsstubtest"
	"github.com/faultline-dev/faultline/targets/netbind"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// gone says whether no process of the group pgid is left.
func gone(pgid int) bool {
	return errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH)
}

// inDir lists the processes whose command line names dir: what a failed
// start could have left behind.
func inDir(t *testing.T, dir string) []string {
	t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var left []string
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err == nil && strings.Contains(string(b), dir) {
			left = append(left, strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return left
}

type events struct {
	mu  sync.Mutex
	evs []dnscache.Event
}

func (e *events) add(ev dnscache.Event) { e.mu.Lock(); e.evs = append(e.evs, ev); e.mu.Unlock() }
func (e *events) last() dnscache.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.evs[len(e.evs)-1]
}

// askFrom asks the front for the endpoint's A record from source ip.
func askFrom(t *testing.T, front, ip string) *dns.Msg {
	t.Helper()
	c := &dns.Client{Timeout: 5 * time.Second, Dialer: &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.UDPAddr{IP: net.ParseIP(ip)}}}
	m := new(dns.Msg)
	m.SetQuestion(endpoint, dns.TypeA)
	r, _, err := c.Exchange(m, front)
	if err != nil {
		t.Fatalf("asking %s from %s: %v", front, ip, err)
	}
	return r
}

// TestPoolAttributesEveryAnswer: two clients behind one front, each with a
// real resolver process of its own. The first answer each gets is a miss
// (its own process asked the server, from its own address), the next a hit;
// an empty answer a fault shaped is the fault's whether the process asked
// or answered from its cache; Close leaves no process.
func TestPoolAttributesEveryAnswer(t *testing.T) {
	for _, kind := range dnsexec.Names() {
		t.Run(kind, func(t *testing.T) {
			need(t, kind)
			t.Parallel()
			upstream := map[string]bool{}
			var umu sync.Mutex
			var poolRef atomic.Pointer[dnsexec.Pool] // the server's observer runs on its goroutines
			auth := dnsstubtest.StartConfig(t, dnsstub.Config{Zones: []dnsstub.Zone{{Origin: "amazonaws.com.", SOA: dnsstub.SOA{TTL: 30, Minimum: 30}}},
				Observer: func(q dnsstub.QueryEvent) {
					if p := poolRef.Load(); p != nil && p.Upstream(q) {
						host, _, _ := net.SplitHostPort(q.Client)
						umu.Lock()
						upstream[host] = true
						umu.Unlock()
					}
				}})
			auth.SetRecords(endpoint, dns.TypeA, 30, []string{"127.0.1.1"})
			evs := &events{}
			pool, err := dnsexec.StartPool(context.Background(), dnsexec.PoolConfig{Kind: kind, Addr: "127.0.0.2:0", Upstream: auth.Addr(),
				Zone: "amazonaws.com.", Observer: evs.add})
			if err != nil {
				t.Fatal(err)
			}
			poolRef.Store(pool)
			defer func() {
				pids := pool.Instances()
				if err := pool.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
				for _, pid := range pids {
					if !gone(pid) {
						t.Errorf("%s process group %d still running after Close", kind, pid)
					}
				}
			}()
			clients := []string{"127.0.0.11", "127.0.0.12"}
			for _, ip := range clients {
				if err := pool.Prepare(ip); err != nil {
					t.Fatal(err)
				}
			}
			if n := len(pool.Instances()); n != 3 {
				t.Errorf("%d processes, want 3 (one shared, one per client)", n)
			}
			for _, ip := range clients {
				if r := askFrom(t, pool.Addr(), ip); len(r.Answer) != 1 {
					t.Fatalf("%s: %v", ip, r)
				}
				if ev := evs.last(); ev.Cache != "miss" || !strings.HasPrefix(ev.Client, ip+":") {
					t.Errorf("%s's first answer: %+v, want a miss for it", ip, ev)
				}
				askFrom(t, pool.Addr(), ip)
				if ev := evs.last(); ev.Cache != "hit" {
					t.Errorf("%s's second answer: %+v, want a hit", ip, ev)
				}
			}
			umu.Lock()
			if len(upstream) != 2 {
				t.Errorf("the server saw the pool's queries from %v, want two addresses (one per client's process)", upstream)
			}
			umu.Unlock()

			// The record goes empty: a new name's empty answer is cached
			// (negative TTL 30 s) and is the fault's from the cache too.
			other := "dynamodb.us-west-2.amazonaws.com."
			dnsstubtest.Rule(t, auth, dnsstub.Rule{Name: other, Fault: "f1", Action: dnsstub.Empty(dnsstub.EmptyOptions{})})
			for i, want := range []string{"miss", "hit"} {
				c := &dns.Client{Timeout: 5 * time.Second, Dialer: &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(clients[0])}}}
				m := new(dns.Msg)
				m.SetQuestion(other, dns.TypeA)
				r, _, err := c.Exchange(m, pool.Addr())
				if err != nil || len(r.Answer) != 0 {
					t.Fatalf("query %d: %v %v", i, r, err)
				}
				if ev := evs.last(); ev.Cache != want || ev.Fault != "f1" || ev.Rcode != "NOERROR" || ev.Answers != 0 {
					t.Errorf("empty answer %d: %+v, want %s with fault f1", i, ev, want)
				}
			}
		})
	}
}

// TestOthersShareOneProcess: a source that is no client's does not make
// the pool start a process.
func TestOthersShareOneProcess(t *testing.T) {
	need(t, "unbound")
	auth := dnsstubtest.Start(t, dnsstub.Zone{Origin: "amazonaws.com."})
	auth.SetRecords(endpoint, dns.TypeA, 30, []string{"127.0.1.1"})
	pool, err := dnsexec.StartPool(context.Background(), dnsexec.PoolConfig{Kind: "unbound", Upstream: auth.Addr(), Zone: "amazonaws.com.",
		Own: func(ip string) bool { return ip == "127.0.0.11" }})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	for _, ip := range []string{"127.0.0.200", "127.0.0.201", "127.0.0.202"} {
		askFrom(t, pool.Addr(), ip)
	}
	if n := len(pool.Instances()); n != 1 {
		t.Errorf("%d processes after queries from three other sources, want the shared one only", n)
	}
}

// TestMissingBinarySaysHowToGetIt: no coredns anywhere it is looked for.
func TestMissingBinarySaysHowToGetIt(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Setenv("FAULTLINE_COREDNS", "")
	_, err := dnsexec.StartPool(context.Background(), dnsexec.PoolConfig{Kind: "coredns", Upstream: "127.0.0.1:53", Zone: "amazonaws.com."})
	if !errors.Is(err, dnsexec.ErrMissing) || !strings.Contains(err.Error(), "make resolver-deps") || !strings.Contains(err.Error(), "go install github.com/coredns/coredns@") {
		t.Errorf("missing coredns: %v", err)
	}
	for name, k := range dnsexec.Kinds {
		if !strings.Contains(k.Install, "apt-get install") && name != "coredns" {
			t.Errorf("%s: install hint %q names no Debian package", name, k.Install)
		}
	}
	if _, err := dnsexec.StartPool(context.Background(), dnsexec.PoolConfig{Kind: "bind9", Upstream: "127.0.0.1:53", Zone: "amazonaws.com."}); err == nil ||
		!strings.Contains(err.Error(), "coredns, dnsmasq, unbound") {
		t.Errorf("unknown resolver: %v", err)
	}
}

// TestCannotBindSaysWhatTheResolverSaid: the port is taken; each resolver
// is told to listen on it, fails, and the error names it and quotes it;
// nothing of it is left running.
func TestCannotBindSaysWhatTheResolverSaid(t *testing.T) {
	pc, ln, err := netbind.UDPAndTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	defer ln.Close()
	port := pc.LocalAddr().(*net.UDPAddr).Port
	for _, kind := range dnsexec.Names() {
		t.Run(kind, func(t *testing.T) {
			need(t, kind)
			tmp := t.TempDir()
			t.Setenv("TMPDIR", tmp)
			_, err := dnsexec.Start(context.Background(), dnsexec.Config{Kind: kind, Listen: "127.0.0.1", Port: port, Source: "127.0.0.1",
				Upstream: "127.0.0.1:53", Zone: "amazonaws.com."})
			if err == nil {
				t.Fatalf("%s started on a port that is taken", kind)
			}
			if !strings.Contains(err.Error(), kind) || !strings.Contains(err.Error(), "it said:") || !strings.Contains(strings.ToLower(err.Error()), "address already in use") {
				t.Errorf("error: %v; want it to name %s and quote its complaint", err, kind)
			}
			if left := inDir(t, tmp); len(left) > 0 {
				t.Errorf("left running: %q", left)
			}
		})
	}
}

// TestExitAtStartQuotesTheResolver: unbound refuses a configuration it
// cannot parse; the error quotes it, and nothing is left running.
func TestExitAtStartQuotesTheResolver(t *testing.T) {
	need(t, "unbound")
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	_, err := dnsexec.Start(context.Background(), dnsexec.Config{Kind: "unbound", Listen: "127.0.0.1", Source: "127.0.0.1", Upstream: "127.0.0.1:53",
		Zone: "amazonaws.com.", Extra: []string{"no-such-option: yes"}})
	if err == nil || !strings.Contains(err.Error(), "exited at start") || !strings.Contains(err.Error(), "no-such-option") {
		t.Errorf("error: %v; want unbound's own words about the bad option", err)
	}
	if left := inDir(t, tmp); len(left) > 0 {
		t.Errorf("left running: %q", left)
	}
}

// TestResolverDiesWithFaultline: faultline killed outright (SIGKILL, no
// Close) takes its resolver processes with it: a helper process (this test
// binary) starts each resolver and is killed; the resolver must end too.
func TestResolverDiesWithFaultline(t *testing.T) {
	if kind := os.Getenv("FAULTLINE_DNSEXEC_HELPER"); kind != "" {
		inst, err := dnsexec.Start(context.Background(), dnsexec.Config{Kind: kind, Listen: "127.0.0.1", Source: "127.0.0.1",
			Upstream: "127.0.0.1:53", Zone: "amazonaws.com."})
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Printf("pid %d\n", inst.Pid())
		time.Sleep(time.Minute) // until killed
		os.Exit(0)
	}
	for _, kind := range dnsexec.Names() {
		t.Run(kind, func(t *testing.T) {
			need(t, kind)
			cmd := exec.Command(os.Args[0], "-test.run=^TestResolverDiesWithFaultline$")
			cmd.Env = append(os.Environ(), "FAULTLINE_DNSEXEC_HELPER="+kind)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var pid int
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if _, err := fmt.Sscanf(sc.Text(), "pid %d", &pid); err == nil {
					break
				}
				t.Logf("helper: %s", sc.Text())
			}
			if pid == 0 {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("the helper did not start %s", kind)
			}
			cmd.Process.Kill()
			cmd.Wait()
			deadline := time.Now().Add(10 * time.Second)
			for alive(pid) {
				if time.Now().After(deadline) {
					syscall.Kill(-pid, syscall.SIGKILL)
					t.Fatalf("%s (pid %d) still runs 10 s after faultline was killed", kind, pid)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

// alive says whether pid runs (a zombie nobody reaped has ended).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	if i := strings.LastIndex(s, ")"); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z' && s[i+2] != 'X'
	}
	return true
}
