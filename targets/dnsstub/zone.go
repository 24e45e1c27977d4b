package dnsstub

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/miekg/dns"
)

// Zone is one zone the server is authoritative for.
type Zone struct {
	Origin string // "amazonaws.com." (a trailing dot is added when missing)
	SOA    SOA
}

// SOA is a zone's start of authority. Zero fields take the defaults below;
// the negative TTL of NXDOMAIN and NODATA answers is min(TTL, Minimum), as
// RFC 2308 §3 says.
type SOA struct {
	Ns, Mbox                       string // default ns1.ORIGIN, hostmaster.ORIGIN
	Serial, Refresh, Retry, Expire uint32 // default 1, 7200, 900, 1209600
	Minimum, TTL                   uint32 // default 5 and 5 (seconds); set NoDefaults to keep zeros
	NoDefaults                     bool   // take Minimum and TTL as given, zeros included
}

func (s SOA) withDefaults(origin string) SOA {
	if s.Ns == "" {
		s.Ns = "ns1." + origin
	}
	if s.Mbox == "" {
		s.Mbox = "hostmaster." + origin
	}
	def := func(v *uint32, d uint32) {
		if *v == 0 {
			*v = d
		}
	}
	def(&s.Serial, 1)
	def(&s.Refresh, 7200)
	def(&s.Retry, 900)
	def(&s.Expire, 1209600)
	if !s.NoDefaults {
		def(&s.Minimum, 5)
		def(&s.TTL, 5)
	}
	return s
}

// zone holds one zone's records: name → type → record set.
type zone struct {
	origin string
	soa    *dns.SOA // as served for SOA queries
	negSOA *dns.SOA // as put in the authority section of negative answers
	ns     *dns.NS
	names  map[string]map[uint16][]dns.RR
	// prev is each record set as it was before its last change: what a
	// stale answer (dns.stale) serves.
	prev map[string]map[uint16][]dns.RR
	// below counts, for each name above some record's name (inside the
	// zone), how many names are below it: an empty non-terminal has a count.
	below map[string]int
}

func newZone(z Zone) (*zone, error) {
	origin := dns.CanonicalName(z.Origin)
	if _, ok := dns.IsDomainName(origin); !ok || origin == "." {
		return nil, fmt.Errorf("zone origin %q is not a domain name", z.Origin)
	}
	s := z.SOA.withDefaults(origin)
	soa := &dns.SOA{Hdr: dns.RR_Header{Name: origin, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: s.TTL},
		Ns: dns.Fqdn(s.Ns), Mbox: dns.Fqdn(s.Mbox), Serial: s.Serial, Refresh: s.Refresh, Retry: s.Retry,
		Expire: s.Expire, Minttl: s.Minimum}
	neg := dns.Copy(soa).(*dns.SOA)
	neg.Hdr.Ttl = min(s.TTL, s.Minimum)
	ns := &dns.NS{Hdr: dns.RR_Header{Name: origin, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: s.TTL}, Ns: dns.Fqdn(s.Ns)}
	return &zone{origin: origin, soa: soa, negSOA: neg, ns: ns, names: map[string]map[uint16][]dns.RR{},
		prev: map[string]map[uint16][]dns.RR{}, below: map[string]int{}}, nil
}

// store is every zone, safe for concurrent use: record changes (DNS
// publication) happen while queries are answered.
type store struct {
	mu    sync.RWMutex
	zones []*zone
	// gen counts the store's changes (under mu's write lock): an answer
	// packed at one generation is good until the next.
	gen atomic.Uint64
}

// find returns the zone with the longest origin that contains name.
func (s *store) find(name string) *zone {
	var best *zone
	for _, z := range s.zones {
		if dns.IsSubDomain(z.origin, name) && (best == nil || len(z.origin) > len(best.origin)) {
			best = z
		}
	}
	return best
}

