// Command coredns is CoreDNS v1.15.0 with faultline's plugin compiled in,
// placed in the directive order before cache (and so before forward).
package main

import (
	"slices"

	"github.com/coredns/coredns/core/dnsserver"
	_ "github.com/coredns/coredns/core/plugin" // CoreDNS's own plugins
	"github.com/coredns/coredns/coremain"

	_ "github.com/faultline-dev/faultline/targets/coredns/plugin/faultline"
)

func init() {
	// Before cache: a heal takes effect at once (no shaped answer sits in the
	// cache for its TTL) and shaped answers are never cached for other clients.
	i := slices.Index(dnsserver.Directives, "cache")
	dnsserver.Directives = slices.Insert(dnsserver.Directives, i, "faultline")
}

func main() { coremain.Run() }
