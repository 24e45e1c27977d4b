package engine

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"

	"github.com/faultline-dev/faultline/experiments/clients"
	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/experiments/spec"
	"github.com/faultline-dev/faultline/targets/dnsrelay"
	"github.com/faultline-dev/faultline/targets/nlb"
	"github.com/faultline-dev/faultline/targets/topology"
)

// App is an application's identity: what lets the journal tell its DNS
// queries, connections and requests from every other client's.
//
//   - DNS: a relay of its own on port 53 of an address no other run holds
//     (127.53.x.y, the first free one), forwarding from a source address of
//     its own (127.54.x.y): the DNS server journals the app's queries from
//     that source, which is its client.start address.
//   - Connections: the relay rewrites this world's node addresses in A
//     answers to the app's aliases, 127.(64+set).(region+1).(node+1), on
//     which the nodes also listen; a node reports the address a connection
//     arrived on, so the alias names the app.
type App struct {
	Name   string
	Set    int    // its alias set
	DNS    string // its relay's address (port 53): the app's one nameserver
	Source string // the source address of the relay's queries
}

type app struct {
	App
	relay  *dnsrelay.Relay
	served func()
}

type clientState struct {
	addMu     sync.Mutex // one AddApp at a time: relays take addresses in order
	nextRelay int        // the next relay address to try

	amu        sync.RWMutex
	reference  map[string]string // source IP → reference client
	apps       []*app            // by alias set
	refused    *refusals         // the applications' attempts at a down node, when watched
	watchTried bool
}

func (s *clientState) init() { s.reference = map[string]string{} }

// ReferenceIP is the source address reference client i (from 0) dials and
// queries from, 127.0.0.(11+i): how the journal tells whose queries a fault
// shaped and whose connections a node carried.
func ReferenceIP(i int) string { return fmt.Sprintf("127.0.0.%d", 11+i) }

// AddClient names the reference client whose DNS queries and connections
// come from sourceIP: the Engine then journals its connections (conn.*) under
// its name.
func (e *Engine) AddClient(name, sourceIP string) {
	e.amu.Lock()
	e.reference[sourceIP] = name
	e.amu.Unlock()
	// With a real resolver in front, its process for this client starts
	// now rather than at the client's first query. A failure is its first
	// query's SERVFAIL too; here it is said.
	if err := e.world.PrepareClient(sourceIP); err != nil {
		e.log("client %s: its resolver did not start: %v", name, err)
	}
}

// clientSource says whether a DNS query came from a client of the run: a
// registered client's address (a reference client's 127.0.0.11 and up, a
// test's) or an application's relay (127.54.x.y). Everyone else's queries
// are only counted (dns.other), so a flood cannot grow the journal.
func (e *Engine) clientSource(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if strings.HasPrefix(host, "127.54.") {
		return true
	}
	e.amu.Lock()
	defer e.amu.Unlock()
	_, ok := e.reference[host]
	return ok
}

// Relays: up to relayTries addresses are tried on 127.53.0.0/16.
const relayTries = 256

func relayAddr(k int) string { return fmt.Sprintf("127.53.%d.%d:53", k/250, k%250+1) }

// relaySource is the source of a relay's queries: 127.54.x.y for
// 127.53.x.y, unique while the relay holds its address.
func relaySource(addr string) string {
	host, _, _ := net.SplitHostPort(addr)
	return "127.54." + strings.TrimPrefix(host, "127.53.")
}

// AddApp gives an application its identity: the next alias set (of the
// Config.Apps reserved) and a DNS relay of its own, started on the first
// free address. From then on the Engine journals its connections under its
// name and its server-side view, NAME.server. served, when set, is called
// after every request of that view a node carried (how a driver learns that
// the app is up); it must not block.
func (e *Engine) AddApp(name string, served func()) (App, error) {
	e.addMu.Lock()
	defer e.addMu.Unlock()
	e.amu.RLock()
	set := len(e.apps)
	e.amu.RUnlock()
	if set >= e.cfg.Apps {
		return App{}, fmt.Errorf("client %s: all %d application identities (Config.Apps) are taken", name, e.cfg.Apps)
	}
	var addrs []string
	for k := e.nextRelay; k < relayTries; k++ {
		addrs = append(addrs, relayAddr(k))
	}
	relay, err := dnsrelay.StartFirstFree(dnsrelay.Config{Upstream: e.world.ClientDNSAddr(), Rewrite: e.world.NodeAliases(set)},
		addrs, relaySource)
	if err != nil {
		return App{}, fmt.Errorf("DNS for client %s: %w", name, err)
	}
	e.nextRelay += slices.Index(addrs, relay.Addr()) + 1
	a := &app{App: App{Name: name, Set: set, Source: relaySource(relay.Addr())}, relay: relay, served: served}
	a.DNS, _, _ = net.SplitHostPort(relay.Addr())
	e.amu.Lock()
	e.apps = append(e.apps, a)
	e.amu.Unlock()
	e.log("client %s: DNS on %s:53 (its queries reach the server from %s), the nodes at its aliases 127.%d.*.*", name, a.DNS, a.Source, 64+set)
	if err := e.world.PrepareClient(a.Source); err != nil {
		e.log("client %s: its resolver did not start: %v", name, err)
	}
	return a.App, nil
}

