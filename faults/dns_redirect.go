package faults

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/faultline-dev/faultline/targets/dnsstub"
)

// dns.redirect: the name answers with other addresses: a blackhole (a
// loopback address where nothing listens) or another region's endpoint.
// Addresses are loopback only: faultline never sends clients elsewhere.
func init() {
	Register(dnsKind{
		name:    "dns.redirect",
		summary: "answers with given loopback addresses, or with another region's endpoint records",
		params: []Param{
			{Name: "to", Type: String, Doc: "comma-separated loopback addresses, e.g. 127.0.255.1 (nothing listens there)", Check: parseLoopbacks},
			{Name: "region", Type: String, Region: true, Doc: "answer with this region's endpoint records instead"},
			{Name: "ttl", Type: Int, Default: "5", Min: 0, Max: 86400, Doc: "TTL of the answers given by to"},
		},
		verify: func(v Values) error {
			to, _ := v.Get("to").([]netip.Addr)
			region, _ := v.Get("region").(string)
			if (len(to) > 0) == (region != "") {
				return &ParamError{Param: "to", Msg: "dns.redirect needs exactly one of to (addresses) or region"}
			}
			return nil
		},
		action: func(w World, v Values) (dnsstub.Action, error) {
			to, _ := v.Get("to").([]netip.Addr)
			region, _ := v.Get("region").(string)
			switch {
			case region != "":
				name, ok := w.Endpoint(region)
				if !ok {
					return nil, &ParamError{Param: "region", Msg: fmt.Sprintf("no region %q in the topology", region)}
				}
				return dnsstub.RedirectTo(name), nil
			}
			var a, aaaa []string
			for _, ip := range to {
				if ip.Is4() {
					a = append(a, ip.String())
				} else {
					aaaa = append(aaaa, ip.String())
				}
			}
			return dnsstub.Redirect(a, aaaa, uint32(v.Int("ttl"))), nil
		},
	})
}

func parseLoopbacks(s string) (any, error) {
	var out []netip.Addr
	for _, part := range strings.Split(s, ",") {
		ip, err := netip.ParseAddr(strings.TrimSpace(part))
		if err != nil {
			return nil, fmt.Errorf("expected loopback addresses separated by commas, got %q", part)
		}
		if !ip.IsLoopback() {
			return nil, fmt.Errorf("%s is not a loopback address: faultline only redirects clients within 127.0.0.0/8 and ::1", ip)
		}
		out = append(out, ip)
	}
	return out, nil
}
