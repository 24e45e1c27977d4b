package faults

import "github.com/faultline-dev/faultline/targets/dnsstub"

// dns.nxdomain: the name does not exist at all (NXDOMAIN with the SOA).
func init() {
	Register(dnsKind{
		name:    "dns.nxdomain",
		summary: "the name does not exist: NXDOMAIN, SOA in authority",
		action:  fixed(func() dnsstub.Action { return dnsstub.NXDomain() }),
	})
}
