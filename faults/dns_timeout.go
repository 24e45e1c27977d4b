package faults

import "github.com/faultline-dev/faultline/targets/dnsstub"

// dns.timeout: no answer at all; clients wait for their resolver's timeout.
func init() {
	Register(dnsKind{
		name:    "dns.timeout",
		summary: "no answer at all: the query is dropped (UDP and TCP)",
		action:  fixed(func() dnsstub.Action { return dnsstub.Timeout() }),
	})
}
