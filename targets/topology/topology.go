// Package topology builds the small world an experiment runs in: per region a
// DynamoDB backend (embedded, or DynamoDB Local in a container), an NLB whose targets reach it through links, and
// one DNS server authoritative for the regions' endpoint names, which resolve
// to each region's NLB node addresses. It knows nothing about experiments or
// faults: the runner translates a spec into a Config, and the Engine
// (experiments/engine) builds it and adapts it for the fault catalogue.
package topology

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/miekg/dns"

	"github.com/faultline-dev/faultline/targets/dnsauto"
	"github.com/faultline-dev/faultline/targets/dnscache"
	"github.com/faultline-dev/faultline/targets/dnsexec"
	"github.com/faultline-dev/faultline/targets/dnsstub"
	"github.com/faultline-dev/faultline/targets/dynamodb"
	"github.com/faultline-dev/faultline/targets/dynamodb/capacity"
	"github.com/faultline-dev/faultline/targets/dynamodb/container"
	"github.com/faultline-dev/faultline/targets/dynamodb/embedded"
	"github.com/faultline-dev/faultline/targets/dynamodb/mrsc"
	"github.com/faultline-dev/faultline/targets/dynamodb/replica"
	"github.com/faultline-dev/faultline/targets/links"
	"github.com/faultline-dev/faultline/targets/nlb"
)

// Config describes the world.
type Config struct {
	Zone        string        // "amazonaws.com."
	RecordTTL   time.Duration // TTL of the endpoint A records
	NegativeTTL time.Duration // SOA TTL and MINIMUM
	Regions     []Region
	Table       string // seeded in every region's backend
	RunID       string // labels the containers a run starts

	// NodePort, when set, is every NLB node's plain port (80 in the
	// sandbox); 0 lets the first node pick one the others share.
	NodePort int
	// TLS, when set, makes every node also terminate TLS on TLSPort (443
	// in the sandbox) with these certificates.
	TLS     *tls.Config
	TLSPort int
	// ObserveHTTP makes every node report the HTTP exchanges it carries
	// (NLBObserver's "http.request"), on its plain port too.
	ObserveHTTP bool
	Items       int
	Seed        int64 // for faults that draw random numbers

	// AliasSets gives every NLB node that many aliases, one per set (see
	// AliasIP): a caller that points each client at a set of its own (by
	// rewriting DNS answers, see NodeAliases) tells the clients apart by
	// the address their connections arrive at. At most MaxAliasSets.
	AliasSets int

	// Resolver, when set, puts a caching resolver between the clients and
	// the authoritative server.
	Resolver         *dnscache.Preset
	ResolverObserver func(dnscache.Event)
	// ResolverExec, instead of Resolver, runs a real resolver ("unbound",
	// "dnsmasq", "coredns"; targets/dnsexec) between the clients and the
	// server: one process per client source address, behind one front
	// address. ResolverClient says which sources are clients (others share
	// one process); nil: every source is.
	ResolverExec   string
	ResolverClient func(ip string) bool

	// Automation, when set, publishes every endpoint's records through a
	// model of DynamoDB's DNS automation instead of directly.
	Automation         *dnsauto.Config
	AutomationObserver func(name string, e dnsauto.Event)

	// Strong makes the regions' tables one global table in multi-Region
	// strong consistency (strong.go): exactly three regions, embedded
	// backends. StrongObserver sees its writes and replications.
	// StrongWitness, when set, makes that region's replica the table's
	// witness (two replicas and a witness).
	Strong         bool
	StrongWitness  string
	StrongObserver func(mrsc.Event)
	// Global, when set, makes every region's table a replica of one
	// global table (targets/dynamodb/replica); ReplicaObserver sees its
	// writes, replications and path changes.
	Global          *Global
	ReplicaObserver func(replica.Event)

	// CapacityObserver sees, each second, the load of every region with a
	// capacity (Region.Capacity).
	CapacityObserver func(region string, s capacity.Second)

	DNSObserver     func(dnsstub.QueryEvent)
	NLBObserver     func(nlb.Event)
	PublishObserver func(name string, values []string)
}

