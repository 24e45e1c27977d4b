package faults

import "github.com/faultline-dev/faultline/targets/dnsstub"

// DNSEmpty is dns.empty, the October 20, 2025 failure: the name exists but
// its record set is empty (NODATA). With the SOA and AA set, resolvers cache
// it for the negative TTL and Go reports "no such host"; without AA, Go
// reports a lame referral, which is there to be reproduced on purpose.
type DNSEmpty struct {
	SOA bool `param:"soa" default:"true" doc:"put the zone's SOA in the authority section (negative caching)"`
	AA  bool `param:"aa" default:"true" doc:"set the authoritative-answer bit"`
	DNSSelect
}

func init() {
	Register(defineDNS[DNSEmpty]("dns.empty", "the record set is empty: NOERROR, zero answers (NODATA), SOA in authority"))
}

func (p DNSEmpty) action(World) (dnsstub.Action, error) {
	return dnsstub.Empty(dnsstub.EmptyOptions{NoSOA: !p.SOA, NoAA: !p.AA}), nil
}

func (p DNSEmpty) Apply(w World, f Fault) (func() error, error) { return applyDNS(w, f, p) }
