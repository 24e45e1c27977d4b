package faults

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/faultline-dev/faultline/targets/dnsstub"
)

// DNSRedirect is dns.redirect: the name answers with other addresses: a
// blackhole (a loopback address where nothing listens) or another region's
// endpoint. Addresses are loopback only: faultline never sends clients
// elsewhere.
type DNSRedirect struct {
	To     Loopbacks `param:"to" doc:"comma-separated loopback addresses, e.g. 127.0.255.1 (nothing listens there)"`
	Region string    `param:"region" region:"true" doc:"answer with this region's endpoint records instead"`
	TTL    int       `param:"ttl" default:"5" min:"0" max:"86400" unit:"s" doc:"TTL of the answers given by to"`
	DNSSelect
}

func init() {
	Register(defineDNS[DNSRedirect]("dns.redirect", "answers with given loopback addresses, or with another region's endpoint records"))
}

func (p *DNSRedirect) check() error {
	if (len(p.To) > 0) == (p.Region != "") {
		return &ParamError{Param: "to", Msg: "dns.redirect needs exactly one of to (addresses) or region"}
	}
	return nil
}

func (p DNSRedirect) action(w World) (dnsstub.Action, error) {
	if p.Region != "" {
		name, ok := w.Endpoint(p.Region)
		if !ok {
			return nil, &ParamError{Param: "region", Msg: fmt.Sprintf("no region %q in the topology", p.Region)}
		}
		return dnsstub.RedirectTo(name), nil
	}
	var a, aaaa []string
	for _, ip := range p.To {
		if ip.Is4() {
			a = append(a, ip.String())
		} else {
			aaaa = append(aaaa, ip.String())
		}
	}
	return dnsstub.Redirect(a, aaaa, uint32(p.TTL)), nil
}

func (p DNSRedirect) Apply(w World, f Fault) (func() error, error) { return applyDNS(w, f, p) }

// Loopbacks are loopback addresses, written separated by commas.
type Loopbacks []netip.Addr

func (l *Loopbacks) ParseParam(s string) error {
	var out Loopbacks
	for _, part := range strings.Split(s, ",") {
		ip, err := netip.ParseAddr(strings.TrimSpace(part))
		if err != nil {
			return fmt.Errorf("expected loopback addresses separated by commas, got %q", part)
		}
		if !ip.IsLoopback() {
			return fmt.Errorf("%s is not a loopback address: faultline only redirects clients within 127.0.0.0/8 and ::1", ip)
		}
		out = append(out, ip)
	}
	*l = out
	return nil
}
