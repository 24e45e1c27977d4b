package nlb

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/faultline-dev/faultline/targets/links"
)

// serve accepts on one of a node's listeners and forwards each connection.
func (lb *LB) serve(ln net.Listener, node string) {
	defer lb.wg.Done()
	az := lb.azOfNode(node)
	for {
		c, err := ln.Accept()
		if err != nil {
			return // closed
		}
		lb.wg.Add(1)
		go lb.forward(node, az, c)
	}
}

// pick chooses the next target round robin among the healthy ones the node
// may route to: its own AZ's, or every AZ's with cross-zone load balancing
// (and when its AZ has no target at all). With none healthy there, it fails
// open to all of them.
func (lb *LB) pick(az int) *target {
	candidates := lb.targets
	if !lb.cfg.CrossZone {
		if own := lb.targetsIn(az); len(own) > 0 {
			candidates = own
		}
	}
	var healthy []*target
	for _, t := range candidates {
		if t.healthy() {
			healthy = append(healthy, t)
		}
	}
	if len(healthy) == 0 {
		// Fail open, but never to a deregistered target.
		for _, t := range candidates {
			if t.registered() {
				healthy = append(healthy, t)
			}
		}
	}
	if len(healthy) == 0 {
		return nil
	}
	lb.mu.Lock()
	defer lb.mu.Unlock()
	lb.next++
	return healthy[lb.next%len(healthy)]
}

// dialTimeout bounds the connection to a target; on loopback it answers at
// once.
const dialTimeout = 2 * time.Second

// forward carries one client connection: the node chooses a target, dials
// it itself and copies both ways, and the target's data link runs its
// toxics on the two streams in this process (links.Link.Carry): two TCP
// hops, client → node → target, as NLB and HAProxy have. The data link's
// listener stays, for whoever else dials it; the node never does.
func (lb *LB) forward(node string, az int, client net.Conn) {
	defer lb.wg.Done()
	accepted := time.Now()
	// Who, and at which of the node's addresses (its own or an alias).
	remote, local := client.RemoteAddr().String(), client.LocalAddr().String()
	failed := func(target, detail string) {
		lb.emit(Event{Kind: "conn.failed", Node: node, Target: target, Client: remote, Local: local, Started: accepted, Detail: detail})
	}
	tc, terminated := client.(*tls.Conn)
	if terminated {
		tc.SetDeadline(time.Now().Add(dialTimeout))
		if err := tc.Handshake(); err != nil {
			failed("", "TLS handshake: "+err.Error())
			client.Close()
			return
		}
		tc.SetDeadline(time.Time{})
	}
	t := lb.pick(az)
	if t == nil {
		failed("", "no registered target")
		reset(client)
		return
	}
	if t.data.IsDown() {
		// A downed link refuses: fail the client's connection as a
		// refused dial through it, as a stopped link did.
		failed(t.addr, fmt.Sprintf("dial tcp %s: connect: connection refused (data link down)", t.data.Addr()))
		reset(client)
		return
	}
	up, err := net.DialTimeout("tcp", t.addr, dialTimeout)
	if err != nil {
		failed(t.addr, err.Error())
		reset(client)
		return
	}
	f := newFlow(lb, client, up, accepted)
	f.node, f.target = node, t.addr
	p := &proxied{client: client, upstream: up, target: t, flow: f}
	lb.mu.Lock()
	if lb.ctx.Err() != nil { // closing: do not start new work
		lb.mu.Unlock()
		client.Close()
		up.Close()
		return
	}
	lb.conns[p] = struct{}{}
	lb.mu.Unlock()
	lb.emit(Event{Kind: "conn.accepted", Node: node, Target: t.addr, Client: remote, Local: local, Started: accepted})
	f.start()

	// finish ends the connection once one stream is done: both sides, as a
	// TCP proxy that keeps no half-open state would. A flow forgotten by
	// the idle timeout has its target side closed already; its client side
	// waits for its next packet, which gets the RST (clientReader), or for
	// the load balancer to close.
	finish := func(dst, src net.Conn, fromClient bool) func() {
		return func() {
			if f.expired.Load() {
				if fromClient {
					src.Close()
				}
				return
			}
			dst.Close()
			src.Close()
		}
	}
	// A reset_peer on the link when a stream goes through its toxics resets
	// both sockets as they close, as toxiproxy does (under TLS on a TLS
	// listener).
	linger := func() {
		for _, c := range []net.Conn{rawConn(client), up} {
			if tcp, ok := c.(*net.TCPConn); ok {
				tcp.SetLinger(0)
			}
		}
	}
	fromClient, toClient := io.Reader(client), io.Writer(client)
	var ex *exchange
	if terminated || lb.cfg.ObserveHTTP {
		// Read the HTTP exchanges as they pass, on copies of both streams.
		ex = lb.observeHTTP(node, t.addr, remote, local)
		fromClient, toClient = ex.requests(client), ex.responsesTo(client)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t.data.Carry(links.Stream{Dir: links.Upstream, Src: f.fromClient(fromClient), Dst: up,
			Finish: finish(up, client, true), Linger: linger}, lb.ctx.Done())
	}()
	t.data.Carry(links.Stream{Dir: links.Downstream, Src: f.fromTarget(up), Dst: f.toClient(toClient),
		Finish: finish(client, up, false), Linger: linger}, lb.ctx.Done())
	wg.Wait()
	if ex != nil {
		ex.close()
	}
	f.stop()

	lb.mu.Lock()
	delete(lb.conns, p)
	lb.mu.Unlock()
	lb.emit(Event{Kind: "conn.closed", Node: node, Target: t.addr, Client: remote, Local: local, Started: accepted, Detail: f.why()})
}

// terminate resets every connection to t (NLB's connection termination for
// unhealthy targets; the end of a deregistration delay), for why.
func (lb *LB) terminate(t *target, why string) int {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	n := 0
	for p := range lb.conns {
		if p.target == t {
			p.flow.reset(why)
			n++
		}
	}
	return n
}

// reset closes c with an RST rather than a FIN, as NLB does.
// A TLS listener's connection is reset under its TLS layer, with no
// close_notify first.
func reset(c net.Conn) {
	raw := rawConn(c)
	if tc, ok := raw.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	raw.Close()
}
