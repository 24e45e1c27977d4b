package faults

import "github.com/faultline-dev/faultline/targets/dnsstub"

// The DNS kinds without parameters of their own: only the selectors.

// DNSNXDomain is dns.nxdomain: the name does not exist at all (NXDOMAIN
// with the SOA).
type DNSNXDomain struct{ DNSSelect }

// DNSRefused is dns.refused: the server refuses the query.
type DNSRefused struct{ DNSSelect }

// DNSServFail is dns.servfail: the server fails to answer; Go calls it
// "server misbehaving" and the SDK retries it.
type DNSServFail struct{ DNSSelect }

// DNSStale is dns.stale: the previous record set is served, as when an old
// plan is applied over a newer one.
type DNSStale struct{ DNSSelect }

// DNSTimeout is dns.timeout: no answer at all; clients wait for their
// resolver's timeout.
type DNSTimeout struct{ DNSSelect }

func init() {
	Register(defineDNS[DNSNXDomain]("dns.nxdomain", "the name does not exist: NXDOMAIN, SOA in authority"))
	Register(defineDNS[DNSRefused]("dns.refused", "the server refuses the query: REFUSED"))
	Register(defineDNS[DNSServFail]("dns.servfail", "the server fails: SERVFAIL, no answers"))
	Register(defineDNS[DNSStale]("dns.stale", "answers with the record set the name had before its last change"))
	Register(defineDNS[DNSTimeout]("dns.timeout", "no answer at all: the query is dropped (UDP and TCP)"))
}

func (DNSNXDomain) action(World) (dnsstub.Action, error) { return dnsstub.NXDomain(), nil }
func (DNSRefused) action(World) (dnsstub.Action, error)  { return dnsstub.Refused(), nil }
func (DNSServFail) action(World) (dnsstub.Action, error) { return dnsstub.ServFail(), nil }
func (DNSStale) action(World) (dnsstub.Action, error)    { return dnsstub.Stale(), nil }
func (DNSTimeout) action(World) (dnsstub.Action, error)  { return dnsstub.Timeout(), nil }

func (p DNSNXDomain) Apply(w World, f Fault) (func() error, error) { return applyDNS(w, f, p) }
func (p DNSRefused) Apply(w World, f Fault) (func() error, error)  { return applyDNS(w, f, p) }
func (p DNSServFail) Apply(w World, f Fault) (func() error, error) { return applyDNS(w, f, p) }
func (p DNSStale) Apply(w World, f Fault) (func() error, error)    { return applyDNS(w, f, p) }
func (p DNSTimeout) Apply(w World, f Fault) (func() error, error)  { return applyDNS(w, f, p) }
