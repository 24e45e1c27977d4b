package links

import (
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	tpclient "github.com/Shopify/toxiproxy/v2/client"
	"go.uber.org/goleak"

	"github.com/faultline-dev/faultline/targets/links/linkstest"
)

// hidden hides a connection's type: a carried stream's ends are its
// caller's (a TLS connection, a reader keeping accounts), never the
// *net.TCPConn toxiproxy asserts a reset_peer's ends to be.
type hidden struct{ net.Conn }

// carrier is what the load balancer's node does, reduced to its bones: it
// accepts, dials the link's upstream itself and carries both directions
// through the link. It reports how many streams set the linger; stop (also
// run at the test's cleanup) closes everything and waits for it.
func carrier(t *testing.T, l *Link) (addr string, lingered *atomic.Int32, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lingered = new(atomic.Int32)
	abort := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", l.Upstream())
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			open = append(open, c, up)
			mu.Unlock()
			client, target := hidden{c}, hidden{up}
			finish := func() { client.Close(); target.Close() }
			linger := func() {
				lingered.Add(1)
				c.(*net.TCPConn).SetLinger(0)
				up.(*net.TCPConn).SetLinger(0)
			}
			wg.Add(2)
			go func() {
				defer wg.Done()
				l.Carry(Stream{Dir: Upstream, Src: client, Dst: target, Finish: finish, Linger: linger}, abort)
			}()
			go func() {
				defer wg.Done()
				l.Carry(Stream{Dir: Downstream, Src: target, Dst: client, Finish: finish, Linger: linger}, abort)
			}()
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			ln.Close()
			close(abort)
			mu.Lock()
			for _, c := range open {
				c.Close()
			}
			mu.Unlock()
			wg.Wait()
		})
	}
	t.Cleanup(stop)
	return ln.Addr().String(), lingered, stop
}

// exchange writes msg on c and reads it back, within d.
func exchange(c net.Conn, msg string, d time.Duration) (string, error) {
	c.SetDeadline(time.Now().Add(d))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write([]byte(msg)); err != nil {
		return "", err
	}
	buf := make([]byte, len(msg))
	_, err := io.ReadFull(c, buf)
	return string(buf), err
}

// A toxic added while a carried connection is open acts on it from then
// on, as on a connection through the link's listener; once removed, the
// connection carries on undelayed.
func TestCarriedConnectionTakesToxicsAddedWhileOpen(t *testing.T) {
	h := hub(t)
	l, _ := h.Add("echo", linkstest.Echo(t))
	addr, _, _ := carrier(t, l)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got, err := exchange(c, "before", 5*time.Second); err != nil || got != "before" {
		t.Fatalf("before any toxic: %q, %v", got, err)
	}
	if err := l.AddToxic(Toxic{Name: "slow", Type: "latency", Attributes: map[string]any{"latency": 200}}); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	if got, err := exchange(c, "during", 5*time.Second); err != nil || got != "during" {
		t.Fatalf("under latency: %q, %v", got, err)
	}
	if d := time.Since(began); d < 200*time.Millisecond {
		t.Errorf("a round trip on the open connection took %s under a 200 ms latency toxic", d)
	}
	if err := l.RemoveToxic("slow"); err != nil {
		t.Fatal(err)
	}
	began = time.Now()
	if got, err := exchange(c, "after", 5*time.Second); err != nil || got != "after" {
		t.Fatalf("after the toxic: %q, %v", got, err)
	}
	if d := time.Since(began); d >= 200*time.Millisecond { // the toxic's delay, not the machine's noise
		t.Errorf("a round trip took %s after the toxic was removed", d)
	}
	// Both streams went back to copying straight at their next bytes.
	if n := onChain(l); n != 0 {
		t.Errorf("%d streams still on a chain after the toxic went; want 0", n)
	}
	// And onto a chain again with the next toxic.
	if err := l.AddToxic(Toxic{Name: "slow-again", Type: "latency", Stream: "upstream", Attributes: map[string]any{"latency": 200}}); err != nil {
		t.Fatal(err)
	}
	began = time.Now()
	if got, err := exchange(c, "again", 5*time.Second); err != nil || got != "again" {
		t.Fatalf("under latency again: %q, %v", got, err)
	}
	if d := time.Since(began); d < 200*time.Millisecond {
		t.Errorf("a round trip took %s under a 200 ms latency toxic added after the stream left its chain", d)
	}
	if n := onChain(l); n != 1 {
		t.Errorf("%d streams on a chain under an upstream toxic; want 1", n)
	}
}

// onChain counts l's carried streams that run through a chain.
func onChain(l *Link) int {
	l.carriedMu.Lock()
	defer l.carriedMu.Unlock()
	n := 0
	for c := range l.carried {
		if c.onChain.Load() {
			n++
		}
	}
	return n
}

