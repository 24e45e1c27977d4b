// Package links embeds toxiproxy (v2.12.0) in-process: a link is one
// toxiproxy proxy between a listen address on loopback and an upstream
// address, and network faults are toxics added to and removed from links.
// faultline drives the proxies directly (api.go serves toxiproxy's HTTP API
// over them for others). A caller that dials the upstream itself, the load
// balancer's node, carries its connections through a link without a hop
// through its listener (Carry, carry.go): the link's toxics act on them in
// the caller's goroutines.
package links

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/stream"
	"github.com/rs/zerolog"
)

// Hub is one embedded toxiproxy server holding any number of links.
type Hub struct {
	server *toxiproxy.ApiServer

	mu     sync.Mutex
	links  map[string]*Link
	closed bool
}

// NewHub starts an empty hub. Toxiproxy's own logging is off: faultline
// journals what matters.
func NewHub() *Hub {
	metrics := toxiproxy.NewMetricsContainer(nil) // must not be nil: proxies count through it
	return &Hub{server: toxiproxy.NewServer(metrics, zerolog.Nop()), links: map[string]*Link{}}
}

// Link is one proxy.
type Link struct {
	proxy  *toxiproxy.Proxy
	server *toxiproxy.ApiServer
	name   string
	addr   string // the real listen address, fixed at start: Down keeps the listener

	mu   sync.Mutex
	down bool

	// chainMu makes changes to the toxics one at a time, each with the
	// mirror's (mirror.go).
	chainMu sync.Mutex
	// mirror is the copy of the link's toxics that carried streams run on.
	mirror *toxiproxy.ToxicCollection

	carriedMu sync.Mutex
	carried   map[*carried]struct{}     // the streams carried now (carry.go)
	toxicked  [stream.NumDirections]int // the mirror's toxics per direction
}

// Add starts a link listening on a free port of 127.0.0.1 that forwards every
// accepted connection to upstream.
func (h *Hub) Add(name, upstream string) (*Link, error) {
	return h.AddOn(name, "127.0.0.1:0", upstream)
}

// AddOn is Add with the listen address given.
func (h *Hub) AddOn(name, listen, upstream string) (*Link, error) {
	if name == "" {
		return nil, errors.New("links: a link needs a name")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, errors.New("links: hub is closed")
	}
	if _, dup := h.links[name]; dup {
		return nil, fmt.Errorf("links: a link named %q exists already", name)
	}
	p := toxiproxy.NewProxy(h.server, name, listen, upstream)
	if err := h.server.Collection.Add(p, true); err != nil {
		return nil, fmt.Errorf("links: starting %s (%s → %s): %w", name, listen, upstream, err)
	}
	p.Lock()
	addr := p.Listen
	p.Unlock()
	// The mirror's proxy is never started: it only names the chains.
	mirror := toxiproxy.NewProxy(h.server, name, addr, upstream).Toxics
	l := &Link{proxy: p, server: h.server, name: name, addr: addr, mirror: mirror, carried: map[*carried]struct{}{}}
	h.links[name] = l
	return l, nil
}

// Link finds a link by name.
func (h *Hub) Link(name string) (*Link, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	l, ok := h.links[name]
	return l, ok
}

// Names lists the links, sorted.
func (h *Hub) Names() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	names := make([]string, 0, len(h.links))
	for n := range h.links {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Close stops every proxy and closes the connections they carry. It is
// idempotent.
func (h *Hub) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	h.closed = true
	return h.server.Collection.Clear()
}

// Name is the link's name.
func (l *Link) Name() string { return l.name }

// Addr is the address the link listens on.
func (l *Link) Addr() string { return l.addr }

// Upstream is where the link forwards to.
func (l *Link) Upstream() string {
	l.proxy.Lock()
	defer l.proxy.Unlock()
	return l.proxy.Upstream
}

// Down takes the link down without giving up its port: a link that closed
// its listener would have to bind the port again on Up, and another process
// may have taken it meanwhile. The listener stays; IsDown tells whoever
// dials through the link (the NLB) to fail the connection as a refused one,
// and two toxics on each stream end what still goes through:
//   - a cut (cut.go) closes every connection the link carries, idle or
//     not, at once, and every new one as it starts;
//   - reset_peer behind it makes toxiproxy set SO_LINGER 0 on connections
//     that start while the link is down, so those close with an RST, as a
//     path that refuses would. (Toxiproxy sets the linger only when a
//     connection starts: the ones carried from before Down end with a FIN,
//     as they did when Down stopped the proxy.)
//
// Down is idempotent.
func (l *Link) Down() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.down {
		return nil
	}
	var added []string
	for _, t := range downToxics {
		if err := l.addToxic(t); err != nil {
			for _, name := range added {
				l.RemoveToxic(name)
			}
			return fmt.Errorf("links: taking %s down: %w", l.name, err)
		}
		added = append(added, t.Name)
	}
	l.down = true
	return nil
}

// downToxics are what Down adds, in this order on each stream: toxiproxy
// appends a toxic to the end of its stream's chain, and the cut must come
// before reset_peer, which stops reading once it has reset.
var downToxics = []Toxic{
	{Name: "faultline.down.cut.up", Type: cutType, Stream: "upstream"},
	{Name: "faultline.down.cut.down", Type: cutType, Stream: "downstream"},
	{Name: "faultline.down.rst.up", Type: "reset_peer", Stream: "upstream", Attributes: map[string]any{"timeout": 0}},
	{Name: "faultline.down.rst.down", Type: "reset_peer", Stream: "downstream", Attributes: map[string]any{"timeout": 0}},
}

// Up brings a link that is down back: the toxics go, connections pass
// again on the same address (it never changed). Up is idempotent.
func (l *Link) Up() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.down {
		return nil
	}
	var errs []error
	for _, t := range downToxics {
		// One a failed Up removed already is gone, not an error.
		if err := l.RemoveToxic(t.Name); err != nil && !errors.Is(err, toxiproxy.ErrToxicNotFound) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err // still down: a later Up tries the toxics left again
	}
	l.down = false
	return nil
}

// IsDown reports whether the link is down. Whoever dials through the link
// checks it first and fails the connection itself, as a refused one.
func (l *Link) IsDown() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.down
}

// AddToxic adds a validated toxic to the link.
func (l *Link) AddToxic(t Toxic) error {
	if err := ValidateToxic(t); err != nil {
		return err
	}
	return l.addToxic(t)
}

// addToxic adds a toxic unvalidated: Down's cut is no type a fault may ask
// for.
func (l *Link) addToxic(t Toxic) error {
	body, err := json.Marshal(map[string]any{
		"name": t.Name, "type": t.Type, "stream": t.stream(), "toxicity": t.toxicity(), "attributes": t.Attributes,
	})
	if err != nil {
		return err
	}
	return l.changeToxics(func() error {
		if _, err := l.proxy.Toxics.AddToxicJson(bytes.NewReader(body)); err != nil {
			return fmt.Errorf("links: adding toxic %s to %s: %w", t.Name, l.name, err)
		}
		return nil
	})
}

// RemoveToxic removes a toxic by name. Removing a timeout toxic closes the
// connections it held (toxiproxy's behaviour).
func (l *Link) RemoveToxic(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return l.changeToxics(func() error {
		if err := l.proxy.Toxics.RemoveToxic(ctx, name); err != nil {
			return fmt.Errorf("links: removing toxic %s from %s: %w", name, l.name, err)
		}
		return nil
	})
}
