package links

import (
	"errors"
	"io"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/Shopify/toxiproxy/v2/stream"
)

// Carried streams: a caller that accepts a connection and dials its
// upstream itself (the load balancer's node) carries both directions
// through the link with Carry, and the link's toxics act on them in its
// process, with no hop through the link's listener. While the link has no
// toxic on a stream's direction, the stream's bytes go straight from its
// source to its destination. From the moment it has one (added before or
// during the connection, by a fault, Down or toxiproxy's API), they go
// through toxiproxy's own chain for that direction, a ToxicLink started on
// the link's mirror (mirror.go), as a connection through the listener
// would. Once the link has no toxic on the direction any more, the stream
// leaves the chain at its next bytes (the chain drains first, so nothing
// overtakes what is still in it) and copies straight again.

// Direction is a stream's direction, as toxiproxy names it: Upstream from
// the client to the upstream, Downstream back.
type Direction = stream.Direction

const (
	Upstream   = stream.Upstream
	Downstream = stream.Downstream
)

// Stream is one direction of a connection its caller carries.
type Stream struct {
	Dir Direction
	Src io.Reader // read until it fails (io.EOF included)
	Dst io.Writer
	// Finish is called once, when the stream is done: its source ended, its
	// destination failed, or a toxic ended it (a cut, reset_peer,
	// limit_data, a timeout with a timeout). It ends the connection as its
	// caller sees fit (closes both sockets, say), which also stops a read
	// of Src under way.
	Finish func()
	// Linger, when set, is called as the stream goes onto the link's chain
	// with a reset_peer on its direction: toxiproxy sets SO_LINGER 0 on a
	// connection's two sockets then, so that their close is an RST.
	Linger func()
}

// Carry copies s through the link's toxics until it is done. It returns
// once Finish has been called and the copy has stopped, or, for a stream
// that toxics still hold (a latency, a slow_close), when abort closes: the
// chain then finishes on its own.
func (l *Link) Carry(s Stream, abort <-chan struct{}) {
	c := &carried{link: l, s: s, finished: make(chan struct{})}
	l.carriedMu.Lock()
	l.carried[c] = struct{}{}
	toxicked := l.toxicked[s.Dir] > 0
	l.carriedMu.Unlock()
	if toxicked {
		c.toxify()
	}
	c.pump(abort)
	l.carriedMu.Lock()
	delete(l.carried, c)
	l.carriedMu.Unlock()
	select {
	case <-c.finished:
	case <-abort:
	}
}

// carriedToMove are the carried streams copying straight whose direction
// has a toxic now; the streams on a chain whose direction has none are told
// to leave it.
func (l *Link) carriedToMove() []*carried {
	l.carriedMu.Lock()
	defer l.carriedMu.Unlock()
	var move []*carried
	for c := range l.carried {
		toxicked := l.toxicked[c.s.Dir] > 0
		switch {
		case toxicked && !c.onChain.Load():
			move = append(move, c)
		case c.onChain.Load():
			c.leave.Store(!toxicked)
		}
	}
	return move
}

type carried struct {
	link *Link
	s    Stream

	onChain atomic.Bool // its bytes go through the chain
	leave   atomic.Bool // the link has no toxic on its direction any more: leave the chain

	mu     sync.Mutex // guards moves onto and off the chain against each other and the copy's end
	copied bool       // the copy has stopped
	pr     *io.PipeReader
	pw     *io.PipeWriter // the copy writes the chain's input here
	out    *chainOutput   // the chain's output

	finishOnce sync.Once
	finished   chan struct{}
}

// bufs are the copies' buffers: a connection per request (an SDK without
// keep-alive) would otherwise allocate two of them for each.
var bufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// pump copies the source while it gives bytes: straight to the destination,
// or into the chain once the stream is on it.
func (c *carried) pump(abort <-chan struct{}) {
	bp := bufs.Get().(*[]byte)
	defer bufs.Put(bp)
	buf := *bp
	for {
		n, err := c.s.Src.Read(buf)
		if n > 0 {
			if c.leave.Load() {
				c.leaveChain(abort)
			}
			var werr error
			if c.onChain.Load() {
				_, werr = c.pw.Write(buf[:n]) // returns once the chain has taken them
			} else {
				_, werr = c.s.Dst.Write(buf[:n])
			}
			if werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	c.mu.Lock()
	c.copied = true
	onChain := c.onChain.Load()
	c.mu.Unlock()
	if onChain {
		c.pw.Close() // the chain ends its output in its own time (slow_close, latency), then calls finish
		return
	}
	c.finish()
}

// toxify moves the stream onto a chain of the link's mirror: bytes the copy
// reads from now on go through the toxics.
func (c *carried) toxify() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.copied || c.onChain.Load() {
		return
	}
	l := c.link
	if c.s.Linger != nil && l.resetsOn(c.s.Dir) {
		c.s.Linger()
	}
	c.pr, c.pw = io.Pipe()
	c.out = &chainOutput{c: c, drained: make(chan struct{})}
	name := "carried/" + strconv.FormatUint(carriedSeq.Add(1), 10) + "/" + c.s.Dir.String()
	l.mirror.StartLink(l.server, name, c.pr, c.out, c.s.Dir)
	c.leave.Store(false)
	c.onChain.Store(true)
}

// leaveChain takes the stream off its chain when the link still has no
// toxic on its direction: it ends the chain's input and waits until the
// chain has written out what it held (or abort), so that the bytes copied
// straight from now on come after them. A toxic added meanwhile puts the
// stream on a new chain (toxify), which gets only bytes from after these.
func (c *carried) leaveChain(abort <-chan struct{}) {
	c.mu.Lock()
	l := c.link
	l.carriedMu.Lock()
	off := l.toxicked[c.s.Dir] == 0 && c.onChain.Load()
	if off {
		c.onChain.Store(false) // under carriedMu: carriedToMove sees it, and moves the stream back on with the next toxic
	}
	c.leave.Store(false)
	l.carriedMu.Unlock()
	if !off {
		c.mu.Unlock()
		return
	}
	out, pw := c.out, c.pw
	out.leaving.Store(true)
	c.mu.Unlock()
	pw.Close()
	select {
	case <-out.drained:
	case <-abort:
	}
}

var carriedSeq atomic.Uint64

var errFinished = errors.New("links: the carried stream finished")

// finish ends the stream once: the caller's Finish, then a copy blocked
// writing into the chain is let go.
func (c *carried) finish() {
	c.finishOnce.Do(func() {
		c.s.Finish()
		close(c.finished)
	})
	c.mu.Lock()
	pr := c.pr
	c.mu.Unlock()
	if pr != nil {
		pr.CloseWithError(errFinished)
	}
}

// chainOutput is where the chain writes: the stream's destination. A
// write that fails finishes the stream, and the chain's later output is
// dropped, so that the chain drains to its end (toxiproxy's own stops
// reading there, which leaves its toxics blocked).
type chainOutput struct {
	c       *carried
	failed  bool        // only the chain's writer goroutine uses it
	leaving atomic.Bool // the stream is leaving the chain: its end is no end of the stream
	drained chan struct{}
}

func (o *chainOutput) Write(p []byte) (int, error) {
	if !o.failed {
		if _, err := o.c.s.Dst.Write(p); err != nil {
			o.failed = true
			o.c.finish()
		}
	}
	return len(p), nil
}

// Close is the chain's end: its input ended, or a toxic closed it. The
// end of a chain the stream is leaving is not the stream's.
func (o *chainOutput) Close() error {
	if o.leaving.Load() {
		close(o.drained)
		return nil
	}
	o.c.finish()
	return nil
}
