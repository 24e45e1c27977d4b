// Package dnsauto models DynamoDB's DNS automation as AWS's post-incident
// summary of October 20, 2025 describes it: a planner produces versioned
// plans for an endpoint's record set; several enactors apply them
// independently, each checking once, before a slow apply, that its plan is
// newer than the one in effect, and cleaning up plans much older than the
// newest it applied. A delayed enactor can apply an old plan over a newer one;
// another enactor's cleanup then deletes that old plan, and with it every
// address of the endpoint: the record goes empty because of the race, and the
// automation, which can no longer compare against a plan that is gone, cannot
// repair it. With the fix (check the generation again at apply time) the
// delayed enactor abandons its stale plan and the record never empties.
package dnsauto

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Records is where plans are published (dnsstub.Server implements it).
type Records interface {
	SetRecords(name string, qtype uint16, ttl uint32, values []string) error
	DeleteRecords(name string, qtype uint16)
}

// Config of one endpoint's automation.
type Config struct {
	Name         string        // the endpoint name it manages, fqdn
	Addresses    []string      // what every plan publishes (the region's NLB nodes)
	TTL          uint32        // of the published A records
	PlanInterval time.Duration // a new plan this often (default 500ms)
	Enactors     int           // default 3
	ApplyTime    time.Duration // how long an apply takes (default 50ms)
	CleanupAfter time.Duration // an enactor cleans up this long after its apply (default 300ms)
	KeepPlans    int           // cleanup deletes plans older than newest applied minus this (default 2)
	Fix          bool          // check the plan's generation again at apply time
	Records      Records
	Observer     func(Event) // may be nil
}

// Event is one step of the automation, for the journal.
type Event struct {
	Time    time.Time
	Actor   string // "planner", "enactor-1", ..., "operator"
	Step    string // plan, pick, apply, abandon, cleanup, emptied, stuck, repair
	Plan    int    // generation concerned
	Applied int    // generation in effect after the step
	Detail  string
}

// Automation runs a planner and its enactors until Close.
type Automation struct {
	cfg Config

	mu       sync.Mutex
	plans    map[int]bool // generations that exist
	newest   int
	applied  int // generation in effect; 0: none
	emptied  bool
	delays   map[string]time.Duration
	stop     chan struct{}
	wg       sync.WaitGroup
	stopOnce sync.Once
}

// Start publishes a first plan and starts the planner and the enactors.
func Start(cfg Config) (*Automation, error) {
	if cfg.Records == nil || cfg.Name == "" || len(cfg.Addresses) == 0 {
		return nil, errors.New("dnsauto: a name, its addresses and somewhere to publish are needed")
	}
	if cfg.PlanInterval <= 0 {
		cfg.PlanInterval = 500 * time.Millisecond
	}
	if cfg.Enactors <= 0 {
		cfg.Enactors = 3
	}
	if cfg.ApplyTime <= 0 {
		cfg.ApplyTime = 50 * time.Millisecond
	}
	if cfg.CleanupAfter <= 0 {
		cfg.CleanupAfter = 300 * time.Millisecond
	}
	if cfg.KeepPlans <= 0 {
		cfg.KeepPlans = 2
	}
	a := &Automation{cfg: cfg, plans: map[int]bool{}, delays: map[string]time.Duration{}, stop: make(chan struct{})}
	a.newPlan()
	if err := a.publish(1); err != nil {
		return nil, err
	}
	a.applied = 1
	a.wg.Add(1 + cfg.Enactors)
	go a.planner()
	for i := 1; i <= cfg.Enactors; i++ {
		go a.enactor(fmt.Sprintf("enactor-%d", i), time.Duration(i)*cfg.PlanInterval/time.Duration(cfg.Enactors+1))
	}
	return a, nil
}

// Enactors names the enactors.
func (a *Automation) Enactors() []string {
	var out []string
	for i := 1; i <= a.cfg.Enactors; i++ {
		out = append(out, fmt.Sprintf("enactor-%d", i))
	}
	return out
}

// Delay makes an enactor's applies take d longer (the fault dns.plan-race);
// the returned function takes the delay away again.
func (a *Automation) Delay(enactor string, d time.Duration) (undo func(), err error) {
	found := false
	for _, e := range a.Enactors() {
		found = found || e == enactor
	}
	if !found {
		return nil, fmt.Errorf("dnsauto: no enactor %q; there are %v", enactor, a.Enactors())
	}
	a.mu.Lock()
	a.delays[enactor] = d
	a.mu.Unlock()
	return func() {
		a.mu.Lock()
		delete(a.delays, enactor)
		a.mu.Unlock()
	}, nil
}

// Repair is the operator's manual fix: apply the newest plan, whatever the
// enactors think.
func (a *Automation) Repair() error {
	a.mu.Lock()
	gen := a.newest
	a.plans[gen] = true
	a.mu.Unlock()
	if err := a.publish(gen); err != nil {
		return err
	}
	a.mu.Lock()
	a.applied, a.emptied = gen, false
	a.mu.Unlock()
	a.emit(Event{Actor: "operator", Step: "repair", Plan: gen, Applied: gen, Detail: "newest plan applied by hand"})
	return nil
}

