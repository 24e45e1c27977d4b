package engine

import (
	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/targets/dynamodb/mrsc"
)

// onStrong journals the strongly consistent global table's writes: ddb.write
// when a region's replica acknowledged one (after a majority held it), and
// ddb.replicated for each other replica that applied it (T: when its answer
// arrived; WrittenMS: the acknowledgement, so the replica that made the
// majority shows T before WrittenMS, and the third one after).
func (e *Engine) onStrong(m mrsc.Event) {
	ev := journal.Event{T: e.j.Since(m.Time), Region: m.Region, Name: m.Table, Item: m.Item, ItemVersion: m.Version, Op: m.Op,
		Detail: journal.StrongConsistency}
	switch m.Kind {
	case mrsc.KindWrite:
		ev.Type = journal.DDBWrite
	case mrsc.KindReplicated:
		ev.Type, ev.To, ev.Status = journal.DDBReplicated, m.To, m.Status
		written := e.j.Since(m.Written)
		ev.WrittenMS = &written
	default:
		return
	}
	e.Record(ev)
}
