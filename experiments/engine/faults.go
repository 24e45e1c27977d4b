package engine

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/faults"
	"github.com/faultline-dev/faultline/targets/dnsstub"
)

// Errors of Apply and Heal.
var (
	ErrClosed       = errors.New("the engine is closed")
	ErrUnknownFault = errors.New("no fault with that id was applied")
	ErrHealed       = errors.New("the fault is already healed")
	ErrDuplicate    = errors.New("a fault with that id was applied already")
	// ErrInvalid wraps every refusal of a fault's kind, parameters, target
	// or bound (bad input: nothing was applied); an error that does not
	// wrap it is the world failing to apply a valid fault.
	ErrInvalid = errors.New("invalid fault")
)

// invalid is a refusal of bad input: it reads as msg and wraps ErrInvalid.
type invalid struct{ msg error }

func (e invalid) Error() string { return e.msg.Error() }
func (e invalid) Unwrap() []error {
	return []error{e.msg, ErrInvalid}
}

func invalidf(format string, args ...any) error { return invalid{fmt.Errorf(format, args...)} }

// Applied is a fault the Engine applied.
type Applied struct {
	Fault faults.Fault  // as applied: its id, kind, target (normalised) and parameters
	By    string        // who applied it
	At    time.Time     // when
	AtMS  float64       // when, in journal time
	Bound time.Duration // it heals by itself this long after At; 0: until healed
}

// An Option qualifies an Apply or a Heal.
type Option func(*options)

type options struct {
	lag  time.Duration
	from string
}

// Late says how late the call comes against its schedule: journaled as the
// event's LagMS (the harness's own lateness).
func Late(d time.Duration) Option { return func(o *options) { o.lag = d } }

// From says where the call came from (a control API client's address):
// journaled as the event's Addr, beside By.
func From(addr string) Option { return func(o *options) { o.from = addr } }

type faultState struct {
	// applyMu serialises Apply against Close: no fault is applied once
	// Close has begun healing.
	applyMu sync.Mutex
	closed  bool

	mu      sync.Mutex
	applied []*appliedFault // in apply order
	byID    map[string]*appliedFault
}

func (s *faultState) init() { s.byID = map[string]*appliedFault{} }

type appliedFault struct {
	Applied
	heal   func() error
	once   sync.Once
	healed bool        // guarded by faultState.mu
	timer  *time.Timer // the bound's; guarded by faultState.mu
}

// Apply applies f now, until healed. by says who applies it ("schedule",
// "test", "api:NAME", ...). f.ID "" gets the first free "fN".
func (e *Engine) Apply(f faults.Fault, by string, opts ...Option) (Applied, error) {
	return e.apply(f, by, 0, opts)
}

// ApplyFor applies f now and heals it by itself once bound has passed (why
// "bound of D reached", by "bound"), unless something healed it before.
func (e *Engine) ApplyFor(f faults.Fault, by string, bound time.Duration, opts ...Option) (Applied, error) {
	if bound <= 0 {
		return Applied{}, invalidf("fault %s: the bound must be positive, got %s", f.ID, bound)
	}
	return e.apply(f, by, bound, opts)
}

func (e *Engine) apply(f faults.Fault, by string, bound time.Duration, opts []Option) (Applied, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	e.applyMu.Lock()
	defer e.applyMu.Unlock()
	if e.closed {
		return Applied{}, ErrClosed
	}
	e.mu.Lock()
	if f.ID == "" {
		for n := len(e.applied) + 1; ; n++ {
			if id := fmt.Sprintf("f%d", n); e.byID[id] == nil {
				f.ID = id
				break
			}
		}
	}
	_, dup := e.byID[f.ID]
	e.mu.Unlock()
	if dup {
		return Applied{}, invalidf("fault %s: %w", f.ID, ErrDuplicate)
	}
	kind, ok := faults.Lookup(f.Kind)
	if !ok {
		return Applied{}, invalidf("fault %s: unknown kind %q; expected one of: %s", f.ID, f.Kind, strings.Join(faults.Names(), ", "))
	}
	if kind.Meta().NeedsReplication && !e.world.Replicated() {
		return Applied{}, invalidf("fault %s: %s acts on a global table's replication, and this world's tables are not global (topology.table.global)", f.ID, f.Kind)
	}
	vals, err := faults.Validate(kind, f.Params)
	if err != nil {
		return Applied{}, invalidf("fault %s: %w", f.ID, err)
	}
	if f.Target, err = e.target(kind, f.Target); err != nil {
		return Applied{}, invalidf("fault %s: %w", f.ID, err)
	}
	if faults.ReachOf(kind) == faults.ReachNode {
		e.watchRefusals() // the applications' attempts at the node it takes down
	}
	heal, err := applySafely(e.fw, f, vals)
	if err != nil {
		return Applied{}, fmt.Errorf("applying fault %s (%s on %s): %w", f.ID, f.Kind, f.Target, err)
	}
	a := &appliedFault{Applied: Applied{Fault: f, By: by, At: time.Now(), Bound: bound}, heal: heal}
	a.AtMS = e.j.Since(a.At)
	e.mu.Lock()
	e.applied = append(e.applied, a)
	e.byID[f.ID] = a
	if bound > 0 {
		why := fmt.Sprintf("bound of %s reached", bound)
		a.timer = time.AfterFunc(bound, func() {
			if err := e.Heal(f.ID, why, "bound"); err != nil && !errors.Is(err, ErrHealed) {
				e.log("%v", err)
			}
		})
	}
	e.mu.Unlock()
	ev := e.appliedEvent(f, kind, vals, o.lag)
	ev.T, ev.By, ev.Addr = a.AtMS, by, o.from
	if bound > 0 {
		ev.Detail = fmt.Sprintf("heals by itself after %s at the latest", bound)
	}
	e.Record(ev)
	e.log("applied %s: %s on %s", f.ID, f.Kind, f.Target)
	return a.Applied, nil
}

