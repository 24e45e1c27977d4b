package faults

import (
	"fmt"
	"time"
)

// DNSPlanRace is dns.plan-race, the mechanism of October 20, not only its
// symptom: one enactor of the DNS automation is slowed down, so it applies
// an old plan over a newer one, another enactor's cleanup deletes that plan
// and the record with it, and the automation cannot repair it. Healing the
// fault is the operator's manual repair: the newest plan is applied by
// hand. With the automation's fix on, the same delay never empties the
// record.
type DNSPlanRace struct {
	Enactor string        `param:"enactor" default:"enactor-1" doc:"the enactor slowed down (enactor-1 picks new plans first)"`
	Delay   time.Duration `param:"delay" default:"2250ms" min:"0s" max:"10m" doc:"how much longer its apply takes; the default lands the stale apply inside another enactor's apply-to-cleanup window"`
}

func init() {
	Register(Define[DNSPlanRace](Meta{Name: "dns.plan-race", Target: TargetDNSName, NeedsAutomation: true, EmptyAnswers: true,
		Summary: "delays one enactor of the DNS automation so the race empties the record; healing is the manual repair"}))
}

func (p DNSPlanRace) Apply(w World, f Fault) (func() error, error) {
	a, ok := w.Automation(f.Target)
	if !ok {
		return nil, fmt.Errorf("%s is not managed by a DNS automation (set topology.automation)", f.Target)
	}
	undo, err := a.Delay(p.Enactor, p.Delay)
	if err != nil {
		return nil, err
	}
	return func() error {
		undo()
		return a.Repair()
	}, nil
}
