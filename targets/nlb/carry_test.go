package nlb_test

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/targets/links"
	"github.com/faultline-dev/faultline/targets/links/linkstest"
	"github.com/faultline-dev/faultline/targets/nlb"
	"github.com/faultline-dev/faultline/targets/nlb/nlbtest"
	"github.com/faultline-dev/faultline/targets/tlsca"
)

// The node carries its connections itself, two hops (client → node →
// target); the data link's toxics act on them all the same: added while a
// connection is open, they slow it from its next exchange on.
func TestDataLinkToxicsActOnNodeConnections(t *testing.T) {
	echo := linkstest.Echo(t)
	lb, _ := nlbtest.Start(t, nlb.Config{NodeIPs: []string{"127.0.1.1"}, Targets: []string{echo}})
	c, err := net.DialTimeout("tcp", lb.NodeAddrs()[0], 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := echoOnce(c, "before"); err != nil {
		t.Fatal(err)
	}
	link := lb.DataLink(echo)
	if err := link.AddToxic(links.Toxic{Name: "slow", Type: "latency", Attributes: map[string]any{"latency": 200}}); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	if err := echoOnce(c, "during"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(began); d < 200*time.Millisecond {
		t.Errorf("an exchange on the open connection took %s under the data link's 200 ms latency", d)
	}
	if err := link.RemoveToxic("slow"); err != nil {
		t.Fatal(err)
	}
	if err := echoOnce(c, "after"); err != nil {
		t.Errorf("after the toxic went: %v", err)
	}
}

// The flow's accounts hold on a connection that runs through toxics: idle,
// it is forgotten, and its next packet gets the RST, as without them.
func TestIdleTimeoutUnderToxics(t *testing.T) {
	echo := linkstest.Echo(t)
	lb, rec := nlbtest.Start(t, nlb.Config{NodeIPs: []string{"127.0.1.1"}, Targets: []string{echo}, IdleTimeout: 400 * time.Millisecond})
	link := lb.DataLink(echo)
	for _, stream := range []string{"upstream", "downstream"} {
		if err := link.AddToxic(links.Toxic{Name: "lag-" + stream, Type: "latency", Stream: stream, Attributes: map[string]any{"latency": 1}}); err != nil {
			t.Fatal(err)
		}
	}
	c, err := net.DialTimeout("tcp", lb.NodeAddrs()[0], 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := echoOnce(c, "hello"); err != nil {
		t.Fatal(err)
	}
	rec.WaitFor(t, 30*time.Second, func(e nlb.Event) bool { return e.Kind == "conn.expired" })
	if err := echoOnce(c, "late"); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("the next exchange on the forgotten connection: %v; want a reset", err)
	}
	rec.WaitFor(t, 5*time.Second, closedWith(nlb.ClosedIdle))
}

// A TLS listener's connection meets a reset_peer already on the data link:
// it is ended (the node's chain never sees a *net.TCPConn, which toxiproxy's
// own would have required), and once the toxic goes, TLS connections pass.
func TestTLSListenerUnderResetPeer(t *testing.T) {
	echo := linkstest.Echo(t)
	ca, err := tlsca.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close()
	cert, err := ca.Issue("echo.test")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.1.1:0") // a free port for the TLS listener
	if err != nil {
		t.Fatal(err)
	}
	tlsPort := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	lb, rec := nlbtest.Start(t, nlb.Config{NodeIPs: []string{"127.0.1.1"}, Targets: []string{echo},
		TLS: &tls.Config{Certificates: []tls.Certificate{cert}}, TLSPort: tlsPort})
	node := net.JoinHostPort("127.0.1.1", strconv.Itoa(tlsPort))
	link := lb.DataLink(echo)
	if err := link.AddToxic(links.Toxic{Name: "rst", Type: "reset_peer", Stream: "upstream", Attributes: map[string]any{"timeout": 0}}); err != nil {
		t.Fatal(err)
	}
	dial := func() *tls.Conn {
		t.Helper()
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", node, &tls.Config{ServerName: "echo.test", RootCAs: ca.Pool()})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := dial()
	defer c.Close()
	if err := echoOnce(c, "x"); err == nil || isTimeout(err) {
		t.Fatalf("an exchange under reset_peer: %v; want the connection ended", err)
	}
	rec.WaitFor(t, 5*time.Second, func(e nlb.Event) bool { return e.Kind == "conn.closed" && e.Target == echo })
	if err := link.RemoveToxic("rst"); err != nil {
		t.Fatal(err)
	}
	c2 := dial()
	defer c2.Close()
	if err := echoOnce(c2, "y"); err != nil {
		t.Errorf("after the reset_peer went: %v", err)
	}
}

// The node observes the responses that reach the client, after the data
// link's toxics: one a timeout toxic holds is reported as never answered.
func TestObservedExchangeHeldByAToxic(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))
	defer srv.Close()
	target := strings.TrimPrefix(srv.URL, "http://")
	lb, rec := nlbtest.Start(t, nlb.Config{NodeIPs: []string{"127.0.1.1"}, Targets: []string{target}, ObserveHTTP: true})
	get := func(path string, within time.Duration) error {
		c, err := net.DialTimeout("tcp", lb.NodeAddrs()[0], 5*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(within))
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path)
		_, err = io.ReadAtLeast(c, make([]byte, 1), 1)
		return err
	}
	if err := get("/answered", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	rec.WaitFor(t, 5*time.Second, func(e nlb.Event) bool { return e.Kind == "http.request" && e.Op == "GET /answered" && e.OK })
	if err := lb.DataLink(target).AddToxic(links.Toxic{Name: "hold", Type: "timeout", Attributes: map[string]any{"timeout": 0}}); err != nil {
		t.Fatal(err)
	}
	if err := get("/held", 300*time.Millisecond); !isTimeout(err) {
		t.Fatalf("a request whose response the toxic holds: %v; want no answer", err)
	}
	evs := rec.WaitFor(t, 5*time.Second, func(e nlb.Event) bool { return e.Kind == "http.request" && e.Op == "GET /held" })
	if e := evs[len(evs)-1]; e.OK || !strings.Contains(e.Detail, "closed before a response") {
		t.Errorf("the held exchange was reported %+v; want it unanswered", e)
	}
}
