package dnsrelay

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"github.com/miekg/dns"
)

// parseRewrite checks Config.Rewrite: IPv4 addresses both sides.
func parseRewrite(m map[string]string) (map[[4]byte]net.IP, error) {
	if len(m) == 0 {
		return nil, nil
	}
	out := make(map[[4]byte]net.IP, len(m))
	for from, to := range m {
		f, err1 := netip.ParseAddr(from)
		t, err2 := netip.ParseAddr(to)
		if err1 != nil || err2 != nil || !f.Is4() || !t.Is4() {
			return nil, fmt.Errorf("dns relay: rewrite %q → %q: expected IPv4 addresses", from, to)
		}
		out[f.As4()] = net.IP(t.AsSlice())
	}
	return out, nil
}

// rewrite replaces the listed addresses in the A records of every section
// of resp. The records are resp's own (unpacked for this answer), so they
// are changed in place.
func (r *Relay) rewrite(resp *dns.Msg) {
	if len(r.rw) == 0 {
		return
	}
	for _, section := range [][]dns.RR{resp.Answer, resp.Ns, resp.Extra} {
		for _, rr := range section {
			a, ok := rr.(*dns.A)
			if !ok || a.A.To4() == nil {
				continue
			}
			if to, ok := r.rw[[4]byte(a.A.To4())]; ok {
				a.A = to
			}
		}
	}
}

// StartFirstFree starts a relay on the first of addrs ("ip:53" each) whose
// address no one else holds: port 53 of a loopback address is a resource
// shared by every run on the host (containers use the host's network), so
// a bind conflict moves on to the next address. Source, when set, gives
// each address's source address. Any other error ends the search.
func StartFirstFree(cfg Config, addrs []string, source func(addr string) string) (*Relay, error) {
	var last error
	for _, addr := range addrs {
		cfg.Addr = addr
		if source != nil {
			cfg.Source = source(addr)
		}
		r, err := Start(cfg)
		if err == nil {
			return r, nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			return nil, err
		}
		last = err
	}
	if last == nil {
		return nil, errors.New("dns relay: no address to try")
	}
	return nil, fmt.Errorf("dns relay: all %d addresses tried are taken (other runs on this host?); the last: %w", len(addrs), last)
}
