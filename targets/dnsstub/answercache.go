package dnsstub

import (
	"sync"

	"github.com/miekg/dns"
)

// Packing an answer is most of what a query that no fault touches costs.
// The zone's answers are therefore packed once per query shape and reused:
// the same question (name as the client wrote it, type, class), the same
// header bits the reply echoes (RD, CD), the same EDNS (present, DO, the
// buffer that truncation honours) and transport give the same bytes but for
// the ID. An entry is good for the store generation it was packed at; any
// change of a record set makes every entry stale. Rules are consulted
// before the cache, so a fault acts on the next query as before; a rule
// whose action's answers are fixed (rules.go's fixedFunc) has a cache of
// its own, which goes with the rule.

// answerKey is a query's shape.
type answerKey struct {
	name          string // as the client wrote it: the reply echoes its case
	qtype, qclass uint16
	rd, cd, edns  bool
	do            bool
	udpSize       uint16 // the buffer truncation honours; 0 over TCP
}

// packedAnswer is a reply ready to send but for its ID, with what the
// observer reports of it.
type packedAnswer struct {
	gen     uint64
	wire    []byte
	rcode   string
	answers int
	fault   string // the rule's fault when the answer is the rule's doing
}

const (
	// maxCachedAnswers bounds the zone's cache (a zone of 100,000 names
	// asked for A and AAAA fits); past it, the cache starts again.
	maxCachedAnswers = 1 << 18
	// maxRuleAnswers bounds a rule's own cache: a pattern rule over a
	// large zone starts again past it rather than hold a second copy.
	maxRuleAnswers = 1 << 14
)

type answerCache struct {
	limit   int // entries held at most; 0: maxCachedAnswers
	mu      sync.RWMutex
	entries map[answerKey]packedAnswer
}

// keyOf is req's shape, or false when its reply must not come from the
// cache (not a plain query of one question).
func keyOf(req *dns.Msg, proto string) (answerKey, bool) {
	if req.Opcode != dns.OpcodeQuery || len(req.Question) != 1 {
		return answerKey{}, false
	}
	q := req.Question[0]
	k := answerKey{name: q.Name, qtype: q.Qtype, qclass: q.Qclass, rd: req.RecursionDesired, cd: req.CheckingDisabled}
	if opt := req.IsEdns0(); opt != nil {
		if opt.Version() != 0 || len(opt.Option) > 0 {
			return answerKey{}, false // BADVERS, or options a later answer might echo: not cached
		}
		k.edns, k.do = true, opt.Do()
	}
	if proto == "udp" {
		k.udpSize = dns.MinMsgSize
		if k.edns {
			k.udpSize = max(req.IsEdns0().UDPSize(), dns.MinMsgSize)
		}
	}
	return k, true
}

// get returns the packed reply for k if it is of generation gen.
func (c *answerCache) get(k answerKey, gen uint64) (packedAnswer, bool) {
	c.mu.RLock()
	a, ok := c.entries[k]
	c.mu.RUnlock()
	return a, ok && a.gen == gen
}

func (c *answerCache) put(k answerKey, a packedAnswer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[answerKey]packedAnswer{}
	}
	limit := c.limit
	if limit == 0 {
		limit = maxCachedAnswers
	}
	if _, ok := c.entries[k]; !ok && len(c.entries) >= limit {
		// Full: start again from this generation's answers rather than
		// keep stale ones.
		clear(c.entries)
	}
	c.entries[k] = a
}

// reset drops every entry.
func (c *answerCache) reset() {
	c.mu.Lock()
	c.entries = nil
	c.mu.Unlock()
}

// withID is the packed reply with the query's ID.
func (a packedAnswer) withID(id uint16) []byte {
	b := make([]byte, len(a.wire))
	copy(b, a.wire)
	b[0], b[1] = byte(id>>8), byte(id)
	return b
}
