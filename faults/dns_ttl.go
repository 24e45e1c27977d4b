package faults

import "github.com/faultline-dev/faultline/targets/dnsstub"

// DNSTTL is dns.ttl: the right records with another TTL (a cache then keeps
// them longer, or shorter).
type DNSTTL struct {
	TTL int `param:"ttl" required:"true" min:"0" max:"604800" unit:"s" doc:"TTL in seconds"`
	DNSSelect
}

func init() {
	Register(defineDNS[DNSTTL]("dns.ttl", "answers normally with every answer record's TTL overridden"))
}

func (p DNSTTL) action(World) (dnsstub.Action, error) { return dnsstub.TTL(uint32(p.TTL)), nil }

func (p DNSTTL) Apply(w World, f Fault) (func() error, error) { return applyDNS(w, f, p) }
