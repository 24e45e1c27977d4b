package faults

import (
	"errors"
	"fmt"

	"github.com/faultline-dev/faultline/targets/links"
)

// toxicKind is a fault that adds one toxiproxy toxic to a set of a region's
// links: the NLB-to-target data links (link.*) or the health-check links
// (hc.*). Each kind is a value of it in link_toxics.go.
type toxicKind struct {
	name, summary string
	toxic         string // toxiproxy type
	health        bool   // the health-check links instead of the data links
	params        []Param
	attrs         func(v Values) map[string]any
}

func (k toxicKind) Name() string       { return k.name }
func (k toxicKind) Summary() string    { return k.summary }
func (k toxicKind) Target() TargetType { return TargetRegion }

// Reach: a data-link toxic meets the connections through the region's
// nodes; a health-check toxic only what the health checks then change.
func (k toxicKind) Reach() string {
	if k.health {
		return ReachHealth
	}
	return ReachRegion
}
func (k toxicKind) Params() []Param { return append(append([]Param(nil), k.params...), toxicParams...) }

// toxicParams are toxiproxy's own: which direction, and what share of
// connections (decided per connection).
var toxicParams = []Param{
	{Name: "stream", Type: String, Default: "downstream", Doc: "direction: downstream (target to client) or upstream",
		Check: func(s string) (any, error) {
			if s != "upstream" && s != "downstream" {
				return nil, fmt.Errorf("expected upstream or downstream, got %q", s)
			}
			return s, nil
		}},
	{Name: "toxicity", Type: Float, Default: "1", Min: 0, Max: 1, Doc: "share of connections affected"},
}

func (k toxicKind) Apply(w World, f Fault, v Values) (func() error, error) {
	toxic := links.Toxic{Name: links.OwnToxic(FaultID(f)), Type: k.toxic, Stream: v.Get("stream").(string),
		Toxicity: float32(v.Float("toxicity")), Attributes: k.attrs(v)}
	if toxic.Toxicity == 0 {
		toxic.Toxicity = 1e-9 // 0 means "every connection" to links.Toxic; here it means none
	}
	ls, err := k.links(w, f.Target)
	if err != nil {
		return nil, err
	}
	return applyToLinks(ls, func(l *links.Link) (func() error, error) {
		if err := l.AddToxic(toxic); err != nil {
			return nil, err
		}
		return func() error { return l.RemoveToxic(toxic.Name) }, nil
	})
}

func (k toxicKind) links(w World, region string) ([]*links.Link, error) {
	if k.health {
		return w.RegionHealthLinks(region)
	}
	return w.RegionLinks(region)
}

func ms(v Values, name string) int64 { return v.Duration(name).Milliseconds() }

// link.down takes a region's data links down: the NLB fails new connections
// to its targets as refused and the connections they carry are cut (health
// checks use links of their own and still pass). The links keep their
// ports, so healing never has to bind one again.
func init() { Register(linkDown{}) }

type linkDown struct{}

func (linkDown) Name() string { return "link.down" }
func (linkDown) Summary() string {
	return "takes a region's NLB-to-target data links down: connections refused"
}
func (linkDown) Target() TargetType { return TargetRegion }
func (linkDown) Params() []Param    { return nil }

func (linkDown) Apply(w World, f Fault, _ Values) (func() error, error) {
	ls, err := w.RegionLinks(f.Target)
	if err != nil {
		return nil, err
	}
	return applyToLinks(ls, func(l *links.Link) (func() error, error) {
		if err := l.Down(); err != nil {
			return nil, err
		}
		return l.Up, nil
	})
}

// applyToLinks applies one change to every link, undoing the ones already
// done if any fails so nothing is left applied.
func applyToLinks(ls []*links.Link, apply func(*links.Link) (func() error, error)) (func() error, error) {
	var heals []func() error
	healAll := func() error {
		var errs []error
		for _, h := range heals {
			errs = append(errs, h())
		}
		return errors.Join(errs...)
	}
	for _, l := range ls {
		h, err := apply(l)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("link %s: %w", l.Name(), err), healAll())
		}
		heals = append(heals, h)
	}
	return healAll, nil
}
