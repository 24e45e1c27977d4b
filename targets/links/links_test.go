package links

import (
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/faultline-dev/faultline/targets/links/linkstest"
)

func hub(t *testing.T) *Hub {
	h := NewHub()
	t.Cleanup(func() { h.Close() })
	return h
}

// roundTrip sends msg over a new connection to addr and reads it back.
func roundTrip(addr, msg string, deadline time.Duration) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(deadline))
	if _, err := c.Write([]byte(msg)); err != nil {
		return "", err
	}
	buf := make([]byte, len(msg))
	_, err = io.ReadFull(c, buf)
	return string(buf), err
}

func TestBytesPassThrough(t *testing.T) {
	h := hub(t)
	l, err := h.Add("echo", linkstest.Echo(t))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(l.Addr(), "127.0.0.1:") || strings.HasSuffix(l.Addr(), ":0") {
		t.Errorf("link listens on %q, want a real loopback port", l.Addr())
	}
	got, err := roundTrip(l.Addr(), "hello", 2*time.Second)
	if err != nil || got != "hello" {
		t.Fatalf("round trip = %q, %v", got, err)
	}
	if got, ok := h.Link("echo"); !ok || got != l {
		t.Error("Link(echo) does not find it")
	}
	if _, err := h.Add("echo", "127.0.0.1:1"); err == nil {
		t.Error("a second link named echo was accepted")
	}
}

func TestLatencyToxicDelays(t *testing.T) {
	h := hub(t)
	l, _ := h.Add("echo", linkstest.Echo(t))
	if err := l.AddToxic(Toxic{Name: "slow", Type: "latency", Attributes: map[string]any{"latency": 150}}); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	if got, err := roundTrip(l.Addr(), "x", 3*time.Second); err != nil || got != "x" {
		t.Fatalf("round trip = %q, %v", got, err)
	}
	if d := time.Since(began); d < 150*time.Millisecond {
		t.Errorf("round trip took %s, want at least the toxic's 150ms", d)
	}
	if err := l.RemoveToxic("slow"); err != nil {
		t.Fatal(err)
	}
	if err := l.RemoveToxic("slow"); err == nil {
		t.Error("removing a removed toxic succeeded")
	}
}

func TestTimeoutToxicHoldsAndRemovalCloses(t *testing.T) {
	h := hub(t)
	l, _ := h.Add("echo", linkstest.Echo(t))
	if err := l.AddToxic(Toxic{Name: "hold", Type: "timeout", Attributes: map[string]any{"timeout": 0}}); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", l.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("x"))
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	buf := make([]byte, 1)
	var ne net.Error
	if _, err := c.Read(buf); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read = %v, want the data held (a timeout)", err)
	}
	if err := l.RemoveToxic("hold"); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Read(buf); err == nil {
		t.Error("the held connection is still open after the timeout toxic went")
	}
}

func TestResetPeer(t *testing.T) {
	h := hub(t)
	l, _ := h.Add("echo", linkstest.Echo(t))
	if err := l.AddToxic(Toxic{Name: "rst", Type: "reset_peer", Attributes: map[string]any{"timeout": 0}}); err != nil {
		t.Fatal(err)
	}
	_, err := roundTrip(l.Addr(), "x", 2*time.Second)
	if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("round trip through reset_peer = %v, want a reset", err)
	}
}

// Down keeps the listener (the port is never given up, so Up cannot lose
// it): connections it carries are cut at once, idle or not, new ones are
// reset before any byte comes back, and Up lets bytes pass on the same
// address.
func TestDownCutsAndResetsUpRestores(t *testing.T) {
	h := hub(t)
	l, _ := h.Add("echo", linkstest.Echo(t))
	held, err := net.Dial("tcp", l.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	held.SetDeadline(time.Now().Add(2 * time.Second))
	held.Write([]byte("w")) // a round trip: the link carries it
	if _, err := io.ReadFull(held, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	addr := l.Addr()
	for range 2 { // idempotent
		if err := l.Down(); err != nil {
			t.Fatal(err)
		}
	}
	if !l.IsDown() {
		t.Error("IsDown is false after Down")
	}
	// The idle held connection is cut without sending anything.
	held.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := held.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Errorf("a connection carried by the link: read %v after Down; want it closed", err)
	}
	for i := range 3 {
		got, err := roundTrip(addr, "xyz", 2*time.Second)
		// Reset at the connect (the link resets before the dial returns)
		// or at the first read: either way, nothing comes back.
		if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) || strings.Trim(got, "\x00") != "" {
			t.Errorf("round trip %d through the downed link: %q, %v; want a reset, nothing back", i, got, err)
		}
	}
	for range 2 {
		if err := l.Up(); err != nil {
			t.Fatal(err)
		}
	}
	if l.IsDown() || l.Addr() != addr {
		t.Errorf("after Up: down %v, address %s; want up on %s", l.IsDown(), l.Addr(), addr)
	}
	if got, err := roundTrip(addr, "back", 2*time.Second); err != nil || got != "back" {
		t.Errorf("round trip after Up = %q, %v", got, err)
	}
}

