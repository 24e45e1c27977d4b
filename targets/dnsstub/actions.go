package dnsstub

import (
	"math/rand"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// EmptyOptions vary the empty answer.
type EmptyOptions struct {
	NoSOA bool // leave the SOA out of the authority section: resolvers must not cache it
	// NoAA answers as a lame server would: no AA bit, no RA bit and no EDNS
	// OPT record. Go reports such an empty answer as a "lame referral" (it
	// checks that the additional section is empty too), not "no such host".
	NoAA bool
}

// Empty is the record gone empty: NOERROR, zero answers (NODATA), the SOA in
// authority and AA set unless opts say otherwise.
func Empty(opts EmptyOptions) Action {
	return fixedFunc(func(q Query) *dns.Msg {
		m := reply(q.Msg)
		m.Authoritative = !opts.NoAA
		if opts.NoAA {
			m.Extra = nil
		}
		if !opts.NoSOA && q.SOA != nil {
			m.Ns = []dns.RR{q.SOA}
		}
		return m
	})
}

// NXDomain says the name does not exist: NXDOMAIN, AA, SOA in authority.
func NXDomain() Action {
	return fixedFunc(func(q Query) *dns.Msg {
		m := reply(q.Msg)
		m.Rcode = dns.RcodeNameError
		m.Authoritative = true
		if q.SOA != nil {
			m.Ns = []dns.RR{q.SOA}
		}
		return m
	})
}

// ServFail fails the query: SERVFAIL, no answers.
func ServFail() Action { return rcode(dns.RcodeServerFailure) }

// Refused refuses the query.
func Refused() Action { return rcode(dns.RcodeRefused) }

func rcode(code int) Action {
	return fixedFunc(func(q Query) *dns.Msg {
		m := reply(q.Msg)
		m.Rcode = code
		return m
	})
}

// Timeout sends nothing: UDP clients wait for their timeout; over TCP the
// query is read and the connection kept open without an answer.
func Timeout() Action {
	return actionFunc(func(Query) *dns.Msg { return nil })
}

// Delay answers as the server would have, after fixed plus a uniform random
// part of jitter. rng may be shared: Delay draws from it under a lock.
func Delay(fixed, jitter time.Duration, rng *rand.Rand) Action {
	var mu sync.Mutex
	if rng == nil {
		rng = rand.New(rand.NewSource(1))
	}
	return actionFunc(func(q Query) *dns.Msg {
		d := fixed
		if jitter > 0 {
			mu.Lock()
			d += time.Duration(rng.Int63n(int64(jitter)))
			mu.Unlock()
		}
		if d <= 0 {
			return q.Next() // not held back: the normal answer, not shaped
		}
		// Held back: the answer is the normal one, but its timing is the
		// fault's, so it counts as shaped (a delay is what dns.delay
		// measures).
		q.Delayed()
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return q.Next()
		case <-q.Done:
			return nil
		}
	})
}

// reply starts a response to req, echoing an EDNS0 OPT record when req had
// one (RFC 6891).
func reply(req *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(req)
	if opt := req.IsEdns0(); opt != nil {
		// The DO bit is copied into the answer (RFC 3225 §3).
		m.SetEdns0(dns.DefaultMsgSize, opt.Do())
	}
	return m
}

// badVersion answers a query whose EDNS version this server does not
// speak: BADVERS with an OPT of the version it does, 0 (RFC 6891 §6.1.3).
// nil when the query's EDNS is version 0 or it has none.
func badVersion(req *dns.Msg) *dns.Msg {
	opt := req.IsEdns0()
	if opt == nil || opt.Version() == 0 {
		return nil
	}
	m := reply(req)
	m.Rcode = dns.RcodeBadVers // packed into the OPT's extended rcode
	return m
}

// TruncateOptions say what happens to the TCP retry of a truncated answer.
type TruncateOptions struct {
	// TCP is "ok" (answer normally over TCP: the client just pays a round
	// trip), "servfail" or "drop" (TCP fails too).
	TCP string
}

