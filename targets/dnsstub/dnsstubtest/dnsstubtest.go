// Package dnsstubtest starts dnsstub servers for tests, as net/http/httptest
// does for HTTP: on loopback, closed by t.Cleanup.
package dnsstubtest

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/targets/dnsstub"
)

// Start starts a server on 127.0.0.1:0 for zones (default: one zone,
// "example.test.") and closes it when the test ends.
func Start(t testing.TB, zones ...dnsstub.Zone) *dnsstub.Server {
	t.Helper()
	return StartConfig(t, dnsstub.Config{Zones: zones})
}

// StartConfig is Start with a whole Config (an observer, say).
func StartConfig(t testing.TB, cfg dnsstub.Config) *dnsstub.Server {
	t.Helper()
	if len(cfg.Zones) == 0 {
		cfg.Zones = []dnsstub.Zone{{Origin: "example.test."}}
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	s, err := dnsstub.Start(cfg)
	if err != nil {
		t.Fatalf("starting the DNS server: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Rule adds a rule for the rest of the test (or until the returned remove).
func Rule(t testing.TB, s *dnsstub.Server, r dnsstub.Rule) (remove func()) {
	t.Helper()
	remove, err := s.AddRule(r)
	if err != nil {
		t.Fatalf("adding rule %q: %v", r.Name, err)
	}
	t.Cleanup(remove)
	return remove
}

// GoResolver is Go's own resolver (PreferGo) asking only the server at addr,
// over whichever network Go picks (UDP, then TCP on truncation).
func GoResolver(addr string) *net.Resolver {
	return GoResolverFrom(addr, "")
}

// GoResolverFrom is GoResolver with its queries sent from sourceIP ("" for
// any), so the server can tell clients apart.
func GoResolverFrom(addr, sourceIP string) *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			d := net.Dialer{Timeout: 2 * time.Second}
			if sourceIP != "" {
				ip := net.ParseIP(sourceIP)
				if network == "tcp" || network == "tcp4" || network == "tcp6" {
					d.LocalAddr = &net.TCPAddr{IP: ip}
				} else {
					d.LocalAddr = &net.UDPAddr{IP: ip}
				}
			}
			return d.DialContext(ctx, network, addr)
		},
	}
}
