package engine

import (
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/targets/dynamodb/capacity"
)

// Retry storms (issue 17): a region's capacity is journaled once at the
// start (ddb.capacity) and then each second (ddb.load); a fleet's members
// are many clients from one source address each fleet, whose connections
// and DNS queries the journal counts instead of listing (a fleet journals
// its own fleet.load each second).

// FleetIP is the source address fleet i (from 0) dials and queries from,
// 127.57.0.(1+i): no reference client's or application's.
func FleetIP(i int) string { return fmt.Sprintf("127.57.0.%d", 1+i) }

// FleetSource says whether an address ("ip" or "ip:port") is a fleet's.
func FleetSource(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	return strings.HasPrefix(host, "127.57.")
}

// recordCapacities journals ddb.capacity for every region with one.
func (e *Engine) recordCapacities() {
	for _, r := range e.cfg.Topology.Regions {
		l, ok := e.world.Capacity(r.Name)
		if !ok {
			continue
		}
		c := l.Config()
		e.Record(journal.Event{Type: journal.DDBCapacity, Region: r.Name, Status: c.Mode,
			Detail: fmt.Sprintf("queue bound %s", c.MaxWait),
			Load:   &journal.Load{CapacityRPS: c.RPS, Burst: c.Burst}})
	}
}

// onCapacity journals a region's second (ddb.load).
func (e *Engine) onCapacity(region string, s capacity.Second) {
	e.Record(journal.Event{T: e.j.Since(s.End), Type: journal.DDBLoad, Region: region, Load: &journal.Load{
		Offered: s.Offered, Served: s.Served, Throttled: s.Throttled, Queue: s.Queue,
		P50MS: msOf(s.P50), P99MS: msOf(s.P99)}})
}

func msOf(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
