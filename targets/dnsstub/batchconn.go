package dnsstub

import (
	"errors"
	"net"
	"sync"

	"github.com/miekg/dns"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// Once the zone's answers are packed in advance, a query that no fault
// touches costs mostly two system calls: one to read it, one to send the
// answer (a profile under dnsperf: 46 % of the server's CPU in sendmsg, 12 %
// in recvmsg). batchConn is the UDP socket under miekg's server that reads
// and sends in batches (recvmmsg, sendmmsg: golang.org/x/net's ReadBatch and
// WriteBatch), as NSD does: under load one system call carries many
// packets; when idle, a batch is one packet and nothing waits. miekg keeps
// all of the protocol (it serves a generic net.PacketConn through
// ReadFrom/WriteTo: FORMERR, NOTIMP, the handler per packet).

// batchSize is the most packets one system call reads or sends.
const batchSize = 32

// batchPackets is what the batch calls of x/net's ipv4 and ipv6 packet
// conns share.
type batchPackets interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

type outPacket struct {
	b    []byte
	addr net.Addr
}

type batchConn struct {
	*net.UDPConn // deadlines, addresses, Close; not a *net.UDPConn to miekg, so it uses ReadFrom/WriteTo
	batch        batchPackets
	// fast answers a packet as it is read, or returns nil to pass it on
	// to miekg (fastpath.go); nil: every packet is passed on.
	fast func(pkt []byte, from net.Addr) []byte

	// Reading: miekg's one serving goroutine.
	in         []ipv4.Message
	read, next int
	answered   []ipv4.Message // the fast path's replies to the current batch, sent together

	out       chan outPacket
	done      chan struct{}
	closeOnce sync.Once
	flushed   sync.WaitGroup
}

func newBatchConn(c *net.UDPConn, fast func(pkt []byte, from net.Addr) []byte) *batchConn {
	bc := &batchConn{UDPConn: c, fast: fast, out: make(chan outPacket, 4*batchSize), done: make(chan struct{})}
	if a, ok := c.LocalAddr().(*net.UDPAddr); ok && a.IP.To4() == nil {
		bc.batch = ipv6.NewPacketConn(c)
	} else {
		bc.batch = ipv4.NewPacketConn(c)
	}
	bc.in = make([]ipv4.Message, batchSize)
	for i := range bc.in {
		bc.in[i].Buffers = [][]byte{make([]byte, dns.DefaultMsgSize)}
	}
	bc.flushed.Add(1)
	go bc.flush()
	return bc
}

// ReadFrom returns the next packet of the current batch that the fast path
// did not answer, reading a new batch (at least one packet, at most
// batchSize) when it is used up.
func (c *batchConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		if c.next >= c.read {
			c.sendAnswered()
			n, err := c.batch.ReadBatch(c.in, 0)
			if err != nil {
				return 0, nil, err
			}
			c.read, c.next = n, 0
		}
		m := &c.in[c.next]
		c.next++
		pkt := m.Buffers[0][:m.N]
		if c.fast != nil {
			if reply := c.fast(pkt, m.Addr); reply != nil {
				c.answered = append(c.answered, ipv4.Message{Buffers: [][]byte{reply}, Addr: m.Addr})
				continue
			}
		}
		c.sendAnswered()
		return copy(b, pkt), m.Addr, nil
	}
}

// sendAnswered sends the fast path's replies in one system call (or as
// few as the kernel takes), from the reader: no hand-over to the sender.
func (c *batchConn) sendAnswered() {
	sendAll(c.batch, c.answered)
	clear(c.answered) // the replies' buffers go to the collector
	c.answered = c.answered[:0]
}

// sendAll sends msgs, skipping any that the kernel refuses.
func sendAll(batch batchPackets, msgs []ipv4.Message) {
	for sent := 0; sent < len(msgs); {
		n, err := batch.WriteBatch(msgs[sent:], 0)
		if err != nil {
			// One bad destination: skip it, send the rest.
			n = max(n, 1)
		}
		sent += n
	}
}

var errClosed = errors.New("dnsstub: UDP socket closed")

// WriteTo queues an answer for the sender; UDP gives no delivery guarantee,
// so a queued packet is as good as sent.
func (c *batchConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	p := outPacket{b: append([]byte(nil), b...), addr: addr}
	select {
	case <-c.done:
		return 0, errClosed
	default:
	}
	select {
	case c.out <- p:
		return len(b), nil
	case <-c.done:
		return 0, errClosed
	}
}

// flush sends what is queued: the first packet at once, with every other
// one queued by then in the same system call.
func (c *batchConn) flush() {
	defer c.flushed.Done()
	msgs := make([]ipv4.Message, 0, batchSize)
	for {
		var p outPacket
		select {
		case p = <-c.out:
		case <-c.done:
			return
		}
		msgs = append(msgs[:0], ipv4.Message{Buffers: [][]byte{p.b}, Addr: p.addr})
	more:
		for len(msgs) < batchSize {
			select {
			case p = <-c.out:
				msgs = append(msgs, ipv4.Message{Buffers: [][]byte{p.b}, Addr: p.addr})
			default:
				break more
			}
		}
		sendAll(c.batch, msgs)
	}
}

func (c *batchConn) Close() error {
	c.closeOnce.Do(func() { close(c.done) })
	err := c.UDPConn.Close()
	c.flushed.Wait()
	return err
}
