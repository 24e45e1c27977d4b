package faults

import "github.com/faultline-dev/faultline/targets/dnsstub"

// DNSTruncate is dns.truncate: UDP answers come back truncated (TC, no
// records), sending clients to TCP; TCP says whether TCP then works.
type DNSTruncate struct {
	TCP string `param:"tcp" default:"ok" enum:"ok,servfail,drop" doc:"what the TCP retry gets: ok, servfail or drop"`
	DNSSelect
}

func init() {
	Register(defineDNS[DNSTruncate]("dns.truncate", "UDP answers are truncated (TC set, no records), forcing TCP; optionally TCP fails too"))
}

func (p DNSTruncate) action(World) (dnsstub.Action, error) {
	return dnsstub.Truncate(dnsstub.TruncateOptions{TCP: p.TCP}), nil
}

func (p DNSTruncate) Apply(w World, f Fault) (func() error, error) { return applyDNS(w, f, p) }