// Global is a global table's replication.
type Global struct {
	Lag, Jitter time.Duration
	// Backlog bounds each path's queue (0: replica.DefaultBacklog).
	Backlog int
}

// ReplicatorIP is the source address the replicator's connections come
// from: no client's.
const ReplicatorIP = "127.0.0.6" // after the strong table's replicas (ReplicaIP: 127.0.0.3 to .5)

// Region is one region of the world.
type Region struct {
	Name        string
	Endpoint    string // fqdn of its DynamoDB endpoint, e.g. "dynamodb.us-east-1.amazonaws.com."
	Nodes       int
	Targets     int
	HealthCheck nlb.HealthCheck
	CrossZone   bool
	Velocity    *nlb.Velocity
	// KeepConnections turns off the NLB's connection termination.
	KeepConnections bool
	// IdleTimeout and MaxAge are the NLB's connection lifetimes (0: none).
	IdleTimeout, MaxAge time.Duration
	// Container, when set, runs the region's DynamoDB as a container
	// instead of the embedded backend.
	Container *Container
	// Capacity, when set, is the request rate the region's backend serves
	// (targets/dynamodb/capacity): a layer in front of the backend on its
	// targets, the embedded backend's handler or the container's proxies.
	Capacity *capacity.Config
}

// Container is a region's containerised backend.
type Container struct {
	Image string // "" for container.DefaultImage
}

// World is a built topology. Its methods are plain: the fault catalogue's
// view of it is an adapter in experiments/engine.
type World struct {
	cfg      Config
	hub      *links.Hub
	dns      *dnsstub.Server
	resolver *dnscache.Resolver
	pool     *dnsexec.Pool
	poolRef  atomic.Pointer[dnsexec.Pool] // the same, for the server's observer
	regions  map[string]*region
	order    []string
	rng      *rand.Rand
	rngMu    sync.Mutex
	strong   *mrsc.Group // the strongly consistent global table (strong.go)

	replicator atomic.Pointer[replica.Replicator]

	closeOnce sync.Once
	closeErr  error
}

type region struct {
	cfg     Region
	limiter *capacity.Limiter // nil: no capacity
	stopCap chan struct{}
	backend dynamodb.Backend
	lb      *nlb.LB
	auto    *dnsauto.Automation
}

