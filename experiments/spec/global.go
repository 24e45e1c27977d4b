package spec

import (
	"slices"

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

// Global is topology.table.global.
type Global struct {
	// Consistency is ConsistencyEventual (the default) or ConsistencyStrong.
	Consistency string
	// Witness, with strong consistency, is the region whose replica is the
	// table's witness (two replicas and a witness); "" for three replicas.
	Witness string

	consistencyNode *yaml.Node // where the mode was given, for errors about it
	witnessNode     *yaml.Node
}

// Witness is the strongly consistent table's witness region ("" for none).
func (t Topology) Witness() string {
	if !t.Strong() {
		return ""
	}
	return t.Global.Witness
}

// Strong reports whether the topology's table is a strongly consistent
// global table.
func (t Topology) Strong() bool { return t.Global != nil && t.Global.Consistency == ConsistencyStrong }

// globalKey is the global key of topology.table.
func (d *decoder) globalKey(t *Topology) field {
	return keyOf("global", objectValue("every region's table a replica of one global table", func() []field { return d.globalFields(&Global{}) }),
		func(_, v *yaml.Node) {
			t.Global = &Global{Consistency: ConsistencyEventual}
			d.mapping(v, "topology.table.global", d.globalFields(t.Global))
		})
}

// globalFields are the keys of topology.table.global.
func (d *decoder) globalFields(g *Global) []field {
	modes := []string{ConsistencyEventual, ConsistencyStrong}
	return []field{
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
	if g := t.Global; g != nil && g.witnessNode != nil && g.Consistency != ConsistencyStrong {
		d.errorf(g.witnessNode, "topology.table.global.witness: a witness belongs to strong consistency; expected consistency: strong beside it")
	}
	if !t.Strong() || len(t.Regions) == 0 {
		return
	}
	if w := t.Global.Witness; w != "" && !slices.ContainsFunc(t.Regions, func(r Region) bool { return r.Name == w }) {
		d.errorf(t.Global.witnessNode, "topology.table.global.witness: no region %q; the topology has: %s", w, regionNames(*t))
	}
	n := t.Global.consistencyNode
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
