package runner

import (
	"github.com/faultline-dev/faultline/experiments/clients"
	"github.com/faultline-dev/faultline/experiments/engine"
	"github.com/faultline-dev/faultline/experiments/fleet"
	"github.com/faultline-dev/faultline/experiments/fleet/retry"
	"github.com/faultline-dev/faultline/experiments/spec"
	"github.com/faultline-dev/faultline/targets/dynamodb/capacity"
)

// Retry storms: a region's capacity and the fleets (issue 17).

// capacityConfig is a region's capacity for the topology (nil: none).
func capacityConfig(c *spec.Capacity) *capacity.Config {
	if c == nil {
		return nil
	}
	return &capacity.Config{RPS: c.RPS, Burst: c.Burst, MaxWait: c.Queue, Mode: c.Mode}
}

// fleetConfig is fleet client i's: its own source address (engine.FleetIP),
// the world's DNS, its region's endpoint, seeded from the run's seed.
func (r *run) fleetConfig(i int, c spec.Client, cfg clients.Config) fleet.Config {
	f := c.Fleet
	return fleet.Config{
		Name: c.Name, Retry: retry.Config{Name: f.Retry, Jitter: f.Jitter, MaxAttempts: f.MaxAttempts},
		Size: f.Size, Rate: f.Rate, Timeout: f.Timeout, Region: c.Regions[0], Endpoint: cfg.Endpoints[c.Regions[0]],
		DNSServer: cfg.DNSServer, SourceIP: engine.FleetIP(i), Table: cfg.Table, Items: cfg.Items,
		Seed: r.seed() + int64(i), Record: r.add, Since: r.j.Since,
	}
}
