package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/faultline-dev/faultline/targets/links"
	"github.com/faultline-dev/faultline/targets/nlb"
)

// The NLB soak: 1,000 concurrent connections through a node, a link and a
// target, held for 60 s, each echoing 64 bytes every 5 s; then everything is
// closed and the goroutines must come back to where they were (no leak).
func init() { register("nlb-soak", benchNLBSoak) }

const (
	soakConns    = 1000
	soakDuration = 60 * time.Second
	soakEvery    = 5 * time.Second
)

func benchNLBSoak(ctx context.Context, out *os.File) error {
	before := runtime.NumGoroutine()
	echo, stopEcho, err := echoServer()
	if err != nil {
		return err
	}
	hub := links.NewHub()
	lb, err := nlb.Start(ctx, nlb.Config{Region: "soak", NodeIPs: []string{"127.0.1.1", "127.0.1.2"}, Targets: []string{echo},
		HealthCheck: nlb.DefaultHealthCheck(), Links: hub, CrossZone: true})
	if err != nil {
		hub.Close()
		stopEcho()
		return err
	}
	nodes := lb.NodeAddrs()
	var errs, exchanges atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(soakDuration)
	started := time.Now()
	for i := 0; i < soakConns; i++ {
		c, err := net.DialTimeout("tcp", nodes[i%len(nodes)], 2*time.Second)
		if err != nil {
			errs.Add(1)
			continue
		}
		wg.Add(1)
		go func(c net.Conn, offset time.Duration) {
			defer wg.Done()
			defer c.Close()
			msg, buf := make([]byte, 64), make([]byte, 64)
			next := time.Now().Add(offset)
			for next.Before(deadline) && ctx.Err() == nil {
				time.Sleep(time.Until(next))
				c.SetDeadline(time.Now().Add(5 * time.Second))
				if _, err := c.Write(msg); err != nil {
					errs.Add(1)
					return
				}
				if _, err := io.ReadFull(c, buf); err != nil {
					errs.Add(1)
					return
				}
				exchanges.Add(1)
				next = next.Add(soakEvery)
			}
		}(c, time.Duration(i)*soakEvery/soakConns)
	}
	wg.Wait()
	held := time.Since(started)
	lb.Close()
	hub.Close()
	stopEcho()
	// Goroutines wind down asynchronously: wait up to 5 s for the count
	// to come back. It is the whole process's, so another benchmark's
	// goroutine ending or starting moves it; up to 2 is let pass (the nlb
	// package's own tests check for leaks exactly, with goleak).
	leaked := -1
	for wait := 0; wait < 50; wait++ {
		if leaked = runtime.NumGoroutine() - before; leaked <= 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	fmt.Fprintf(out, "   %d connections through node+link+target held %s: %d exchanges, %d errors, %d goroutines left after close\n",
		soakConns, held.Round(time.Second), exchanges.Load(), errs.Load(), leaked)
	if errs.Load() > 0 || leaked > 2 {
		return fmt.Errorf("%d errors, %d goroutines leaked", errs.Load(), leaked)
	}
	return nil
}
