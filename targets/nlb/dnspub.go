package nlb

import (
	"net"
	"time"
)

func (t *target) healthy() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.state == StateHealthy
}

func (t *target) registered() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.state != StateDraining && t.state != StateUnused
}

// servable: healthy, or not yet checked (a new NLB is published at once).
func (t *target) servable() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.state == StateHealthy || t.state == StateInitial
}

func (lb *LB) targetsIn(az int) []*target {
	var out []*target
	for _, t := range lb.targets {
		if t.az == az {
			out = append(out, t)
		}
	}
	return out
}

func (lb *LB) azOfNode(addr string) int {
	for i, a := range lb.nodeAddrs {
		if a == addr {
			return i
		}
	}
	return 0
}

// republish works out which nodes DNS should answer with and tells Publish
// when that changed: a node whose AZ has no servable target leaves DNS (with
// cross-zone load balancing every node serves while any target does), every
// node comes back when none is servable (fail-open), and removals beyond the
// velocity limit wait until the next health change finds room for them.
func (lb *LB) republish() {
	if lb.cfg.Publish == nil {
		return
	}
	lb.pubMu.Lock()
	want := make([]bool, len(lb.nodeAddrs))
	anyServable := false
	for az := range want {
		ts := lb.targetsIn(az)
		if lb.cfg.CrossZone || len(ts) == 0 {
			ts = lb.targets
		}
		for _, t := range ts {
			if t.servable() {
				want[az] = true
			}
		}
		anyServable = anyServable || want[az]
	}
	if !anyServable {
		for i := range want {
			want[i] = true
		}
	}
	now := time.Now()
	changed := false
	for i := range want {
		switch {
		case want[i] == lb.published[i]:
		case want[i]:
			lb.published[i], changed = true, true
		case lb.mayRemove(now):
			lb.published[i], changed = false, true
			lb.removals = append(lb.removals, now)
		default:
			lb.emit(Event{Kind: "dns.held", Node: lb.nodeAddrs[i], Detail: "velocity limit: the node stays in DNS for now"})
		}
	}
	var ips []string
	for i, p := range lb.published {
		if p {
			host, _, _ := net.SplitHostPort(lb.nodeAddrs[i])
			ips = append(ips, host)
		}
	}
	first := !lb.everPublished
	lb.everPublished = true
	lb.pubMu.Unlock()
	if changed || first {
		lb.cfg.Publish(ips)
	}
}

// mayRemove: one more removal keeps the removals within the window at or
// below MaxShare of the nodes. The caller holds pubMu.
func (lb *LB) mayRemove(now time.Time) bool {
	v := lb.cfg.Velocity
	if v == nil {
		return true
	}
	recent := lb.removals[:0:0]
	for _, t := range lb.removals {
		if now.Sub(t) < v.Window {
			recent = append(recent, t)
		}
	}
	lb.removals = recent
	return float64(len(recent)+1) <= v.MaxShare*float64(len(lb.nodeAddrs))
}
