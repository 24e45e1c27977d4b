// Package faults is the fault catalogue: each kind is its parameter struct
// (typed fields whose tags give name, default, bounds, unit and doc),
// registered by name with Define, and applies itself to the world through a
// narrow injector interface (the DNS server's rule table, a link's toxics).
// The struct's tags are the catalogue (`faultline kinds`, GET /kinds, the
// experiment schema), and one decoder fills it from text, so the code that
// applies a kind reads fields, never string keys. The Engine
// (experiments/engine) alone applies faults: it keeps the heal function of
// every applied fault and calls each exactly once. Toxiproxy's toxics are
// the model: adding a kind touches one file and the registry.
package faults

import (
	"math/rand"
	"sort"
	"sync"
	"time"

	"github.com/faultline-dev/faultline/targets/dnsstub"
	"github.com/faultline-dev/faultline/targets/links"
)

// Fault is one scheduled fault of an experiment: a value, not an action.
type Fault struct {
	ID       string            // unique in the experiment, e.g. "f1"; the journal and metrics refer to it
	Kind     string            // a registered kind name, e.g. "dns.empty"
	Target   string            // what the kind acts on: a DNS name or a region
	Start    time.Duration     // from the start of the run
	Duration time.Duration     // how long until it is healed
	Params   map[string]string // raw parameters, validated by the kind
}

// End is when the fault is scheduled to be healed.
func (f Fault) End() time.Duration { return f.Start + f.Duration }

// TargetType says what a kind's target names.
type TargetType string

const (
	TargetDNSName TargetType = "dns-name" // a name the DNS server is authoritative for
	TargetRegion  TargetType = "region"   // a region of the topology (its NLB target links)
)

// Kind is one fault kind: a parameter struct with its Meta (Define).
type Kind interface {
	Name() string
	Summary() string
	Target() TargetType
	Meta() Meta
	// Params is the catalogue of its parameters, read from its parameter
	// struct's tags.
	Params() []Param
	// Parse validates raw parameters into the kind's parameter struct,
	// defaults filled in: applying that injects the fault.
	Parse(raw map[string]string) (Applier, error)
}

// World is what kinds act on; the Engine implements it over the topology.
type World interface {
	DNS() DNSRules
	// RegionLinks are the data links from a region's NLB to its targets.
	RegionLinks(region string) ([]*links.Link, error)
	// RegionHealthLinks are the links a region's health checks take.
	RegionHealthLinks(region string) ([]*links.Link, error)
	// PropagationDelay sets how long a region's targets that turn healthy
	// keep refusing data connections.
	PropagationDelay(region string) (set func(time.Duration), err error)
	// NodeDown stops node i (from 0) of a region's load balancer; undo
	// starts it again.
	NodeDown(region string, i int) (undo func() error, err error)
	// ResetConnections resets every connection a region's load balancer
	// carries, at once, and says how many there were.
	ResetConnections(region string) (int, error)
	// Rand is seeded from --seed so that random faults repeat.
	Rand() *rand.Rand
	// Endpoint is a region's endpoint name (fqdn), for faults that point one
	// region's name at another's.
	Endpoint(region string) (string, bool)
	// Automation is the DNS automation managing an endpoint name, when the
	// topology has one.
	Automation(name string) (DNSAutomation, bool)
	// PauseReplication pauses a global table's replication into (in), out
	// of (out) or both of a region; undo resumes it. fault names the fault
	// in the replication's events.
	PauseReplication(region, direction, fault string) (undo func() error, err error)
	// LagReplication adds lag ± jitter to a global table's replication
	// into, out of or both of a region; undo removes it.
	LagReplication(region, direction string, lag, jitter time.Duration, fault string) (undo func() error, err error)
}

// DNSAutomation is the model of DynamoDB's DNS automation (targets/dnsauto).
type DNSAutomation interface {
	Delay(enactor string, d time.Duration) (undo func(), err error)
	Repair() error
}

// What shows that an applied fault touched a client: the Engine journals a
// fault's reach with it, so metrics need no catalogue (experiments/measure
// reads the same words).
const (
	ReachDNS      = "dns"       // DNS answers the fault changed
	ReachDNSEmpty = "dns-empty" // empty A answers for its target while applied (ShowsAsEmptyAnswers)
	ReachRegion   = "region"    // connections or requests through the region's nodes
	ReachHealth   = "health"    // what health checks change: failed connections or requests, the DNS answer
	ReachNode     = "node"      // connection attempts at the fault's node
)

// ReachOf is what shows that a fault of kind k touched a client: its
// Meta's Reach, or its target type's (a kind that empties its target's
// record by other means shows as empty answers).
func ReachOf(k Kind) string {
	m := k.Meta()
	switch {
	case m.Reach != "":
		return m.Reach
	case m.EmptyAnswers:
		return ReachDNSEmpty
	case m.Target == TargetDNSName:
		return ReachDNS
	}
	return ReachRegion
}

// NodeFault is implemented by the parameters of a kind that acts on one
// node of a region's load balancer (the Engine journals its address).
type NodeFault interface{ NodeIndex() int }

// DNSRules is the DNS server's rule table (dnsstub.Server implements it).
type DNSRules interface {
	AddRule(r dnsstub.Rule) (remove func(), err error)
}

var (
	mu       sync.RWMutex
	registry = map[string]Kind{}
)

// Register adds a kind; kinds register themselves in init.
func Register(k Kind) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := registry[k.Name()]; dup {
		panic("faults: kind registered twice: " + k.Name())
	}
	registry[k.Name()] = k
}

// Lookup finds a kind by name.
func Lookup(name string) (Kind, bool) {
	mu.RLock()
	defer mu.RUnlock()
	k, ok := registry[name]
	return k, ok
}

// Names lists the registered kinds, sorted.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Kinds lists the registered kinds, sorted by name.
func Kinds() []Kind {
	var ks []Kind
	for _, n := range Names() {
		k, _ := Lookup(n)
		ks = append(ks, k)
	}
	return ks
}

// FaultID is how a fault is named in the journal and in DNS query events:
// its experiment id. Its toxics are named links.OwnToxic(id), in the
// namespace toxiproxy's API leaves to faultline.
func FaultID(f Fault) string { return f.ID }