// Applied is the generation in effect (0 when the record is empty).
func (a *Automation) Applied() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.emptied {
		return 0
	}
	return a.applied
}

// Close stops the planner and the enactors.
func (a *Automation) Close() {
	a.stopOnce.Do(func() { close(a.stop) })
	a.wg.Wait()
}

func (a *Automation) newPlan() int {
	a.mu.Lock()
	a.newest++
	gen := a.newest
	a.plans[gen] = true
	a.mu.Unlock()
	a.emit(Event{Actor: "planner", Step: "plan", Plan: gen, Applied: a.Applied()})
	return gen
}

func (a *Automation) planner() {
	defer a.wg.Done()
	t := time.NewTicker(a.cfg.PlanInterval)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-t.C:
			a.newPlan()
		}
	}
}

// enactor: every PlanInterval, at its own offset after the planner, pick the
// newest plan; check once that it is newer than the plan in effect; apply
// (slowly); clean up old plans a little later. Ticks that come while it is
// busy are skipped.
func (a *Automation) enactor(name string, offset time.Duration) {
	defer a.wg.Done()
	if !a.sleep(offset) {
		return
	}
	t := time.NewTicker(a.cfg.PlanInterval)
	defer t.Stop()
	for {
		a.enact(name)
		select {
		case <-a.stop:
			return
		case <-t.C:
		}
	}
}

func (a *Automation) enact(name string) {
	a.mu.Lock()
	gen, applied, delay := a.newest, a.applied, a.delays[name]
	activeExists := a.plans[applied]
	a.mu.Unlock()
	if !activeExists {
		// The plan in effect is gone: nothing to compare with. This is
		// where the real automation stopped and needed an operator.
		a.emit(Event{Actor: name, Step: "stuck", Plan: gen, Applied: a.Applied(), Detail: fmt.Sprintf("plan %d in effect no longer exists; cannot tell whether plan %d is newer", applied, gen)})
		return
	}
	if gen <= applied {
		return
	}
	a.emit(Event{Actor: name, Step: "pick", Plan: gen, Applied: applied, Detail: fmt.Sprintf("plan %d is newer than %d: applying", gen, applied)})
	if !a.sleep(a.cfg.ApplyTime + delay) {
		return
	}
	a.mu.Lock()
	if a.cfg.Fix && gen <= a.applied {
		cur := a.applied
		a.mu.Unlock()
		a.emit(Event{Actor: name, Step: "abandon", Plan: gen, Applied: cur, Detail: fmt.Sprintf("plan %d is no longer newer than %d (checked at apply time)", gen, cur)})
		return
	}
	previous := a.applied
	a.applied, a.emptied = gen, false
	a.mu.Unlock()
	if err := a.publish(gen); err != nil {
		a.emit(Event{Actor: name, Step: "apply", Plan: gen, Detail: "publishing failed: " + err.Error()})
		return
	}
	detail := ""
	if gen < previous {
		detail = fmt.Sprintf("plan %d applied over the newer plan %d", gen, previous)
	}
	a.emit(Event{Actor: name, Step: "apply", Plan: gen, Applied: gen, Detail: detail})
	if !a.sleep(a.cfg.CleanupAfter) {
		return
	}
	a.cleanup(name, gen)
}

// cleanup deletes plans older than the newest this enactor applied, minus
// KeepPlans. It does not look at which plan is in effect: if that one is
// deleted, so are its records.
func (a *Automation) cleanup(name string, newestApplied int) {
	a.mu.Lock()
	var deleted []int
	for gen := range a.plans {
		if gen < newestApplied-a.cfg.KeepPlans {
			delete(a.plans, gen)
			deleted = append(deleted, gen)
		}
	}
	empties := !a.plans[a.applied] && !a.emptied
	if empties {
		a.emptied = true
	}
	applied := a.applied
	a.mu.Unlock()
	if len(deleted) > 0 {
		sort.Ints(deleted)
		a.emit(Event{Actor: name, Step: "cleanup", Plan: newestApplied, Applied: applied, Detail: fmt.Sprintf("deleted plans %v", deleted)})
	}
	if empties {
		a.cfg.Records.DeleteRecords(a.cfg.Name, dns.TypeA)
		a.emit(Event{Actor: name, Step: "emptied", Plan: applied, Detail: fmt.Sprintf("plan %d in effect was deleted with its records: %s has no address", applied, a.cfg.Name)})
	}
}

// publish writes a plan's record set, and a TXT record naming the plan (so
// the name keeps existing, and an emptied A set answers NODATA, as on
// October 20).
func (a *Automation) publish(gen int) error {
	if err := a.cfg.Records.SetRecords(a.cfg.Name, dns.TypeA, a.cfg.TTL, a.cfg.Addresses); err != nil {
		return err
	}
	return a.cfg.Records.SetRecords(a.cfg.Name, dns.TypeTXT, a.cfg.TTL, []string{fmt.Sprintf("\"plan=%d\"", gen)})
}

func (a *Automation) emit(e Event) {
	if a.cfg.Observer != nil {
		e.Time = time.Now()
		a.cfg.Observer(e)
	}
}

func (a *Automation) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-a.stop:
		return false
	case <-t.C:
		return true
	}
}
