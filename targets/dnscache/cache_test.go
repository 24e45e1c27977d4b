package dnscache

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/goleak"

	"github.com/faultline-dev/faultline/targets/dnsstub"
	"github.com/faultline-dev/faultline/targets/dnsstub/dnsstubtest"
)

const endpoint = "dynamodb.us-east-1.amazonaws.com."

type recorder struct {
	mu  sync.Mutex
	evs []Event
}

func (r *recorder) add(e Event) { r.mu.Lock(); r.evs = append(r.evs, e); r.mu.Unlock() }
func (r *recorder) last() Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.evs[len(r.evs)-1]
}

// world: an authoritative server whose negative TTL is 1 s, and a resolver
// with preset p in front of it.
func world(t *testing.T, p Preset) (*dnsstub.Server, *Resolver, *recorder) {
	t.Helper()
	auth := dnsstubtest.Start(t, dnsstub.Zone{Origin: "amazonaws.com.", SOA: dnsstub.SOA{TTL: 1, Minimum: 1}})
	auth.SetRecords(endpoint, dns.TypeA, 1, []string{"127.0.1.1", "127.0.1.2"})
	rec := &recorder{}
	// 1 s for the upstream, 5 s for the test's own queries: an answer must
	// come however loaded the machine, and a client outwaits the resolver.
	clk := &clock{base: time.Now()}
	r, err := Start(Config{Addr: "127.0.0.2:0", Upstream: auth.Addr(), Preset: p, Observer: rec.add, Timeout: time.Second, now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	clocks.Store(r, clk)
	t.Cleanup(func() { r.Close(); clocks.Delete(r) })
	return auth, r, rec
}

// clock is a resolver's clock for TTLs, moved by the test: what expires
// when is exact, however slow the machine, and no test sleeps out a TTL.
type clock struct {
	base time.Time
	off  atomic.Int64
}

func (c *clock) now() time.Time { return c.base.Add(time.Duration(c.off.Load())) }

var clocks sync.Map // *Resolver → *clock

// later moves r's clock on by d.
func later(r *Resolver, d time.Duration) {
	c, _ := clocks.Load(r)
	c.(*clock).off.Add(int64(d))
}

func query(t *testing.T, r *Resolver, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(endpoint, qtype)
	m.SetEdns0(1232, false)
	resp, _, err := (&dns.Client{Timeout: 5 * time.Second}).Exchange(m, r.Addr())
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

var quick = Preset{Name: "quick", MaxTTL: time.Hour, MaxNegative: time.Hour}

func TestPositiveAnswersAreCachedAndAged(t *testing.T) {
	_, r, rec := world(t, quick)
	if got := query(t, r, dns.TypeA); len(got.Answer) != 2 || rec.last().Cache != "miss" {
		t.Fatalf("first: %v (%s)", got, rec.last().Cache)
	}
	got := query(t, r, dns.TypeA)
	if len(got.Answer) != 2 || rec.last().Cache != "hit" || got.Authoritative || !got.RecursionAvailable {
		t.Errorf("second: %d answers, %s, AA %v RA %v", len(got.Answer), rec.last().Cache, got.Authoritative, got.RecursionAvailable)
	}
	later(r, 1100*time.Millisecond) // the 1 s TTL runs out
	query(t, r, dns.TypeA)
	if rec.last().Cache != "miss" {
		t.Errorf("after the TTL: %s, want miss", rec.last().Cache)
	}
}

// The October 20 tail: the record comes back, but resolvers keep the empty
// answer for the negative TTL, and say which fault put it there.
func TestNegativeAnswerOutlivesTheFault(t *testing.T) {
	auth, r, rec := world(t, quick)
	remove := dnsstubtest.Rule(t, auth, dnsstub.Rule{Name: endpoint, Fault: "f1", Action: dnsstub.Empty(dnsstub.EmptyOptions{})})
	if got := query(t, r, dns.TypeA); len(got.Answer) != 0 || rec.last().Fault != "f1" {
		t.Fatalf("during the fault: %v, fault %q", got, rec.last().Fault)
	}
	remove() // "the records are restored"
	got := query(t, r, dns.TypeA)
	if len(got.Answer) != 0 || rec.last().Cache != "hit" || rec.last().Fault != "f1" {
		t.Errorf("right after the heal: %d answers, %s, fault %q; want the cached empty answer of f1", len(got.Answer), rec.last().Cache, rec.last().Fault)
	}
	later(r, 1100*time.Millisecond) // negative TTL = min(SOA TTL 1, MINIMUM 1)
	if got := query(t, r, dns.TypeA); len(got.Answer) != 2 {
		t.Errorf("after the negative TTL: %d answers, want the record back", len(got.Answer))
	}
}

func TestNegativeAnswerWithoutSOAIsNotCached(t *testing.T) {
	auth, r, rec := world(t, quick)
	remove := dnsstubtest.Rule(t, auth, dnsstub.Rule{Name: endpoint, Fault: "f1", Action: dnsstub.Empty(dnsstub.EmptyOptions{NoSOA: true})})
	query(t, r, dns.TypeA)
	remove()
	if got := query(t, r, dns.TypeA); len(got.Answer) != 2 || rec.last().Cache != "miss" {
		t.Errorf("after the heal: %d answers (%s); a negative answer without SOA must not be cached", len(got.Answer), rec.last().Cache)
	}
}

func TestServFailCachedPerPreset(t *testing.T) {
	for _, servfail := range []time.Duration{0, time.Second} {
		p := quick
		p.ServFail = servfail
		auth, r, _ := world(t, p)
		remove := dnsstubtest.Rule(t, auth, dnsstub.Rule{Name: endpoint, Action: dnsstub.ServFail()})
		query(t, r, dns.TypeA)
		remove()
		got := query(t, r, dns.TypeA)
		cached := got.Rcode == dns.RcodeServerFailure
		if cached != (servfail > 0) {
			t.Errorf("servfail TTL %s: SERVFAIL still served after the heal = %v", servfail, cached)
		}
	}
}

func TestServeStaleWhenTheUpstreamFails(t *testing.T) {
	for _, stale := range []bool{true, false} {
		p := quick
		p.ServeStale = stale
		auth, r, rec := world(t, p)
		query(t, r, dns.TypeA) // cached for 1 s
		dnsstubtest.Rule(t, auth, dnsstub.Rule{Name: endpoint, Action: dnsstub.Timeout()})
		later(r, 1100*time.Millisecond)
		got := query(t, r, dns.TypeA)
		if stale {
			if len(got.Answer) != 2 || rec.last().Cache != "stale" || got.Answer[0].Header().Ttl != uint32(StaleTTL/time.Second) {
				t.Errorf("serve-stale: %v (%s)", got, rec.last().Cache)
			}
		} else if got.Rcode != dns.RcodeServerFailure || rec.last().Cache != "error" {
			t.Errorf("without serve-stale: %s (%s), want SERVFAIL", dns.RcodeToString[got.Rcode], rec.last().Cache)
		}
	}
}

func TestPresetClampsTheNegativeTTL(t *testing.T) {
	p, err := LookupPreset("coredns") // MINTTL 5 s: a 1 s negative answer is kept 5 s
	if err != nil {
		t.Fatal(err)
	}
	auth, r, rec := world(t, p)
	remove := dnsstubtest.Rule(t, auth, dnsstub.Rule{Name: endpoint, Fault: "f1", Action: dnsstub.NXDomain()})
	query(t, r, dns.TypeA)
	remove()
	later(r, 1200*time.Millisecond)
	if got := query(t, r, dns.TypeA); got.Rcode != dns.RcodeNameError || rec.last().Cache != "hit" {
		t.Errorf("1.2 s after: %s (%s), want the NXDOMAIN still cached (CoreDNS MINTTL 5 s)", dns.RcodeToString[got.Rcode], rec.last().Cache)
	}
	if _, err := LookupPreset("bind"); err == nil || !strings.Contains(err.Error(), "coredns, dnsmasq, none, systemd-resolved, unbound") {
		t.Errorf("unknown preset: %v", err)
	}
}

// Go's resolver through the cache sees the empty record as "no such host".
func TestGoResolverThroughTheCache(t *testing.T) {
	auth, r, _ := world(t, quick)
	dnsstubtest.Rule(t, auth, dnsstub.Rule{Name: endpoint, Action: dnsstub.Empty(dnsstub.EmptyOptions{})})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := dnsstubtest.GoResolver(r.Addr()).LookupHost(ctx, "dynamodb.us-east-1.amazonaws.com")
	var de *net.DNSError
	if !errors.As(err, &de) || !de.IsNotFound {
		t.Errorf("Go through the cache: %v, want no such host", err)
	}
}

func TestCloseLeavesNothing(t *testing.T) {
	auth := dnsstubtest.Start(t, dnsstub.Zone{Origin: "amazonaws.com."})
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	r, err := Start(Config{Upstream: auth.Addr(), Preset: quick})
	if err != nil {
		t.Fatal(err)
	}
	query(t, r, dns.TypeA)
	r.Close()
	r.Close()
	if c, err := net.DialTimeout("tcp", r.Addr(), 300*time.Millisecond); err == nil {
		c.Close()
		t.Error("still listening after Close")
	}
}

// The resolver says a fault shaped an answer only when the authoritative
// server marked it, that is when the fault changed it: under a partial
// answer the A set lost a record (f1, from upstream and from the cache),
// while AAAA is the same NODATA as without the fault. The marker itself
// stays between the server and the resolver: no answer to a client has it.
func TestFaultOnlyOnAnswersTheFaultChanged(t *testing.T) {
	auth, r, rec := world(t, quick)
	dnsstubtest.Rule(t, auth, dnsstub.Rule{Name: endpoint, Fault: "f1", Action: dnsstub.Partial(1)})
	for _, cache := range []string{"miss", "hit"} {
		for qtype, fault := range map[uint16]string{dns.TypeA: "f1", dns.TypeAAAA: ""} {
			got := query(t, r, qtype)
			e := rec.last()
			if e.Fault != fault || e.Cache != cache {
				t.Errorf("%s: %s, fault %q; want %s, fault %q", dns.TypeToString[qtype], e.Cache, e.Fault, cache, fault)
			}
			if opt := got.IsEdns0(); opt != nil && len(opt.Option) > 0 {
				t.Errorf("%s (%s): the answer to the client carries EDNS0 options %v", dns.TypeToString[qtype], e.Cache, opt.Option)
			}
		}
	}
}
