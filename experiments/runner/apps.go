package runner

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/faultline-dev/faultline/experiments/appclient"
	"github.com/faultline-dev/faultline/experiments/clients"
	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/experiments/spec"
	"github.com/faultline-dev/faultline/targets/dnsrelay"
	"github.com/faultline-dev/faultline/targets/nlb"
	"github.com/faultline-dev/faultline/targets/topology"
)

// An application's identity: what lets the journal tell its DNS queries,
// connections and requests from every other client's.
//
//   - DNS: a relay of its own on port 53 of an address no other run holds
//     (127.53.x.y, the first free one), forwarding from a source address of
//     its own (127.54.x.y): the DNS server journals the app's queries from
//     that source, which is its client.start address.
//   - Connections: the relay rewrites this world's node addresses in A
//     answers to the app's aliases, 127.(64+set).(region+1).(node+1), on
//     which the nodes also listen; a node reports the address a connection
//     arrived on, so the alias names the app.
type appIdentity struct {
	name   string
	set    int // its alias set
	health *spec.Health

	relay       *dnsrelay.Relay
	dns, source string // the relay's address (port 53) and its queries' source
	resolv      string // a command's /etc/resolv.conf

	tail *appclient.Tail

	readyOnce sync.Once
	ready     chan struct{}
	lastProbe string // the last failed probe before the first success, for the not-ready reason; guarded by run.mu
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

// planApps, before the world is built: an identity per application, an
// alias set per application, and the nodes told to report the HTTP
// exchanges they carry.
func (r *run) planApps(cfg *topology.Config) {
	r.referenceIPs = map[string]string{}
	r.appByName = map[string]*appIdentity{}
	for i, c := range r.exp.Clients {
		if !c.App() {
			r.referenceIPs[clientSourceIP(i)] = c.Name
			continue
		}
		id := &appIdentity{name: c.Name, set: len(r.apps), health: c.Health, tail: appclient.NewTail(5), ready: make(chan struct{})}
		r.apps = append(r.apps, id)
		r.appByName[c.Name] = id
	}
	cfg.AliasSets = len(r.apps)
	cfg.ObserveHTTP = len(r.apps) > 0
}

// startRelays starts each application's relay, on the first free address.
func (r *run) startRelays() error {
	next := 0 // the next address to try: the run's relays take them in order
	for _, id := range r.apps {
		var addrs []string
		for k := next; k < relayTries; k++ {
			addrs = append(addrs, relayAddr(k))
		}
		relay, err := dnsrelay.StartFirstFree(dnsrelay.Config{Upstream: r.world.ClientDNSAddr(), Rewrite: r.world.NodeAliases(id.set)},
			addrs, relaySource)
		if err != nil {
			return fmt.Errorf("DNS for client %s: %w", id.name, err)
		}
		next += slices.Index(addrs, relay.Addr()) + 1
		id.relay = relay
		id.dns, _, _ = net.SplitHostPort(relay.Addr())
		id.source = relaySource(relay.Addr())
		if r.tmpDir != "" {
			id.resolv = filepath.Join(r.tmpDir, id.name+".resolv.conf")
			text := fmt.Sprintf("# faultline: client %s resolves through its own relay\nnameserver %s\noptions timeout:2 attempts:2\n", id.name, id.dns)
			if err := os.WriteFile(id.resolv, []byte(text), 0o644); err != nil {
				return err
			}
		}
		r.say("client %s: DNS on %s:53 (its queries reach the server from %s), the nodes at its aliases 127.%d.*.*", id.name, id.dns, id.source, 64+id.set)
	}
	return nil
}

// closeRelays stops the applications' relays.
func (r *run) closeRelays() {
	for _, id := range r.apps {
		if id.relay != nil {
			id.relay.Close()
		}
	}
}

// appOfConn is the application a node's connection belongs to: the one
// whose alias it arrived at. With a single application, a connection from
// an address that is no reference client's is that application's too (it
// dialled a node's own address).
func (r *run) appOfConn(local, remote string) *appIdentity {
	// Not the world's AliasSet: events may come while it is being built.
	if set, _, _, ok := topology.ParseAlias(local); ok && set < len(r.apps) {
		return r.apps[set]
	}
	if len(r.apps) == 1 && r.referenceIPs[hostOf(remote)] == "" {
		return r.apps[0]
	}
	return nil
}

// clientOfConn names the client of a node's connection: a reference client
// by its source address, an application by the alias it arrived at; "" when
// neither tells.
func (r *run) clientOfConn(local, remote string) string {
	if name := r.referenceIPs[hostOf(remote)]; name != "" {
		return name
	}
	if id := r.appOfConn(local, remote); id != nil {
		return id.name
	}
	return ""
}

func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// appRecord journals an application's events and notes it ready at its
// first request event (how says which view showed it).
func (r *run) appRecord(id *appIdentity, how string) func(journal.Event) {
	return func(e journal.Event) {
		r.j.Add(e)
		if e.Type == journal.Request {
			r.markReady(id, how)
		}
	}
}

// markReady notes an application ready, once.
func (r *run) markReady(id *appIdentity, how string) {
	id.readyOnce.Do(func() {
		r.j.Add(journal.Event{Type: journal.ClientReady, Client: id.name, Detail: how})
		r.say("client %s is ready (%s)", id.name, how)
		close(id.ready)
	})
}

// Readiness signals (journal.ClientReady's Detail).
const (
	readyHealth  = "health"
	readyLine    = "first outcome line"
	readyRequest = "first request at a node"
)

// waitReady waits until every application is ready: its health URL
// answered 2xx, its first outcome line was accepted, or a node carried its
// first request. It returns a client's error (an app that exited), or nil:
// then r.notReady says why the run is invalid, if it is.
func (r *run) waitReady(ctx context.Context, clientErrs <-chan error) error {
	if len(r.apps) == 0 {
		return nil
	}
	bound := r.exp.ReadyTimeout
	if bound <= 0 {
		bound = spec.DefaultReadyTimeout
	}
	r.setPhase("waiting for applications")
	r.j.Add(journal.Event{Type: journal.Phase, Detail: "ready"})
	r.say("waiting for %d applications to be ready (at most %s)", len(r.apps), bound)
	timer := time.NewTimer(bound)
	defer timer.Stop()
	for _, id := range r.apps {
		select {
		case <-id.ready:
		case <-ctx.Done():
			return nil // the caller reports the interruption
		case err := <-clientErrs:
			return err
		case <-timer.C:
			r.notReady = r.notReadyReason(bound)
			return nil
		}
	}
	return nil
}

// notReadyReason names every application that is not ready, what was
// missing, and quotes its last lines; each gets a client.ready "timeout".
func (r *run) notReadyReason(bound time.Duration) string {
	var parts []string
	for _, id := range r.apps {
		select {
		case <-id.ready:
			continue
		default:
		}
		var missing []string
		if id.health != nil {
			r.mu.Lock()
			last := id.lastProbe
			r.mu.Unlock()
			if last == "" {
				last = "no probe ended"
			}
			missing = append(missing, fmt.Sprintf("its health URL %s never answered 2xx (last: %s)", id.health.URL, last))
		}
		missing = append(missing, "no outcome line was accepted", "no request reached a node")
		why := fmt.Sprintf("client %s was not ready within %s: %s; its last lines: %s", id.name, bound, strings.Join(missing, ", "), id.tail.Last(2))
		r.j.Add(journal.Event{Type: journal.ClientReady, Client: id.name, Status: "timeout", Detail: why})
		parts = append(parts, why)
	}
	return strings.Join(parts, "; ")
}

// serverSideHTTP journals an HTTP exchange an NLB node carried for an
// application as a request of its server-side view, "NAME.server".
func (r *run) serverSideHTTP(e nlb.Event) {
	id := r.appOfConn(e.Local, e.Client)
	if id == nil {
		return
	}
	ev := journal.Event{T: r.j.Since(e.Started), Type: journal.Request, Client: id.name + spec.ServerView, Region: e.Region, Op: e.Op,
		LatencyMS: float64(e.Time.Sub(e.Started).Microseconds()) / 1000, OK: journal.Bool(e.OK), Addr: e.Client}
	if !e.OK {
		ev.Error, ev.Detail = clients.ClassifyText(e.Detail), e.Detail
		if ev.Error == clients.ClassOther {
			ev.Error = clients.ClassHTTP5xx
		}
	}
	r.j.Add(ev)
	r.markReady(id, readyRequest)
}

// serverSideConnFailed journals a connection a node accepted for an
// application but could not carry to a target (the data link down, the
// target refusing, resetting or not answering, no target at all) as a
// failed request of its server-side view: the request in it never reached
// a backend. A failed TLS handshake is not counted: the node cannot tell a
// client that hung up from one that refused the certificate.
func (r *run) serverSideConnFailed(e nlb.Event) {
	id := r.appOfConn(e.Local, e.Client)
	if id == nil || strings.HasPrefix(e.Detail, "TLS handshake") {
		return
	}
	class := clients.ClassifyText(e.Detail)
	if class == clients.ClassOther {
		class = clients.ClassReset // what the client then sees of it
	}
	started := e.Started
	if started.IsZero() {
		started = e.Time
	}
	r.j.Add(journal.Event{T: r.j.Since(started), Type: journal.Request, Client: id.name + spec.ServerView, Region: e.Region, Op: "connection",
		LatencyMS: float64(e.Time.Sub(started).Microseconds()) / 1000, OK: journal.Bool(false), Error: class, Addr: e.Client,
		Detail: fmt.Sprintf("node %s could not carry the connection to a target: %s", e.Node, e.Detail)})
}

// serverSideDNS journals, for an application's server-side view, an answer
// a fault shaped for its queries (from its relay's source) as a failed
// request: the one failure the server side can see of a client that never
// reaches a node.
func (r *run) serverSideDNS(e journal.Event) {
	if e.Fault == "" || len(r.apps) == 0 {
		return
	}
	id := r.appBySource(hostOf(e.Addr))
	if id == nil || (e.QType != "A" && e.QType != "AAAA") {
		return
	}
	class := ""
	switch {
	case e.Rcode == "NXDOMAIN", e.Rcode == "NOERROR" && e.Answers != nil && *e.Answers == 0:
		class = clients.ClassDNSNotFound
	case e.Rcode == "SERVFAIL", e.Rcode == "REFUSED":
		class = clients.ClassDNSServFail
	case e.Rcode == "DROPPED":
		class = clients.ClassDNSTimeout
	default:
		return
	}
	if e.QType == "AAAA" && class == clients.ClassDNSNotFound {
		return // no AAAA records exist anyway: the A answer says it
	}
	r.j.Add(journal.Event{T: e.T, Type: journal.Request, Client: id.name + spec.ServerView, Region: r.regionOf(e.Name), Op: "dns " + e.QType,
		OK: journal.Bool(false), Error: class, Detail: fmt.Sprintf("%s %s answered %s by fault %s", e.Name, e.QType, e.Rcode, e.Fault)})
}

// appBySource is the application whose relay sends from ip.
func (r *run) appBySource(ip string) *appIdentity {
	for _, id := range r.apps {
		if id.source == ip {
			return id
		}
	}
	return nil
}

// regionOf is the region whose endpoint is name.
func (r *run) regionOf(name string) string {
	for _, reg := range r.exp.Topology.Regions {
		if r.exp.Topology.EndpointName(reg.Name) == name {
			return reg.Name
		}
	}
	return ""
}

// views are the names of every client's measurements, in client order.
func (r *run) views() []string {
	var out []string
	for _, c := range r.exp.Clients {
		out = append(out, c.Views()...)
	}
	return out
}