// Truncate sets TC on UDP answers and sends no records, which sends clients
// to TCP; what TCP gets is opts.TCP.
func Truncate(opts TruncateOptions) Action {
	return fixedFunc(func(q Query) *dns.Msg {
		if q.Net == "udp" {
			m := reply(q.Msg)
			m.Authoritative = true
			m.Truncated = true
			return m
		}
		switch opts.TCP {
		case "servfail":
			m := reply(q.Msg)
			m.Rcode = dns.RcodeServerFailure
			return m
		case "drop":
			return nil
		}
		return q.Next()
	})
}

// Partial answers with only the first keep records of the set (a record set
// that lost some of its addresses).
func Partial(keep int) Action {
	return fixedFunc(func(q Query) *dns.Msg {
		m := q.Next()
		if m != nil && len(m.Answer) > keep {
			m.Answer = m.Answer[:keep]
		}
		return m
	})
}

// Stale answers with the record set the name had before its last change (as
// an enactor applying an old plan would publish); with no history, the
// current set.
func Stale() Action {
	return fixedFunc(func(q Query) *dns.Msg {
		prev := q.Previous()
		if len(prev) == 0 {
			return q.Next()
		}
		m := reply(q.Msg)
		m.Authoritative = true
		m.Answer = renamed(prev, q.Msg.Question[0].Name)
		return m
	})
}

// Redirect answers A and AAAA queries with the given addresses (for
// example a loopback address where nothing listens: a blackhole that
// refuses). Other types get the normal answer.
func Redirect(a, aaaa []string, ttl uint32) Action {
	return fixedFunc(func(q Query) *dns.Msg {
		qq := q.Msg.Question[0]
		var values []string
		switch qq.Qtype {
		case dns.TypeA:
			values = a
		case dns.TypeAAAA:
			values = aaaa
		default:
			return q.Next()
		}
		m := reply(q.Msg)
		m.Authoritative = true
		for _, v := range values {
			if rr, err := newRR(qq.Name, qq.Qtype, ttl, v); err == nil {
				m.Answer = append(m.Answer, rr)
			}
		}
		if len(m.Answer) == 0 && q.SOA != nil {
			m.Ns = []dns.RR{q.SOA}
		}
		return m
	})
}

// RedirectTo answers with another name's current record set of the queried
// type (another region's endpoint, say), under the queried name.
func RedirectTo(name string) Action {
	return fixedFunc(func(q Query) *dns.Msg {
		qq := q.Msg.Question[0]
		m := reply(q.Msg)
		m.Authoritative = true
		m.Answer = renamed(q.Lookup(name, qq.Qtype), qq.Name)
		if len(m.Answer) == 0 && q.SOA != nil {
			m.Ns = []dns.RR{q.SOA}
		}
		return m
	})
}

// TTL answers normally with every answer record's TTL set to ttl.
func TTL(ttl uint32) Action {
	return fixedFunc(func(q Query) *dns.Msg {
		m := q.Next()
		if m != nil {
			for _, rr := range m.Answer {
				rr.Header().Ttl = ttl
			}
		}
		return m
	})
}

// Flap alternates between inner and the normal answer: from start, every
// period begins with duty*period of inner, then the normal answer. Queries
// answered normally are not reported as shaped.
func Flap(period time.Duration, duty float64, start time.Time, inner Action) Action {
	return actionFunc(func(q Query) *dns.Msg {
		phase := time.Since(start) % period
		if float64(phase) < duty*float64(period) {
			return inner.Respond(q)
		}
		return q.Pass()
	})
}

// renamed copies rrs under another owner name.
func renamed(rrs []dns.RR, name string) []dns.RR {
	out := make([]dns.RR, 0, len(rrs))
	for _, rr := range rrs {
		c := dns.Copy(rr)
		c.Header().Name = name
		out = append(out, c)
	}
	return out
}
