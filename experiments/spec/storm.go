package spec

import (
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Retry storms (issue 17): a region's capacity (topology.regions[].capacity)
// and fleets of light clients (clients[].fleet).

// Capacity is the request rate a region's backend serves
// (targets/dynamodb/capacity): a token bucket of Burst refilled at RPS, a
// FIFO queue bounded at Queue in front, throttling beyond it.
type Capacity struct {
	RPS   float64
	Burst int
	Queue time.Duration
	Mode  string // CapacityOnDemand or CapacityProvisioned: which throttling error
}

// Capacity modes (the table's, in DynamoDB's words) and the queue's default.
const (
	CapacityOnDemand    = "on-demand"
	CapacityProvisioned = "provisioned"
	DefaultCapacityWait = time.Second
	MaxCapacityRPS      = 100000
)

// StrategyFleet is a fleet's strategy: many light clients, each retrying
// as its SDK does.
const StrategyFleet = "fleet"

// Retry policies of a fleet, as experiments/fleet/retry names them.
var RetryPolicies = []string{"legacy", "standard", "adaptive", "go-standard"}

// Fleet is clients[].fleet.
type Fleet struct {
	Size        int
	Rate        float64 // logical requests per second, the whole fleet
	Retry       string
	Jitter      string // "", none or full
	Timeout     time.Duration
	MaxAttempts int // 0: the SDK's own
}

// The fleet's defaults and the machine's limits, from `make bench-fleet`
// on two cores (README "Retry storms"). Size: a member is its SDK's retry
// state only (at most about 210 bytes, adaptive's), so 100,000 members hold
// about 21 MB; the bound keeps a fleet's memory a small part of a run's.
// Rate: the logical requests per second the whole path (fleet, DNS, NLB,
// links, backend, journal) carried with the harness's self-check holding
// was 1,000 (about 0.26 cores); at 1,500 the harness was starved. A retry
// storm multiplies the attempts (legacy up to 10 per call): the harness's
// lag check then marks the run invalid rather than blame the clients.
const (
	DefaultFleetTimeout = 2 * time.Second
	MaxFleetSize        = 100000
	MaxFleetRate        = 1000
)

// capacityKey is topology.regions[].capacity.
func (d *decoder) capacityKey(what string, r *Region) field {
	return keyOf("capacity", objectValue("the requests per second the region's backend serves: a token bucket (rps, burst) with a bounded queue; above it, throttling errors. Off when absent",
		func() []field { return d.capacityFields("", &Capacity{}) }), func(_, v *yaml.Node) {
		r.Capacity = &Capacity{Queue: DefaultCapacityWait, Mode: CapacityOnDemand}
		d.mapping(v, what+".capacity", d.capacityFields(what+".capacity", r.Capacity))
		if r.Capacity.Burst == 0 {
			r.Capacity.Burst = max(1, int(r.Capacity.RPS)) // one second's worth
		}
	})
}

func (d *decoder) capacityFields(what string, c *Capacity) []field {
	modes := []string{CapacityOnDemand, CapacityProvisioned}
	return []field{
		keyOf("rps", numberValue(0.01, MaxCapacityRPS, "requests per second served"), func(_, v *yaml.Node) {
			var f float64
			d.number(v, join(what, "rps"), 0, MaxCapacityRPS, &f)
			if s, _ := d.scalar(v, ""); f == 0 && (s == "0" || strings.Trim(s, "0.") == "") {
				d.errorf(v, "%s: a capacity of 0 serves nothing; expected at least 0.01 requests per second (leave capacity out for a backend without a limit)", join(what, "rps"))
				return
			}
			if f > 0 && f < 0.01 {
				d.errorf(v, "%s: %g is out of range; expected 0.01 to %d", join(what, "rps"), f, MaxCapacityRPS)
			}
			c.RPS = f
		}).must(),
		d.integerKey(what, "burst", integerValue(1, MaxCapacityRPS, "requests served at once above the rate: the bucket's size (default: one second's worth)"), &c.Burst),
		d.durationKey(what, "queue", durationValue(0, time.Minute, "how long a request may wait for its turn before it is throttled at once (default 1s)"), &c.Queue),
		keyOf("mode", enumValue(modes, "on-demand: ThrottlingException; provisioned: ProvisionedThroughputExceededException"), func(_, v *yaml.Node) {
			d.str(v, join(what, "mode"), &c.Mode)
			if c.Mode != CapacityOnDemand && c.Mode != CapacityProvisioned {
				d.errorf(v, "%s: %q: expected on-demand or provisioned", join(what, "mode"), c.Mode)
				c.Mode = CapacityOnDemand
			}
		}),
	}
}

// fleetKey is clients[].fleet.
func (d *decoder) fleetKey(what string, c *Client, n *clientNodes) field {
	return keyOf("fleet", objectValue("many light clients standing for a fleet, each retrying as its SDK's policy does (not with strategy or image)",
		func() []field { return d.fleetFields("", &Fleet{}) }), func(_, v *yaml.Node) {
		n.fleet = v
		c.Fleet = &Fleet{Timeout: DefaultFleetTimeout}
		d.mapping(v, what+".fleet", d.fleetFields(what+".fleet", c.Fleet))
	})
}

func (d *decoder) fleetFields(what string, f *Fleet) []field {
	return []field{
		keyOf("size", integerValue(1, MaxFleetSize, "members"), func(_, v *yaml.Node) {
			i, ok := d.integer(v, join(what, "size"), 1, 1<<62)
			if ok && i > MaxFleetSize {
				d.errorf(v, "%s: %d members is more than this machine runs: at most %d (a member holds its SDK's retry state; the limit keeps a fleet's memory and start-up time within what `make bench-fleet` measured on two cores)",
					join(what, "size"), i, MaxFleetSize)
				return
			}
			f.Size = int(i)
		}).must(),
		keyOf("rate", numberValue(0.1, MaxFleetRate, "logical requests per second, the whole fleet"), func(_, v *yaml.Node) {
			var r float64
			d.number(v, join(what, "rate"), 0, 1e12, &r)
			switch {
			case r > MaxFleetRate:
				d.errorf(v, "%s: %g requests per second is more than this machine carries: at most %d (`make bench-fleet`: above it the harness's own lag check fails on two cores, and a retry storm multiplies the rate)",
					join(what, "rate"), r, MaxFleetRate)
			case r < 0.1:
				d.errorf(v, "%s: %g: expected at least 0.1 logical requests per second", join(what, "rate"), r)
			default:
				f.Rate = r
			}
		}).must(),
		keyOf("retry", enumValue(RetryPolicies, "the SDK retry policy each member follows: botocore's legacy (DynamoDB: 10 attempts, 50 ms doubling, no jitter), standard, adaptive, or aws-sdk-go-v2's standard (go-standard)"),
			func(_, v *yaml.Node) {
				d.str(v, join(what, "retry"), &f.Retry)
				if !contains(RetryPolicies, f.Retry) {
					d.errorf(v, "%s: unknown retry policy %q; expected one of: %s", join(what, "retry"), f.Retry, strings.Join(RetryPolicies, ", "))
				}
			}).must(),
		keyOf("jitter", enumValue([]string{"none", "full"}, "the back-off's jitter: none (the bound every time) or full (uniform below it); default: the policy's own (legacy none, the others full)"),
			func(_, v *yaml.Node) {
				d.str(v, join(what, "jitter"), &f.Jitter)
				if f.Jitter != "none" && f.Jitter != "full" {
					d.errorf(v, "%s: %q: expected none or full", join(what, "jitter"), f.Jitter)
				}
			}),
		d.durationKey(what, "timeout", durationValue(10*time.Millisecond, time.Minute, "per attempt (default 2s)"), &f.Timeout),
		d.integerKey(what, "max_attempts", integerValue(1, 100, "attempts per logical request (default: the policy's own)"), &f.MaxAttempts),
	}
}

// fleetClient checks a fleet client: one region, none of the reference
// client's or an application's keys.
func (d *decoder) fleetClient(c *Client, what string, el *yaml.Node, n clientNodes) {
	c.Strategy = StrategyFleet
	for _, k := range append([]string{"strategy", "image", "command", "env", "health", "probe_interval"}, tunedKeys...) {
		if kn := key(el, k); kn != nil {
			d.errorf(kn, "%s.%s: a fleet takes its settings under fleet (size, rate, retry, jitter, timeout, max_attempts); expected no %s beside it", what, k, k)
		}
	}
	if n.regions == nil {
		d.errorf(el, "%s: missing required key \"regions\" (the one region the fleet calls)", what)
	} else if len(c.Regions) != 1 {
		d.errorf(n.regions, "%s.regions: a fleet calls exactly one region, got %d", what, len(c.Regions))
	}
}

// checkFleets: at most MaxFleetRate across all fleets together.
func (d *decoder) checkFleets(clients []Client, n *yaml.Node) {
	total := 0.0
	for _, c := range clients {
		if c.Fleet != nil {
			total += c.Fleet.Rate
		}
	}
	if total > MaxFleetRate {
		d.errorf(n, "clients: the fleets together send %g logical requests per second; this machine carries at most %d (`make bench-fleet`)", total, MaxFleetRate)
	}
}
