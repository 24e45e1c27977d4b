package runner

import (
	"net/netip"
	"slices"
	"sync"

	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/faults"
	"github.com/faultline-dev/faultline/targets/nlb"
	"github.com/faultline-dev/faultline/targets/synwatch"
)

// refusals journals, while a node is down, the connection attempts of the
// applications at its aliases (journal.ConnRefused): nothing listens there,
// so the kernel refuses them and no node sees them; a packet socket on lo
// does (synwatch). The reference clients journal their own refused
// attempts. Without CAP_NET_RAW it journals nothing and the run says so.
type refusals struct {
	r *run
	w *synwatch.Watcher

	mu   sync.Mutex
	down map[netip.AddrPort]refusedAt // a down node's alias and port → whose
}

type refusedAt struct{ app, region, node string }

// watchRefusals starts the watcher when an application may meet a node
// that is down (an nlb.node-down fault).
func (r *run) watchRefusals() {
	if len(r.apps) == 0 || !slices.ContainsFunc(r.exp.Faults, func(f faults.Fault) bool { return f.Kind == "nlb.node-down" }) {
		return
	}
	rf := &refusals{r: r, down: map[netip.AddrPort]refusedAt{}}
	w, err := synwatch.Start(rf.syn)
	if err != nil {
		r.say("%v: the applications' connection attempts refused at a down node are not journaled", err)
		return
	}
	rf.w = w
	r.refused = rf
	r.say("watching connection attempts on lo: the applications' attempts refused at a down node are journaled (conn.refused)")
}

// closeRefusals stops the watcher.
func (r *run) closeRefusals() {
	if r.refused != nil {
		r.refused.w.Close()
	}
}

// nodeDown marks a node's aliases, on every port the nodes listen on, as
// refusing; nodeUp clears them.
func (rf *refusals) nodeDown(e nlb.Event, up bool) {
	if rf == nil {
		return
	}
	node, err := netip.ParseAddrPort(e.Node)
	if err != nil {
		return
	}
	rf.mu.Lock()
	defer rf.mu.Unlock()
	for _, id := range rf.r.apps {
		alias, err := netip.ParseAddr(rf.r.world.NodeAliases(id.set)[node.Addr().String()])
		if err != nil {
			continue
		}
		for _, port := range rf.r.nodePorts {
			at := netip.AddrPortFrom(alias, uint16(port))
			if up {
				delete(rf.down, at)
			} else {
				rf.down[at] = refusedAt{app: id.name, region: e.Region, node: e.Node}
			}
		}
	}
}

func (rf *refusals) syn(s synwatch.SYN) {
	rf.mu.Lock()
	at, ok := rf.down[s.Dst]
	rf.mu.Unlock()
	if ok {
		rf.r.j.Add(journal.Event{T: rf.r.j.Since(s.Time), Type: journal.ConnRefused, Client: at.app, Region: at.region, Node: at.node,
			Addr: s.Src.String(), Detail: "refused at " + s.Dst.String() + ": the node is down"})
	}
}
