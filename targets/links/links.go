// Package links embeds toxiproxy (v2.12.0) in-process: a link is one
// toxiproxy proxy between a listen address on loopback and an upstream
// address, and network faults are toxics added to and removed from links.
// There is no HTTP control API: faultline drives the proxies directly.
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
	proxy *toxiproxy.Proxy
	name  string
	addr  string // the real listen address, fixed at the first start

	mu   sync.Mutex
	down bool
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
	l := &Link{proxy: p, name: name, addr: addr}
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

// Down stops the link: new connections are refused and the ones it carries
// are closed. ("Down" is not a toxic in toxiproxy; it is a stopped proxy.)
func (l *Link) Down() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.proxy.Stop()
	l.down = true
	return nil
}

// Up restarts a stopped link on the same address.
func (l *Link) Up() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.down {
		return nil
	}
	l.proxy.Lock()
	l.proxy.Listen = l.addr
	l.proxy.Unlock()
	if err := l.proxy.Start(); err != nil {
		return fmt.Errorf("links: restarting %s on %s: %w", l.name, l.addr, err)
	}
	l.down = false
	return nil
}

// IsDown reports whether the link is stopped.
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
	body, err := json.Marshal(map[string]any{
		"name": t.Name, "type": t.Type, "stream": t.stream(), "toxicity": t.toxicity(), "attributes": t.Attributes,
	})
	if err != nil {
		return err
	}
	if _, err := l.proxy.Toxics.AddToxicJson(bytes.NewReader(body)); err != nil {
		return fmt.Errorf("links: adding toxic %s to %s: %w", t.Name, l.name, err)
	}
	return nil
}

// RemoveToxic removes a toxic by name. Removing a timeout toxic closes the
// connections it held (toxiproxy's behaviour).
func (l *Link) RemoveToxic(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.proxy.Toxics.RemoveToxic(ctx, name); err != nil {
		return fmt.Errorf("links: removing toxic %s from %s: %w", name, l.name, err)
	}
	return nil
}
