package dnsstub

import (
	"encoding/binary"
	"net"
	"time"

	"github.com/miekg/dns"
)

// Under load, most of what a query costs outside the kernel is miekg's work
// around the handler: a goroutine per packet (whose stack then grows) and
// the query unpacked into a message. A plain query whose answer is already
// packed (answercache.go) needs neither: the UDP socket's reader reads its
// header and question from the wire, finds the packed answer and queues it
// with the query's ID. Everything else — a query of another shape, an
// answer not yet packed, a rule whose answers are not fixed — goes on to
// miekg and the handler as before, so the fast path decides nothing of its
// own: it only replays what the handler packed.

// wireQuery is what the fast path reads of a query in wire form.
type wireQuery struct {
	id  uint16
	key answerKey
}

// Header bits (RFC 1035 §4.1.1) of the two flag octets.
const (
	flagQR     = 0x80 // octet 2: a response
	flagOpcode = 0x78 // octet 2: the opcode's 4 bits
	flagAA     = 0x04
	flagTC     = 0x02
	flagRD     = 0x01
	flagCD     = 0x10 // octet 3
	optDO      = 0x8000
)

// parseQuery reads pkt as a plain UDP query the answer cache could hold:
// opcode QUERY, one question whose name is plain letters, digits, '-', '_'
// and '*' (no compression, nothing miekg would escape), and at most an
// EDNS0 OPT record of version 0 without options. Anything else is not ok
// (the handler answers it). The key is the one keyOf gives for the message
// miekg would unpack from pkt; FuzzParseQueryAgreesWithMiekg holds them
// equal.
func parseQuery(pkt []byte) (wireQuery, bool) {
	var q wireQuery
	if len(pkt) < 12 {
		return q, false
	}
	f1, f2 := pkt[2], pkt[3]
	if f1&(flagQR|flagOpcode|flagAA|flagTC) != 0 {
		return q, false
	}
	qd, an, ns, ar := binary.BigEndian.Uint16(pkt[4:]), binary.BigEndian.Uint16(pkt[6:]), binary.BigEndian.Uint16(pkt[8:]), binary.BigEndian.Uint16(pkt[10:])
	if qd != 1 || an != 0 || ns != 0 || ar > 1 {
		return q, false
	}
	q.id = binary.BigEndian.Uint16(pkt)
	q.key.rd, q.key.cd = f1&flagRD != 0, f2&flagCD != 0
	var name [255]byte
	n, off := 0, 12
	for {
		if off >= len(pkt) {
			return q, false
		}
		l := int(pkt[off])
		off++
		if l == 0 {
			break
		}
		if l > 63 || off+l > len(pkt) || n+l+1 > 254 {
			return q, false // a pointer, an extended label type or too long
		}
		for _, b := range pkt[off : off+l] {
			if !plainNameByte(b) {
				return q, false
			}
			name[n] = b
			n++
		}
		name[n] = '.'
		n++
		off += l
	}
	if n == 0 || off+4 > len(pkt) {
		return q, false // the root, or no type and class
	}
	q.key.name = string(name[:n])
	q.key.qtype, q.key.qclass = binary.BigEndian.Uint16(pkt[off:]), binary.BigEndian.Uint16(pkt[off+2:])
	off += 4
	q.key.udpSize = dns.MinMsgSize
	if ar == 1 {
		// OPT: root name, type 41, class = the client's UDP size, TTL =
		// extended rcode, version, flags; no options.
		if off+11 != len(pkt) || pkt[off] != 0 || binary.BigEndian.Uint16(pkt[off+1:]) != dns.TypeOPT ||
			pkt[off+5] != 0 || pkt[off+6] != 0 || binary.BigEndian.Uint16(pkt[off+9:]) != 0 {
			return q, false
		}
		q.key.edns = true
		q.key.udpSize = max(binary.BigEndian.Uint16(pkt[off+3:]), dns.MinMsgSize)
		q.key.do = binary.BigEndian.Uint16(pkt[off+7:])&optDO != 0
		off += 11
	}
	return q, off == len(pkt)
}

// plainNameByte is a byte miekg writes into a name's presentation form as
// it is (it escapes the others).
func plainNameByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_' || b == '*'
}

// answerFromCache is the fast path: the packed reply to pkt from client,
// or nil for the handler to answer it. A query that a rule of chance
// selects goes to the handler undrawn (drawn here and again there, it
// would be drawn twice), as does one a rule whose answers are not fixed
// selects (a delay must not hold the reader).
func (s *Server) answerFromCache(pkt []byte, from net.Addr) []byte {
	s.inflight.Add(1) // Close waits for an observer call under way, as for the handler's
	defer s.inflight.Done()
	select {
	case <-s.done:
		return nil
	default:
	}
	udp, ok := from.(*net.UDPAddr)
	if !ok {
		return nil
	}
	q, ok := parseQuery(pkt)
	if !ok {
		return nil
	}
	name := dns.CanonicalName(q.key.name)
	cache := &s.answers
	ar, ok := s.rules.matchWithoutChance(name, q.key.qtype, udp.AddrPort().Addr().Unmap())
	if !ok {
		return nil
	}
	if ar != nil {
		cache = ar.answers
	}
	a, ok := cache.get(q.key, s.store.gen.Load())
	if !ok {
		return nil
	}
	if s.cfg.Observer != nil {
		s.cfg.Observer(QueryEvent{Time: time.Now(), Client: udp.String(), Proto: "udp", Name: name,
			Type: typeName(q.key.qtype), Rcode: a.rcode, Answers: a.answers, Fault: a.fault})
	}
	return a.withID(q.id)
}
