package dnsstub

import (
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/miekg/dns"
)

// RuleSet is a rule table of its own, outside any Server: the same rules,
// selectors (name patterns, query types, client prefixes, probability) and
// newest-wins order, for another DNS server to put in front of whatever
// answers its queries (the CoreDNS plugin in targets/coredns does).
type RuleSet struct {
	table ruleTable
	n     atomic.Int64 // rules held: a query costs nothing more while none is
}

// AddRule adds a rule until remove is called; remove is idempotent. It fails
// only for a rule that cannot select anything (a bad name pattern or
// probability).
func (s *RuleSet) AddRule(r Rule) (remove func(), err error) {
	rm, err := s.table.add(r)
	if err != nil {
		return nil, err
	}
	s.n.Add(1)
	var once sync.Once
	return func() {
		once.Do(func() {
			rm()
			s.n.Add(-1)
		})
	}, nil
}

// Empty says that the set holds no rule: the caller can skip Match (and the
// name's canonical form it needs) altogether.
func (s *RuleSet) Empty() bool { return s.n.Load() == 0 }

// Match returns the newest rule selecting a query for name (canonical:
// lowercase fqdn) of type qtype from client.
func (s *RuleSet) Match(name string, qtype uint16, client netip.Addr) (Rule, bool) {
	return s.table.match(name, qtype, client)
}

// Outcome says how a rule's action answered.
type Outcome struct {
	Passed  bool // it answered as if the rule were absent (dns.flap's normal phase): not shaped
	Delayed bool // it held the answer back: shaped even if the answer equals the normal one
}

// Shape runs the rule's action on q (q.Next gives the answer without the
// rule) and says how it answered. Whether the answer counts as shaped is
// then: not Passed, and Delayed or Changed from the normal answer.
func (r Rule) Shape(q Query) (*dns.Msg, Outcome) {
	var o Outcome
	q.passed, q.delayed = &o.Passed, &o.Delayed
	resp := r.Action.Respond(q)
	return resp, o
}

// Changed reports whether a shaped answer differs from the normal one where
// a client can tell: sent or not, rcode, the AA and TC flags, the answer and
// authority records with their TTLs.
func Changed(shaped, normal *dns.Msg) bool { return changed(shaped, normal) }
