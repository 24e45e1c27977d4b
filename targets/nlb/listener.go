package nlb

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// nodeListener is one listening socket of a node and the goroutine that
// accepts on it. A node that goes down keeps its socket, and so its port:
// binding the port again when it comes back could fail, another process
// having taken it meanwhile.
type nodeListener struct {
	tcp    *net.TCPListener
	accept net.Listener  // tcp, or a TLS listener over it
	served chan struct{} // closed when the accept goroutine of the current run returns
	paused bool
}

func newNodeListener(tcp *net.TCPListener, accept net.Listener) *nodeListener {
	done := make(chan struct{})
	close(done) // no accept goroutine yet
	return &nodeListener{tcp: tcp, accept: accept, served: done}
}

// start runs serve on the listener in a goroutine of the load balancer.
// The caller holds lb.mu, or the load balancer is starting.
func (l *nodeListener) start(lb *LB, node string) {
	done := make(chan struct{})
	l.served = done
	lb.wg.Add(1)
	go func() {
		defer close(done)
		lb.serve(l.accept, node)
	}()
}

// acceptExit bounds the wait for an accept goroutine to return once its
// socket stopped listening; on loopback it takes microseconds.
const acceptExit = 5 * time.Second

// pause stops the socket listening while it keeps its address and port.
// On Linux, shutdown(SHUT_RD) of a listening TCP socket disconnects it:
// connects are refused, connections still in its accept queue are reset, a
// blocked accept returns; listen(2) on the same socket resumes it (HAProxy
// pauses its listeners so). SO_REUSEADDR goes off first: with it, another
// socket that has it too could bind the port while this one does not listen.
// pause returns once the accept goroutine has returned.
func (l *nodeListener) pause() error {
	if l.paused {
		return nil
	}
	err := control(l.tcp, func(fd int) error {
		if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 0); err != nil {
			return fmt.Errorf("clearing SO_REUSEADDR: %w", err)
		}
		if err := syscall.Shutdown(fd, syscall.SHUT_RD); err != nil {
			return fmt.Errorf("shutdown: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	l.paused = true
	select {
	case <-l.served:
		return nil
	case <-time.After(acceptExit):
		return fmt.Errorf("the accept goroutine did not return within %s of the shutdown", acceptExit)
	}
}

// resume makes a paused socket listen again, on the same port, and restarts
// its accept goroutine.
func (l *nodeListener) resume(lb *LB, node string) error {
	if !l.paused {
		return nil
	}
	select {
	case <-l.served:
	default:
		return errors.New("the accept goroutine of the last run has not returned")
	}
	// SO_REUSEADDR back on first: listen checks the port again, and the
	// connections the node accepted before it went down (which have it)
	// hold the same address and port.
	err := control(l.tcp, func(fd int) error {
		if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
			return fmt.Errorf("setting SO_REUSEADDR: %w", err)
		}
		if err := syscall.Listen(fd, backlog); err != nil {
			return fmt.Errorf("listen: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	l.paused = false
	l.start(lb, node)
	return nil
}

func control(ln *net.TCPListener, f func(fd int) error) error {
	rc, err := ln.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = f(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// backlog is the accept queue net.Listen asks for: the system's somaxconn.
var backlog = func() int {
	b, err := os.ReadFile("/proc/sys/net/core/somaxconn")
	if err != nil {
		return syscall.SOMAXCONN
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n <= 0 {
		return syscall.SOMAXCONN
	}
	return min(n, 1<<16-1)
}()

// listenNodes binds every node IP on one port. With port 0 the first node
// finds a free one, which is then bound explicitly on every node, the first
// included: a socket bound to port 0 gives its port up when paused (Linux
// keeps only explicitly bound ports over shutdown), and would listen on
// another when resumed. A conflict starts over (bounded).
func listenNodes(ips []string, port int) ([]*net.TCPListener, int, error) {
	var lastErr error
	for attempt := 0; attempt < 10; attempt++ {
		p := port
		if p == 0 {
			probe, err := net.Listen("tcp", net.JoinHostPort(ips[0], "0"))
			if err != nil {
				return nil, 0, fmt.Errorf("binding nodes: %w", err)
			}
			p = probe.Addr().(*net.TCPAddr).Port
			probe.Close()
		}
		lns, err := listenAll(ips, p)
		if err == nil {
			return lns, p, nil
		}
		lastErr = err
		if port != 0 {
			break
		}
	}
	return nil, 0, fmt.Errorf("binding nodes: %w", lastErr)
}

func listenAll(ips []string, port int) ([]*net.TCPListener, error) {
	var lns []*net.TCPListener
	for _, ip := range ips {
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, err
		}
		lns = append(lns, ln.(*net.TCPListener))
	}
	return lns, nil
}

// closeAll closes listeners, ignoring the ones closed already.
func closeAll(ls []*nodeListener) error {
	var errs []error
	for _, l := range ls {
		if err := l.tcp.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
