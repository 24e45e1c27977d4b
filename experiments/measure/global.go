package measure

import (
	"math"
	"sort"

	"github.com/faultline-dev/faultline/experiments/journal"
)

// Global tables (issue 15): what the replication between regions did and
// what a client's failover cost in data. The definitions (README, "Metrics"):
//
//   - replication lag of a direction (source → destination): T − WrittenMS
//     of its ddb.replicated events that arrived (applied or superseded);
//     p50, p99 and max.
//   - writes at risk: at each switch of a client's region (a successful
//     request in another region than its previous successful one, at that
//     request's start t: a failover or a fail-back), the writes the client
//     had acknowledged in the old region by t (a successful write request
//     with an item and a version, acknowledged at its end) that had not
//     arrived in the new region by t (no ddb.replicated old → new of the
//     item with that version or a newer one, applied or superseded, at or
//     before t); summed over the switches. rpo_ms: the oldest such write's
//     age at its switch (0 when the client switched with nothing at risk).
//   - stale reads after failover: the client's successful reads of an item
//     (GetItem) started after its first switch that returned an older
//     version than the newest the client had acknowledged for the item
//     before the read started, or no item at all.
//   - lost writes: the client's acknowledged writes of version v of an item
//     when, at the end, no replica holds version v or newer of it (each
//     replica's item is its last ddb.write or applied ddb.replicated).
//   - conflicting writes: a ddb.write of an item in a region B while the
//     latest write of the item in another region A had not yet arrived in B;
//     a client's are those on items it wrote.
//   - convergence: from the last heal, the time until every write a
//     replica had acknowledged before it (journaled before the heal) had
//     arrived (applied or superseded) in every other region: the backlog
//     the faults left drained (0 when there was none). Writes after the
//     heal do not count, so a client that goes on writing does not keep
//     the replicas "unconverged". Null when one never arrived.
//
// All are null when not measurable: the lag, writes at risk, lost and
// conflicting writes and convergence without a global table (no ddb.*
// event); the client's without an acknowledged versioned write; writes at
// risk, rpo and stale reads without a switch of region.
//
// Everything is folded in journal order, as the events come.

// Replication is what the journal says of a global table's replication.
type Replication struct {
	Directions []ReplicationDirection `json:"directions"`
	// ConflictingWrites counts writes in a region while another region's
	// latest write of the item had not arrived there.
	ConflictingWrites int `json:"conflicting_writes"`
	// Items is how many items the replicas held.
	Items int `json:"items"`
	// Converged: at the end every replica held the same version of every
	// item. ConvergenceMS is the time from the last heal until every write
	// acknowledged before it had arrived in every other region (null: no
	// heal, or one never did).
	Converged     bool     `json:"converged"`
	ConvergenceMS *float64 `json:"convergence_ms"`
}

// ReplicationDirection is one direction of replication, source → destination.
type ReplicationDirection struct {
	From string `json:"from"`
	To   string `json:"to"`
	// Counts of ddb.replicated by status.
	Applied    int `json:"applied"`
	Superseded int `json:"superseded"`
	Dropped    int `json:"dropped"`
	// Pauses counts ddb.replication paused events of the direction.
	Pauses   int      `json:"pauses"`
	LagP50MS *float64 `json:"lag_p50_ms"`
	LagP99MS *float64 `json:"lag_p99_ms"`
	LagMaxMS *float64 `json:"lag_max_ms"`
}

// Bounds of what the global fold keeps: items, acknowledged writes,
// arrivals remembered per item and direction. Beyond, it drops and counts.
const (
	maxItems          = 1 << 16
	maxAckedWrites    = 1 << 20
	maxArrivalsPerDir = 256
)

type dirKey struct{ from, to string }

type backlogKey struct{ item, from, to string }

type dirFold struct {
	applied, superseded, dropped, pauses int
	lag                                  samples
	max                                  float64
}

// arrival: a version of an item arrived in a destination at t.
type arrival struct {
	v int64
	t float64
}

type itemFold struct {
	// the replicas: region → version held (nil: none or deleted)
	held map[string]*int64
	// the latest local write per region
	local map[string]int64
	// arrivals per direction, in journal order (the latest maxArrivalsPerDir)
	arrivals  map[dirKey][]arrival
	conflicts int
	disagree  bool
}

type ackedWrite struct {
	item   string
	v      int64
	region string
	ack    float64
}

