package faults

import (
	"fmt"
	"time"
)

// DDBReplicationPause is ddb.replication-pause: a global table's
// replication into and/or out of a region stops (AWS FIS's
// aws:dynamodb:global-table-pause-replication). Writes keep being
// acknowledged where they are made and queue on the paused paths (each
// path holds at most replica.DefaultBacklog writes; more are dropped and
// journaled so); on heal they flow again, in order per item, and
// last-writer-wins reconciles them with what the other side wrote.
//
// Its reach is its region's (ReachRegion): a client that met the region
// during the fault is one whose writes it could hold back; what it held
// back is in the ddb.replicated events.
type DDBReplicationPause struct {
	Direction string `param:"direction" default:"both" enum:"in,out,both" doc:"in: to the region; out: from it; both"`
}

func init() {
	Register(Define[DDBReplicationPause](Meta{Name: "ddb.replication-pause", Target: TargetRegion, NeedsReplication: true,
		Summary: "pauses the global table's replication to and/or from the region (FIS aws:dynamodb:global-table-pause-replication)"}))
}

func (p DDBReplicationPause) Apply(w World, f Fault) (func() error, error) {
	undo, err := w.PauseReplication(f.Target, p.Direction, FaultID(f))
	if err != nil {
		return nil, fmt.Errorf("ddb.replication-pause: %w", err)
	}
	return undo, nil
}

// DDBReplicationLag is ddb.replication-lag: every write replicated into
// and/or out of a region while it is applied waits lag ± jitter more (the
// "prolonged replication lag to and from" us-east-1 of October 20).
type DDBReplicationLag struct {
	Lag       time.Duration `param:"lag" required:"true" min:"1ms" max:"10m" doc:"added replication lag, e.g. 5s"`
	Jitter    time.Duration `param:"jitter" default:"0s" min:"0s" max:"10m" doc:"± uniformly drawn per write; at most the lag"`
	Direction string        `param:"direction" default:"both" enum:"in,out,both" doc:"in: to the region; out: from it; both"`
}

func init() {
	Register(Define[DDBReplicationLag](Meta{Name: "ddb.replication-lag", Target: TargetRegion, NeedsReplication: true,
		Summary: "adds lag (± jitter) to the global table's replication to and/or from the region"}))
}

func (p *DDBReplicationLag) check() error {
	if p.Jitter > p.Lag {
		return &ParamError{Param: "jitter", Msg: fmt.Sprintf("must not exceed the lag (%s), got %s", p.Lag, p.Jitter)}
	}
	return nil
}

// AddedLag is how long it holds a write back at most (spec checks it
// against the run).
func (p DDBReplicationLag) AddedLag() time.Duration { return p.Lag + p.Jitter }

func (p DDBReplicationLag) Apply(w World, f Fault) (func() error, error) {
	undo, err := w.LagReplication(f.Target, p.Direction, p.Lag, p.Jitter, FaultID(f))
	if err != nil {
		return nil, fmt.Errorf("ddb.replication-lag: %w", err)
	}
	return undo, nil
}
