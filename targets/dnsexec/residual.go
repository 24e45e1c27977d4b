package dnsexec

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/faultline-dev/faultline/targets/dnscache"
	"github.com/faultline-dev/faultline/targets/dnsstub"
)

// Residual is one timeline's residual outage through a real resolver and
// through the preset modelled on it.
type Residual struct {
	Kind, Fault string
	Real, Model time.Duration
	// Attempts is how many timelines it took to get one whose every pair
	// of queries fell within one wall-clock second (see CompareResidual).
	Attempts int
}

// Timeline constants: the record's TTL and the zone's negative TTL (as in
// dns-negative-cache-residual), when the fault starts and how long it lasts.
const (
	timelineTTL      = 1
	timelineNegative = 5
	timelineStart    = 1200 * time.Millisecond
	timelineFault    = 4 * time.Second
	timelineTick     = 20 * time.Millisecond
)

// CompareResidual runs one timeline through the real resolver kind and the
// preset of the same name, side by side: the endpoint's A record is served
// with TTL 1 s; the fault ("dns.empty": NODATA with the SOA, negative TTL
// 5 s; "dns.servfail") is applied for 4 s, and healed. Every 20 ms the same
// client asks each of them AAAA then A, as Go's resolver does. The residual
// outage is the time from the heal to the first A answer with records (to
// when its query was sent, which is the same instant for both), not a
// measure of how fast the machine went.
//
// Both count TTLs in whole seconds of the wall clock, so both must see each
// query in the same second: the fault is applied and healed in the middle of
// a second; no query is sent in the last 100 ms of a second or the first
// 30 ms of the next; and a timeline in which a client's AAAA-then-A pair
// still straddled a second boundary (a machine so busy that a pair took
// over 100 ms) is run again, up to three times.
func CompareResidual(ctx context.Context, kind, fault string) (Residual, error) {
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		var res Residual
		var straddled bool
		res, straddled, err = compareOnce(ctx, kind, fault)
		res.Attempts = attempt
		if err != nil || !straddled {
			return res, err
		}
		err = fmt.Errorf("%s, %s: a query pair straddled a second boundary in each of %d timelines: the machine is too busy to compare", kind, fault, attempt)
	}
	return Residual{Kind: kind, Fault: fault, Attempts: 3}, err
}

func compareOnce(ctx context.Context, kind, fault string) (res Residual, straddled bool, err error) {
	res = Residual{Kind: kind, Fault: fault}
	var action dnsstub.Action
	switch fault {
	case "dns.empty":
		action = dnsstub.Empty(dnsstub.EmptyOptions{})
	case "dns.servfail":
		action = dnsstub.ServFail()
	default:
		return res, straddled, fmt.Errorf("fault %q: expected dns.empty or dns.servfail", fault)
	}
	preset, err := dnscache.LookupPreset(kind)
	if err != nil {
		return res, straddled, err
	}
	const name = "dynamodb.us-east-1.amazonaws.com."
	auth, err := dnsstub.Start(dnsstub.Config{Addr: "127.0.0.1:0",
		Zones: []dnsstub.Zone{{Origin: "amazonaws.com.", SOA: dnsstub.SOA{TTL: timelineNegative, Minimum: timelineNegative}}}})
	if err != nil {
		return res, straddled, err
	}
	defer auth.Close()
	if err := auth.SetRecords(name, dns.TypeA, timelineTTL, []string{"127.0.1.1"}); err != nil {
		return res, straddled, err
	}
	inst, err := Start(ctx, Config{Kind: kind, Listen: "127.0.0.1", Source: "127.0.0.3", Upstream: auth.Addr(), Zone: "amazonaws.com."})
	if err != nil {
		return res, straddled, err
	}
	defer inst.Close()
	cache, err := dnscache.Start(dnscache.Config{Addr: "127.0.0.2:0", Upstream: auth.Addr(), Preset: preset, Timeout: time.Second})
	if err != nil {
		return res, straddled, err
	}
	defer cache.Close()

	addrs := []string{inst.Addr(), cache.Addr()}
	c := &dns.Client{Timeout: 2 * time.Second}
	ask := func(addr string, qtype uint16) (*dns.Msg, time.Time) {
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		r, _, err := c.Exchange(m, addr)
		if err != nil {
			return nil, time.Now()
		}
		return r, time.Now()
	}
	var (
		start           = time.Now()
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
	tick := time.NewTicker(timelineTick)
	defer tick.Stop()
	for !(!recovered[0].IsZero() && !recovered[1].IsZero()) {
		select {
		case <-ctx.Done():
			return res, straddled, ctx.Err()
		case <-tick.C:
		}
		now := time.Now()
		switch {
		case applied.IsZero() && now.Sub(start) > timelineStart && midSecond(now):
			if remove, err = auth.AddRule(dnsstub.Rule{Name: name, Fault: "f1", Action: action}); err != nil {
				return res, straddled, err
			}
			applied = time.Now()
		case !applied.IsZero() && healed.IsZero() && now.Sub(applied) > timelineFault && midSecond(now):
			remove()
			healed = time.Now()
		case now.Sub(start) > 30*time.Second:
			return res, straddled, fmt.Errorf("%s: no recovery within 30 s of the start (real %v, model %v)", kind, recovered[0], recovered[1])
		}
		if ns := now.Nanosecond(); ns < 30e6 || ns > 900e6 {
			continue // too near a second boundary: see above
		}
		// The same queries to both, at once. An answer counts from when the
		// pair was sent, the same instant for both: a resolver process
		// that waited for a CPU before answering does not move it.
		sentAt := time.Now()
		var wg sync.WaitGroup
		var smu sync.Mutex
		for i, addr := range addrs {
			if !recovered[i].IsZero() {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				sent := time.Now()
				ask(addr, dns.TypeAAAA)
				r, at := ask(addr, dns.TypeA)
				if sent.Unix() != at.Unix() {
					smu.Lock()
					straddled = true
					smu.Unlock()
				}
				good := r != nil && r.Rcode == dns.RcodeSuccess && len(r.Answer) > 0
				switch {
				case !applied.IsZero() && !good:
					shaped[i] = true
				case !healed.IsZero() && good:
					recovered[i] = sentAt
				}
			}()
		}
		wg.Wait()
	}
	for i, who := range []string{"the real " + kind, "the " + kind + " model"} {
		if !shaped[i] {
			return res, straddled, fmt.Errorf("%s never answered the fault: the timeline tested nothing", who)
		}
	}
	res.Real, res.Model = recovered[0].Sub(healed), recovered[1].Sub(healed)
	return res, straddled, nil
}

// midSecond says whether now is well inside a wall-clock second.
func midSecond(now time.Time) bool {
	ns := now.Nanosecond()
	return ns > 300e6 && ns < 700e6
}