// closeClients stops the applications' relays and the refusal watch.
func (e *Engine) closeClients() {
	e.amu.RLock()
	apps, rf := e.apps, e.refused
	e.amu.RUnlock()
	for _, a := range apps {
		a.relay.Close()
	}
	if rf != nil {
		rf.w.Close()
	}
}

// appOfConn is the application a node's connection belongs to: the one
// whose alias it arrived at. With a single application, a connection from
// an address that is no reference client's is that application's too (it
// dialled a node's own address).
func (e *Engine) appOfConn(local, remote string) *app {
	e.amu.RLock()
	defer e.amu.RUnlock()
	// Not the world's AliasSet: events may come while it is being built.
	if set, _, _, ok := topology.ParseAlias(local); ok && set < len(e.apps) {
		return e.apps[set]
	}
	if len(e.apps) == 1 && e.reference[hostOf(remote)] == "" {
		return e.apps[0]
	}
	return nil
}

// clientOfConn names the client of a node's connection: a reference client
// by its source address, an application by the alias it arrived at; "" when
// neither tells.
func (e *Engine) clientOfConn(local, remote string) string {
	e.amu.RLock()
	name := e.reference[hostOf(remote)]
	e.amu.RUnlock()
	if name != "" {
		return name
	}
	if a := e.appOfConn(local, remote); a != nil {
		return a.Name
	}
	return ""
}

func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// serverSideHTTP journals an HTTP exchange an NLB node carried for an
// application as a request of its server-side view, "NAME.server".
func (e *Engine) serverSideHTTP(n nlb.Event) {
	a := e.appOfConn(n.Local, n.Client)
	if a == nil {
		return
	}
	ev := journal.Event{T: e.j.Since(n.Started), Type: journal.Request, Client: a.Name + spec.ServerView, Region: n.Region, Op: n.Op,
		LatencyMS: float64(n.Time.Sub(n.Started).Microseconds()) / 1000, OK: journal.Bool(n.OK), Addr: n.Client}
	if !n.OK {
		ev.Error, ev.Detail = clients.ClassifyText(n.Detail), n.Detail
		if ev.Error == clients.ClassOther {
			ev.Error = clients.ClassHTTP5xx
		}
	}
	e.Record(ev)
	if a.served != nil {
		a.served()
	}
}

// serverSideConnFailed journals a connection a node accepted for an
// application but could not carry to a target (the data link down, the
// target refusing, resetting or not answering, no target at all) as a
// failed request of its server-side view: the request in it never reached
// a backend. A failed TLS handshake is not counted: the node cannot tell a
// client that hung up from one that refused the certificate.
func (e *Engine) serverSideConnFailed(n nlb.Event) {
	a := e.appOfConn(n.Local, n.Client)
	if a == nil || strings.HasPrefix(n.Detail, "TLS handshake") {
		return
	}
	class := clients.ClassifyText(n.Detail)
	if class == clients.ClassOther {
		class = clients.ClassReset // what the client then sees of it
	}
	started := n.Started
	if started.IsZero() {
		started = n.Time
	}
	e.Record(journal.Event{T: e.j.Since(started), Type: journal.Request, Client: a.Name + spec.ServerView, Region: n.Region, Op: "connection",
		LatencyMS: float64(n.Time.Sub(started).Microseconds()) / 1000, OK: journal.Bool(false), Error: class, Addr: n.Client,
		Detail: fmt.Sprintf("node %s could not carry the connection to a target: %s", n.Node, n.Detail)})
}

// serverSideDNS journals, for an application's server-side view, an answer
// a fault shaped for its queries (from its relay's source) as a failed
// request: the one failure the server side can see of a client that never
// reaches a node.
func (e *Engine) serverSideDNS(q journal.Event) {
	if q.Fault == "" {
		return
	}
	a := e.appBySource(hostOf(q.Addr))
	if a == nil || (q.QType != "A" && q.QType != "AAAA") {
		return
	}
	class := ""
	switch {
	case q.Rcode == "NXDOMAIN", q.Rcode == "NOERROR" && q.Answers != nil && *q.Answers == 0:
		class = clients.ClassDNSNotFound
	case q.Rcode == "SERVFAIL", q.Rcode == "REFUSED":
		class = clients.ClassDNSServFail
	case q.Rcode == "DROPPED":
		class = clients.ClassDNSTimeout
	default:
		return
	}
	if q.QType == "AAAA" && class == clients.ClassDNSNotFound {
		return // no AAAA records exist anyway: the A answer says it
	}
	e.Record(journal.Event{T: q.T, Type: journal.Request, Client: a.Name + spec.ServerView, Region: e.regionOf(q.Name), Op: "dns " + q.QType,
		OK: journal.Bool(false), Error: class, Detail: fmt.Sprintf("%s %s answered %s by fault %s", q.Name, q.QType, q.Rcode, q.Fault)})
}

// appBySource is the application whose relay sends from ip.
func (e *Engine) appBySource(ip string) *app {
	e.amu.RLock()
	defer e.amu.RUnlock()
	for _, a := range e.apps {
		if a.Source == ip {
			return a
		}
	}
	return nil
}

// regionOf is the region whose endpoint is name.
func (e *Engine) regionOf(name string) string {
	for _, r := range e.cfg.Topology.Regions {
		if r.Endpoint == name {
			return r.Name
		}
	}
	return ""
}
