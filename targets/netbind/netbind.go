// Package netbind binds a UDP socket and a TCP listener on one address, as a
// DNS server needs. With port 0 the kernel picks the UDP port, and the TCP
// port of the same number may already be taken (on a busy machine it often
// is): the pair is then given up and tried again on a new port, a bounded
// number of times.
package netbind

import (
	"fmt"
	"net"
	"strconv"
)

// Attempts bounds the tries with port 0. Each try is two binds; a machine
// whose TCP ports are so busy that this many random picks all collide has
// no port to offer.
const Attempts = 20

// UDPAndTCP binds UDP and TCP on addr ("ip:port"). With port 0 both get the
// same free port; with a fixed port there is one try, and its error.
func UDPAndTCP(addr string) (net.PacketConn, net.Listener, error) {
	pc, ln, _, err := bind(addr, Attempts)
	return pc, ln, err
}

// bind is UDPAndTCP that also says how many tries it took.
func bind(addr string, attempts int) (net.PacketConn, net.Listener, int, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("address %q: %w", addr, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return nil, nil, 0, fmt.Errorf("address %q: port %q is not a number from 0 to 65535", addr, port)
	}
	if p != 0 {
		attempts = 1 // the same fixed port would collide again
	}
	var lastErr error
	for try := 1; try <= attempts; try++ {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			// The UDP side chose nothing yet: retrying cannot help.
			return nil, nil, try, err
		}
		_, picked, _ := net.SplitHostPort(pc.LocalAddr().String())
		ln, err := net.Listen("tcp", net.JoinHostPort(host, picked))
		if err == nil {
			return pc, ln, try, nil
		}
		pc.Close()
		lastErr = err
	}
	if attempts > 1 {
		return nil, nil, attempts, fmt.Errorf("binding TCP beside UDP: %d ports tried, each taken for TCP: %w", attempts, lastErr)
	}
	return nil, nil, attempts, fmt.Errorf("binding TCP beside UDP: %w", lastErr)
}
