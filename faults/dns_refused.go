package faults

import (
	"math/rand"

	"github.com/faultline-dev/faultline/targets/dnsstub"
)

// dns.refused: the server refuses the query.
func init() {
	Register(dnsKind{
		name:    "dns.refused",
		summary: "the server refuses the query: REFUSED",
		action:  func(Values, *rand.Rand) dnsstub.Action { return dnsstub.Refused() },
	})
}
