package dnsstub

import (
	"math/rand"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Rule shapes the answers for one name while it is in the server's rule
// table. The rule table is a handler in front of the zone: the zone never
// knows a fault exists.
type Rule struct {
	Name   string // the query name it shapes: an exact name, or "*.suffix." for every name below suffix
	Fault  string // reported in QueryEvent.Fault for every answer this rule shaped
	Action Action
}

// Query is what an action sees: the request, the negative-answer SOA of the
// zone holding the name (nil outside every zone), and the answer the server
// would give without this rule.
type Query struct {
	Msg  *dns.Msg
	SOA  dns.RR
	Next func() *dns.Msg
	// Done is closed when the server shuts down: an action that waits must
	// stop waiting then.
	Done <-chan struct{}
}

// Action shapes one answer: it returns the response to send, or nil to send
// nothing at all.
type Action interface {
	Respond(q Query) *dns.Msg
}

type actionFunc func(q Query) *dns.Msg

func (f actionFunc) Respond(q Query) *dns.Msg { return f(q) }

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
	return actionFunc(func(q Query) *dns.Msg {
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
	return actionFunc(func(q Query) *dns.Msg {
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
	return actionFunc(func(q Query) *dns.Msg {
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
	if req.IsEdns0() != nil {
		m.SetEdns0(dns.DefaultMsgSize, false)
	}
	return m
}

// ruleTable holds the active rules; the newest matching rule wins.
type ruleTable struct {
	mu    sync.RWMutex
	next  uint64
	rules []activeRule
}

type activeRule struct {
	id   uint64
	name string // canonical; "*.suffix." for wildcards
	rule Rule
}

func (t *ruleTable) add(r Rule) (remove func()) {
	t.mu.Lock()
	t.next++
	id := t.next
	t.rules = append(t.rules, activeRule{id: id, name: dns.CanonicalName(r.Name), rule: r})
	t.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			t.mu.Lock()
			defer t.mu.Unlock()
			for i, ar := range t.rules {
				if ar.id == id {
					t.rules = append(t.rules[:i:i], t.rules[i+1:]...)
					return
				}
			}
		})
	}
}

// match returns the newest rule for name.
func (t *ruleTable) match(name string) (Rule, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for i := len(t.rules) - 1; i >= 0; i-- {
		ar := t.rules[i]
		if ar.name == name || (strings.HasPrefix(ar.name, "*.") && strings.HasSuffix(name, ar.name[1:])) {
			return ar.rule, true
		}
	}
	return Rule{}, false
}
