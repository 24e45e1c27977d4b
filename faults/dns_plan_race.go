package faults

import "fmt"

// dns.plan-race is the mechanism of October 20, not only its symptom: one
// enactor of the DNS automation is slowed down, so it applies an old plan
// over a newer one, another enactor's cleanup deletes that plan and the
// record with it, and the automation cannot repair it. Healing the fault is
// the operator's manual repair: the newest plan is applied by hand. With the
// automation's fix on, the same delay never empties the record.
func init() { Register(planRace{}) }

type planRace struct{}

func (planRace) Name() string { return "dns.plan-race" }
func (planRace) Summary() string {
	return "delays one enactor of the DNS automation so the race empties the record; healing is the manual repair"
}
func (planRace) Target() TargetType   { return TargetDNSName }
func (planRace) NeedsAutomation()     {}
func (planRace) ShowsAsEmptyAnswers() {}
func (planRace) Params() []Param {
	return []Param{
		{Name: "enactor", Type: String, Default: "enactor-1", Doc: "the enactor slowed down (enactor-1 picks new plans first)"},
		{Name: "delay", Type: Duration, Default: "2250ms", Min: 0, Max: 600_000,
			Doc: "how much longer its apply takes; the default lands the stale apply inside another enactor's apply-to-cleanup window"},
	}
}

func (planRace) Apply(w World, f Fault, v Values) (func() error, error) {
	a, ok := w.Automation(f.Target)
	if !ok {
		return nil, fmt.Errorf("%s is not managed by a DNS automation (set topology.automation)", f.Target)
	}
	undo, err := a.Delay(v.Get("enactor").(string), v.Duration("delay"))
	if err != nil {
		return nil, err
	}
	return func() error {
		undo()
		return a.Repair()
	}, nil
}
