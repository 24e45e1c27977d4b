package topology

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/faultline-dev/faultline/targets/dynamodb/mrsc"
)

// A strongly consistent global table (Config.Strong): the three regions'
// backends are the replicas of one MRSC global table (targets/dynamodb/mrsc).
// A replica reaches another the way a client does: it resolves the other
// region's endpoint name at faultline's DNS server and connects to its NLB,
// whose data links lead to the backend. So whatever cuts clients off a
// region (an empty or failing DNS record, its links down, its nodes down)
// cuts the other replicas off it too, and, because a replica accepts a peer
// only after reaching it back, cuts it off them: its writes and strongly
// consistent reads fail. Replication connections are not kept alive, so a
// DNS fault reaches the next request, and leave from an address of their
// own per region (ReplicaIP), so the journal tells them from clients'.

// ReplicaIP is the source address of region i's replica's connections.
func ReplicaIP(i int) string { return fmt.Sprintf("127.0.0.%d", 3+i) }

// strongPeerTimeout bounds one replica's round trip to another.
const strongPeerTimeout = time.Second

// prepareStrong makes the global table's group before the backends start.
func (w *World) prepareStrong() error {
	if !w.cfg.Strong {
		return nil
	}
	var names []string
	for _, r := range w.cfg.Regions {
		if r.Container != nil {
			return fmt.Errorf("topology: region %s: strong consistency runs on the embedded backend", r.Name)
		}
		names = append(names, r.Name)
	}
	clients := map[string]*http.Client{}
	for i, name := range names {
		clients[name] = w.strongPeerClient(i)
	}
	g, err := mrsc.New(mrsc.Config{
		Regions: names,
		Witness: w.cfg.StrongWitness,
		Timeout: strongPeerTimeout,
		Peer: func(from, to string) (string, *http.Client, error) {
			url, err := w.EndpointURL(to)
			if err != nil {
				return "", nil, err
			}
			return url, clients[from], nil
		},
		Observer: w.cfg.StrongObserver,
	})
	if err != nil {
		return fmt.Errorf("topology: %w", err)
	}
	w.strong = g
	return nil
}

// strongPeerClient is how region i's replica reaches the others: names looked
// up at faultline's DNS server on every request, connections from
// ReplicaIP(i), never kept.
func (w *World) strongPeerClient(i int) *http.Client {
	resolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, w.dns.Addr())
	}}
	dialer := &net.Dialer{Timeout: strongPeerTimeout, Resolver: resolver,
		LocalAddr: &net.TCPAddr{IP: net.ParseIP(ReplicaIP(i))}}
	return &http.Client{Timeout: strongPeerTimeout, Transport: &http.Transport{
		DialContext: dialer.DialContext, DisableKeepAlives: true, Proxy: nil,
	}}
}

// strongHandler is the option that puts region's replica in front of its
// backend (nil without a strongly consistent table).
func (w *World) strongHandler(region string) func(http.Handler) http.Handler {
	if w.strong == nil {
		return nil
	}
	return func(next http.Handler) http.Handler {
		h, err := w.strong.Handler(region, next)
		if err != nil {
			return next // prepareStrong named every region: cannot happen
		}
		return h
	}
}

// startStrong turns replication on once every region is built and seeded.
func (w *World) startStrong() error {
	if w.strong == nil {
		return nil
	}
	return w.strong.Start()
}

// Strong is the strongly consistent global table, when the world has one.
func (w *World) Strong() (*mrsc.Group, bool) { return w.strong, w.strong != nil }
