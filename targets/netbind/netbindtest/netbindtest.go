// Package netbindtest has test helpers for addresses on loopback.
package netbindtest

import (
	"fmt"
	"syscall"
	"testing"
)

// ClosedPort is a loopback address nothing listens on: connecting is
// refused. The port stays bound (not listening, without SO_REUSEADDR) until
// the test ends, so no other process can take it meanwhile, as one could a
// port merely closed.
func ClosedPort(t testing.TB) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
}
