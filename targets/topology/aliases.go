package topology

import (
	"fmt"
	"net/netip"
)

// MaxAliasSets bounds Config.AliasSets: sets take 127.64.0.0/10's first
// 32 /16s.
const MaxAliasSets = 32

// aliasBase is the second octet of set 0's aliases.
const aliasBase = 64

// AliasIP is node n (from 0) of region i's (from 0) address in alias set
// set: 127.(64+set).(i+1).(n+1), beside the node's own 127.0.(i+1).(n+1).
func AliasIP(set, i, n int) string { return fmt.Sprintf("127.%d.%d.%d", aliasBase+set, i+1, n+1) }

// AliasSet says which alias set ip ("ip" or "ip:port") belongs to, if it is
// an alias of one of this world's nodes.
func (w *World) AliasSet(ip string) (int, bool) {
	set, region, node, ok := ParseAlias(ip)
	if !ok || set >= w.cfg.AliasSets || region >= len(w.order) || node >= w.regions[w.order[region]].cfg.Nodes {
		return 0, false
	}
	return set, true
}

// ParseAlias reads an alias address ("ip" or "ip:port") as AliasIP writes
// it: its set, region and node (from 0). It needs no world, so an observer
// may call it before the world is built.
func ParseAlias(ip string) (set, region, node int, ok bool) {
	if ap, err := netip.ParseAddrPort(ip); err == nil {
		ip = ap.Addr().String()
	}
	a, err := netip.ParseAddr(ip)
	if err != nil || !a.Is4() {
		return 0, 0, 0, false
	}
	b := a.As4()
	set, region, node = int(b[1])-aliasBase, int(b[2])-1, int(b[3])-1
	if b[0] != 127 || set < 0 || set >= MaxAliasSets || region < 0 || node < 0 {
		return 0, 0, 0, false
	}
	return set, region, node, true
}

// NodeAliases maps every node's own address to its alias in set: what a
// DNS relay rewrites in the A answers it passes to the set's client.
func (w *World) NodeAliases(set int) map[string]string {
	if set < 0 || set >= w.cfg.AliasSets {
		return nil
	}
	out := map[string]string{}
	for i, name := range w.order {
		for n := range w.regions[name].cfg.Nodes {
			out[fmt.Sprintf("127.0.%d.%d", i+1, n+1)] = AliasIP(set, i, n)
		}
	}
	return out
}
