package nlb

import (
	"net"
	"strconv"
)

// aliasIPs are every node's aliases, node by node.
func aliasIPs(cfg Config) []string {
	var out []string
	for _, ips := range cfg.Aliases {
		out = append(out, ips...)
	}
	return out
}

// splitAliases hands the listeners bound on aliasIPs(cfg) back to their
// nodes.
func splitAliases(cfg Config, lns []*net.TCPListener) [][]*nodeListener {
	out := make([][]*nodeListener, len(cfg.NodeIPs))
	for n, ips := range cfg.Aliases {
		for _, ln := range lns[:len(ips)] {
			out[n] = append(out[n], newNodeListener(ln, ln))
		}
		lns = lns[len(ips):]
	}
	return out
}

// NodeAliases are node i's aliases, "ip" each.
func (lb *LB) NodeAliases(i int) []string {
	if i < 0 || i >= len(lb.cfg.Aliases) {
		return nil
	}
	return append([]string(nil), lb.cfg.Aliases[i]...)
}

// listenAliasesTLS binds the aliases' TLS listeners.
func (lb *LB) listenAliasesTLS() error {
	lb.tlsAliases = make([][]*nodeListener, len(lb.cfg.NodeIPs))
	for n, ips := range lb.cfg.Aliases {
		for _, ip := range ips {
			ln, err := lb.listenTLS(net.JoinHostPort(ip, strconv.Itoa(lb.cfg.TLSPort)))
			if err != nil {
				return err
			}
			lb.tlsAliases[n] = append(lb.tlsAliases[n], ln)
		}
	}
	return nil
}

// aliasListeners are node i's listeners on its aliases, plain and TLS: a
// node reached at an alias is the same node, down and up with it.
func (lb *LB) aliasListeners(i int) []*nodeListener {
	var out []*nodeListener
	for _, byNode := range [][][]*nodeListener{lb.aliases, lb.tlsAliases} {
		if i < len(byNode) {
			out = append(out, byNode[i]...)
		}
	}
	return out
}
