// Package synwatch sees TCP connection attempts on the loopback interface:
// every SYN (without ACK) that arrives, with its source and destination. A
// connection refused by a closed port never reaches a listener, so nothing
// else in faultline can see it; a packet socket on lo can. It needs
// CAP_NET_RAW in the network namespace's user namespace (root, or root in
// faultline's sandbox).
package synwatch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// SYN is one connection attempt.
type SYN struct {
	Time     time.Time
	Src, Dst netip.AddrPort
}

// Watcher reads SYNs from lo until Close.
type Watcher struct {
	fd     int
	on     func(SYN)
	closed atomic.Bool
	done   chan struct{}
	once   sync.Once
}

// ErrUnavailable wraps every reason a watcher cannot be made here.
var ErrUnavailable = errors.New("no packet socket on lo")

// filter passes IPv4 TCP segments, not fragments, whose flags have SYN
// without ACK (on a SOCK_DGRAM packet socket the program sees the packet
// from its IP header): classic BPF, as tcpdump 'tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn' compiles.
var filter = []unix.SockFilter{
	{Code: 0x30, K: 9},                    // 0: ldb [9]: protocol
	{Code: 0x15, Jt: 0, Jf: 7, K: 6},      // 1: jeq TCP, else drop
	{Code: 0x28, K: 6},                    // 2: ldh [6]: flags and fragment offset
	{Code: 0x45, Jt: 5, Jf: 0, K: 0x1fff}, // 3: jset fragment offset: drop
	{Code: 0xb1, K: 0},                    // 4: ldx 4*([0]&0xf): the IP header's length
	{Code: 0x50, K: 13},                   // 5: ldb [x+13]: TCP flags
	{Code: 0x54, K: 0x12},                 // 6: and SYN|ACK
	{Code: 0x15, Jt: 0, Jf: 1, K: 0x02},   // 7: jeq SYN, else drop
	{Code: 0x06, K: 128},                  // 8: ret 128 bytes: headers
	{Code: 0x06, K: 0},                    // 9: drop
}

// Start opens a packet socket on lo and calls on, from one goroutine, for
// every SYN that arrives there until Close.
func Start(on func(SYN)) (*Watcher, error) {
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	proto := htons(unix.ETH_P_IP)
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, int(proto))
	if err != nil {
		return nil, fmt.Errorf("%w: %v (it needs CAP_NET_RAW: root, or faultline's sandbox)", ErrUnavailable, err)
	}
	fail := func(what string, err error) (*Watcher, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("%w: %s: %v", ErrUnavailable, what, err)
	}
	// The filter before the bind, so nothing else queues; each packet once
	// (lo shows it outgoing and incoming): the incoming copy.
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}); err != nil {
		return fail("attaching the filter", err)
	}
	unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1) // Linux ≥ 4.20; the packet type is checked too
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 100_000}); err != nil {
		return fail("setting a receive timeout", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: lo.Index}); err != nil {
		return fail("binding to lo", err)
	}
	w := &Watcher{fd: fd, on: on, done: make(chan struct{})}
	go w.read()
	return w, nil
}

func (w *Watcher) read() {
	defer close(w.done)
	buf := make([]byte, 256)
	for !w.closed.Load() {
		n, from, err := unix.Recvfrom(w.fd, buf, 0)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue // the timeout: look at closed again
			}
			return
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		if syn, ok := parse(buf[:n]); ok {
			syn.Time = time.Now()
			w.on(syn)
		}
	}
}

// parse reads an IPv4 TCP SYN's addresses and ports; ok is false for any
// other packet.
func parse(p []byte) (SYN, bool) {
	if len(p) < 20 || p[0]>>4 != 4 || p[9] != unix.IPPROTO_TCP {
		return SYN{}, false
	}
	ihl := int(p[0]&0x0f) * 4
	if ihl < 20 || len(p) < ihl+14 || binary.BigEndian.Uint16(p[6:8])&0x1fff != 0 {
		return SYN{}, false
	}
	tcp := p[ihl:]
	if tcp[13]&0x12 != 0x02 {
		return SYN{}, false
	}
	src := netip.AddrFrom4([4]byte(p[12:16]))
	dst := netip.AddrFrom4([4]byte(p[16:20]))
	return SYN{Src: netip.AddrPortFrom(src, binary.BigEndian.Uint16(tcp[0:2])), Dst: netip.AddrPortFrom(dst, binary.BigEndian.Uint16(tcp[2:4]))}, true
}

// Close stops the watcher (within its 100 ms receive timeout) and closes
// the socket; on is not called after Close returns. It is idempotent.
func (w *Watcher) Close() error {
	var err error
	w.once.Do(func() {
		w.closed.Store(true)
		<-w.done
		err = unix.Close(w.fd)
	})
	return err
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