// Build starts everything, in dependency order, and tears down what it had
// started if any step fails.
func Build(ctx context.Context, cfg Config) (_ *World, err error) {
	if len(cfg.Regions) == 0 {
		return nil, errors.New("topology: no regions")
	}
	if len(cfg.Regions) > 90 {
		return nil, errors.New("topology: at most 90 regions (region i takes 127.0.(i+1).0/24 for its nodes and 127.0.(100+i).0/24 for its targets)")
	}
	if cfg.AliasSets < 0 || cfg.AliasSets > MaxAliasSets {
		return nil, fmt.Errorf("topology: %d alias sets; at most %d", cfg.AliasSets, MaxAliasSets)
	}
	w := &World{cfg: cfg, hub: links.NewHub(), regions: map[string]*region{}, rng: rand.New(rand.NewSource(cfg.Seed))}
	defer func() {
		if err != nil {
			w.Close()
		}
	}()
	if cfg.Resolver != nil && cfg.ResolverExec != "" {
		return nil, errors.New("topology: a resolver model (Resolver) or a real resolver (ResolverExec), not both")
	}
	observer := cfg.DNSObserver
	if cfg.ResolverExec != "" {
		// The real resolvers' upstream queries tell the pool which answers
		// came from their caches; the server's observer runs before it
		// answers, so the pool knows before the resolver does.
		observer = func(q dnsstub.QueryEvent) {
			if p := w.poolRef.Load(); p != nil {
				p.Upstream(q)
			}
			if cfg.DNSObserver != nil {
				cfg.DNSObserver(q)
			}
		}
	}
	if w.dns, err = dnsstub.Start(dnsstub.Config{
		Addr:     "127.0.0.1:0",
		Zones:    []dnsstub.Zone{{Origin: cfg.Zone, SOA: soa(cfg)}},
		Observer: observer,
	}); err != nil {
		return nil, fmt.Errorf("dns server: %w", err)
	}
	if err := w.prepareStrong(); err != nil {
		return nil, err
	}
	port := cfg.NodePort // every region's nodes share one port, as every endpoint shares 443
	for i, rc := range cfg.Regions {
		r, err := w.startRegion(ctx, i, rc, port)
		if err != nil {
			return nil, fmt.Errorf("region %s: %w", rc.Name, err)
		}
		port = r.lb.Port()
		w.regions[rc.Name] = r
		w.order = append(w.order, rc.Name)
		if cfg.Automation != nil {
			if err := w.automate(r); err != nil {
				return nil, err
			}
		}
	}
	if err := w.startStrong(); err != nil {
		return nil, err
	}
	if cfg.Global != nil {
		if err := w.replicate(); err != nil {
			return nil, err
		}
	}
	if cfg.Resolver != nil {
		// 127.0.0.2: its own address, so the authoritative server's journal
		// tells the resolver's queries from the clients'.
		if w.resolver, err = dnscache.Start(dnscache.Config{Addr: "127.0.0.2:0", Upstream: w.dns.Addr(),
			Preset: *cfg.Resolver, Observer: cfg.ResolverObserver}); err != nil {
			return nil, fmt.Errorf("resolver: %w", err)
		}
	}
	if cfg.ResolverExec != "" {
		// 127.0.0.2, as the model's; the processes on 127.55.x.y, their
		// queries from 127.56.x.y.
		pool, err := dnsexec.StartPool(ctx, dnsexec.PoolConfig{Kind: cfg.ResolverExec, Addr: "127.0.0.2:0", Upstream: w.dns.Addr(),
			Zone: cfg.Zone, Own: cfg.ResolverClient, Observer: cfg.ResolverObserver})
		if err != nil {
			return nil, fmt.Errorf("resolver: %w", err)
		}
		w.pool = pool
		w.poolRef.Store(pool)
	}
	return w, nil
}

func soa(cfg Config) dnsstub.SOA {
	neg := uint32(cfg.NegativeTTL / time.Second)
	return dnsstub.SOA{Ns: "ns1." + cfg.Zone, Mbox: "hostmaster." + cfg.Zone, Serial: 1,
		Refresh: 7200, Retry: 900, Expire: 1209600, Minimum: neg, TTL: neg}
}

// startRegion starts a region's backend, seeds it, and puts an NLB in front.
// Region i's nodes are 127.0.(i+1).(n+1); its targets are listeners of the
// one backend on 127.0.(100+i).(t+1), so each target is an address of its
// own, as instances are, while sharing one table store.
func (w *World) startRegion(ctx context.Context, i int, rc Region, port int) (*region, error) {
	r := &region{cfg: rc}
	if rc.Capacity != nil {
		c := *rc.Capacity
		c.Region, c.Table = rc.Name, w.cfg.Table
		l, err := capacity.New(c)
		if err != nil {
			return nil, err
		}
		r.limiter = l
	}
	var targets []string
	addrs := make([]string, rc.Targets)
	for t := range addrs {
		addrs[t] = fmt.Sprintf("127.0.%d.%d:0", 100+i, t+1)
	}
	backend, err := w.startBackend(ctx, rc, addrs, r.limiter)
	if err != nil {
		return nil, fmt.Errorf("backend: %w", err)
	}
	r.backend = backend
	targets = backend.Addrs()
	if err := seed(ctx, backend.Endpoint(), rc.Name, w.cfg.Table, w.cfg.Items); err != nil {
		backend.Terminate(context.Background())
		return nil, fmt.Errorf("seeding table %s: %w", w.cfg.Table, err)
	}
	nodes := make([]string, rc.Nodes)
	aliases := make([][]string, rc.Nodes)
	for n := range nodes {
		nodes[n] = fmt.Sprintf("127.0.%d.%d", i+1, n+1)
		for set := range w.cfg.AliasSets {
			aliases[n] = append(aliases[n], AliasIP(set, i, n))
		}
	}
	r.lb, err = nlb.Start(ctx, nlb.Config{
		Region: rc.Name, NodeIPs: nodes, Port: port, Targets: targets, HealthCheck: rc.HealthCheck,
		CrossZone: rc.CrossZone, Velocity: rc.Velocity, Publish: w.publisher(rc), KeepConnectionsOnUnhealthy: rc.KeepConnections,
		IdleTimeout: rc.IdleTimeout, MaxAge: rc.MaxAge,
		TLS: w.cfg.TLS, TLSPort: w.cfg.TLSPort, ObserveHTTP: w.cfg.ObserveHTTP, Aliases: aliases,
		Links: w.hub, Observer: w.cfg.NLBObserver,
	})
	if err != nil {
		backend.Terminate(context.Background())
		return nil, fmt.Errorf("load balancer: %w", err)
	}
	if r.limiter != nil {
		r.limiter.Enable() // after seeding: the seed is not the experiment's load
	}
	if r.limiter != nil && w.cfg.CapacityObserver != nil {
		r.stopCap = make(chan struct{})
		go r.limiter.Report(r.stopCap, func(s capacity.Second) { w.cfg.CapacityObserver(rc.Name, s) })
	}
	return r, nil
}