type globalClient struct {
	// per item, the acknowledged writes in journal order (about version
	// order: versions grow per item); items in the order first written
	acked        map[string][]ackedWrite
	items        []string
	region       string // of the latest successful request
	switched     bool
	firstSwitch  float64
	atRisk       int
	rpo          float64
	staleReads   int
	hasVersioned bool
}

type globalFold struct {
	seen      bool // any ddb.* event: a global table
	strong    bool // a strongly consistent table's events (Detail strong)
	dirs      map[dirKey]*dirFold
	dirOrder  []dirKey
	all       samples
	allMax    float64
	regions   map[string]bool
	items     map[string]*itemFold
	clients   map[string]*globalClient
	conflicts int
	disagree  int
	// the backlog at the latest heal: per item, source and destination the
	// latest version written at the source that had not arrived yet
	healAt    float64
	backlog   map[backlogKey]int64
	drainedAt float64 // the latest arrival that took a write off the backlog
	dropped   int
	ackedN    int
}

func newGlobalFold() *globalFold {
	return &globalFold{dirs: map[dirKey]*dirFold{}, regions: map[string]bool{}, items: map[string]*itemFold{},
		clients: map[string]*globalClient{}, allMax: math.Inf(-1), healAt: -1, drainedAt: math.Inf(-1)}
}

func isWriteOp(op string) bool {
	switch op {
	case "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem":
		return true
	}
	return false
}

func (g *globalFold) dir(from, to string) *dirFold {
	k := dirKey{from, to}
	d := g.dirs[k]
	if d == nil {
		d = &dirFold{max: math.Inf(-1)}
		g.dirs[k] = d
		g.dirOrder = append(g.dirOrder, k)
	}
	return d
}

func (g *globalFold) region(r string) {
	if r == "" || g.regions[r] {
		return
	}
	g.regions[r] = true
	// A region more: every item's agreement is judged again.
	for _, it := range g.items {
		g.judge(it)
	}
}

func (g *globalFold) item(name string) *itemFold {
	it := g.items[name]
	if it == nil {
		if len(g.items) >= maxItems {
			g.dropped++
			return nil
		}
		it = &itemFold{held: map[string]*int64{}, local: map[string]int64{}, arrivals: map[dirKey][]arrival{}}
		g.items[name] = it
	}
	return it
}

// judge updates whether the replicas agree on it.
func (g *globalFold) judge(it *itemFold) {
	var first *int64
	agree, n := true, 0
	for r := range g.regions {
		v := it.held[r]
		if n > 0 && !sameVersion(first, v) {
			agree = false
			break
		}
		first, n = v, n+1
	}
	switch {
	case it.disagree && agree:
		it.disagree = false
		g.disagree--
	case !it.disagree && !agree:
		it.disagree = true
		g.disagree++
	}
}

func sameVersion(a, b *int64) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

func (g *globalFold) hold(it *itemFold, region string, v *int64) {
	if v != nil {
		x := *v
		v = &x
	}
	it.held[region] = v
	g.judge(it)
}

func (g *globalFold) add(e journal.Event) {
	if e.Type == journal.Request {
		g.request(e)
		return
	}
	switch e.Type {
	case journal.DDBReplication:
		g.seen = true
		g.region(e.Region)
		g.region(e.To)
		if e.Status == "paused" {
			g.dir(e.Region, e.To).pauses++
		}
	case journal.DDBWrite:
		g.seen = true
		g.strong = g.strong || e.Detail == journal.StrongConsistency
		g.region(e.Region)
		if e.Item == "" {
			return
		}
		it := g.item(e.Item)
		if it == nil {
			return
		}
		if e.ItemVersion != nil {
			for a, v1 := range it.local {
				if a != e.Region && !arrivedBy(it.arrivals[dirKey{a, e.Region}], v1, e.T) {
					it.conflicts++
					g.conflicts++
					break
				}
			}
			it.local[e.Region] = *e.ItemVersion
		}
		v := e.ItemVersion
		if e.Op == "DeleteItem" {
			v = nil
		}
		g.hold(it, e.Region, v)
	case journal.DDBReplicated:
		g.seen = true
		g.region(e.Region)
		g.region(e.To)
		d := g.dir(e.Region, e.To)
		switch e.Status {
		case "dropped":
			d.dropped++
			return
		case "superseded":
			d.superseded++
		default:
			d.applied++
		}
		if e.WrittenMS != nil {
			// A strongly consistent table's majority replica applies a
			// write before its source acknowledges it: no lag, not a
			// negative one.
			lag := max(e.T-*e.WrittenMS, 0)
			d.lag.add(lag)
			d.max = max(d.max, lag)
			g.all.add(lag)
			g.allMax = max(g.allMax, lag)
		}
		if e.Item == "" {
			return
		}
		it := g.item(e.Item)
		if it == nil {
			return
		}
		if e.ItemVersion != nil {
			bk := backlogKey{e.Item, e.Region, e.To}
			if v, ok := g.backlog[bk]; ok && *e.ItemVersion >= v {
				delete(g.backlog, bk)
				g.drainedAt = max(g.drainedAt, e.T)
			}
			k := dirKey{e.Region, e.To}
			a := append(it.arrivals[k], arrival{*e.ItemVersion, e.T})
			if len(a) > maxArrivalsPerDir {
				a = append(a[:0], a[len(a)-maxArrivalsPerDir:]...)
			}
			it.arrivals[k] = a
		}
		if e.Status != "superseded" {
			g.hold(it, e.To, e.ItemVersion)
		}
	}
}

