package nlb_test

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/targets/links"
	"github.com/faultline-dev/faultline/targets/links/linkstest"
	"github.com/faultline-dev/faultline/targets/nlb"
	"github.com/faultline-dev/faultline/targets/nlb/nlbtest"
)

// A node listens on its aliases too, on its port: a connection there is the
// node's, and every conn.* event says where it arrived (Local) and from
// whom (Client). A node that is down is down on its aliases; up again, it
// serves on them again.
func TestAliasesAreTheNode(t *testing.T) {
	a := linkstest.Echo(t)
	lb, rec := nlbtest.Start(t, nlb.Config{NodeIPs: []string{"127.0.1.1", "127.0.1.2"}, Targets: []string{a}, HealthCheck: fast,
		Aliases: [][]string{{"127.64.1.1", "127.65.1.1"}, {"127.64.1.2"}}})
	port := strconv.Itoa(lb.Port())
	alias := func(ip string) string { return net.JoinHostPort(ip, port) }
	if got := lb.NodeAliases(0); len(got) != 2 || got[1] != "127.65.1.1" {
		t.Errorf("NodeAliases(0) = %v", got)
	}
	for _, addr := range []string{alias("127.64.1.1"), alias("127.65.1.1"), alias("127.64.1.2")} {
		if err := roundTrip(t, addr, "ping"); err != nil {
			t.Fatalf("through the alias %s: %v", addr, err)
		}
	}
	closed := rec.WaitFor(t, 2*time.Second, func(e nlb.Event) bool { return e.Kind == "conn.closed" && e.Local == alias("127.64.1.2") })
	var accepted *nlb.Event
	for i, e := range closed {
		if e.Kind == "conn.accepted" && e.Local == alias("127.65.1.1") {
			accepted = &closed[i]
		}
	}
	switch {
	case accepted == nil:
		t.Fatalf("no conn.accepted at the alias 127.65.1.1: %+v", closed)
	case accepted.Node != lb.NodeAddrs()[0] || accepted.Client == "" || accepted.Started.IsZero():
		t.Errorf("conn.accepted at an alias: %+v; want node 1's, with the client's address and when", *accepted)
	}

	if err := lb.NodeDown(0); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{alias("127.64.1.1"), alias("127.65.1.1")} {
		if err := roundTrip(t, addr, "x"); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("the alias %s of a node that is down: %v; want connection refused", addr, err)
		}
	}
	if err := roundTrip(t, alias("127.64.1.2"), "x"); err != nil {
		t.Errorf("node 2's alias while node 1 is down: %v", err)
	}
	if err := lb.NodeUp(0); err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(t, alias("127.65.1.1"), "y"); err != nil {
		t.Errorf("the alias after the node came back: %v", err)
	}

	// A connection the node accepted at an alias but could not carry: the
	// failure names the alias and the client too.
	lb.DataLink(a).Down()
	if err := roundTrip(t, alias("127.64.1.1"), "z"); err == nil {
		t.Fatal("a connection went through a downed data link")
	}
	failed := rec.WaitFor(t, 2*time.Second, func(e nlb.Event) bool { return e.Kind == "conn.failed" && e.Local == alias("127.64.1.1") })
	if f := failed[len(failed)-1]; f.Client == "" || f.Target != a || f.Started.IsZero() || f.Detail == "" {
		t.Errorf("conn.failed = %+v; want the client, the target, when it was accepted and why", f)
	}
}

// Aliases bind together with the nodes: a port the alias cannot have is
// the node's problem too (with port 0 the bind starts over on another port;
// with a fixed one it is an error that names the address).
func TestAliasesBindWithTheNodes(t *testing.T) {
	a := linkstest.Echo(t)
	taken, err := net.Listen("tcp", "127.66.1.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	hold := taken.Addr().(*net.TCPAddr).Port
	hub := links.NewHub()
	defer hub.Close()
	lb, err := nlb.Start(t.Context(), nlb.Config{Region: "r", NodeIPs: []string{"127.0.1.1"}, Port: hold, Targets: []string{a},
		HealthCheck: fast, Links: hub, Aliases: [][]string{{"127.66.1.1"}}})
	if err == nil {
		lb.Close()
		t.Fatal("started with its alias's port taken")
	}
	if !strings.Contains(err.Error(), "127.66.1.1:"+strconv.Itoa(hold)) {
		t.Errorf("err = %v; want it to name the alias's address", err)
	}
	if c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.1.1", strconv.Itoa(hold)), 300*time.Millisecond); err == nil {
		c.Close()
		t.Error("the node kept its address after failing to bind its alias")
	}
}
