package dnsstub

import (
	"fmt"
	"math/rand"
	"net/netip"
	"slices"
	"sync"

	"github.com/miekg/dns"
)

// Rule shapes the answers for the queries it selects while it is in the
// server's rule table. The rule table is a handler in front of the zone: the
// zone never knows a fault exists.
type Rule struct {
	// Name selects query names: an exact name ("dynamodb.us-east-1.amazonaws.com."),
	// a pattern whose "*" labels match one label each ("*.amazonaws.com.",
	// "dynamodb.*.amazonaws.com."), or a suffix with a leading dot
	// (".amazonaws.com.": the name itself and every name below it).
	Name        string
	QTypes      []uint16       // query types it shapes; empty: every type
	Clients     []netip.Prefix // client addresses it shapes; empty: every client
	Probability float64        // 0 (or 1): every selected query; else the share shaped, drawn from Rand
	Rand        *rand.Rand     // seeded by the caller so that runs repeat; drawn under a lock
	Fault       string         // reported in QueryEvent.Fault for every answer this rule shaped
	Action      Action
}

// Query is what an action sees: the request, the negative-answer SOA of the
// zone holding the name (nil outside every zone), and the answer the server
// would give without this rule.
type Query struct {
	Msg  *dns.Msg
	Net  string // "udp" or "tcp"
	SOA  dns.RR
	Next func() *dns.Msg
	// Lookup is the zone's current record set of a name and type.
	Lookup func(name string, qtype uint16) []dns.RR
	// Previous is the record set the queried name and type had before the
	// last change (nil if none): what a stale answer serves.
	Previous func() []dns.RR
	// Done is closed when the server shuts down: an action that waits must
	// stop waiting then.
	Done <-chan struct{}

	passed, delayed *bool
}

// Pass answers as if the rule were not there; the answer is not reported as
// shaped by the rule's fault. (dns.flap passes between its faulty phases.)
func (q Query) Pass() *dns.Msg {
	if q.passed != nil {
		*q.passed = true
	}
	return q.Next()
}

// Delayed says that the answer was held back: it then counts as shaped by
// the rule even when it equals the normal one, since its timing changed.
func (q Query) Delayed() {
	if q.delayed != nil {
		*q.delayed = true
	}
}

// Action shapes one answer: it returns the response to send, or nil to send
// nothing at all.
type Action interface {
	Respond(q Query) *dns.Msg
}

type actionFunc func(q Query) *dns.Msg

func (f actionFunc) Respond(q Query) *dns.Msg { return f(q) }

// fixedFunc is an action whose answer depends only on the query's shape
// (the name as written, type, class, header bits, EDNS, transport) and the
// zone's records: never on the time, chance or who asks. The server packs
// such an answer once per shape and generation of the records, as it does
// the zone's own (answercache.go), so a fault on many names costs a query
// what the zone's answer does.
type fixedFunc func(q Query) *dns.Msg

func (f fixedFunc) Respond(q Query) *dns.Msg { return f(q) }

// fixedAnswers says whether an action's answers can be packed once.
func fixedAnswers(a Action) bool {
	_, ok := a.(fixedFunc)
	return ok
}

// ruleTable holds the active rules; the newest matching rule wins. Rules for
// exact names are indexed by name, so a table holding a rule for each of
// thousands of names costs a map lookup per query; patterns are scanned.
type ruleTable struct {
	mu       sync.RWMutex
	next     uint64
	exact    map[string][]*activeRule // oldest first
	patterns []*activeRule            // oldest first
}

type activeRule struct {
	id      uint64
	pattern pattern
	rule    Rule
	randMu  sync.Mutex
	// answers holds the rule's packed answers when its action's are fixed
	// (fixedAnswers); they go with the rule when it is removed.
	answers *answerCache
}

