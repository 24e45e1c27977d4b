package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/montanaflynn/stats"

	"github.com/faultline-dev/faultline/targets/links"
	"github.com/faultline-dev/faultline/targets/nlb"
	"github.com/faultline-dev/faultline/targets/tempdirs"
)

// The NLB benchmark: what the load-balancer path (client → node → target,
// the data link's toxics run by the node) adds to a 64-byte
// request/response, beside a direct connection, toxiproxy alone and HAProxy
// in TCP mode doing the same job, in one run.
func init() { register("nlb", benchNLB) }

const (
	roundTrips   = 20000 // on one connection
	connRequests = 2000  // one new connection each
	streamBytes  = 64 << 20
)

func benchNLB(ctx context.Context, out *os.File) error {
	echo, stop, err := echoServer()
	if err != nil {
		return err
	}
	defer stop()
	hub := links.NewHub()
	defer hub.Close()
	link, err := hub.Add("bench", echo)
	if err != nil {
		return err
	}
	lb, err := nlb.Start(ctx, nlb.Config{Region: "bench", NodeIPs: []string{"127.0.1.1"}, Targets: []string{echo},
		HealthCheck: nlb.DefaultHealthCheck(), Links: hub})
	if err != nil {
		return err
	}
	defer lb.Close()
	paths := []struct{ name, addr string }{
		{"direct", echo},
		{"toxiproxy link alone", link.Addr()},
		{"faultline NLB (node+link)", lb.NodeAddrs()[0]},
	}
	expectRatio("nlb round trip p50: faultline ÷ haproxy", "lower")
	expectRatio("nlb new connection p50: faultline ÷ haproxy", "lower")
	expectRatio("nlb throughput: faultline ÷ haproxy", "higher")
	haproxyAddr, stopHAProxy, herr := startHAProxy(echo)
	if herr == nil {
		defer stopHAProxy()
		paths = append(paths, struct{ name, addr string }{"haproxy 2.6 (TCP mode)", haproxyAddr})
	}
	fmt.Fprintf(out, "   %-26s %9s %9s %9s %11s %9s\n", "path", "p50 µs", "p99 µs", "p50/dir", "new-conn p50", "MB/s")
	var direct float64
	type pathFigures struct {
		name               string
		p50, newConn, mbps float64
	}
	var measured []pathFigures
	for _, p := range paths {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		p50, p99, err := pingPong(p.addr)
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		c50, err := connPerRequest(p.addr)
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		mbps, err := throughput(p.addr)
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		if direct == 0 {
			direct = p50
		}
		fmt.Fprintf(out, "   %-26s %9.1f %9.1f %9.2f %11.1f %9.0f\n", p.name, p50, p99, p50/direct, c50, mbps)
		measured = append(measured, pathFigures{p.name, p50, c50, mbps})
	}
	// Ours beside HAProxy's, for -runs' medians.
	if len(measured) == len(paths) && herr == nil {
		ours, peer := measured[2], measured[3]
		recordRatio("nlb round trip p50: faultline ÷ haproxy", "lower", ours.p50/peer.p50)
		recordRatio("nlb new connection p50: faultline ÷ haproxy", "lower", ours.newConn/peer.newConn)
		recordRatio("nlb throughput: faultline ÷ haproxy", "higher", ours.mbps/peer.mbps)
	}
	if herr != nil {
		fmt.Fprintf(out, "   haproxy: %v\n", herr)
	}
	fmt.Fprintf(out, "   (%d sequential 64-byte round trips on one connection; %d requests on a new connection each; %d MB echoed)\n",
		roundTrips, connRequests, streamBytes>>20)
	return nil
}

func echoServer() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	return ln.Addr().String(), func() { ln.Close() }, nil
}

// pingPong returns the p50 and p99 round trip in µs over one connection.
func pingPong(addr string) (p50, p99 float64, err error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	msg, buf := make([]byte, 64), make([]byte, 64)
	lat := make([]float64, 0, roundTrips)
	for i := 0; i < roundTrips; i++ {
		t0 := time.Now()
		if _, err := c.Write(msg); err != nil {
			return 0, 0, err
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			return 0, 0, err
		}
		lat = append(lat, float64(time.Since(t0).Nanoseconds())/1000)
	}
	p50, _ = stats.Percentile(lat, 50)
	p99, _ = stats.Percentile(lat, 99)
	return p50, p99, nil
}

// connPerRequest returns the p50 in µs of dial + one round trip + close.
func connPerRequest(addr string) (float64, error) {
	msg, buf := make([]byte, 64), make([]byte, 64)
	lat := make([]float64, 0, connRequests)
	for i := 0; i < connRequests; i++ {
		t0 := time.Now()
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			return 0, err
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Write(msg)
		if err == nil {
			_, err = io.ReadFull(c, buf)
		}
		c.Close()
		if err != nil {
			return 0, err
		}
		lat = append(lat, float64(time.Since(t0).Nanoseconds())/1000)
	}
	p50, _ := stats.Percentile(lat, 50)
	return p50, nil
}

// throughput echoes streamBytes through addr and returns MB/s.
func throughput(addr string) (float64, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	t0 := time.Now()
	errc := make(chan error, 1)
	go func() {
		chunk := make([]byte, 64<<10)
		for sent := 0; sent < streamBytes; sent += len(chunk) {
			if _, err := c.Write(chunk); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	if _, err := io.CopyN(io.Discard, c, streamBytes); err != nil {
		return 0, err
	}
	if err := <-errc; err != nil {
		return 0, err
	}
	return float64(streamBytes) / (1 << 20) / time.Since(t0).Seconds(), nil
}

// startHAProxy runs HAProxy in TCP mode in front of upstream, on a free
// loopback port, as a child process with a generated configuration. It
// busy-polls, as HAProxy's manual advises inside virtual machines: on this
// one, without it, every wake-up from an idle poll cost HAProxy about
// 100 µs (round trip p50 135–210 µs, against 50 µs with it), while our NLB,
// in the benchmark's own process, rides on Go's spinning scheduler; the
// peer's figure is its best here, not its worst.
func startHAProxy(upstream string) (string, func(), error) {
	if _, err := exec.LookPath("haproxy"); err != nil {
		return "", nil, fmt.Errorf("not installed (apt-get install -y haproxy, or make bench-deps): no peer figure")
	}
	dir, err := tempdirs.Make("", "haproxy")
	if err != nil {
		return "", nil, err
	}
	p, err := startPeer(peerSpec{name: "haproxy", within: 20 * time.Second,
		cmd: func(port int) (*exec.Cmd, error) {
			cfg := fmt.Sprintf(`global
  maxconn 4096
  busy-polling
defaults
  mode tcp
  timeout connect 2s
  timeout client 60s
  timeout server 60s
frontend bench
  bind 127.0.0.1:%d
  default_backend echo
backend echo
  server e1 %s
`, port, upstream)
			file := filepath.Join(dir, "haproxy.cfg")
			if err := os.WriteFile(file, []byte(cfg), 0o644); err != nil {
				return nil, err
			}
			return exec.Command("haproxy", "-f", file, "-db"), nil
		},
		ready: func(port int) error {
			c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 500*time.Millisecond)
			if err == nil {
				c.Close()
			}
			return err
		}})
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return fmt.Sprintf("127.0.0.1:%d", p.port), func() { p.stop(); os.RemoveAll(dir) }, nil
}
