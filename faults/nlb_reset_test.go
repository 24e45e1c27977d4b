package faults_test

import (
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/faults"
	"github.com/faultline-dev/faultline/targets/links/linkstest"
	"github.com/faultline-dev/faultline/targets/nlb"
	"github.com/faultline-dev/faultline/targets/nlb/nlbtest"
)

// dialEcho connects through the load balancer and completes one exchange,
// so the connection is carried.
func dialEcho(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	return c
}

func resetWithin(c net.Conn, d time.Duration) error {
	c.SetReadDeadline(time.Now().Add(d))
	_, err := c.Read(make([]byte, 1))
	return err
}

// nlb.reset-connections resets every connection of the region's load
// balancer as it is applied, and with every, again while applied; once
// healed, nothing more is reset.
func TestResetConnectionsKind(t *testing.T) {
	lb, _ := nlbtest.Start(t, nlb.Config{Region: "us-east-1", NodeIPs: []string{"127.0.1.1"}, Targets: []string{linkstest.Echo(t)}})
	w := newWorld(t)
	w.lb = lb
	node := lb.NodeAddrs()[0]

	before := []net.Conn{dialEcho(t, node), dialEcho(t, node)}
	heal := apply(t, w, "nlb.reset-connections", "us-east-1", map[string]string{"every": "100ms"})
	for i, c := range before {
		if err := resetWithin(c, 5*time.Second); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("connection %d open when the fault was applied: %v; want ECONNRESET", i, err)
		}
	}
	// Opened while it is applied: reset at the next interval.
	during := dialEcho(t, node)
	if err := resetWithin(during, 10*time.Second); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("a connection opened while applied: %v; want ECONNRESET", err)
	}
	if err := heal(); err != nil {
		t.Fatal(err)
	}
	// Healed: the repetitions have stopped (heal waits for them).
	after := dialEcho(t, node)
	if err := resetWithin(after, 300*time.Millisecond); !isTimeout(err) {
		t.Errorf("a connection after the heal: %v; want it left alone", err)
	}

	// A region without a load balancer is an error, and nothing is left.
	k, _ := faults.Lookup("nlb.reset-connections")
	a, err := faults.Validate(k, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Apply(w, faults.Fault{ID: "f2", Kind: k.Name(), Target: "us-west-2"}); err == nil {
		t.Error("applied to a region without a load balancer")
	}
	if _, err := faults.Validate(k, map[string]string{"every": "10ms"}); err == nil || !strings.Contains(err.Error(), "at least 50ms") {
		t.Errorf("every: 10ms: %v; want refused", err)
	}
	if faults.ReachOf(k) != faults.ReachRegion {
		t.Errorf("reach %q; want region (connections through the region's nodes)", faults.ReachOf(k))
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