// startBackend starts the region's backend, serving on the target addresses.
// A capacity is the outermost layer: a throttled request reaches nothing
// behind it.
func (w *World) startBackend(ctx context.Context, rc Region, addrs []string, limiter *capacity.Limiter) (dynamodb.Backend, error) {
	if rc.Container != nil {
		opts := container.Options{Image: rc.Container.Image, Region: rc.Name, RunID: w.cfg.RunID, Targets: addrs}
		if w.cfg.Global != nil {
			opts.Writes = w.written
		}
		if limiter != nil {
			opts.Wrap = limiter.Wrap
		}
		return container.Run(ctx, opts)
	}
	opts := []embedded.Option{embedded.WithRegion(rc.Name), embedded.WithAddrs(addrs...)}
	wrap := w.strongHandler(rc.Name)
	if limiter != nil {
		inner := wrap
		wrap = func(h http.Handler) http.Handler {
			if inner != nil {
				h = inner(h)
			}
			return limiter.Wrap(h)
		}
	}
	if wrap != nil {
		opts = append(opts, embedded.WithHandler(wrap))
	}
	if w.cfg.Global != nil {
		opts = append(opts, embedded.WithWrites(w.written))
	}
	return embedded.Run(ctx, opts...)
}

func seed(ctx context.Context, endpoint, regionName, table string, items int) error {
	client := awsddb.New(awsddb.Options{
		Region:                regionName,
		BaseEndpoint:          aws.String(endpoint),
		Credentials:           credentials.NewStaticCredentialsProvider("faultline", "faultline", ""),
		AccountIDEndpointMode: aws.AccountIDEndpointModeDisabled,
	})
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return dynamodb.Seed(ctx, client, table, items)
}

// publisher is the NLB's DNS publication for a region: the node addresses it
// wants answered go into the endpoint's A records (Route 53's alias with
// evaluate-target-health). With the DNS automation on, the automation owns
// the records instead.
func (w *World) publisher(rc Region) func(ips []string) {
	if w.cfg.Automation != nil {
		return nil
	}
	ttl := uint32(w.cfg.RecordTTL / time.Second)
	return func(ips []string) {
		if err := w.dns.SetRecords(rc.Endpoint, dns.TypeA, ttl, ips); err != nil {
			return // the name is inside the zone: the topology made both
		}
		if w.cfg.PublishObserver != nil {
			w.cfg.PublishObserver(rc.Endpoint, ips)
		}
	}
}

