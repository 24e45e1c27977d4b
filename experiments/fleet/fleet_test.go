package fleet_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/experiments/engine"
	"github.com/faultline-dev/faultline/experiments/fleet"
	"github.com/faultline-dev/faultline/experiments/fleet/retry"
	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/faults"
	"github.com/faultline-dev/faultline/targets/dynamodb/capacity"
	"github.com/faultline-dev/faultline/targets/nlb"
	"github.com/faultline-dev/faultline/targets/topology"
)

// world opens a one-region world on loopback whose backend serves rps.
func world(t *testing.T, capa *capacity.Config, maxAge time.Duration) (*engine.Engine, *journal.Recorder) {
	t.Helper()
	j := journal.New(nil)
	rec := &journal.Recorder{}
	j.Observe(rec.Add)
	cfg := topology.Config{Zone: "amazonaws.com.", RecordTTL: time.Second, NegativeTTL: time.Second, Table: "faultline", Items: 50,
		Regions: []topology.Region{{Name: "us-east-1", Endpoint: "dynamodb.us-east-1.amazonaws.com.", Nodes: 2, Targets: 2,
			HealthCheck: nlb.HealthCheck{Interval: 500 * time.Millisecond, Timeout: 250 * time.Millisecond, HealthyThreshold: 3, UnhealthyThreshold: 2},
			MaxAge:      maxAge, Capacity: capa}}}
	eng, err := engine.Open(context.Background(), engine.Config{Topology: cfg, Journal: j})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	return eng, rec
}

func fleetConfig(t *testing.T, eng *engine.Engine, policy string, rate float64) fleet.Config {
	u, err := eng.World().EndpointURL("us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	return fleet.Config{Name: "herd", Retry: retry.Config{Name: policy}, Size: 500, Rate: rate, Timeout: 2 * time.Second,
		Region: "us-east-1", Endpoint: u, DNSServer: eng.World().ClientDNSAddr(), SourceIP: engine.FleetIP(0),
		Table: "faultline", Items: 50, Seed: 1, Record: eng.Record, Since: eng.Journal().Since}
}

// run runs a fleet for d, calling during(ctx) meanwhile.
func run(t *testing.T, cfg fleet.Config, d time.Duration, during func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var wg sync.WaitGroup
	var err error
	wg.Add(1)
	go func() { defer wg.Done(); err = fleet.Run(ctx, cfg) }()
	if during != nil {
		during()
	}
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
}

func sum(evs []journal.Event, typ string) (total journal.Load, seconds int) {
	for _, e := range evs {
		if e.Type == typ && e.Load != nil {
			seconds++
			total.Logical += e.Load.Logical
			total.Offered += e.Load.Offered
			total.Served += e.Load.Served
			total.Throttled += e.Load.Throttled
			total.Failed += e.Load.Failed
		}
	}
	return total, seconds
}

// Under its capacity the backend serves every request of the fleet, and
// the fleet journals one fleet.load a second, the backend one ddb.load.
func TestFleetUnderCapacityIsServed(t *testing.T) {
	eng, rec := world(t, &capacity.Config{RPS: 200, Burst: 50}, 0)
	run(t, fleetConfig(t, eng, retry.Standard, 40), 4*time.Second, nil)
	eng.Flush()
	evs := rec.Events()
	fl, secs := sum(evs, journal.FleetLoad)
	if secs < 2 || fl.Logical < 80 || fl.Served < fl.Logical-20 || fl.Throttled != 0 || fl.Failed != 0 {
		t.Fatalf("fleet over %d seconds: %+v; want about 40 logical requests a second, all served", secs, fl)
	}
	dl, dsecs := sum(evs, journal.DDBLoad)
	if dsecs < 2 || dl.Served < fl.Served-50 || dl.Throttled != 0 {
		t.Fatalf("backend over %d seconds: %+v; fleet %+v", dsecs, dl, fl)
	}
	var capEv *journal.Event
	for i, e := range evs {
		if e.Type == journal.DDBCapacity {
			capEv = &evs[i]
		}
		if e.Type == journal.ConnAccepted && engine.FleetSource(e.Addr) {
			t.Fatalf("a fleet's connection journaled one by one: %+v", e)
		}
	}
	if capEv == nil || capEv.Load.CapacityRPS != 200 || capEv.Load.Burst != 50 || capEv.Region != "us-east-1" {
		t.Fatalf("ddb.capacity: %+v", capEv)
	}
}

