package faults

import "github.com/faultline-dev/faultline/targets/dnsstub"

// DNSPartial is dns.partial: the record set lost some of its addresses.
type DNSPartial struct {
	Keep int `param:"keep" default:"1" min:"1" max:"100" unit:"records" doc:"how many records to keep"`
	DNSSelect
}

func init() {
	Register(defineDNS[DNSPartial]("dns.partial", "answers with only the first `keep` records of the set"))
}

func (p DNSPartial) action(World) (dnsstub.Action, error) { return dnsstub.Partial(p.Keep), nil }

func (p DNSPartial) Apply(w World, f Fault) (func() error, error) { return applyDNS(w, f, p) }
