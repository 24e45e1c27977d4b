// Package nlbtest starts load balancers for tests on loopback, closed by
// t.Cleanup, and records their events.
package nlbtest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/targets/links"
	"github.com/faultline-dev/faultline/targets/nlb"
)

// Recorder keeps every event of a load balancer.
type Recorder struct {
	mu     sync.Mutex
	events []nlb.Event
}

// Add records e; use it as Config.Observer.
func (r *Recorder) Add(e nlb.Event) { r.mu.Lock(); r.events = append(r.events, e); r.mu.Unlock() }

// Events returns a copy of what was recorded.
func (r *Recorder) Events() []nlb.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]nlb.Event(nil), r.events...)
}

// WaitFor waits (bounded) until some event satisfies ok and returns the
// events up to and including it.
func (r *Recorder) WaitFor(t testing.TB, within time.Duration, ok func(nlb.Event) bool) []nlb.Event {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		evs := r.Events()
		for i, e := range evs {
			if ok(e) {
				return evs[:i+1]
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no such event within %s", within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Start starts a load balancer with a hub of its own when cfg.Links is nil,
// records its events, and closes both when the test ends.
func Start(t testing.TB, cfg nlb.Config) (*nlb.LB, *Recorder) {
	t.Helper()
	rec := &Recorder{}
	cfg.Observer = rec.Add
	if cfg.Links == nil {
		hub := links.NewHub()
		t.Cleanup(func() { hub.Close() })
		cfg.Links = hub
	}
	if cfg.HealthCheck == (nlb.HealthCheck{}) {
		cfg.HealthCheck = nlb.DefaultHealthCheck()
	}
	if cfg.Region == "" {
		cfg.Region = "test-1"
	}
	lb, err := nlb.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("starting the load balancer: %v", err)
	}
	t.Cleanup(func() { lb.Close() })
	return lb, rec
}