// Above capacity the backend throttles with ThrottlingException and the
// fleet's members see it as throttling and retry.
func TestFleetAboveCapacityIsThrottled(t *testing.T) {
	eng, rec := world(t, &capacity.Config{RPS: 30, Burst: 5, MaxWait: 100 * time.Millisecond}, 0)
	run(t, fleetConfig(t, eng, retry.Legacy, 120), 4*time.Second, nil)
	eng.Flush()
	evs := rec.Events()
	fl, _ := sum(evs, journal.FleetLoad)
	dl, dsecs := sum(evs, journal.DDBLoad)
	if fl.Throttled == 0 || fl.Offered <= fl.Logical {
		t.Fatalf("fleet: %+v; want throttled attempts and retries (offered above logical)", fl)
	}
	if dl.Throttled == 0 || dl.Served > 30*(dsecs+1)+5 {
		t.Fatalf("backend over %d seconds: %+v; want throttling and at most 30 served a second", dsecs, dl)
	}
}

// A DNS fault reaches the members: with the record empty, aws-sdk-go-v2's
// policy gives up at once (no such host is not retried), botocore's
// standard mode retries it (an EndpointConnectionError) up to 3 attempts.
func TestFleetMembersLookTheNameUp(t *testing.T) {
	for _, policy := range []string{retry.GoStandard, retry.Standard} {
		t.Run(policy, func(t *testing.T) {
			// Connections live 300ms at most, so members look up again.
			eng, rec := world(t, nil, 300*time.Millisecond)
			run(t, fleetConfig(t, eng, policy, 40), 5*time.Second, func() {
				time.Sleep(time.Second)
				a, err := eng.Apply(faults.Fault{Kind: "dns.empty", Target: "dynamodb.us-east-1.amazonaws.com", Params: map[string]string{}}, "test")
				if err != nil {
					t.Error(err)
					return
				}
				time.Sleep(2 * time.Second)
				eng.Heal(a.Fault.ID, "test", "test")
			})
			eng.Flush()
			fl, _ := sum(rec.Events(), journal.FleetLoad)
			if fl.Failed == 0 {
				t.Fatalf("%s: no logical request failed during a 2s dns.empty: %+v", policy, fl)
			}
			if amp := float64(fl.Offered) / float64(fl.Logical); policy == retry.GoStandard && fl.Offered > fl.Logical+fl.Logical/4 {
				t.Fatalf("go-standard retried no such host: %d attempts for %d requests (%.2f)", fl.Offered, fl.Logical, amp)
			}
			if policy == retry.Standard && fl.Offered < fl.Logical+fl.Failed {
				t.Fatalf("standard did not retry the failed lookups: %+v", fl)
			}
		})
	}
}

// botocore's adaptive mode paces busy members once throttled: against the
// same capacity, an adaptive fleet sends fewer attempts than a standard one
// (whose members retry at once, up to the quota).
func TestAdaptiveFleetPacesItself(t *testing.T) {
	late := func(policy string) journal.Load {
		eng, rec := world(t, &capacity.Config{RPS: 30, Burst: 5, MaxWait: 50 * time.Millisecond}, 0)
		cfg := fleetConfig(t, eng, policy, 120)
		cfg.Size = 4 // 30 calls a second each: busy enough for the limiter to learn
		run(t, cfg, 7*time.Second, nil)
		eng.Flush()
		var evs []journal.Event
		for _, e := range rec.Events() {
			if e.Type == journal.FleetLoad {
				evs = append(evs, e)
			}
		}
		if len(evs) < 6 {
			t.Fatalf("%s: %d fleet.load events in 7 s", policy, len(evs))
		}
		l, _ := sum(evs[3:], journal.FleetLoad) // once the limiter has had throttles to learn from
		return l
	}
	standard, adaptive := late(retry.Standard), late(retry.Adaptive)
	t.Logf("from the 4th second: standard %+v; adaptive %+v", standard, adaptive)
	if adaptive.Offered*10 > standard.Offered*8 {
		t.Fatalf("adaptive sent %d attempts, standard %d: the client-side limiter did not slow it", adaptive.Offered, standard.Offered)
	}
}

// A fleet's calls in flight are bounded: with the record empty, legacy
// calls retry for 25 s, so past the bound new calls fail at once.
func TestFleetBoundsItsCallsInFlight(t *testing.T) {
	eng, rec := world(t, nil, 0)
	if _, err := eng.Apply(faults.Fault{Kind: "dns.empty", Target: "dynamodb.us-east-1.amazonaws.com", Params: map[string]string{}}, "test"); err != nil {
		t.Fatal(err)
	}
	cfg := fleetConfig(t, eng, retry.Legacy, 40)
	cfg.MaxInFlight = 10
	run(t, cfg, 3*time.Second, nil)
	eng.Flush()
	fl, _ := sum(rec.Events(), journal.FleetLoad)
	// About 80 calls in 2 s of fleet.load: 10 retrying, the rest refused.
	if fl.Logical < 40 || fl.Failed < fl.Logical-10 || fl.Served != 0 {
		t.Fatalf("%+v: want all but the 10 calls in flight failed at once", fl)
	}
}