// arrivedBy: version v (or a newer one) had arrived by t.
func arrivedBy(as []arrival, v int64, t float64) bool {
	for _, a := range as {
		if a.v >= v && a.t <= t {
			return true
		}
	}
	return false
}

func (g *globalFold) client(name string) *globalClient {
	c := g.clients[name]
	if c == nil {
		if len(g.clients) >= maxNames {
			return nil
		}
		c = &globalClient{acked: map[string][]ackedWrite{}}
		g.clients[name] = c
	}
	return c
}

// request: a client's request, in journal order.
func (g *globalFold) request(e journal.Event) {
	if e.Probe || e.Client == "" {
		return
	}
	c := g.clients[e.Client]
	if c == nil && e.Item == "" && !e.Succeeded() {
		return
	}
	if c = g.client(e.Client); c == nil {
		return
	}
	ok := e.Succeeded()
	if ok && e.Region != "" {
		if c.region != "" && c.region != e.Region {
			g.switchRegion(c, c.region, e.Region, e.T)
		}
		c.region = e.Region
	}
	if e.Item == "" || !ok {
		return
	}
	switch {
	case isWriteOp(e.Op) && e.ItemVersion != nil:
		if g.ackedN >= maxAckedWrites {
			g.dropped++
			return
		}
		g.ackedN++
		w := ackedWrite{item: e.Item, v: *e.ItemVersion, region: e.Region, ack: e.End()}
		if c.acked[e.Item] == nil {
			c.items = append(c.items, e.Item)
		}
		c.acked[e.Item] = append(c.acked[e.Item], w)
		c.hasVersioned = true
		g.item(e.Item) // the replicas' summary counts it
	case e.Op == "GetItem" && c.switched && e.T >= c.firstSwitch:
		newest, known := int64(0), false
		backwards(c.acked[e.Item], func(w ackedWrite) scanned {
			if w.ack > e.T {
				return skipped // not yet acknowledged when the read started
			}
			if !known || w.v > newest {
				newest, known = w.v, true
				return counted
			}
			return settled
		})
		if known && (e.ItemVersion == nil || *e.ItemVersion < newest) {
			c.staleReads++
		}
	}
}

func (g *globalFold) switchRegion(c *globalClient, from, to string, t float64) {
	if !c.switched {
		c.switched, c.firstSwitch = true, t
	}
	for _, item := range c.items {
		// Arrived by t: every version up to the newest that had arrived.
		var as []arrival
		if it := g.items[item]; it != nil {
			as = it.arrivals[dirKey{from, to}]
		}
		arrived, any := int64(0), false
		for _, a := range as {
			if a.t <= t && (!any || a.v > arrived) {
				arrived, any = a.v, true
			}
		}
		backwards(c.acked[item], func(w ackedWrite) scanned {
			if w.region != from || w.ack > t {
				return skipped
			}
			if any && w.v <= arrived {
				return settled
			}
			c.atRisk++
			c.rpo = max(c.rpo, t-w.ack)
			return counted
		})
	}
}

// settledRun: a backwards scan of a client's writes of an item stops after
// this many writes in a row that count for nothing: versions grow along the
// list, but requests in flight together can be journaled a little out of
// order.
const settledRun = 64

// What a backwards scan made of a write.
type scanned int