func (s *store) set(name string, qtype uint16, ttl uint32, values []string) error {
	name = dns.CanonicalName(name)
	rrs := make([]dns.RR, 0, len(values))
	for _, v := range values {
		rr, err := newRR(name, qtype, ttl, v)
		if err != nil {
			return err
		}
		rrs = append(rrs, rr)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	z := s.find(name)
	if z == nil {
		return fmt.Errorf("%s is outside every zone of this server", name)
	}
	if sameRRs(z.names[name][qtype], rrs) {
		return nil // a republication of the same set is not a change
	}
	// A change counts before the unlock: a reader after it packs the new set.
	s.gen.Add(1)
	if len(rrs) == 0 {
		z.drop(name, qtype)
		return nil
	}
	z.remember(name, qtype)
	if z.names[name] == nil {
		z.names[name] = map[uint16][]dns.RR{}
		z.addAncestors(name, 1)
	}
	z.names[name][qtype] = rrs
	return nil
}

func (s *store) remove(name string, qtype uint16) {
	name = dns.CanonicalName(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if z := s.find(name); z != nil {
		z.drop(name, qtype)
		s.gen.Add(1)
	}
}

// drop removes a record set, and the name with its last set; the caller holds
// the lock.
func (z *zone) drop(name string, qtype uint16) {
	if len(z.names[name][qtype]) == 0 {
		return
	}
	z.remember(name, qtype)
	delete(z.names[name], qtype)
	if len(z.names[name]) == 0 {
		delete(z.names, name)
		z.addAncestors(name, -1)
	}
}

// addAncestors counts name under each of its ancestors inside the zone, so
// that an empty non-terminal is known by a map lookup, not a scan.
func (z *zone) addAncestors(name string, delta int) {
	for off, end := dns.NextLabel(name, 0); !end; off, end = dns.NextLabel(name, off) {
		parent := name[off:]
		if len(parent) <= len(z.origin) {
			return
		}
		z.below[parent] += delta
		if z.below[parent] <= 0 {
			delete(z.below, parent)
		}
	}
}

func (s *store) values(name string, qtype uint16) []string {
	name = dns.CanonicalName(name)
	s.mu.RLock()
	defer s.mu.RUnlock()
	z := s.find(name)
	if z == nil {
		return nil
	}
	var out []string
	for _, rr := range z.names[name][qtype] {
		out = append(out, rdata(rr))
	}
	return out
}

// remember keeps the record set about to change; the caller holds the lock.
func (z *zone) remember(name string, qtype uint16) {
	cur := z.names[name][qtype]
	if len(cur) == 0 {
		return
	}
	if z.prev[name] == nil {
		z.prev[name] = map[uint16][]dns.RR{}
	}
	z.prev[name][qtype] = cur
}

// rrs is a copy of name's current record set of qtype.
func (s *store) rrs(name string, qtype uint16) []dns.RR {
	name = dns.CanonicalName(name)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if z := s.find(name); z != nil {
		return copyRRs(z.names[name][qtype])
	}
	return nil
}

// previous is a copy of name's record set of qtype before its last change.
func (s *store) previous(name string, qtype uint16) []dns.RR {
	name = dns.CanonicalName(name)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if z := s.find(name); z != nil {
		return copyRRs(z.prev[name][qtype])
	}
	return nil
}

func sameRRs(a, b []dns.RR) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].String() != b[i].String() {
			return false
		}
	}
	return true
}

func copyRRs(rrs []dns.RR) []dns.RR {
	out := make([]dns.RR, 0, len(rrs))
	for _, rr := range rrs {
		out = append(out, dns.Copy(rr))
	}
	return out
}

// negativeSOA is the SOA for the authority section of a negative answer about
// name, or nil when name is outside every zone.
func (s *store) negativeSOA(name string) dns.RR {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if z := s.find(dns.CanonicalName(name)); z != nil {
		return dns.Copy(z.negSOA)
	}
	return nil
}

