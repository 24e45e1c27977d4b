package nlb_test

import (
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/targets/links/linkstest"
	"github.com/faultline-dev/faultline/targets/nlb"
	"github.com/faultline-dev/faultline/targets/nlb/nlbtest"
)

// echoOnce writes msg on c and reads its echo back.
func echoOnce(c net.Conn, msg string) error {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		return err
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != msg {
		return errors.New("echo returned " + string(buf))
	}
	return nil
}

func closedWith(reason string) func(nlb.Event) bool {
	return func(e nlb.Event) bool { return e.Kind == "conn.closed" && e.Detail == reason }
}

// A connection older than the maximum age is closed gracefully between two
// exchanges: every exchange it began completes, then the client reads EOF
// (a FIN, not an RST), and the load balancer says why.
func TestMaxAgeClosesBetweenExchanges(t *testing.T) {
	echo := linkstest.Echo(t)
	lb, rec := nlbtest.Start(t, nlb.Config{NodeIPs: []string{"127.0.1.1"}, Targets: []string{echo}, MaxAge: 300 * time.Millisecond})
	c, err := net.DialTimeout("tcp", lb.NodeAddrs()[0], 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	exchanges := 0
	var last error
	for time.Since(start) < 30*time.Second {
		if last = echoOnce(c, "ping"); last != nil {
			break
		}
		exchanges++
		// Well apart, so the close falls between two exchanges even when
		// the machine is slow to run the load balancer's timer.
		time.Sleep(100 * time.Millisecond)
	}
	if !errors.Is(last, io.EOF) {
		t.Fatalf("after %d exchanges the connection ended with %v; want EOF (a graceful close)", exchanges, last)
	}
	if age := time.Since(start); age < 300*time.Millisecond {
		t.Errorf("closed after %s; want no earlier than the maximum age", age)
	}
	if exchanges == 0 {
		t.Error("no exchange completed before the close")
	}
	rec.WaitFor(t, 5*time.Second, closedWith(nlb.ClosedMaxAge))
	// A new connection works: it is the old one that aged.
	if err := roundTrip(t, lb.NodeAddrs()[0], "again"); err != nil {
		t.Errorf("a new connection after the close: %v", err)
	}
}

// An idle connection is forgotten silently after the idle timeout: nothing
// reaches the client while it waits, and its next packet gets an RST and is
// not passed on. A busy one outlives the idle timeout.
func TestIdleTimeoutResetsOnTheNextPacket(t *testing.T) {
	echo := linkstest.Echo(t)
	lb, rec := nlbtest.Start(t, nlb.Config{NodeIPs: []string{"127.0.1.1"}, Targets: []string{echo}, IdleTimeout: 500 * time.Millisecond})
	node := lb.NodeAddrs()[0]

	busy, err := net.DialTimeout("tcp", node, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	idle, err := net.DialTimeout("tcp", node, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if err := echoOnce(idle, "hello"); err != nil {
		t.Fatal(err)
	}
	// The busy connection sends more often than the idle timeout, until the
	// idle one has been forgotten.
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if err := echoOnce(busy, "busy"); err != nil {
			t.Fatalf("the busy connection: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
		if expired(rec) {
			break
		}
	}
	if !expired(rec) {
		t.Fatal("the idle connection was never forgotten")
	}
	// Forgotten, but the client was told nothing: no FIN, no RST yet.
	idle.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := idle.Read(make([]byte, 1)); !isTimeout(err) {
		t.Fatalf("reading the forgotten connection before sending: %v; want nothing (a timeout)", err)
	}
	// Its next packet gets the RST.
	err = echoOnce(idle, "late")
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("the next exchange on the idle connection: %v; want a reset", err)
	}
	rec.WaitFor(t, 5*time.Second, closedWith(nlb.ClosedIdle))
	// The busy one is still up.
	if err := echoOnce(busy, "still"); err != nil {
		t.Errorf("the busy connection after the idle one was reset: %v", err)
	}
}

func expired(rec *nlbtest.Recorder) bool {
	for _, e := range rec.Events() {
		if e.Kind == "conn.expired" {
			return true
		}
	}
	return false
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// ResetConnections resets every connection of the load balancer at once:
// each client reads an RST, and each close and the reset are reported.
func TestResetConnectionsResetsEveryOne(t *testing.T) {
	echo := linkstest.Echo(t)
	lb, rec := nlbtest.Start(t, nlb.Config{NodeIPs: []string{"127.0.1.1", "127.0.1.2"}, Targets: []string{echo}})
	var conns []net.Conn
	for i := 0; i < 4; i++ {
		c, err := net.DialTimeout("tcp", lb.NodeAddrs()[i%2], 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := echoOnce(c, "x"); err != nil { // accepted and forwarded
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	if n := lb.ResetConnections(); n != 4 {
		t.Fatalf("ResetConnections reset %d; want 4", n)
	}
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("connection %d after the reset: %v; want ECONNRESET", i, err)
		}
	}
	rec.WaitFor(t, 5*time.Second, func(e nlb.Event) bool { return e.Kind == "conns.reset" && e.Detail == "reset 4 connections" })
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := 0
		for _, e := range rec.Events() {
			if closedWith(nlb.ClosedReset)(e) {
				n++
			}
		}
		if n == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d conn.closed events say reset; want 4", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := roundTrip(t, lb.NodeAddrs()[0], "after"); err != nil {
		t.Errorf("a new connection after the reset: %v", err)
	}
}
