package measure

// The oracle of the global-table metrics (global.go): each definition as a
// scan of the whole journal.

import (
	"math"
	"sort"

	"github.com/faultline-dev/faultline/experiments/journal"
)

func oracleIsDDB(e journal.Event) bool {
	return e.Type == journal.DDBWrite || e.Type == journal.DDBReplicated || e.Type == journal.DDBReplication
}

// oracleArrived: a ddb.replicated from → to of the item, version v or
// newer, arrived (applied or superseded) at or before t.
func oracleArrived(events []journal.Event, from, to, item string, v int64, t float64) bool {
	for _, e := range events {
		if e.Type == journal.DDBReplicated && e.Status != "dropped" && e.Region == from && e.To == to && e.Item == item &&
			e.ItemVersion != nil && *e.ItemVersion >= v && e.T <= t {
			return true
		}
	}
	return false
}

type oracleAck struct {
	item, region string
	v            int64
	ack          float64
}

func oracleAcked(events []journal.Event, client string) []oracleAck {
	var out []oracleAck
	for _, e := range events {
		if e.Type == journal.Request && e.Client == client && !e.Probe && e.Succeeded() && e.Item != "" && isWriteOp(e.Op) && e.ItemVersion != nil {
			out = append(out, oracleAck{e.Item, e.Region, *e.ItemVersion, e.End()})
		}
	}
	return out
}

// oracleHeld is every replica's item at the end: region → item → version
// (nil: none or deleted).
func oracleHeld(events []journal.Event) map[string]map[string]*int64 {
	held := map[string]map[string]*int64{}
	set := func(region, item string, v *int64) {
		if held[region] == nil {
			held[region] = map[string]*int64{}
		}
		held[region][item] = v
	}
	for _, e := range events {
		switch {
		case e.Type == journal.DDBWrite && e.Item != "":
			v := e.ItemVersion
			if e.Op == "DeleteItem" {
				v = nil
			}
			set(e.Region, e.Item, v)
		case e.Type == journal.DDBReplicated && e.Item != "" && e.Status != "dropped" && e.Status != "superseded":
			set(e.To, e.Item, e.ItemVersion)
		}
	}
	return held
}

// oracleConflicts counts conflicting writes per item.
func oracleConflicts(events []journal.Event) map[string]int {
	out := map[string]int{}
	for i, e := range events {
		if e.Type != journal.DDBWrite || e.Item == "" || e.ItemVersion == nil {
			continue
		}
		latest := map[string]int64{} // region → its latest write of the item before e
		for _, p := range events[:i] {
			if p.Type == journal.DDBWrite && p.Item == e.Item && p.ItemVersion != nil {
				latest[p.Region] = *p.ItemVersion
			}
		}
		for a, v := range latest {
			if a != e.Region && !oracleArrived(events[:i], a, e.Region, e.Item, v, e.T) {
				out[e.Item]++
				break
			}
		}
	}
	return out
}

// oracleAgreed: whether at the end every region named by a ddb.* event
// holds the same version of every item; seen: any ddb.* event.
func oracleAgreed(events []journal.Event) (agree, seen bool) {
	regions := map[string]bool{}
	for _, e := range events {
		if oracleIsDDB(e) {
			seen = true
			for _, r := range []string{e.Region, e.To} {
				if r != "" {
					regions[r] = true
				}
			}
		}
	}
	byItem := map[string]map[string]*int64{}
	for region, items := range oracleHeld(events) {
		for item, v := range items {
			if byItem[item] == nil {
				byItem[item] = map[string]*int64{}
			}
			byItem[item][region] = v
		}
	}
	agree = true
	for _, held := range byItem {
		var vs []*int64
		for r := range regions {
			vs = append(vs, held[r])
		}
		for _, v := range vs {
			agree = agree && sameVersion(v, vs[0])
		}
	}
	return agree, seen
}

// oracleConvergence: from the last heal, until every versioned write
// journaled before that heal had arrived (applied or superseded, a version
// as new or newer) in every other region named before it; nil when one
// never did, or without a heal.
func oracleConvergence(events []journal.Event, lastHeal float64) *float64 {
	if lastHeal < 0 {
		return nil
	}
	at := -1
	for i, e := range events {
		if e.Type == journal.FaultHealed && e.T == lastHeal {
			at = i
			break
		}
	}
	if at < 0 {
		return nil
	}
	regions := map[string]bool{}
	for _, e := range events[:at] {
		if oracleIsDDB(e) {
			for _, r := range []string{e.Region, e.To} {
				if r != "" {
					regions[r] = true
				}
			}
		}
	}
	drained := math.Inf(-1)
	for _, w := range events[:at] {
		if w.Type != journal.DDBWrite || w.Item == "" || w.ItemVersion == nil {
			continue
		}
		for r := range regions {
			if r == w.Region {
				continue
			}
			first := math.Inf(1)
			for _, e := range events {
				if e.Type == journal.DDBReplicated && e.Status != "dropped" && e.Region == w.Region && e.To == r && e.Item == w.Item &&
					e.ItemVersion != nil && *e.ItemVersion >= *w.ItemVersion {
					first = math.Min(first, e.T)
				}
			}
			if math.IsInf(first, 1) {
				return nil
			}
			drained = math.Max(drained, first)
		}
	}
	return ptr(math.Max(0, drained-lastHeal))
}