// applySafely applies a kind's parameters, turning a panic into an error.
func applySafely(w faults.World, f faults.Fault, params faults.Applier) (heal func() error, err error) {
	defer func() {
		if p := recover(); p != nil {
			heal, err = nil, fmt.Errorf("panic: %v", p)
		}
	}()
	return params.Apply(w, f)
}

// target normalises a fault's target (a DNS name in lower case, fully
// qualified) and checks that it names something in this world.
func (e *Engine) target(kind faults.Kind, target string) (string, error) {
	var regions, names []string
	for _, r := range e.cfg.Topology.Regions {
		regions = append(regions, r.Name)
		names = append(names, strings.TrimSuffix(r.Endpoint, "."))
	}
	switch kind.Target() {
	case faults.TargetRegion:
		if !slices.Contains(regions, target) {
			return "", fmt.Errorf("%s acts on a region; %q is not one (expected one of: %s)", kind.Name(), target, strings.Join(regions, ", "))
		}
	case faults.TargetDNSName:
		target = strings.ToLower(target)
		if strings.HasPrefix(target, ".") {
			target = "." + dns.Fqdn(target[1:])
		} else {
			target = dns.Fqdn(target)
		}
		matches, err := dnsstub.NamePattern(target)
		if err != nil {
			return "", err
		}
		isPattern := strings.HasPrefix(target, ".") || strings.Contains(target, "*")
		for _, r := range e.cfg.Topology.Regions {
			if (isPattern && matches(r.Endpoint)) || r.Endpoint == target {
				return target, nil
			}
		}
		if isPattern {
			return "", fmt.Errorf("the pattern %q selects no endpoint (endpoints: %s)", target, strings.Join(names, ", "))
		}
		return "", fmt.Errorf("%s acts on an endpoint name or a pattern (*.label, .suffix); %q is not one (expected one of: %s)", kind.Name(), target, strings.Join(names, ", "))
	}
	return target, nil
}

// appliedEvent journals what the metrics need of an applied fault: its
// reach (what shows it touched a client), the endpoint of a region it
// targets, the node of a node fault, and how late it came.
func (e *Engine) appliedEvent(f faults.Fault, kind faults.Kind, params faults.Applier, lag time.Duration) journal.Event {
	ev := journal.Event{Type: journal.FaultApplied, Fault: f.ID, Kind: f.Kind, Target: f.Target, Reach: faults.ReachOf(kind), LagMS: ms(lag)}
	if kind.Target() == faults.TargetRegion {
		ev.Name, _ = e.world.Endpoint(f.Target)
	}
	if nf, ok := params.(faults.NodeFault); ok && ev.Reach == faults.ReachNode {
		if lb, ok := e.world.NLB(f.Target); ok {
			if nodes, i := lb.NodeAddrs(), nf.NodeIndex(); i >= 0 && i < len(nodes) {
				ev.Node = nodes[i]
			}
		}
	}
	return ev
}

// Heal heals the fault id now: why is journaled as the event's Detail
// ("scheduled", "rollback", ...), by as its By. It returns ErrUnknownFault
// for an id never applied and ErrHealed for one already healed (by whoever
// asked first: each fault is healed exactly once).
func (e *Engine) Heal(id, why, by string, opts ...Option) error {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	e.mu.Lock()
	a := e.byID[id]
	e.mu.Unlock()
	if a == nil {
		return fmt.Errorf("healing fault %q: %w", id, ErrUnknownFault)
	}
	ran := false
	var err error
	a.once.Do(func() {
		ran = true
		e.mu.Lock()
		if a.timer != nil {
			a.timer.Stop()
		}
		e.mu.Unlock()
		err = healSafely(a.heal)
		f := a.Fault
		ev := journal.Event{Type: journal.FaultHealed, Fault: id, Kind: f.Kind, Target: f.Target, Detail: why, LagMS: ms(o.lag), By: by, Addr: o.from}
		if err != nil {
			ev.Detail = why + ": " + err.Error()
		}
		e.mu.Lock()
		a.healed = true
		e.mu.Unlock()
		e.Record(ev)
		e.log("healed %s (%s)", id, why)
	})
	switch {
	case !ran:
		return fmt.Errorf("healing fault %s: %w", id, ErrHealed)
	case err != nil:
		return fmt.Errorf("healing fault %s: %w", id, err)
	}
	return nil
}

func healSafely(heal func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return heal()
}

// HealAll heals every fault still applied, newest first, and returns the
// heals' errors.
func (e *Engine) HealAll(why, by string, opts ...Option) error {
	var errs []error
	for _, a := range slices.Backward(e.Active()) {
		if err := e.Heal(a.Fault.ID, why, by, opts...); err != nil && !errors.Is(err, ErrHealed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Active are the faults applied and not yet healed, in apply order.
func (e *Engine) Active() []Applied {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Applied
	for _, a := range e.applied {
		if !a.healed {
			out = append(out, a.Applied)
		}
	}
	return out
}

// ms is d in milliseconds, to the microsecond.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
