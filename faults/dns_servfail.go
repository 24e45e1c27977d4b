package faults

import (
	"math/rand"

	"github.com/faultline-dev/faultline/targets/dnsstub"
)

// dns.servfail: the server fails to answer; Go calls it "server misbehaving"
// and the SDK retries it.
func init() {
	Register(dnsKind{
		name:    "dns.servfail",
		summary: "the server fails: SERVFAIL, no answers",
		action:  func(Values, *rand.Rand) dnsstub.Action { return dnsstub.ServFail() },
	})
}
