package faults

import "github.com/faultline-dev/faultline/targets/dnsstub"

// dns.ttl: the right records with another TTL (a cache then keeps them longer,
// or shorter).
func init() {
	Register(dnsKind{
		name:    "dns.ttl",
		summary: "answers normally with every answer record's TTL overridden",
		params:  []Param{{Name: "ttl", Type: Int, Required: true, Min: 0, Max: 604800, Doc: "TTL in seconds"}},
		action: func(_ World, v Values) (dnsstub.Action, error) {
			return dnsstub.TTL(uint32(v.Int("ttl"))), nil
		},
	})
}
