package topology

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/goleak"

	"github.com/faultline-dev/faultline/targets/dnscache"
	"github.com/faultline-dev/faultline/targets/dnsexec"
	"github.com/faultline-dev/faultline/targets/dnsstub"
)

// TestRealResolverInFront: with ResolverExec, a client's lookups go through
// a real unbound of its own; the answers are observed with the client's
// address and whether they came from the cache; the server sees the
// resolver's queries, not the client's; Close stops every process.
func TestRealResolverInFront(t *testing.T) {
	if _, err := dnsexec.Binary("unbound"); err != nil {
		t.Skipf("%v", err)
	}
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	var mu sync.Mutex
	var answers []dnscache.Event
	var fromClient bool
	cfg := config()
	cfg.ResolverExec = "unbound"
	cfg.ResolverClient = func(ip string) bool { return ip == "127.0.0.11" }
	cfg.ResolverObserver = func(e dnscache.Event) { mu.Lock(); answers = append(answers, e); mu.Unlock() }
	cfg.DNSObserver = func(q dnsstub.QueryEvent) {
		if strings.HasPrefix(q.Client, "127.0.0.11:") {
			mu.Lock()
			fromClient = true
			mu.Unlock()
		}
	}
	w, err := Build(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.PrepareClient("127.0.0.11"); err != nil {
		t.Fatal(err)
	}
	c := &dns.Client{Timeout: 5 * time.Second, Dialer: &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP("127.0.0.11")}}}
	for i := range 2 {
		m := new(dns.Msg)
		m.SetQuestion("dynamodb.us-east-1.amazonaws.com.", dns.TypeA)
		r, _, err := c.Exchange(m, w.ClientDNSAddr())
		if err != nil || len(r.Answer) == 0 {
			t.Fatalf("lookup %d through unbound: %v %v", i, r, err)
		}
	}
	mu.Lock()
	if len(answers) != 2 || answers[0].Cache != "miss" || answers[1].Cache != "hit" || !strings.HasPrefix(answers[0].Client, "127.0.0.11:") {
		t.Errorf("observed answers %+v, want the client's miss then hit", answers)
	}
	if fromClient {
		t.Error("the server saw the client's own address: the resolver was not in between")
	}
	mu.Unlock()
	pids := w.ResolverPids()
	if len(pids) != 2 {
		t.Errorf("%d resolver processes, want 2 (the shared one, the client's)", len(pids))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if !errors.Is(syscall.Kill(-pid, 0), syscall.ESRCH) {
			t.Errorf("resolver process group %d left after Close", pid)
		}
	}
}

// TestMissingResolverFailsTheBuild: nothing is left of the world when the
// resolver cannot run, and the error says how to get it.
func TestMissingResolverFailsTheBuild(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	t.Setenv("PATH", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Setenv("FAULTLINE_COREDNS", "")
	cfg := config()
	cfg.ResolverExec = "coredns"
	_, err := Build(context.Background(), cfg)
	if !errors.Is(err, dnsexec.ErrMissing) || !strings.Contains(err.Error(), "make resolver-deps") {
		t.Errorf("Build with coredns missing: %v", err)
	}
}