// oracleGlobal sets the global-table metrics of client c; lastHeal < 0: no
// heal.
func oracleGlobal(events []journal.Event, c ClientInfo, m *Metrics, lastHeal float64) {
	_, seen := oracleAgreed(events)
	var lags []float64
	for _, e := range events {
		if e.Type == journal.DDBReplicated && e.Status != "dropped" && e.WrittenMS != nil {
			lags = append(lags, max(e.T-*e.WrittenMS, 0))
		}
	}
	if seen && len(lags) > 0 {
		sort.Float64s(lags)
		m.ReplicationLagP50MS, m.ReplicationLagP99MS, m.ReplicationLagMaxMS = percentile(lags, 50), percentile(lags, 99), ptr(lags[len(lags)-1])
	}
	if seen {
		m.ConvergenceMS = oracleConvergence(events, lastHeal)
	}
	acked := oracleAcked(events, c.Name)
	if len(acked) == 0 {
		return
	}
	// the switches of region
	type sw struct {
		from, to string
		t        float64
	}
	var switches []sw
	region := ""
	for _, e := range events {
		if e.Type == journal.Request && e.Client == c.Name && !e.Probe && e.Succeeded() && e.Region != "" {
			if region != "" && region != e.Region {
				switches = append(switches, sw{region, e.Region, e.T})
			}
			region = e.Region
		}
	}
	if len(switches) > 0 {
		stale := 0
		for _, e := range events {
			if e.Type != journal.Request || e.Client != c.Name || e.Probe || !e.Succeeded() || e.Op != "GetItem" || e.Item == "" || e.T < switches[0].t {
				continue
			}
			newest, known := int64(0), false
			for _, a := range acked {
				if a.item == e.Item && a.ack <= e.T && (!known || a.v > newest) {
					newest, known = a.v, true
				}
			}
			if known && (e.ItemVersion == nil || *e.ItemVersion < newest) {
				stale++
			}
		}
		m.StaleReadsAfterFailover = intPtr(stale)
	}
	if !seen || oracleStrong(events) {
		return
	}
	if len(switches) > 0 {
		risk, rpo := 0, 0.0
		for _, s := range switches {
			for _, a := range acked {
				if a.region == s.from && a.ack <= s.t && !oracleArrived(events, s.from, s.to, a.item, a.v, s.t) {
					risk++
					rpo = max(rpo, s.t-a.ack)
				}
			}
		}
		m.WritesAtRisk, m.RPOMS = intPtr(risk), ptr(rpo)
	}
	held := oracleHeld(events)
	conflicts := oracleConflicts(events)
	lost, conf := 0, 0
	items := map[string]bool{}
	for _, a := range acked {
		if !items[a.item] {
			items[a.item] = true
			conf += conflicts[a.item]
		}
		kept := false
		for _, byItem := range held {
			if v := byItem[a.item]; v != nil && *v >= a.v {
				kept = true
			}
		}
		if !kept {
			lost++
		}
	}
	m.LostWrites, m.ConflictingWrites = intPtr(lost), intPtr(conf)
}

// oracleReplication is the summary's replication.
func oracleReplication(events []journal.Event, lastHeal float64) *Replication {
	agree, seen := oracleAgreed(events)
	if !seen {
		return nil
	}
	r := &Replication{Directions: []ReplicationDirection{}, Converged: agree, ConvergenceMS: oracleConvergence(events, lastHeal)}
	for _, n := range oracleConflicts(events) {
		r.ConflictingWrites += n
	}
	items := map[string]bool{}
	dirs := map[dirKey]*ReplicationDirection{}
	lags := map[dirKey][]float64{}
	var keys []dirKey
	dir := func(k dirKey) *ReplicationDirection {
		if dirs[k] == nil {
			dirs[k] = &ReplicationDirection{From: k.from, To: k.to}
			keys = append(keys, k)
		}
		return dirs[k]
	}
	for _, e := range events {
		if (e.Type == journal.DDBWrite || e.Type == journal.DDBReplicated && e.Status != "dropped") && e.Item != "" {
			items[e.Item] = true
		}
		k := dirKey{e.Region, e.To}
		switch e.Type {
		case journal.DDBReplication:
			d := dir(k)
			if e.Status == "paused" {
				d.Pauses++
			}
		case journal.DDBReplicated:
			d := dir(k)
			switch e.Status {
			case "dropped":
				d.Dropped++
				continue
			case "superseded":
				d.Superseded++
			default:
				d.Applied++
			}
			if e.WrittenMS != nil {
				lags[k] = append(lags[k], max(e.T-*e.WrittenMS, 0))
			}
		}
	}
	// items the clients' acknowledged writes name count too
	for _, e := range events {
		if e.Type == journal.Request && !e.Probe && e.Succeeded() && e.Item != "" && isWriteOp(e.Op) && e.ItemVersion != nil {
			items[e.Item] = true
		}
	}
	r.Items = len(items)
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].from != keys[j].from {
			return keys[i].from < keys[j].from
		}
		return keys[i].to < keys[j].to
	})
	for _, k := range keys {
		d := *dirs[k]
		if l := lags[k]; len(l) > 0 {
			sort.Float64s(l)
			d.LagP50MS, d.LagP99MS, d.LagMaxMS = percentile(l, 50), percentile(l, 99), ptr(l[len(l)-1])
		}
		r.Directions = append(r.Directions, d)
	}
	return r
}

func oracleLastHeal(windows []FaultWindow) float64 {
	last := -1.0
	for _, w := range windows {
		if w.EndMS != nil && *w.EndMS > last {
			last = *w.EndMS
		}
	}
	return last
}

// oracleStrong: the journal is a strongly consistent table's.
func oracleStrong(events []journal.Event) bool {
	for _, e := range events {
		if e.Type == journal.DDBWrite && e.Detail == journal.StrongConsistency {
			return true
		}
	}
	return false
}
