package faultline

import (
	"context"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// soaCache holds the SOA for negative answers about a name, as the next
// plugin (the upstream serving the zone) gives it: the authority section
// of its answer to an SOA query for the name, or the answer section when
// the name is the zone's apex. Only queries a rule selects need one, and
// each name's is asked once a minute at most.
type soaCache struct {
	mu      sync.Mutex
	entries map[string]soaEntry
}

type soaEntry struct {
	rr      dns.RR // nil: the upstream gave none
	expires time.Time
}

const (
	maxSOAs = 4096 // names remembered; past that the cache starts over
	soaKeep = time.Minute
)

// negative is the SOA for a negative answer about name, nil when the
// upstream has none; its TTL is the negative TTL (RFC 2308 §5: the lesser
// of the SOA's TTL and its minimum).
func (c *soaCache) negative(ctx context.Context, f *Faultline, w dns.ResponseWriter, name string) dns.RR {
	now := time.Now()
	c.mu.Lock()
	e, ok := c.entries[name]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		if e.rr == nil {
			return nil
		}
		return dns.Copy(e.rr)
	}
	req := new(dns.Msg)
	req.SetQuestion(name, dns.TypeSOA)
	req.RecursionDesired = true
	resp := f.ask(ctx, w, req)
	var soa *dns.SOA
	for _, rr := range append(append([]dns.RR{}, resp.Answer...), resp.Ns...) {
		if s, ok := rr.(*dns.SOA); ok {
			soa = dns.Copy(s).(*dns.SOA)
			break
		}
	}
	e = soaEntry{expires: now.Add(soaKeep)}
	if soa != nil {
		soa.Hdr.Ttl = min(soa.Hdr.Ttl, soa.Minttl)
		e.rr = soa
	} else if resp.Rcode == dns.RcodeServerFailure {
		e.expires = now.Add(5 * time.Second) // the upstream failed: ask again soon
	}
	c.mu.Lock()
	if c.entries == nil || len(c.entries) >= maxSOAs {
		c.entries = map[string]soaEntry{}
	}
	c.entries[name] = e
	c.mu.Unlock()
	if e.rr == nil {
		return nil
	}
	return dns.Copy(e.rr)
}
