package synwatch

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"
)

// Every connection attempt on lo is seen once, refused (nothing listens) or
// accepted, with its source and destination; other packets are not.
func TestSeesEachSYNOnce(t *testing.T) {
	var mu sync.Mutex
	var seen []SYN
	w, err := Start(func(s SYN) { mu.Lock(); seen = append(seen, s); mu.Unlock() })
	if errors.Is(err, ErrUnavailable) && os.Geteuid() != 0 {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	// A refused attempt: a port of an address nothing listens on.
	ln, err := net.Listen("tcp", "127.0.71.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	refused := netip.AddrPortFrom(netip.MustParseAddr("127.0.71.1"), uint16(port))
	var srcs []netip.AddrPort
	for range 3 {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 71, 2)}}
		if c, err := d.Dial("tcp", refused.String()); err == nil {
			c.Close()
			t.Fatal("a port nothing listens on accepted")
		}
	}
	// An accepted one, with data: one SYN, whatever follows.
	ln, err = net.Listen("tcp", "127.0.71.3:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Write([]byte("hello"))
			c.Close()
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Read(make([]byte, 5))
	srcs = append(srcs, netip.MustParseAddrPort(c.LocalAddr().String()))
	c.Close()
	accepted := netip.MustParseAddrPort(ln.Addr().String())

	deadline := time.Now().Add(3 * time.Second)
	for {
		mu.Lock()
		toRefused, toAccepted := 0, 0
		for _, s := range seen {
			switch s.Dst {
			case refused:
				toRefused++
				if s.Src.Addr() != netip.MustParseAddr("127.0.71.2") || s.Time.IsZero() {
					t.Errorf("a SYN to the closed port: %+v", s)
				}
			case accepted:
				toAccepted++
				if s.Src != srcs[0] {
					t.Errorf("a SYN to the listener from %s; want %s", s.Src, srcs[0])
				}
			}
		}
		mu.Unlock()
		if toRefused == 3 && toAccepted == 1 {
			break
		}
		if time.Now().After(deadline) || toRefused > 3 || toAccepted > 1 {
			t.Fatalf("SYNs to the closed port %d (want 3), to the listener %d (want 1)", toRefused, toAccepted)
		}
		time.Sleep(20 * time.Millisecond)
	}
	start := time.Now()
	if err := w.Close(); err != nil {
		t.Error(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Close took %s", d)
	}
	w.Close()
}

func TestParse(t *testing.T) {
	syn := []byte{0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 127, 0, 0, 11, 127, 64, 1, 2,
		0x9c, 0x40, 0x01, 0xbb, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0}
	s, ok := parse(syn)
	if !ok || s.Src.String() != "127.0.0.11:40000" || s.Dst.String() != "127.64.1.2:443" {
		t.Errorf("parse(SYN) = %+v, %v", s, ok)
	}
	synack := append([]byte(nil), syn...)
	synack[33] = 0x12
	udp := append([]byte(nil), syn...)
	udp[9] = 17
	for name, p := range map[string][]byte{"SYN-ACK": synack, "UDP": udp, "short": syn[:30], "IPv6": append([]byte{0x60}, syn[1:]...)} {
		if s, ok := parse(p); ok {
			t.Errorf("parse(%s) = %+v; want no SYN", name, s)
		}
	}
}
