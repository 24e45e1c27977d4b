package faults

import "github.com/faultline-dev/faultline/targets/dnsstub"

// dns.partial: the record set lost some of its addresses.
func init() {
	Register(dnsKind{
		name:    "dns.partial",
		summary: "answers with only the first `keep` records of the set",
		params:  []Param{{Name: "keep", Type: Int, Default: "1", Min: 1, Max: 100, Doc: "how many records to keep"}},
		action: func(_ World, v Values) (dnsstub.Action, error) {
			return dnsstub.Partial(v.Int("keep")), nil
		},
	})
}