// automate starts the DNS automation that publishes a region's endpoint.
func (w *World) automate(r *region) error {
	var ips []string
	for _, a := range r.lb.NodeAddrs() {
		host, _, _ := cutPort(a)
		ips = append(ips, host)
	}
	cfg := *w.cfg.Automation
	cfg.Name, cfg.Addresses, cfg.TTL, cfg.Records = r.cfg.Endpoint, ips, uint32(w.cfg.RecordTTL/time.Second), w.dns
	if obs := w.cfg.AutomationObserver; obs != nil {
		name := r.cfg.Endpoint
		cfg.Observer = func(e dnsauto.Event) { obs(name, e) }
	}
	a, err := dnsauto.Start(cfg)
	if err != nil {
		return fmt.Errorf("automation for %s: %w", r.cfg.Endpoint, err)
	}
	r.auto = a
	if w.cfg.PublishObserver != nil {
		w.cfg.PublishObserver(r.cfg.Endpoint, ips)
	}
	return nil
}

// Automation is the DNS automation publishing an endpoint name, when the
// world has one.
func (w *World) Automation(name string) (*dnsauto.Automation, bool) {
	for _, r := range w.regions {
		if r.cfg.Endpoint == name && r.auto != nil {
			return r.auto, true
		}
	}
	return nil, false
}

// DNSAddr is the authoritative DNS server's "127.0.0.1:PORT".
func (w *World) DNSAddr() string { return w.dns.Addr() }

// ClientDNSAddr is where clients send their queries: the caching resolver
// when there is one, else the authoritative server.
func (w *World) ClientDNSAddr() string {
	if w.resolver != nil {
		return w.resolver.Addr()
	}
	if w.pool != nil {
		return w.pool.Addr()
	}
	return w.dns.Addr()
}

// PrepareClient starts, with a real resolver in front, the resolver process
// that will serve the client querying from ip, so that its first query does
// not wait for a process to start. Without one it does nothing.
func (w *World) PrepareClient(ip string) error {
	if w.pool == nil {
		return nil
	}
	return w.pool.Prepare(ip)
}

// ResolverPids are the real resolver processes running (none without
// ResolverExec).
func (w *World) ResolverPids() []int {
	if w.pool == nil {
		return nil
	}
	return w.pool.Instances()
}

// EndpointURL is the URL a client uses for a region: the real hostname, and
// the port every node of the region's NLB listens on.
func (w *World) EndpointURL(regionName string) (string, error) {
	r, ok := w.regions[regionName]
	if !ok {
		return "", fmt.Errorf("no region %q", regionName)
	}
	return fmt.Sprintf("http://%s:%d", trimDot(r.cfg.Endpoint), r.lb.Port()), nil
}

// HTTPSURL is a region's endpoint as a stock SDK builds it,
// "https://dynamodb.<region>.amazonaws.com" (with the port when it is not
// 443): served when the world terminates TLS.
func (w *World) HTTPSURL(regionName string) (string, error) {
	r, ok := w.regions[regionName]
	switch {
	case !ok:
		return "", fmt.Errorf("no region %q", regionName)
	case w.cfg.TLS == nil:
		return "", fmt.Errorf("region %s: the world terminates no TLS", regionName)
	case w.cfg.TLSPort == 443:
		return "https://" + trimDot(r.cfg.Endpoint), nil
	}
	return fmt.Sprintf("https://%s:%d", trimDot(r.cfg.Endpoint), w.cfg.TLSPort), nil
}

// NLB returns a region's load balancer.
func (w *World) NLB(regionName string) (*nlb.LB, bool) {
	r, ok := w.regions[regionName]
	if !ok {
		return nil, false
	}
	return r.lb, true
}

// Capacity is a region's capacity, when it has one.
func (w *World) Capacity(regionName string) (*capacity.Limiter, bool) {
	r, ok := w.regions[regionName]
	if !ok || r.limiter == nil {
		return nil, false
	}
	return r.limiter, true
}

// DNS is the authoritative DNS server (its rule table is how DNS faults act).
func (w *World) DNS() *dnsstub.Server { return w.dns }

