// Package linkstest has test helpers for links and whatever sits on them: a
// TCP echo server on loopback, closed by t.Cleanup.
package linkstest

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Echo starts a TCP server on 127.0.0.1:0 that writes back whatever it reads.
func Echo(t testing.TB) string {
	t.Helper()
	return EchoOn(t, "127.0.0.1:0")
}

// EchoOn is Echo on a given address.
func EchoOn(t testing.TB, addr string) string {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("echo server: %v", err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				io.Copy(c, c)
				c.Close()
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}