const (
	skipped scanned = iota // not one the scan is about
	settled                // one that does not count: older ones will not either
	counted                // one that counts
)

// backwards visits ws from the newest, until visit has said settled
// settledRun times in a row (skipped writes neither break nor extend the
// run).
func backwards(ws []ackedWrite, visit func(ackedWrite) scanned) {
	run := 0
	for i := len(ws) - 1; i >= 0 && run < settledRun; i-- {
		switch visit(ws[i]) {
		case settled:
			run++
		case counted:
			run = 0
		}
	}
}

// apply sets the global-table metrics of a client, and the summary's
// replication; lastHeal < 0: no heal.
func (g *globalFold) apply(name string, m *Metrics, lastHeal float64) {
	if g.seen && g.all.n() > 0 {
		m.ReplicationLagP50MS, m.ReplicationLagP99MS, m.ReplicationLagMaxMS = g.all.percentile(50), g.all.percentile(99), ptr(g.allMax)
	}
	if g.seen {
		_, m.ConvergenceMS = g.convergence(lastHeal)
	}
	c := g.clients[name]
	if c == nil || !c.hasVersioned {
		return
	}
	if c.switched {
		m.StaleReadsAfterFailover = intPtr(c.staleReads)
	}
	if !g.seen || g.strong {
		// On a strongly consistent table an acknowledged write is on a
		// majority and a strongly consistent read anywhere sees it: writes
		// at risk, RPO, lost and conflicting writes are the eventual
		// mode's measures, not measured here (stale reads are).
		return
	}
	if c.switched {
		m.WritesAtRisk, m.RPOMS = intPtr(c.atRisk), ptr(c.rpo)
	}
	lost, conflicts := 0, 0
	for _, item := range c.items {
		it := g.items[item]
		if it == nil {
			lost += len(c.acked[item])
			continue
		}
		conflicts += it.conflicts
		var top int64
		any := false
		for _, v := range it.held {
			if v != nil && (!any || *v > top) {
				top, any = *v, true
			}
		}
		backwards(c.acked[item], func(w ackedWrite) scanned {
			if any && w.v <= top {
				return settled
			}
			lost++
			return counted
		})
	}
	m.LostWrites, m.ConflictingWrites = intPtr(lost), intPtr(conflicts)
}

// healed takes the backlog at a heal (the latest so far): every item's
// latest write in each region that had not arrived in another region.
func (g *globalFold) healed(t float64) {
	g.healAt, g.backlog, g.drainedAt = t, map[backlogKey]int64{}, math.Inf(-1)
	for name, it := range g.items {
		for from, v := range it.local {
			for to := range g.regions {
				if to == from || arrivedBy(it.arrivals[dirKey{from, to}], v, math.Inf(1)) {
					continue
				}
				g.backlog[backlogKey{name, from, to}] = v
			}
		}
	}
}

func (g *globalFold) convergence(lastHeal float64) (converged bool, ms *float64) {
	converged = g.disagree == 0
	if lastHeal >= 0 && g.healAt == lastHeal && len(g.backlog) == 0 {
		ms = ptr(max(0, g.drainedAt-lastHeal))
	}
	return converged, ms
}

func (g *globalFold) replication(lastHeal float64) *Replication {
	if !g.seen {
		return nil
	}
	r := &Replication{Directions: []ReplicationDirection{}, ConflictingWrites: g.conflicts, Items: len(g.items)}
	keys := append([]dirKey(nil), g.dirOrder...)
	sort.SliceStable(keys, func(i, j int) bool {
		if keys[i].from != keys[j].from {
			return keys[i].from < keys[j].from
		}
		return keys[i].to < keys[j].to
	})
	for _, k := range keys {
		d := g.dirs[k]
		rd := ReplicationDirection{From: k.from, To: k.to, Applied: d.applied, Superseded: d.superseded, Dropped: d.dropped, Pauses: d.pauses}
		if d.lag.n() > 0 {
			rd.LagP50MS, rd.LagP99MS, rd.LagMaxMS = d.lag.percentile(50), d.lag.percentile(99), ptr(d.max)
		}
		r.Directions = append(r.Directions, rd)
	}
	r.Converged, r.ConvergenceMS = g.convergence(lastHeal)
	return r
}

func intPtr(n int) *int { return &n }

func (s *samples) n() int {
	if s.hist != nil {
		return int(s.hist.TotalCount())
	}
	return len(s.exact)
}
