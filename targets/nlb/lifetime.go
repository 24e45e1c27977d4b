package nlb

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Connection lifetimes. A pooled connection does not live for ever behind a
// load balancer, and how it ends decides when a client looks the name up
// again:
//
//   - Idle timeout (AWS NLB: 350 s by default, 60–6000 s on TCP listeners):
//     a flow that carried no data either way for the idle timeout is
//     forgotten without a word to either side; the next packet from either
//     side gets an RST ("If a client or a target sends data after the idle
//     timeout period elapses, it receives a TCP RST packet"). So the client
//     learns on its next request, which fails with a reset.
//   - Maximum age (NLB has none; ALB's HTTP client keepalive duration,
//     3600 s by default, 60–604800 s, is AWS's figure): once a connection is
//     older than this, it is closed gracefully (FIN) at its first quiet
//     moment between exchanges, so no request is cut; ALB likewise answers
//     one more request with "Connection: close".
//   - ResetConnections: every open connection of the load balancer is reset
//     at once (hosts replaced, nodes moved).

// Reasons a connection ended, in conn.closed's Detail ("" for an ordinary
// close by either side).
const (
	ClosedIdle         = "idle timeout: the flow was forgotten and the next packet got an RST"
	ClosedMaxAge       = "max age: closed between exchanges"
	ClosedReset        = "reset: the load balancer's connections were reset"
	ClosedTerminated   = "reset: the target turned unhealthy (connection termination)"
	ClosedDeregistered = "closed: the target was deregistered and drained"
)

// quietGap is how long a connection must carry nothing, its last bytes
// having gone to the client, to count as between exchanges; maxAgeGrace
// bounds the wait for such a moment past the maximum age, after which the
// connection is closed anyway.
const (
	quietGap    = 5 * time.Millisecond
	maxAgeGrace = time.Second
)

// flow is the lifetime state of one proxied connection.
type flow struct {
	lb       *LB
	client   net.Conn
	upstream net.Conn
	accepted time.Time
	node     string // for events
	target   string

	lastUp, lastDown atomic.Int64 // unix ns of the last bytes from the client / to the client
	expired          atomic.Bool  // the idle timeout passed: the next packet gets an RST

	mu                  sync.Mutex
	reason              string      // why it ended, the first reason given wins
	idleTimer, ageTimer *time.Timer // the latest of each (a check re-arms its own)
	done                bool
}

func newFlow(lb *LB, client, upstream net.Conn, accepted time.Time) *flow {
	f := &flow{lb: lb, client: client, upstream: upstream, accepted: accepted}
	now := time.Now().UnixNano()
	f.lastUp.Store(now)
	f.lastDown.Store(now)
	return f
}

// start arms the flow's lifetime timers.
func (f *flow) start() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d := f.lb.cfg.IdleTimeout; d > 0 {
		f.idleTimer = time.AfterFunc(d, f.checkIdle)
	}
	if d := f.lb.cfg.MaxAge; d > 0 {
		f.ageTimer = time.AfterFunc(d-time.Since(f.accepted), f.checkAge)
	}
}

// stop disarms the timers; the flow has ended.
func (f *flow) stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.done = true
	for _, t := range []*time.Timer{f.idleTimer, f.ageTimer} {
		if t != nil {
			t.Stop()
		}
	}
}

func (f *flow) setReason(r string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.reason != "" {
		return false
	}
	f.reason = r
	return true
}

func (f *flow) why() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reason
}

func (f *flow) lastActivity() time.Time {
	return time.Unix(0, max(f.lastUp.Load(), f.lastDown.Load()))
}

// checkIdle forgets the flow once it has been idle for the idle timeout,
// or looks again when it will have been.
func (f *flow) checkIdle() {
	d := f.lb.cfg.IdleTimeout
	if left := d - time.Since(f.lastActivity()); left > 0 {
		f.rearmIdle(left)
		return
	}
	if f.setReason(ClosedIdle) {
		f.expired.Store(true)
		// The target side is forgotten too; nothing is sent to the client
		// until it sends (see copy).
		f.upstream.Close()
		f.lb.emit(Event{Kind: "conn.expired", Node: f.node, Target: f.target, Client: f.client.RemoteAddr().String(),
			Local: f.client.LocalAddr().String(), Started: f.accepted, Detail: "idle for " + d.String()})
	}
}

