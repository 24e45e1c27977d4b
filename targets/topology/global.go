package topology

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/faultline-dev/faultline/targets/dynamodb/embedded"
	"github.com/faultline-dev/faultline/targets/dynamodb/replica"
)

// replicate starts the global table's replicator once every region is up
// and seeded (the seeding is every region's own, not replicated). It
// reaches each region as a client does: the endpoint's name, resolved by
// the world's DNS (through the clients' resolver, when there is one), the
// NLB's nodes and its data links; so DNS, load-balancer and link faults on
// a region delay the replication to and from it.
func (w *World) replicate() error {
	var peers []replica.Peer
	for _, name := range w.order {
		url, err := w.EndpointURL(name)
		if err != nil {
			return err
		}
		peers = append(peers, replica.Peer{Region: name, Endpoint: url, Client: w.replicaClient()})
	}
	rep, err := replica.New(replica.Config{Peers: peers, Lag: w.cfg.Global.Lag, Jitter: w.cfg.Global.Jitter,
		Backlog: w.cfg.Global.Backlog, Seed: w.cfg.Seed, Observer: w.cfg.ReplicaObserver})
	if err != nil {
		return err
	}
	w.replicator.Store(rep)
	return nil
}

// replicaClient dials from ReplicatorIP and resolves through the world's
// DNS: the replicator's connections are pooled (as any SDK's), so a DNS
// fault reaches it when the NLB closes them (max_connection_age) or a
// link fault cuts them.
func (w *World) replicaClient() *http.Client {
	dnsAddr := w.ClientDNSAddr()
	resolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, dnsAddr)
	}}
	dialer := &net.Dialer{Timeout: 5 * time.Second, Resolver: resolver, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ReplicatorIP)}}
	return &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext, MaxIdleConnsPerHost: 16,
		IdleConnTimeout: 90 * time.Second}}
}

// written hands an embedded backend's write to the replicator (none before
// Build has seeded every region).
func (w *World) written(e embedded.Write) {
	rep := w.replicator.Load()
	if rep == nil {
		return
	}
	rep.Written(replica.Write{Region: e.Region, Table: e.Table, ID: e.ID, Key: e.Key, Item: e.Item, Version: e.Version, Op: e.Op, At: e.At})
}

// ErrNoReplication: the world's tables are not global.
var ErrNoReplication = errors.New("the tables are not global (topology.table.global)")

// Replicated reports whether the regions' tables are one global table.
func (w *World) Replicated() bool { return w.replicator.Load() != nil }

// Replicator is the global table's replicator, nil when there is none.
func (w *World) Replicator() *replica.Replicator { return w.replicator.Load() }

// PauseReplication pauses the replication into (in), out of (out) or both
// of a region; undo resumes it. fault names who did it in the events.
func (w *World) PauseReplication(region, direction, fault string) (func() error, error) {
	rep := w.replicator.Load()
	if rep == nil {
		return nil, ErrNoReplication
	}
	resume, err := rep.Pause(region, direction, fault)
	if err != nil {
		return nil, err
	}
	return func() error { resume(); return nil }, nil
}

// LagReplication adds lag ± jitter to the replication into, out of or both
// of a region; undo removes it.
func (w *World) LagReplication(region, direction string, lag, jitter time.Duration, fault string) (func() error, error) {
	rep := w.replicator.Load()
	if rep == nil {
		return nil, ErrNoReplication
	}
	remove, err := rep.AddLag(region, direction, lag, jitter, fault)
	if err != nil {
		return nil, err
	}
	return func() error { remove(); return nil }, nil
}