// Bytes in flight through a chain when its toxic goes are not overtaken by
// the ones copied straight after: numbered chunks through a latency toxic,
// removed halfway, into a slow destination arrive whole and in order.
func TestLeavingTheChainKeepsOrder(t *testing.T) {
	h := hub(t)
	l, _ := h.Add("x", "127.0.0.1:1") // the stream is the test's: nothing dials the upstream
	src, feed := io.Pipe()
	dst := &slowWriter{delay: 2 * time.Millisecond}
	finished := make(chan struct{})
	carried := make(chan struct{})
	go func() {
		defer close(carried)
		l.Carry(Stream{Dir: Downstream, Src: src, Dst: dst, Finish: func() { close(finished) }}, nil)
	}()
	if err := l.AddToxic(Toxic{Name: "slow", Type: "latency", Attributes: map[string]any{"latency": 1}}); err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for i := range 60 {
		if i == 30 {
			if err := l.RemoveToxic("slow"); err != nil {
				t.Fatal(err)
			}
		}
		line := fmt.Sprintf("chunk %d\n", i)
		want.WriteString(line)
		if _, err := feed.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	feed.Close()
	select {
	case <-carried:
	case <-time.After(20 * time.Second):
		t.Fatal("the stream did not finish within 20 s of its source's end")
	}
	<-finished
	if g := dst.String(); g != want.String() {
		t.Errorf("received %q;\nwant the %d chunks in order (first difference at byte %d)", g, 60, firstDiff(g, want.String()))
	}
}

// slowWriter takes its time over each write, then keeps the bytes.
type slowWriter struct {
	delay time.Duration
	mu    sync.Mutex
	b     strings.Builder
}

func (w *slowWriter) Write(p []byte) (int, error) {
	time.Sleep(w.delay)
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *slowWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func firstDiff(a, b string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// A connection that starts while a reset_peer is on the link is reset by
// it, with the linger set by its carrier: its ends are no *net.TCPConn,
// which toxiproxy's own chain would have panicked on.
func TestCarriedConnectionStartsUnderResetPeer(t *testing.T) {
	h := hub(t)
	l, _ := h.Add("echo", linkstest.Echo(t))
	addr, lingered, _ := carrier(t, l)
	if err := l.AddToxic(Toxic{Name: "rst", Type: "reset_peer", Stream: "upstream", Attributes: map[string]any{"timeout": 0}}); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got, err := exchange(c, "x", 5*time.Second); err == nil {
		t.Fatalf("round trip under reset_peer = %q; want the connection ended", got)
	} else if isTimeout(err) {
		t.Fatalf("round trip under reset_peer: %v; want the connection ended, not held", err)
	}
	if n := lingered.Load(); n != 1 {
		t.Errorf("the linger was set by %d streams; want 1 (the upstream one, which has the reset_peer)", n)
	}
	if err := l.RemoveToxic("rst"); err != nil {
		t.Fatal(err)
	}
	c2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if got, err := exchange(c2, "y", 5*time.Second); err != nil || got != "y" {
		t.Errorf("after the reset_peer went: %q, %v", got, err)
	}
}

// Down ends the carried connections at once, idle or not, busy ones with
// bytes still arriving included, and leaves nothing running behind them.
func TestDownEndsCarriedConnections(t *testing.T) {
	echo := linkstest.Echo(t)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	h := NewHub()
	defer h.Close()
	l, _ := h.Add("echo", echo)
	addr, _, stop := carrier(t, l)
	defer stop()
	var conns []net.Conn
	for range 4 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	if got, err := exchange(conns[0], "busy", 5*time.Second); err != nil || got != "busy" {
		t.Fatalf("before Down: %q, %v", got, err)
	}
	var writers sync.WaitGroup
	for _, c := range conns[:2] { // the echo keeps sending back while Down cuts them
		writers.Add(1)
		go func() {
			defer writers.Done()
			for range 5 {
				if _, err := c.Write([]byte("chunk")); err != nil {
					return
				}
				time.Sleep(200 * time.Microsecond)
			}
		}()
	}
	if err := l.Down(); err != nil {
		t.Fatal(err)
	}
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.Copy(io.Discard, c); isTimeout(err) {
			t.Errorf("connection %d after Down: %v; want it closed", i, err)
		}
	}
	writers.Wait()
	if err := l.Up(); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got, err := exchange(c, "back", 5*time.Second); err != nil || got != "back" {
		t.Errorf("after Up: %q, %v", got, err)
	}
}

// Toxics added, changed and removed through toxiproxy's API act on carried
// connections: a timeout toxic holds one (and its removal closes it, as
// toxiproxy's does), a latency toxic's update takes effect.
func TestAPIToxicsActOnCarriedConnections(t *testing.T) {
	_, data, a, _ := serveAPI(t)
	addr, _, _ := carrier(t, data)
	cl := tpclient.NewClient(a.Addr())
	p, err := cl.Proxy(data.Name())
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := p.AddToxic("hold", "timeout", "downstream", 1, tpclient.Attributes{"timeout": 0}); err != nil {
		t.Fatal(err)
	}
	if got, err := exchange(c, "x", 300*time.Millisecond); err == nil || !isTimeout(err) {
		t.Fatalf("under a timeout toxic added through the API: %q, %v; want the reply held", got, err)
	}
	if err := p.RemoveToxic("hold"); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(c); err != nil && isTimeout(err) {
		t.Errorf("the held connection after the toxic's removal: %v; want it closed", err)
	}

	if _, err := p.AddToxic("slow", "latency", "downstream", 1, tpclient.Attributes{"latency": 10}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpdateToxic("slow", 1, tpclient.Attributes{"latency": 250}); err != nil {
		t.Fatal(err)
	}
	c2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	began := time.Now()
	if got, err := exchange(c2, "y", 5*time.Second); err != nil || got != "y" {
		t.Fatalf("under the updated latency: %q, %v", got, err)
	}
	if d := time.Since(began); d < 250*time.Millisecond {
		t.Errorf("a round trip took %s; want the updated latency, 250 ms", d)
	}
}
