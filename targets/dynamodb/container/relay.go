package container

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// relay is a target's address: it accepts on an address of its own and
// copies bytes to and from the container's published port. Instances have
// an address each; one container has one port, so relays give each target
// the address the NLB and its health checks need.
type relay struct {
	ln       net.Listener
	upstream string

	mu    sync.Mutex
	conns map[net.Conn]bool
	done  bool
	wg    sync.WaitGroup
}

func startRelay(addr, upstream string) (*relay, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	r := &relay{ln: ln, upstream: upstream, conns: map[net.Conn]bool{}}
	r.wg.Add(1)
	go r.accept()
	return r, nil
}

func (r *relay) Addr() string { return r.ln.Addr().String() }

func (r *relay) accept() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.wg.Add(1)
		go r.serve(c)
	}
}

func (r *relay) serve(down net.Conn) {
	defer r.wg.Done()
	up, err := net.DialTimeout("tcp", r.upstream, 5*time.Second)
	if err != nil {
		// The container is gone: reset, as a dead instance's port would.
		if tc, ok := down.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		down.Close()
		return
	}
	if !r.track(down, up) {
		return
	}
	defer r.untrack(down, up)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			tc.CloseWrite() // pass the half-close on
		}
		done <- struct{}{}
	}
	go pipe(up, down)
	go pipe(down, up)
	<-done
	<-done
}

// track registers a pair of connections, or closes them when the relay is
// closing.
func (r *relay) track(cs ...net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	for _, c := range cs {
		r.conns[c] = true
	}
	return true
}

func (r *relay) untrack(cs ...net.Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range cs {
		c.Close()
		delete(r.conns, c)
	}
}

// Close stops accepting, closes every relayed connection and waits for the
// copies to end.
func (r *relay) Close() error {
	err := r.ln.Close()
	r.mu.Lock()
	r.done = true
	for c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