// RegionLinks are the data links of a region's NLB, one per target.
func (w *World) RegionLinks(regionName string) ([]*links.Link, error) {
	r, ok := w.regions[regionName]
	if !ok {
		return nil, fmt.Errorf("no region %q", regionName)
	}
	var ls []*links.Link
	for _, t := range r.lb.Targets() {
		if l := r.lb.DataLink(t.Addr); l != nil {
			ls = append(ls, l)
		}
	}
	return ls, nil
}

// RegionHealthLinks are the health-check links of a region's NLB, one per
// target.
func (w *World) RegionHealthLinks(regionName string) ([]*links.Link, error) {
	r, ok := w.regions[regionName]
	if !ok {
		return nil, fmt.Errorf("no region %q", regionName)
	}
	var ls []*links.Link
	for _, t := range r.lb.Targets() {
		if l := r.lb.HealthLink(t.Addr); l != nil {
			ls = append(ls, l)
		}
	}
	return ls, nil
}

// PropagationDelay is the setter of how long a region's targets that turn
// healthy keep refusing data connections.
func (w *World) PropagationDelay(regionName string) (func(time.Duration), error) {
	r, ok := w.regions[regionName]
	if !ok {
		return nil, fmt.Errorf("no region %q", regionName)
	}
	return r.lb.SetPropagationDelay, nil
}

// NodeDown stops node i (from 0) of a region's NLB; undo starts it again.
func (w *World) NodeDown(regionName string, i int) (func() error, error) {
	r, ok := w.regions[regionName]
	if !ok {
		return nil, fmt.Errorf("no region %q", regionName)
	}
	if err := r.lb.NodeDown(i); err != nil {
		return nil, err
	}
	return func() error { return r.lb.NodeUp(i) }, nil
}

// ResetConnections resets every connection of a region's NLB at once.
func (w *World) ResetConnections(regionName string) (int, error) {
	r, ok := w.regions[regionName]
	if !ok {
		return 0, fmt.Errorf("no region %q", regionName)
	}
	return r.lb.ResetConnections(), nil
}

// Rand gives, at every call, a generator of its own (a
// fault draws from it while answering queries concurrently with others),
// seeded from the run's seed in the order faults are applied, so runs repeat.
func (w *World) Rand() *rand.Rand {
	w.rngMu.Lock()
	defer w.rngMu.Unlock()
	return rand.New(rand.NewSource(w.rng.Int63()))
}

// Regions lists the regions' names, in the configuration's order.
func (w *World) Regions() []string { return append([]string(nil), w.order...) }

// Links is the hub of every data and health-check link (embedded
// toxiproxy): what serves toxiproxy's own API over them.
func (w *World) Links() *links.Hub { return w.hub }

// Endpoint is a region's endpoint name (fqdn).
func (w *World) Endpoint(region string) (string, bool) {
	r, ok := w.regions[region]
	if !ok {
		return "", false
	}
	return r.cfg.Endpoint, true
}

// Close stops everything; it is idempotent and returns every error met.
func (w *World) Close() error {
	w.closeOnce.Do(func() {
		var errs []error
		if rep := w.replicator.Load(); rep != nil { // first: it sends through everything below
			errs = append(errs, rep.Close())
		}
		for _, r := range w.regions { // the automations first: they write to the DNS server
			if r.auto != nil {
				r.auto.Close()
			}
		}
		if w.strong != nil {
			w.strong.Close() // no more redelivery between the replicas
		}
		if w.resolver != nil {
			errs = append(errs, w.resolver.Close())
		}
		if w.pool != nil {
			errs = append(errs, w.pool.Close())
		}
		if w.dns != nil {
			errs = append(errs, w.dns.Close())
		}
		for _, name := range w.order {
			r := w.regions[name]
			if r.stopCap != nil {
				close(r.stopCap)
			}
			if r.lb != nil {
				errs = append(errs, r.lb.Close())
			}
			if r.backend != nil {
				errs = append(errs, r.backend.Terminate(context.Background()))
			}
		}
		// A region that failed half-way is not in w.order; its parts were
		// stopped by startRegion.
		errs = append(errs, w.hub.Close())
		w.closeErr = errors.Join(errs...)
	})
	return w.closeErr
}
