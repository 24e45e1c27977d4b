package engine

import (
	"net/netip"
	"sync"

	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/targets/nlb"
	"github.com/faultline-dev/faultline/targets/synwatch"
)

// refusals journals, while a node is down, the connection attempts of the
// applications at its aliases (journal.ConnRefused): nothing listens there,
// so the kernel refuses them and no node sees them; a packet socket on lo
// does (synwatch). The reference clients journal their own refused
// attempts. Without CAP_NET_RAW it journals nothing and the Engine's log
// says so.
type refusals struct {
	e *Engine
	w *synwatch.Watcher

	mu   sync.Mutex
	down map[netip.AddrPort]refusedAt // a down node's alias and port → whose
}

type refusedAt struct{ app, region, node string }

// watchRefusals starts the watcher, once, when applications may meet a node
// that is down (a fault of reach "node" is being applied).
func (e *Engine) watchRefusals() {
	e.amu.Lock()
	defer e.amu.Unlock()
	if len(e.apps) == 0 || e.watchTried {
		return
	}
	e.watchTried = true
	rf := &refusals{e: e, down: map[netip.AddrPort]refusedAt{}}
	w, err := synwatch.Start(rf.syn)
	if err != nil {
		e.log("%v: the applications' connection attempts refused at a down node are not journaled", err)
		return
	}
	rf.w = w
	e.refused = rf
	e.log("watching connection attempts on lo: the applications' attempts refused at a down node are journaled (conn.refused)")
}

// refusals is the watch, or nil.
func (e *Engine) refusals() *refusals {
	e.amu.RLock()
	defer e.amu.RUnlock()
	return e.refused
}

// nodeDown marks a node's aliases, on every port the nodes listen on, as
// refusing; with up, it clears them.
func (rf *refusals) nodeDown(n nlb.Event, up bool) {
	if rf == nil {
		return
	}
	node, err := netip.ParseAddrPort(n.Node)
	if err != nil {
		return
	}
	rf.e.amu.RLock()
	apps := rf.e.apps
	rf.e.amu.RUnlock()
	rf.mu.Lock()
	defer rf.mu.Unlock()
	for _, a := range apps {
		alias, err := netip.ParseAddr(rf.e.world.NodeAliases(a.Set)[node.Addr().String()])
		if err != nil {
			continue
		}
		for _, port := range rf.e.nodePorts {
			at := netip.AddrPortFrom(alias, uint16(port))
			if up {
				delete(rf.down, at)
			} else {
				rf.down[at] = refusedAt{app: a.Name, region: n.Region, node: n.Node}
			}
		}
	}
}

func (rf *refusals) syn(s synwatch.SYN) {
	rf.mu.Lock()
	at, ok := rf.down[s.Dst]
	rf.mu.Unlock()
	if ok {
		rf.e.Record(journal.Event{T: rf.e.j.Since(s.Time), Type: journal.ConnRefused, Client: at.app, Region: at.region, Node: at.node,
			Addr: s.Src.String(), Detail: "refused at " + s.Dst.String() + ": the node is down"})
	}
}
