package dnsexec_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/faultline-dev/faultline/targets/dnscache"
	"github.com/faultline-dev/faultline/targets/dnsexec"
	"github.com/faultline-dev/faultline/targets/dnsstub"
	"github.com/faultline-dev/faultline/targets/dnsstub/dnsstubtest"
)

var debug = os.Getenv("DEBUG") != ""
var dbg sync.Mutex

const endpoint = "dynamodb.us-east-1.amazonaws.com."

// need skips the test, saying why, when the resolver's binary is missing.
func need(t *testing.T, kind string) {
	t.Helper()
	if _, err := dnsexec.Binary(kind); err != nil {
		t.Skipf("%v", err)
	}
}

// TestModelAgreesWithTheRealResolver runs one timeline — the record is
// served with TTL 1 s, goes empty (NODATA with the SOA, negative TTL 5 s) or
// SERVFAIL for 4.5 s, and is restored — through the real resolver and
// through the preset modelled on it, side by side: every 20 ms the same
// client asks each of them AAAA then A, as Go's resolver does. The residual
// outage is the time from the heal to the first A answer with records, read
// from the answers' own times (not from how fast the machine went), and the
// two must agree within 100 ms. Both see the same queries in the same
// wall-clock seconds, which is what both count TTLs in.
func TestModelAgreesWithTheRealResolver(t *testing.T) {
	for _, kind := range []string{"unbound", "dnsmasq"} {
		for _, fault := range []string{"dns.empty", "dns.servfail"} {
			t.Run(kind+"/"+fault, func(t *testing.T) {
				need(t, kind)
				t.Parallel()
				real, model, err := Residuals(t, kind, fault)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("%s, %s: residual outage %s real, %s model", kind, fault, real, model)
				if d := math.Abs(float64(real - model)); d > float64(100*time.Millisecond) {
					t.Errorf("%s, %s: residual outage %s with the real resolver, %s with the %q model: %s apart, more than 100 ms",
						kind, fault, real, model, kind, time.Duration(d))
				}
			})
		}
	}
}

// midSecond says whether now is well inside a wall-clock second: the fault
// is applied and healed there, so that the real resolver and the model,
// asked a few milliseconds apart, store what the change brings in the same
// second (both count TTLs in whole seconds).
func midSecond(now time.Time) bool {
	ns := now.Nanosecond()
	return ns > 300e6 && ns < 700e6
}

// Residuals runs the timeline through the real resolver and its model and
// returns each one's residual outage.
func Residuals(t testing.TB, kind, fault string) (real, model time.Duration, err error) {
	auth := dnsstubtest.StartConfig(t, dnsstub.Config{Addr: "127.0.0.1:0", Zones: []dnsstub.Zone{{Origin: "amazonaws.com.", SOA: dnsstub.SOA{TTL: 5, Minimum: 5}}},
		Observer: func(q dnsstub.QueryEvent) {
			if debug {
				dbg.Lock()
				fmt.Printf("U %s %s %s %s %s n=%d\n", q.Client, q.Time.Format("05.000"), q.Name, q.Type, q.Rcode, q.Answers)
				dbg.Unlock()
			}
		}})
	auth.SetRecords(endpoint, dns.TypeA, 1, []string{"127.0.1.1"})
	inst, err := dnsexec.Start(context.Background(), dnsexec.Config{Kind: kind, Listen: "127.0.0.1", Source: "127.0.0.3",
		Upstream: auth.Addr(), Zone: "amazonaws.com."})
	if err != nil {
		return 0, 0, err
	}
	t.Cleanup(func() { inst.Close() })
	p, err := dnscache.LookupPreset(kind)
	if err != nil {
		return 0, 0, err
	}
	cache, err := dnscache.Start(dnscache.Config{Addr: "127.0.0.2:0", Upstream: auth.Addr(), Preset: p, Timeout: time.Second})
	if err != nil {
		return 0, 0, err
	}
	t.Cleanup(func() { cache.Close() })

	action := dnsstub.Empty(dnsstub.EmptyOptions{})
	if fault == "dns.servfail" {
		action = dnsstub.ServFail()
	}
	addrs := []string{inst.Addr(), cache.Addr()}
	c := &dns.Client{Timeout: 2 * time.Second}
	ask := func(addr string, qtype uint16) (*dns.Msg, time.Time) {
		m := new(dns.Msg)
		m.SetQuestion(endpoint, qtype)
		r, _, err := c.Exchange(m, addr)
		if err != nil {
			return nil, time.Now()
		}
		return r, time.Now()
	}
	start := time.Now()
	var (
		applied, healed time.Time
		remove          func()
		shaped          [2]bool
		recovered       [2]time.Time
	)
	defer func() {
		if remove != nil && healed.IsZero() {
			remove()
		}
	}()
	for tick := time.NewTicker(20 * time.Millisecond); ; <-tick.C {
		now := time.Now()
		switch {
		case applied.IsZero() && now.Sub(start) > 1200*time.Millisecond && midSecond(now):
			remove, err = auth.AddRule(dnsstub.Rule{Name: endpoint, Fault: "f1", Action: action})
			if err != nil {
				return 0, 0, err
			}
			applied = time.Now()
			if debug {
				fmt.Println("applied", applied.Format("05.000"))
			}
		case !applied.IsZero() && healed.IsZero() && now.Sub(applied) > 4000*time.Millisecond && midSecond(now):
			remove()
			healed = time.Now()
			if debug {
				fmt.Println("healed", healed.Format("05.000"))
			}
		case now.Sub(start) > 30*time.Second:
			tick.Stop()
			return 0, 0, fmt.Errorf("no recovery within 30 s (real %v, model %v)", recovered[0], recovered[1])
		}
		// The same queries to both, at once.
		var wg sync.WaitGroup
		for i, addr := range addrs {
			if !recovered[i].IsZero() {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				r4, at4 := ask(addr, dns.TypeAAAA)
				r, at := ask(addr, dns.TypeA)
				if debug {
					desc := func(r *dns.Msg) string {
						if r == nil {
							return "-"
						}
						ttl := -1
						if len(r.Answer) > 0 {
							ttl = int(r.Answer[0].Header().Ttl)
						} else if len(r.Ns) > 0 {
							ttl = int(r.Ns[0].Header().Ttl)
						}
						return fmt.Sprintf("%s/%d/%d", dns.RcodeToString[r.Rcode], len(r.Answer), ttl)
					}
					dbg.Lock()
					fmt.Printf("%d %s AAAA %s %s A %s\n", i, at4.Format("05.000"), desc(r4), at.Format("05.000"), desc(r))
					dbg.Unlock()
				}
				good := r != nil && r.Rcode == dns.RcodeSuccess && len(r.Answer) > 0
				switch {
				case !applied.IsZero() && !good:
					shaped[i] = true
				case !healed.IsZero() && good && at.After(healed):
					recovered[i] = at
				}
			}()
		}
		wg.Wait()
		if !recovered[0].IsZero() && !recovered[1].IsZero() {
			tick.Stop()
			break
		}
	}
	for i, who := range []string{"the real " + kind, "the model"} {
		if !shaped[i] {
			return 0, 0, fmt.Errorf("%s never answered the fault: the timeline tested nothing", who)
		}
	}
	return recovered[0].Sub(healed), recovered[1].Sub(healed), nil
}
