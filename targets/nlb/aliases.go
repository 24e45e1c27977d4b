package nlb

import (
	"errors"
	"fmt"
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
func splitAliases(cfg Config, lns []net.Listener) [][]net.Listener {
	out := make([][]net.Listener, len(cfg.NodeIPs))
	for n, ips := range cfg.Aliases {
		out[n], lns = lns[:len(ips)], lns[len(ips):]
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
	lb.tlsAliases = make([][]net.Listener, len(lb.cfg.NodeIPs))
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

// serveAliases accepts on every alias listener, as its node.
func (lb *LB) serveAliases() {
	for _, byNode := range [][][]net.Listener{lb.aliases, lb.tlsAliases} {
		for n, lns := range byNode {
			for _, ln := range lns {
				lb.wg.Add(1)
				go lb.serve(ln, lb.nodeAddrs[n])
			}
		}
	}
}

// aliasesDown closes node i's alias listeners. The caller holds mu.
func (lb *LB) aliasesDown(i int) error {
	var errs []error
	for _, lns := range [][][]net.Listener{lb.aliases, lb.tlsAliases} {
		if i >= len(lns) {
			continue
		}
		for _, ln := range lns[i] {
			if ln != nil {
				errs = append(errs, ln.Close())
			}
		}
		lns[i] = nil
	}
	return errors.Join(errs...)
}

// aliasesUp binds node i's aliases again, on the node's ports. The caller
// holds mu.
func (lb *LB) aliasesUp(i int) error {
	if i >= len(lb.cfg.Aliases) || len(lb.aliases[i]) > 0 {
		return nil
	}
	for _, ip := range lb.cfg.Aliases[i] {
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(lb.port)))
		if err != nil {
			return fmt.Errorf("nlb %s: restarting node %s on its alias %s: %w", lb.cfg.Region, lb.nodeAddrs[i], ip, err)
		}
		lb.aliases[i] = append(lb.aliases[i], ln)
		lb.wg.Add(1)
		go lb.serve(ln, lb.nodeAddrs[i])
		if lb.cfg.TLS != nil {
			tln, err := lb.listenTLS(net.JoinHostPort(ip, strconv.Itoa(lb.cfg.TLSPort)))
			if err != nil {
				return err
			}
			lb.tlsAliases[i] = append(lb.tlsAliases[i], tln)
			lb.wg.Add(1)
			go lb.serve(tln, lb.nodeAddrs[i])
		}
	}
	return nil
}