func (t *ruleTable) add(r Rule) (remove func(), err error) {
	p, err := compilePattern(r.Name)
	if err != nil {
		return nil, err
	}
	if r.Probability < 0 || r.Probability > 1 {
		return nil, fmt.Errorf("rule for %s: probability %g is not between 0 and 1", r.Name, r.Probability)
	}
	if r.Probability > 0 && r.Probability < 1 && r.Rand == nil {
		r.Rand = rand.New(rand.NewSource(1))
	}
	t.mu.Lock()
	t.next++
	ar := &activeRule{id: t.next, pattern: p, rule: r}
	if fixedAnswers(r.Action) {
		ar.answers = &answerCache{limit: maxRuleAnswers}
	}
	if p.exact != "" {
		if t.exact == nil {
			t.exact = map[string][]*activeRule{}
		}
		t.exact[p.exact] = append(t.exact[p.exact], ar)
	} else {
		t.patterns = append(t.patterns, ar)
	}
	t.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			t.mu.Lock()
			defer t.mu.Unlock()
			if p.exact != "" {
				t.exact[p.exact] = without(t.exact[p.exact], ar)
				if len(t.exact[p.exact]) == 0 {
					delete(t.exact, p.exact)
				}
			} else {
				t.patterns = without(t.patterns, ar)
			}
			if ar.answers != nil {
				ar.answers.reset() // the caller may hold remove (and so the rule) long after
			}
		})
	}, nil
}

// byChance says that the rule's answer to a query is not known from the
// query alone: its action's answers are not fixed, or it selects by a draw.
func (ar *activeRule) byChance() bool {
	return ar.answers == nil || (ar.rule.Probability > 0 && ar.rule.Probability < 1)
}

func without(rules []*activeRule, ar *activeRule) []*activeRule {
	for i, r := range rules {
		if r == ar {
			return append(rules[:i:i], rules[i+1:]...)
		}
	}
	return rules
}

// match returns the newest rule that selects this query. A rule whose
// probability draw says no lets the query fall through to older rules.
func (t *ruleTable) match(name string, qtype uint16, client netip.Addr) (Rule, bool) {
	if ar := t.matchActive(name, qtype, client); ar != nil {
		return ar.rule, true
	}
	return Rule{}, false
}

// matchActive is match's rule as the table holds it, nil for none.
func (t *ruleTable) matchActive(name string, qtype uint16, client netip.Addr) *activeRule {
	ar, _ := t.find(name, qtype, client, true)
	return ar
}

// matchWithoutChance is matchActive for a query whose answer must be known
// without drawing: ok is false, and nothing drawn, when the newest rule
// selecting it (before any draw) is one of chance (byChance).
func (t *ruleTable) matchWithoutChance(name string, qtype uint16, client netip.Addr) (ar *activeRule, ok bool) {
	return t.find(name, qtype, client, false)
}

// find walks the rules selecting the query newest first; with draw, a rule
// that selects by probability draws and lets the query fall through to
// older rules when the draw says no; without it, such a rule ends the walk
// with ok false, as does one whose answers are not fixed.
func (t *ruleTable) find(name string, qtype uint16, client netip.Addr, draw bool) (*activeRule, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if len(t.exact) == 0 && len(t.patterns) == 0 {
		return nil, true
	}
	exact, patterns := t.exact[name], t.patterns
	// Walk both lists newest first, merging by id.
	i, j := len(exact)-1, len(patterns)-1
	for i >= 0 || j >= 0 {
		var ar *activeRule
		if j < 0 || (i >= 0 && exact[i].id > patterns[j].id) {
			ar, i = exact[i], i-1
		} else {
			ar, j = patterns[j], j-1
		}
		if !ar.selects(name, qtype, client) {
			continue
		}
		if !draw {
			return ar, !ar.byChance()
		}
		if ar.drawn() {
			return ar, true
		}
	}
	return nil, true
}

// selects says whether the rule's name, types and clients select the query
// (its probability aside).
func (ar *activeRule) selects(name string, qtype uint16, client netip.Addr) bool {
	r := ar.rule
	if !ar.pattern.matches(name) {
		return false
	}
	if len(r.QTypes) > 0 && !slices.Contains(r.QTypes, qtype) {
		return false
	}
	return len(r.Clients) == 0 || slices.ContainsFunc(r.Clients, func(p netip.Prefix) bool { return p.Contains(client) })
}

// drawn says whether a selected query is shaped: always, or as the rule's
// probability draws.
func (ar *activeRule) drawn() bool {
	r := ar.rule
	if r.Probability > 0 && r.Probability < 1 {
		ar.randMu.Lock()
		draw := r.Rand.Float64()
		ar.randMu.Unlock()
		return draw < r.Probability
	}
	return true
}