func (f *flow) rearmIdle(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.done {
		f.idleTimer = time.AfterFunc(d, f.checkIdle)
	}
}

// checkAge closes the flow gracefully once it is past its maximum age and
// between exchanges: its last bytes went to the client, after the last
// bytes from it, and nothing moved for quietGap. Past the grace it closes
// anyway.
func (f *flow) checkAge() {
	if f.expired.Load() {
		return
	}
	up, down := f.lastUp.Load(), f.lastDown.Load()
	quiet := time.Since(time.Unix(0, max(up, down))) >= quietGap && down >= up
	if !quiet && time.Since(f.accepted) < f.lb.cfg.MaxAge+maxAgeGrace {
		f.mu.Lock()
		if !f.done {
			f.ageTimer = time.AfterFunc(quietGap, f.checkAge)
		}
		f.mu.Unlock()
		return
	}
	if f.setReason(ClosedMaxAge) {
		f.client.Close() // FIN (after TLS's close_notify on a TLS listener)
		f.upstream.Close()
	}
}

// reset closes the flow with an RST to the client, for reason.
func (f *flow) reset(reason string) {
	f.setReason(reason)
	reset(f.client)
	f.upstream.Close()
}

// The flow keeps its accounts on the connection's two streams, which the
// data link carries (links.Link.Carry): fromClient and toClient note when
// bytes moved, and once the flow is forgotten (idle timeout), the next bytes
// or the close from the client get it an RST and are not passed on;
// fromTarget ends the stream then.

// errForgotten ends a stream whose flow the idle timeout forgot.
var errForgotten = errors.New("nlb: the flow was forgotten (idle timeout)")

type clientReader struct {
	f *flow
	r io.Reader
}

func (c clientReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.f.expired.Load() {
		reset(c.f.client)
		return 0, errForgotten
	}
	if n > 0 {
		c.f.lastUp.Store(time.Now().UnixNano())
	}
	return n, err
}

type targetReader struct {
	f *flow
	r io.Reader
}

func (t targetReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if t.f.expired.Load() {
		return 0, errForgotten
	}
	return n, err
}

type clientWriter struct {
	f *flow
	w io.Writer
}

func (c clientWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	if n > 0 {
		c.f.lastDown.Store(time.Now().UnixNano())
	}
	return n, err
}

// fromClient is the client's stream, src, read for the target.
func (f *flow) fromClient(src io.Reader) io.Reader { return clientReader{f, src} }

// fromTarget is the target's stream, src, read for the client.
func (f *flow) fromTarget(src io.Reader) io.Reader { return targetReader{f, src} }

// toClient writes to the client.
func (f *flow) toClient(w io.Writer) io.Writer { return clientWriter{f, w} }

// ResetConnections resets every connection the load balancer carries, at
// once, as when its hosts are replaced or its nodes move: each client gets
// an RST. It returns how many there were and reports "conns.reset".
func (lb *LB) ResetConnections() int {
	lb.mu.Lock()
	var flows []*flow
	for p := range lb.conns {
		flows = append(flows, p.flow)
	}
	lb.mu.Unlock()
	for _, f := range flows {
		f.reset(ClosedReset)
	}
	lb.emit(Event{Kind: "conns.reset", Detail: connCount(len(flows))})
	return len(flows)
}

func connCount(n int) string {
	if n == 1 {
		return "reset 1 connection"
	}
	return "reset " + strconv.Itoa(n) + " connections"
}

// rawConn is the TCP connection under c (a TLS listener's connections are
// *tls.Conn).
func rawConn(c net.Conn) net.Conn {
	if tc, ok := c.(*tls.Conn); ok {
		return tc.NetConn()
	}
	return c
}
