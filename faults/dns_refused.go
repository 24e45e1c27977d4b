package faults

import "github.com/faultline-dev/faultline/targets/dnsstub"

// dns.refused: the server refuses the query.
func init() {
	Register(dnsKind{
		name:    "dns.refused",
		summary: "the server refuses the query: REFUSED",
		action:  fixed(func() dnsstub.Action { return dnsstub.Refused() }),
	})
}
