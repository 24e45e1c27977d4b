package faults

import "github.com/faultline-dev/faultline/targets/dnsstub"

// dns.empty is the October 20, 2025 failure: the name exists but its record
// set is empty (NODATA). With the SOA and AA set, resolvers cache it for the
// negative TTL and Go reports "no such host"; without AA, Go reports a lame
// referral, which is there to be reproduced on purpose.
func init() {
	Register(dnsKind{
		name:    "dns.empty",
		summary: "the record set is empty: NOERROR, zero answers (NODATA), SOA in authority",
		params: []Param{
			{Name: "soa", Type: Bool, Default: "true", Doc: "put the zone's SOA in the authority section (negative caching)"},
			{Name: "aa", Type: Bool, Default: "true", Doc: "set the authoritative-answer bit"},
		},
		action: func(_ World, v Values) (dnsstub.Action, error) {
			return dnsstub.Empty(dnsstub.EmptyOptions{NoSOA: !v.Bool("soa"), NoAA: !v.Bool("aa")}), nil
		},
	})
}