// answer is the zone's own, authoritative answer to req: records, NODATA,
// NXDOMAIN, or REFUSED for a name outside every zone. With shared, the answer
// holds the store's own records: cheaper, for answers that are only packed
// (the store replaces record sets, it never changes one in place); actions
// that may edit records get copies.
func (s *store) answer(req *dns.Msg, shared bool) *dns.Msg {
	cp := dns.Copy
	if shared {
		cp = func(rr dns.RR) dns.RR { return rr }
	}
	q := req.Question[0]
	name := dns.CanonicalName(q.Name)
	resp := reply(req)
	s.mu.RLock()
	defer s.mu.RUnlock()
	z := s.find(name)
	if z == nil || q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY {
		resp.Rcode = dns.RcodeRefused
		return resp
	}
	resp.Authoritative = true
	if name == z.origin {
		switch q.Qtype {
		case dns.TypeSOA:
			resp.Answer = []dns.RR{cp(z.soa)}
			return resp
		case dns.TypeNS:
			resp.Answer = []dns.RR{cp(z.ns)}
			return resp
		}
	}
	sets, exists := z.names[name]
	if q.Qtype == dns.TypeANY && len(sets) > 0 {
		// RFC 8482 §4: a non-empty answer to ANY. This server gives the
		// name's record sets ("conventional" ANY, §4.3 allows it), in type
		// order so that the answer is the same every time.
		types := make([]uint16, 0, len(sets))
		for t := range sets {
			types = append(types, t)
		}
		slices.Sort(types)
		for _, t := range types {
			for _, rr := range sets[t] {
				resp.Answer = append(resp.Answer, cp(rr))
			}
		}
		if len(resp.Answer) > 0 {
			return resp
		}
	}
	if rrs := sets[q.Qtype]; len(rrs) > 0 {
		for _, rr := range rrs {
			resp.Answer = append(resp.Answer, cp(rr))
		}
		return resp
	}
	if cname := sets[dns.TypeCNAME]; len(cname) > 0 {
		resp.Answer = append(resp.Answer, cp(cname[0]))
		return resp
	}
	resp.Ns = []dns.RR{cp(z.negSOA)}
	if (exists && len(sets) > 0) || name == z.origin || z.hasBelow(name) {
		return resp // NODATA: the name exists (perhaps only as a parent of others)
	}
	resp.Rcode = dns.RcodeNameError
	return resp
}

// hasBelow reports whether some record's name is below name (an empty
// non-terminal).
func (z *zone) hasBelow(name string) bool { return z.below[name] > 0 }

func newRR(name string, qtype uint16, ttl uint32, value string) (dns.RR, error) {
	hdr := dns.RR_Header{Name: name, Rrtype: qtype, Class: dns.ClassINET, Ttl: ttl}
	switch qtype {
	case dns.TypeA:
		ip := net.ParseIP(value)
		if ip == nil || ip.To4() == nil {
			return nil, fmt.Errorf("A record for %s: %q is not an IPv4 address", name, value)
		}
		return &dns.A{Hdr: hdr, A: ip.To4()}, nil
	case dns.TypeAAAA:
		ip := net.ParseIP(value)
		if ip == nil || ip.To4() != nil {
			return nil, fmt.Errorf("AAAA record for %s: %q is not an IPv6 address", name, value)
		}
		return &dns.AAAA{Hdr: hdr, AAAA: ip}, nil
	}
	rr, err := dns.NewRR(fmt.Sprintf("%s %d IN %s %s", name, ttl, dns.TypeToString[qtype], value))
	if err != nil || rr == nil {
		return nil, fmt.Errorf("%s record for %s: %q: %v", dns.TypeToString[qtype], name, value, err)
	}
	// miekg's text parser accepts some data its packer refuses (an odd
	// number of hex digits, say); a record that cannot go on the wire is
	// refused here, not when a client asks for it.
	buf := make([]byte, dns.MaxMsgSize)
	if _, err := dns.PackRR(rr, buf, 0, nil, false); err != nil {
		return nil, fmt.Errorf("%s record for %s: %q cannot be sent: %v", dns.TypeToString[qtype], name, value, err)
	}
	return rr, nil
}

// rdata is the presentation form of an RR's data, without its header.
func rdata(rr dns.RR) string {
	switch r := rr.(type) {
	case *dns.A:
		return r.A.String()
	case *dns.AAAA:
		return r.AAAA.String()
	}
	return strings.TrimPrefix(rr.String(), rr.Header().String())
}
