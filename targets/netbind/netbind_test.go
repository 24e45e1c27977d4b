package netbind

import (
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
)

// With a third of the TCP ports of an address taken, about a third of the
// UDP ports the kernel picks have their TCP twin taken: a single try (what
// dnscache and dnsrelay did) fails then, and the retry must bind anyway.
func TestRetriesWhenTheTCPTwinIsTaken(t *testing.T) {
	const ip = "127.0.77.1" // an address of this test's own: other tests' ports stay free
	lo, hi := ephemeralRange(t)
	taken := occupyTCP(t, ip, lo, hi, 3)
	t.Logf("%d of the %d TCP ports of %s taken", taken, hi-lo+1, ip)

	const calls = 30 // (2/3)^30 ≈ 5e-6: the chance that no first try collides
	retried := 0
	for range calls {
		pc, ln, tries, err := bind(ip+":0", Attempts)
		if err != nil {
			t.Fatalf("bind with %d of its TCP ports taken: %v", taken, err)
		}
		udpPort := pc.LocalAddr().(*net.UDPAddr).Port
		tcpPort := ln.Addr().(*net.TCPAddr).Port
		pc.Close()
		ln.Close()
		if udpPort != tcpPort {
			t.Fatalf("UDP on %d, TCP on %d: want one port", udpPort, tcpPort)
		}
		if tries > 1 {
			retried++
		}
	}
	if retried == 0 {
		t.Fatalf("no call of %d met a taken TCP port: the test did not make the collision happen", calls)
	}
	t.Logf("%d of %d calls collided on their first port and bound on a retry", retried, calls)
}

// A fixed port is tried once: another try would collide the same way.
func TestFixedPortIsTriedOnce(t *testing.T) {
	pc, ln, err := UDPAndTCP("127.0.77.2:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close() // UDP free again, TCP still held
	pc2, ln2, tries, err := bind(fmt.Sprintf("127.0.77.2:%d", port), Attempts)
	if err == nil {
		pc2.Close()
		ln2.Close()
		t.Fatalf("bound TCP on port %d while a listener holds it", port)
	}
	if tries != 1 || !strings.Contains(err.Error(), "binding TCP beside UDP") {
		t.Errorf("%d tries, error %q; want one try and an error that says the TCP bind failed", tries, err)
	}
}

func TestBadAddress(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1":       "missing port",
		"127.0.0.1:65536": "from 0 to 65535",
		"127.0.0.1:dns":   "from 0 to 65535",
		"203.0.113.1:0":   "assign requested address",
	} {
		if pc, ln, err := UDPAndTCP(addr); err == nil || !strings.Contains(err.Error(), want) {
			if err == nil {
				pc.Close()
				ln.Close()
			}
			t.Errorf("UDPAndTCP(%q): %v; want an error with %q", addr, err, want)
		}
	}
}

// ephemeralRange is the kernel's range of ports for port 0.
func ephemeralRange(t *testing.T) (lo, hi int) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		t.Skipf("no ephemeral port range to read (%v): the collision needs Linux", err)
	}
	if _, err := fmt.Sscan(string(b), &lo, &hi); err != nil || lo > hi {
		t.Skipf("ip_local_port_range %q unreadable", b)
	}
	return lo, hi
}

// occupyTCP binds a TCP socket (without SO_REUSEADDR, so no other socket
// can bind the port) on every every-th port of ip in [lo, hi], until the test
// ends, and returns how many ports are taken (ports someone else holds
// already count).
func occupyTCP(t *testing.T, ip string, lo, hi, every int) int {
	var lim syscall.Rlimit
	need := (hi-lo+1)/every + 256
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur < uint64(need) {
		t.Skipf("taking %d ports needs %d file descriptors; the limit is %d", need-256, need, lim.Cur)
	}
	addr := [4]byte(net.ParseIP(ip).To4())
	taken := 0
	for port := lo + (every-lo%every)%every; port <= hi; port += every {
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { syscall.Close(fd) })
		switch err := syscall.Bind(fd, &syscall.SockaddrInet4{Port: port, Addr: addr}); err {
		case nil, syscall.EADDRINUSE:
			taken++
		default:
			t.Fatalf("binding TCP %s:%d: %v", ip, port, err)
		}
	}
	return taken
}