// Clients that keep writing into a downed link (an HTTP client writes its
// headers and body apart) leave no toxiproxy goroutine blocked behind, and
// neither do carried connections whose target keeps sending.
func TestDownLeaksNothing(t *testing.T) {
	echo := linkstest.Echo(t)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	h := NewHub()
	defer h.Close()
	l, err := h.Add("echo", echo)
	if err != nil {
		t.Fatal(err)
	}
	write := func(c net.Conn) {
		for range 5 {
			if _, err := c.Write([]byte("chunk")); err != nil {
				return
			}
			time.Sleep(200 * time.Microsecond) // separate chunks, across the moment the link closes
		}
	}
	var carried []net.Conn
	for range 5 { // carried: the echo keeps sending back while Down cuts them
		c, err := net.Dial("tcp", l.Addr())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(2 * time.Second))
		carried = append(carried, c)
		go write(c)
	}
	if err := l.Down(); err != nil {
		t.Fatal(err)
	}
	for _, c := range carried {
		io.Copy(io.Discard, c) // until the link closes it
		c.Close()
	}
	for range 20 {
		c, err := net.Dial("tcp", l.Addr())
		if err != nil {
			continue // reset before the connect returned: nothing to leak
		}
		c.SetDeadline(time.Now().Add(2 * time.Second))
		write(c)
		io.Copy(io.Discard, c)
		c.Close()
	}
	if err := l.Up(); err != nil {
		t.Fatal(err)
	}
	h.Close()
	// toxiproxy's link goroutines end asynchronously after a close:
	// goleak retries for a while before it reports.
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestInvalidToxics(t *testing.T) {
	cases := map[string]Toxic{
		"needs a name":         {Type: "latency"},
		"unknown type":         {Name: "a", Type: "lag"},
		"expected upstream":    {Name: "a", Type: "latency", Stream: "sideways"},
		"from 0 to 1":          {Name: "a", Type: "latency", Toxicity: 2},
		"has no attribute":     {Name: "a", Type: "latency", Attributes: map[string]any{"rate": 1}},
		"whole number":         {Name: "a", Type: "latency", Attributes: map[string]any{"latency": "soon"}},
		"must not be negative": {Name: "a", Type: "bandwidth", Attributes: map[string]any{"rate": -1}},
	}
	for want, tox := range cases {
		err := ValidateToxic(tox)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ValidateToxic(%+v) = %v, want an error saying %q", tox, err, want)
		}
	}
	for _, typ := range ToxicTypes() {
		if err := ValidateToxic(Toxic{Name: "ok", Type: typ}); err != nil {
			t.Errorf("%s without attributes: %v", typ, err)
		}
	}
}

func TestCloseLeavesNothing(t *testing.T) {
	echo := linkstest.Echo(t) // its accept loop ends in t.Cleanup, after this check
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	h := NewHub()
	l, err := h.Add("echo", echo)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := net.Dial("tcp", l.Addr())
	c.Write([]byte("x"))
	io.ReadFull(c, make([]byte, 1))
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	h.Close()
	c.Close()
	if _, err := net.DialTimeout("tcp", l.Addr(), 300*time.Millisecond); err == nil {
		t.Error("the link still accepts after Close")
	}
	if _, err := h.Add("late", echo); err == nil {
		t.Error("Add after Close succeeded")
	}
	time.Sleep(100 * time.Millisecond) // toxiproxy's link goroutines end asynchronously after the close
}
