package measure

import (
	"testing"

	"github.com/faultline-dev/faultline/experiments/journal"
)

func (e j) regionFault(id, kind, reach, region string, start, end float64) j {
	return append(e, journal.Event{T: start, Type: journal.FaultApplied, Fault: id, Kind: kind, Target: region, Reach: reach,
		Name: "dynamodb." + region + ".amazonaws.com.", Node: "127.0.1.2:443"},
		journal.Event{T: end, Type: journal.FaultHealed, Fault: id, Kind: kind, Target: region})
}

func (e j) conn(typ, client, region string, t float64) j {
	return append(e, journal.Event{T: t, Type: typ, Client: client, Region: region, Node: "127.0.1.1:443", Addr: "127.0.0.1:40000"})
}

func reachedOf(t *testing.T, ev j, client string) bool {
	t.Helper()
	for _, c := range run(ev).Clients {
		if c.Name == client {
			return c.Metrics.FaultReached
		}
	}
	t.Fatalf("no client %s", client)
	return false
}

func TestReachMeansTouched(t *testing.T) {
	app := j{}.app("orders").app("orders.server")
	idle := "..........xx........." // requests to us-east-1; 'x' = dns-notfound failures
	cases := []struct {
		name    string
		events  j
		client  string
		reached bool
	}{
		// link faults: a connection of the client's through the region's nodes.
		{"link: a new connection at the region's node", app.regionFault("f1", "link.latency", ReachRegion, "us-east-1", 1000, 2000).conn(journal.ConnAccepted, "orders", "us-east-1", 1500), "orders", true},
		{"link: its view shares the app's connections", app.regionFault("f1", "link.latency", ReachRegion, "us-east-1", 1000, 2000).conn(journal.ConnFailed, "orders", "us-east-1", 1500), "orders.server", true},
		{"link: another region's connection", app.regionFault("f1", "link.down", ReachRegion, "us-east-1", 1000, 2000).conn(journal.ConnAccepted, "orders", "us-west-2", 1500), "orders", false},
		{"link: a connection before the fault", app.regionFault("f1", "link.down", ReachRegion, "us-east-1", 1000, 2000).conn(journal.ConnAccepted, "orders", "us-east-1", 900), "orders", false},
		{"link: requests that never got past DNS", app.regionFault("f1", "link.down", ReachRegion, "us-east-1", 1000, 2000).reqs("orders", 0, "..........xxxxxxxxxx"), "orders", false},
		{"link: a reference client's request carried in the window", j{}.client("c", "us-east-1", "127.0.0.11").regionFault("f1", "link.latency", ReachRegion, "us-east-1", 1000, 2000).reqs("c", 0, "..............."), "c", true},
		{"link: an application's own word is not evidence", app.regionFault("f1", "link.down", ReachRegion, "us-east-1", 1000, 2000).reqs("orders", 0, "..............."), "orders", false},
		{"link: what the nodes saw of it is", app.regionFault("f1", "link.latency", ReachRegion, "us-east-1", 1000, 2000).reqs("orders.server", 0, "..............."), "orders.server", true},
		// node down: only an attempt at that node counts, not a pooled connection carrying on.
		{"node: requests on a pooled connection", app.regionFault("f1", "nlb.node-down", ReachNode, "us-east-1", 1000, 2000).reqs("orders", 0, "..............."), "orders", false},
		{"node: an attempt refused at the node", app.regionFault("f1", "nlb.node-down", ReachNode, "us-east-1", 1000, 2000).
			append1(journal.Event{T: 1200, Type: journal.ConnRefused, Client: "orders", Region: "us-east-1", Node: "127.0.1.2:443"}), "orders", true},
		{"node: an attempt refused at another node", app.regionFault("f1", "nlb.node-down", ReachNode, "us-east-1", 1000, 2000).
			append1(journal.Event{T: 1200, Type: journal.ConnRefused, Client: "orders", Region: "us-east-1", Node: "127.0.1.1:443"}), "orders", false},
		// health checks: what they change reaches the client.
		{"health: nothing changed for the client", app.regionFault("f1", "hc.flap", ReachHealth, "us-east-1", 1000, 2000).reqs("orders", 0, "..............."), "orders", false},
		{"health: its DNS answer lost a node", j{}.client("c", "us-east-1", "127.0.0.11").regionFault("f1", "hc.flap", ReachHealth, "us-east-1", 1000, 2000).
			append1(journal.Event{T: 500, Type: journal.DNSQuery, Addr: "127.0.0.11:1", Name: "dynamodb.us-east-1.amazonaws.com.", QType: "A", Answers: journal.Int(2)}).
			append1(journal.Event{T: 1500, Type: journal.DNSQuery, Addr: "127.0.0.11:1", Name: "dynamodb.us-east-1.amazonaws.com.", QType: "A", Answers: journal.Int(1)}), "c", true},
		// DNS faults: only answers the fault changed.
		{"dns: an unchanged answer", app.fault("f1", "dns.ttl", "x.", 1000, f(2000)).dns("127.0.99.54:1", "", 1500).reqs("orders", 0, idle), "orders", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := reachedOf(t, c.events, c.client); got != c.reached {
				t.Errorf("reached = %v, want %v", got, c.reached)
			}
		})
	}
}

func (e j) append1(ev journal.Event) j { return append(append(j{}, e...), ev) }

// An old journal's faults carry no reach: the kind's family says it.
func TestReachOfOldJournals(t *testing.T) {
	for kind, want := range map[string]string{"dns.empty": ReachDNS, "dns.plan-race": ReachDNSEmpty, "hc.flap": ReachHealth,
		"nlb.node-down": ReachNode, "link.down": ReachRegion} {
		if got := Faults(j{}.fault("f1", kind, "x", 0, nil))[0].Reach; got != want {
			t.Errorf("%s: reach %q, want %q", kind, got, want)
		}
	}
}
