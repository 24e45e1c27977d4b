package faults

import "github.com/faultline-dev/faultline/targets/dnsstub"

// dns.stale: the previous record set is served, as when an old plan is
// applied over a newer one.
func init() {
	Register(dnsKind{
		name:    "dns.stale",
		summary: "answers with the record set the name had before its last change",
		action:  fixed(dnsstub.Stale),
	})
}
