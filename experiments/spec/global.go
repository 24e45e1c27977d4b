package spec

import (
	"slices"
	"time"

	"go.yaml.in/yaml/v3"
)

// Global tables (issue 15): topology.table.global makes every region's table
// a replica of one global table. This file holds the consistency mode
// (multi-Region strong consistency); the replication settings of the
// eventually consistent mode sit beside it in globalFields.

// Consistency modes of a global table, as DynamoDB names them (EVENTUAL,
// STRONG).
const (
	ConsistencyEventual = "eventual"
	ConsistencyStrong   = "strong"
)

// StrongRegions is how many regions a strongly consistent global table spans:
// exactly three, as DynamoDB's multi-Region strong consistency (three
// replicas, or two and a witness).
const StrongRegions = 3

// DefaultReplicationLag is a global table's replication lag when not given:
// DynamoDB's documentation says replicas typically agree within a second.
const DefaultReplicationLag = time.Second

// Global is topology.table.global: every region's table a replica of one
// global table.
type Global struct {
	// ReplicationLag and Jitter (± uniformly, at most the lag): how long an
	// eventually consistent table's writes take to reach the other regions.
	ReplicationLag time.Duration
	Jitter         time.Duration
	// Consistency is ConsistencyEventual (the default) or ConsistencyStrong.
	Consistency string
	// Witness, with strong consistency, is the region whose replica is the
	// table's witness (two replicas and a witness); "" for three replicas.
	Witness string

	consistencyNode *yaml.Node // where the mode was given, for errors about it
	witnessNode     *yaml.Node
	lagNodes        []*yaml.Node // replication_lag, jitter: eventual only
}

// Witness is the strongly consistent table's witness region ("" for none).
func (t Topology) Witness() string {
	if !t.Strong() {
		return ""
	}
	return t.Table.Global.Witness
}

// Strong reports whether the topology's table is a strongly consistent
// global table.
func (t Topology) Strong() bool {
	return t.Table.Global != nil && t.Table.Global.Consistency == ConsistencyStrong
}

// globalKey is the global key of topology.table.
func (d *decoder) globalKey(tb *Table) field {
	return keyOf("global", objectValue("every region's table a replica of one global table: eventual (asynchronous replication, last writer wins) or strong consistency",
		func() []field { return d.globalFields(&Global{}) }), func(_, v *yaml.Node) {
		tb.Global = &Global{Consistency: ConsistencyEventual, ReplicationLag: DefaultReplicationLag}
		d.global = v
		d.mapping(v, "topology.table.global", d.globalFields(tb.Global))
		if tb.Global.Jitter > tb.Global.ReplicationLag {
			d.errorf(v, "topology.table.global.jitter: %s must not exceed the replication lag (%s)", tb.Global.Jitter, tb.Global.ReplicationLag)
		}
	})
}

// globalFields are the keys of topology.table.global.
func (d *decoder) globalFields(g *Global) []field {
	modes := []string{ConsistencyEventual, ConsistencyStrong}
	lagNode := func(n *yaml.Node, _ bool) { g.lagNodes = append(g.lagNodes, n) }
	return []field{
		d.durationKey("topology.table.global", "replication_lag", durationValue(0, 10*time.Minute, "eventual only: how long a write takes to reach the other regions (default 1s)"),
			&g.ReplicationLag, lagNode),
		d.durationKey("topology.table.global", "jitter", durationValue(0, 10*time.Minute, "eventual only: ± uniformly per write; at most the lag"), &g.Jitter, lagNode),
		keyOf("consistency", enumValue(modes, "eventual: asynchronous replication, last writer wins; strong: a write succeeds once a majority of exactly three regions holds it"),
			func(_, v *yaml.Node) {
				g.consistencyNode = v
				d.str(v, "topology.table.global.consistency", &g.Consistency)
				if !contains(modes, g.Consistency) {
					d.errorf(v, "topology.table.global.consistency: %q: expected eventual or strong", g.Consistency)
					g.Consistency = ConsistencyEventual
				}
			}),
		keyOf("witness", stringValue(namePattern.String(), "strong only: the region whose replica is the witness (holds every write, serves no reads or writes); none: three replicas"),
			func(_, v *yaml.Node) {
				g.witnessNode = v
				d.str(v, "topology.table.global.witness", &g.Witness)
			}),
	}
}

// checkGlobal checks the global table against the regions, once they are
// known: strong consistency spans exactly three regions, each on the
// embedded backend.
func (d *decoder) checkGlobal(t *Topology) {
	if g := t.Table.Global; g != nil && g.witnessNode != nil && g.Consistency != ConsistencyStrong {
		d.errorf(g.witnessNode, "topology.table.global.witness: a witness belongs to strong consistency; expected consistency: strong beside it")
	}
	if g := t.Table.Global; g != nil && g.Consistency == ConsistencyStrong {
		for _, n := range g.lagNodes {
			d.errorf(n, "topology.table.global: replication_lag and jitter belong to eventual consistency; a strongly consistent write is acknowledged once a majority holds it")
		}
	}
	if !t.Strong() || len(t.Regions) == 0 {
		return
	}
	if w := t.Table.Global.Witness; w != "" && !slices.ContainsFunc(t.Regions, func(r Region) bool { return r.Name == w }) {
		d.errorf(t.Table.Global.witnessNode, "topology.table.global.witness: no region %q; the topology has: %s", w, regionNames(*t))
	}
	n := t.Table.Global.consistencyNode
	if len(t.Regions) != StrongRegions {
		d.errorf(n, "topology.table.global.consistency: strong consistency spans exactly %d regions (DynamoDB's multi-Region strong consistency: three replicas, or two and a witness); the topology has %d (%s)",
			StrongRegions, len(t.Regions), regionNames(*t))
	}
	for _, r := range t.Regions {
		if r.Backend == BackendContainer {
			d.errorf(n, "topology.table.global.consistency: strong consistency runs on the embedded backend; region %s has backend container", r.Name)
		}
	}
}
