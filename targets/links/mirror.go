package links

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/stream"
	"github.com/Shopify/toxiproxy/v2/toxics"
)

// The mirror: a second toxic collection per link, kept equal to the link's
// own, on which the streams a caller carries itself (carry.go) run.
//
// Why not the link's own collection: toxiproxy's ToxicLink.Start sets
// SO_LINGER 0 on a connection's two ends when a reset_peer is on its stream,
// by asserting that they are *net.TCPConn, and panics when they are not.
// A carried stream's ends are the caller's (a TLS connection, a reader that
// keeps the load balancer's accounts). The mirror holds the same toxics,
// in the same order, with one difference: its reset_peer is mirrorReset,
// the same toxic under a type toxiproxy does not look for; the caller sets
// the linger itself (Stream.Linger).
//
// Every change to a link's toxics goes through changeToxics (the link's own
// methods and the HTTP API alike), which brings the mirror in step under
// the same lock, so the two never differ while a stream starts.

// mirrorReset is toxiproxy's reset_peer under a type of its own (see
// above): the same attributes ({"timeout": ms}) and the same Pipe.
type mirrorReset struct{ toxics.ResetToxic }

// mirrorResetType is its name in toxiproxy's registry: not one of
// ToxicTypes, and refused by the API, so nothing but the mirror uses it.
const mirrorResetType = "faultline_mirror_reset_peer"

func init() { toxics.Register(mirrorResetType, new(mirrorReset)) }

// mirrorTypeOf is the type the mirror holds for a toxic of the link's.
func mirrorTypeOf(linkType string) string {
	if linkType == "reset_peer" {
		return mirrorResetType
	}
	return linkType
}

// wrappers are a collection's toxics, upstream then downstream, each in
// chain order.
func wrappers(c *toxiproxy.ToxicCollection) []*toxics.ToxicWrapper {
	var out []*toxics.ToxicWrapper
	for _, t := range c.GetToxicArray() {
		if w, ok := t.(*toxics.ToxicWrapper); ok {
			out = append(out, w)
		}
	}
	return out
}

// changeToxics runs change, which changes the link's toxics, then brings
// the mirror in step and moves every carried stream that now has a toxic on
// its direction onto its chain. Changes are one at a time.
func (l *Link) changeToxics(change func() error) error {
	l.chainMu.Lock()
	defer l.chainMu.Unlock()
	err := change()
	if serr := l.syncMirror(); serr != nil {
		err = errors.Join(err, fmt.Errorf("links: %s: keeping the carried connections' toxics in step: %w", l.name, serr))
	}
	for _, c := range l.carriedToMove() {
		c.toxify()
	}
	return err
}

// syncMirror makes the mirror's toxics the link's: removes the ones the
// link no longer has (or has as another type or on another stream), adds
// the ones it lacks (in the link's order: a change adds at most one, at the
// end of its chain, as toxiproxy does), updates those whose attributes or
// toxicity differ. The caller holds chainMu.
func (l *Link) syncMirror() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	have := wrappers(l.proxy.Toxics)
	byName := make(map[string]*toxics.ToxicWrapper, len(have))
	for _, t := range have {
		byName[t.Name] = t
	}
	var errs []error
	for _, m := range wrappers(l.mirror) {
		if t, ok := byName[m.Name]; !ok || t.Direction != m.Direction || mirrorTypeOf(t.Type) != m.Type {
			if err := l.mirror.RemoveToxic(ctx, m.Name); err != nil {
				errs = append(errs, err)
			}
		}
	}
	var count [stream.NumDirections]int
	for _, t := range have {
		count[t.Direction]++
		attrs, err := json.Marshal(t.Toxic)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		m := l.mirror.GetToxic(t.Name)
		if m == nil {
			body, _ := json.Marshal(map[string]any{"name": t.Name, "type": mirrorTypeOf(t.Type), "stream": t.Direction.String(),
				"toxicity": t.Toxicity, "attributes": json.RawMessage(attrs)})
			if _, err := l.mirror.AddToxicJson(bytes.NewReader(body)); err != nil {
				errs = append(errs, fmt.Errorf("adding %s: %w", t.Name, err))
			}
			continue
		}
		if mine, _ := json.Marshal(m.Toxic); !bytes.Equal(mine, attrs) || m.Toxicity != t.Toxicity {
			body, _ := json.Marshal(map[string]any{"toxicity": t.Toxicity, "attributes": json.RawMessage(attrs)})
			if _, err := l.mirror.UpdateToxicJson(t.Name, bytes.NewReader(body)); err != nil {
				errs = append(errs, fmt.Errorf("updating %s: %w", t.Name, err))
			}
		}
	}
	l.carriedMu.Lock()
	l.toxicked = count
	l.carriedMu.Unlock()
	return errors.Join(errs...)
}

// resetsOn says whether the mirror has a reset_peer on dir.
func (l *Link) resetsOn(dir stream.Direction) bool {
	for _, m := range wrappers(l.mirror) {
		if _, ok := m.Toxic.(*mirrorReset); ok && m.Direction == dir {
			return true
		}
	}
	return false
}
