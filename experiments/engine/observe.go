package engine

import (
	"fmt"
	"strings"

	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/targets/dnsauto"
	"github.com/faultline-dev/faultline/targets/dnscache"
	"github.com/faultline-dev/faultline/targets/dnsstub"
	"github.com/faultline-dev/faultline/targets/dynamodb/replica"
	"github.com/faultline-dev/faultline/targets/nlb"
)

// The world's adapters to the journal, installed by Open for every driver.

// onDNS journals the authoritative server's answers.
func (e *Engine) onDNS(q dnsstub.QueryEvent) {
	if !e.clientSource(q.Client) {
		e.other.count(e.j.Since(q.Time), q.Rcode, q.Answers)
		return
	}
	ev := journal.Event{T: e.j.Since(q.Time), Type: journal.DNSQuery, Addr: q.Client, Proto: q.Proto,
		Name: q.Name, QType: q.Type, Rcode: q.Rcode, Answers: journal.Int(q.Answers), Fault: q.Fault}
	e.Record(ev)
	e.serverSideDNS(ev)
}

// onResolver journals the caching resolver's answers to clients: the client
// address is the client's, and the fault is the one that shaped the cached
// upstream answer, so dns_queries_in_fault counts answers served from cache.
func (e *Engine) onResolver(r dnscache.Event) {
	if !e.clientSource(r.Client) {
		e.other.count(e.j.Since(r.Time), r.Rcode, r.Answers)
		return
	}
	ev := journal.Event{T: e.j.Since(r.Time), Type: journal.DNSQuery, Addr: r.Client, Proto: r.Proto,
		Name: r.Name, QType: r.Type, Rcode: r.Rcode, Answers: journal.Int(r.Answers), Fault: r.Fault, Detail: "resolver:" + r.Cache}
	e.Record(ev)
	e.serverSideDNS(ev)
}

// onAutomation journals each step of the DNS automation (plan, pick, apply,
// cleanup, emptied, stuck, repair).
func (e *Engine) onAutomation(name string, a dnsauto.Event) {
	e.Record(journal.Event{T: e.j.Since(a.Time), Type: journal.DNSAutomation, Name: name, Node: a.Actor, Status: a.Step,
		Detail: fmt.Sprintf("plan %d, in effect %d. %s", a.Plan, a.Applied, a.Detail)})
}

// onNLB journals the load balancers' events: health checks, target states,
// connections (named by their client), nodes going down and up, and the
// HTTP exchanges a node carried for an application (its server-side view).
func (e *Engine) onNLB(n nlb.Event) {
	if n.Kind == "http.request" {
		e.serverSideHTTP(n)
		return
	}
	ev := journal.Event{T: e.j.Since(n.Time), Type: n.Kind, Region: n.Region, Node: n.Node, Target: n.Target,
		From: n.From, To: n.To, Detail: n.Detail}
	switch n.Kind {
	case "hc.result":
		ev.OK = journal.Bool(n.OK)
		ev.LagMS = float64(n.Lag.Microseconds()) / 1000
		if n.Discarded {
			ev.Status = journal.HCDiscarded // a late check: not counted towards the target's health
		}
	case journal.ConnAccepted, journal.ConnClosed, journal.ConnFailed, journal.ConnExpired:
		if FleetSource(n.Client) {
			return // a fleet's connections are its fleet.load, not one event each
		}
		// Whose connection: a reference client by its source address, an
		// application by the alias it arrived at.
		ev.Client, ev.Addr = e.clientOfConn(n.Local, n.Client), n.Client
	}
	e.Record(ev)
	switch n.Kind {
	case journal.ConnFailed:
		e.serverSideConnFailed(n)
	case "node.down", "node.up":
		e.refusals().nodeDown(n, n.Kind == "node.up")
	}
}

// onReplica journals the global table's replication: every write a
// region acknowledged (ddb.write), every write replicated to another region
// (ddb.replicated: applied, superseded or dropped, with when its source
// acknowledged it) and every change of a path (ddb.replication).
func (e *Engine) onReplica(r replica.Event) {
	ev := journal.Event{T: e.j.Since(r.Time), Region: r.Region, To: r.To, Name: r.Table, Item: r.Item, ItemVersion: r.Version,
		Op: r.Op, Status: r.Status, Fault: r.Fault, Detail: r.Detail}
	switch r.Kind {
	case replica.KindWrite:
		ev.Type, ev.Status = journal.DDBWrite, ""
	case replica.KindReplicated:
		ev.Type = journal.DDBReplicated
		if !r.Written.IsZero() {
			w := e.j.Since(r.Written)
			ev.WrittenMS = &w
		}
	case replica.KindReplication:
		ev.Type = journal.DDBReplication
	default:
		return
	}
	e.Record(ev)
}

// onPublish journals a DNS publication of an endpoint's records.
func (e *Engine) onPublish(name string, values []string) {
	e.Record(journal.Event{Type: journal.DNSPublish, Name: name, QType: "A", Detail: strings.Join(values, ",")})
}
