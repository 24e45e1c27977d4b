package faults

import "github.com/faultline-dev/faultline/targets/dnsstub"

// dns.servfail: the server fails to answer; Go calls it "server misbehaving"
// and the SDK retries it.
func init() {
	Register(dnsKind{
		name:    "dns.servfail",
		summary: "the server fails: SERVFAIL, no answers",
		action:  fixed(func() dnsstub.Action { return dnsstub.ServFail() }),
	})
}
