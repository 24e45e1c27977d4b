package dnscache

import (
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/faultline-dev/faultline/targets/dnsstub"
	"github.com/faultline-dev/faultline/targets/dnsstub/dnsstubtest"
)

// worldAt: an authoritative server whose negative TTL is neg seconds (the
// endpoint's A record has TTL 1 s, it has no AAAA), and a resolver with
// preset p whose clock starts at base.
func worldAt(t *testing.T, p Preset, neg uint32, base time.Time) (*dnsstub.Server, *Resolver, *recorder) {
	t.Helper()
	auth := dnsstubtest.Start(t, dnsstub.Zone{Origin: "amazonaws.com.", SOA: dnsstub.SOA{TTL: neg, Minimum: neg}})
	auth.SetRecords(endpoint, dns.TypeA, 1, []string{"127.0.1.1"})
	rec := &recorder{}
	clk := &clock{base: base}
	r, err := Start(Config{Addr: "127.0.0.2:0", Upstream: auth.Addr(), Preset: p, Observer: rec.add, Timeout: time.Second, now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	clocks.Store(r, clk)
	t.Cleanup(func() { r.Close(); clocks.Delete(r) })
	return auth, r, rec
}

func preset(t *testing.T, name string) Preset {
	t.Helper()
	p, err := LookupPreset(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// 0.7 s into a wall-clock second.
var base = time.Unix(1_000_000, 700e6)

// unbound stores at the start of the second and serves an entry through the
// second its TTL reaches 0, with TTL 0; dnsmasq drops it when that second
// begins.
func TestWholeSecondPresets(t *testing.T) {
	cases := []struct {
		preset      string
		servedUntil time.Duration // after base: the last moment the 1 s answer is a hit
	}{
		{"unbound", 1300*time.Millisecond - time.Millisecond}, // stored at second 0, TTL 0 through second 1
		{"dnsmasq", 300*time.Millisecond - time.Millisecond},  // stored at second 0, gone when second 1 begins
	}
	for _, c := range cases {
		t.Run(c.preset, func(t *testing.T) {
			_, r, rec := worldAt(t, preset(t, c.preset), 5, base)
			query(t, r, dns.TypeA)
			later(r, c.servedUntil)
			got := query(t, r, dns.TypeA)
			if rec.last().Cache != "hit" {
				t.Fatalf("%s after %s: %s, want still a hit", c.preset, c.servedUntil, rec.last().Cache)
			}
			if c.preset == "unbound" && got.Answer[0].Header().Ttl != 0 {
				t.Errorf("unbound in its last second: TTL %d, want 0", got.Answer[0].Header().Ttl)
			}
			later(r, 2*time.Millisecond)
			query(t, r, dns.TypeA)
			if rec.last().Cache != "miss" {
				t.Errorf("%s just after: %s, want a miss", c.preset, rec.last().Cache)
			}
		})
	}
}

// unbound's negative answers share the zone's SOA: an empty A answer stored
// while the SOA an AAAA answer cached still lives is served only as long as
// that SOA, then revived when the next AAAA answer caches the SOA again, up
// to its own TTL.
func TestUnboundSharedSOA(t *testing.T) {
	auth, r, rec := worldAt(t, preset(t, "unbound"), 5, base)
	query(t, r, dns.TypeAAAA) // second 0: the SOA cached through second 5
	later(r, 3*time.Second)   // second 3
	dnsstubtest.Rule(t, auth, dnsstub.Rule{Name: endpoint, QTypes: []uint16{dns.TypeA}, Fault: "f1", Action: dnsstub.Empty(dnsstub.EmptyOptions{})})
	got := query(t, r, dns.TypeA) // the empty answer, its own TTL through second 8
	if rec.last().Cache != "miss" || len(got.Answer) != 0 {
		t.Fatalf("the empty answer: %v (%s)", got, rec.last().Cache)
	}
	if ttl := got.Ns[0].Header().Ttl; ttl != 2 {
		t.Errorf("the empty answer's SOA TTL %d, want 2 (the cached SOA's, through second 5)", ttl)
	}
	later(r, 3*time.Second) // second 6: the SOA is gone, and with it the empty answer
	query(t, r, dns.TypeA)
	if rec.last().Cache != "miss" {
		t.Errorf("at second 6, the SOA expired: %s, want a miss", rec.last().Cache)
	}
	// Again, with the AAAA answer renewing the SOA first.
	later(r, 4*time.Second) // second 10: both expired
	query(t, r, dns.TypeAAAA)
	query(t, r, dns.TypeA)    // stored with the SOA: both through second 15
	later(r, 6*time.Second)   // second 16: the SOA and the answer expired together
	query(t, r, dns.TypeAAAA) // renews the SOA through second 21
	query(t, r, dns.TypeA)
	if rec.last().Cache != "miss" {
		t.Errorf("at second 16: %s, want a miss (its own TTL ran out at 15)", rec.last().Cache)
	}
}

// unbound caches an upstream SERVFAIL 5 s (through second 5), dnsmasq not
// at all; systemd-resolved 10 s.
func TestServFailPerModel(t *testing.T) {
	for name, cachedAfter := range map[string]time.Duration{"unbound": 5 * time.Second, "dnsmasq": 0, "systemd-resolved": 9 * time.Second} {
		t.Run(name, func(t *testing.T) {
			auth, r, rec := worldAt(t, preset(t, name), 5, base)
			remove := dnsstubtest.Rule(t, auth, dnsstub.Rule{Name: endpoint, Action: dnsstub.ServFail()})
			query(t, r, dns.TypeA)
			remove()
			later(r, cachedAfter)
			got := query(t, r, dns.TypeA)
			cached := got.Rcode == dns.RcodeServerFailure && rec.last().Cache == "hit"
			if cached != (cachedAfter > 0) {
				t.Errorf("%s, %s after the SERVFAIL: %s (%s)", name, cachedAfter, dns.RcodeToString[got.Rcode], rec.last().Cache)
			}
		})
	}
}
