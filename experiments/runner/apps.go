package runner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/faultline-dev/faultline/experiments/appclient"
	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/experiments/spec"
)

// appIdentity is an application of the run: its identity in the Engine
// (engine.App: a DNS relay of its own, whose source address names its
// queries, and an alias set of the nodes, whose addresses name its
// connections) and its readiness.
type appIdentity struct {
	name   string
	health *spec.Health

	dns, source string // its relay's address (port 53) and its queries' source
	resolv      string // a command's /etc/resolv.conf

	tail *appclient.Tail

	readyOnce sync.Once
	ready     chan struct{}
	lastProbe string // the last failed probe before the first success, for the not-ready reason; guarded by run.mu
}

// planApps, before the world is built: the applications, in client order
// (the Engine reserves an identity for each).
func (r *run) planApps() {
	r.appByName = map[string]*appIdentity{}
	for _, c := range r.exp.Clients {
		if !c.App() {
			continue
		}
		id := &appIdentity{name: c.Name, health: c.Health, tail: appclient.NewTail(5), ready: make(chan struct{})}
		r.apps = append(r.apps, id)
		r.appByName[c.Name] = id
	}
}

// startRelays gives each application its identity in the Engine (a DNS
// relay of its own, on the first free address, and an alias set), and a
// command its resolv.conf naming that relay. A request a node carries for
// the app makes it ready.
func (r *run) startRelays() error {
	for _, id := range r.apps {
		app, err := r.eng.AddApp(id.name, func() { r.markReady(id, readyRequest) })
		if err != nil {
			return err
		}
		id.dns, id.source = app.DNS, app.Source
		if r.tmpDir != "" {
			id.resolv = filepath.Join(r.tmpDir, id.name+".resolv.conf")
			text := fmt.Sprintf("# faultline: client %s resolves through its own relay\nnameserver %s\noptions timeout:2 attempts:2\n", id.name, id.dns)
			if err := os.WriteFile(id.resolv, []byte(text), 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

// appRecord journals an application's events and notes it ready at its
// first request event (how says which view showed it).
func (r *run) appRecord(id *appIdentity, how string) func(journal.Event) {
	return func(e journal.Event) {
		r.add(e)
		if e.Type == journal.Request {
			r.markReady(id, how)
		}
	}
}

// markReady notes an application ready, once.
func (r *run) markReady(id *appIdentity, how string) {
	id.readyOnce.Do(func() {
		r.add(journal.Event{Type: journal.ClientReady, Client: id.name, Detail: how})
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
	r.add(journal.Event{Type: journal.Phase, Detail: "ready"})
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
		r.add(journal.Event{Type: journal.ClientReady, Client: id.name, Status: "timeout", Detail: why})
		parts = append(parts, why)
	}
	return strings.Join(parts, "; ")
}

// views are the names of every client's measurements, in client order.
func (r *run) views() []string {
	var out []string
	for _, c := range r.exp.Clients {
		out = append(out, c.Views()...)
	}
	return out
}
