package faults

import (
	"errors"
	"fmt"

	"github.com/faultline-dev/faultline/targets/links"
)

// A toxic kind adds one toxiproxy toxic to a set of a region's links: the
// NLB-to-target data links (link.*) or the health-check links (hc.*). Its
// parameter struct embeds ToxicOpts (last) and names the toxic and its
// attributes; each is in link_toxics.go.

// ToxicOpts are toxiproxy's own parameters: which direction, and what share
// of connections (decided per connection).
type ToxicOpts struct {
	Stream   string  `param:"stream" default:"downstream" enum:"upstream,downstream" doc:"direction: downstream (target to client) or upstream"`
	Toxicity float64 `param:"toxicity" default:"1" min:"0" max:"1" doc:"share of connections affected"`
}

// linkSet says which of a region's links a toxic goes on.
type linkSet bool

const (
	dataLinks   linkSet = false // the NLB-to-target data links
	healthLinks linkSet = true  // the links the health checks take
)

func (s linkSet) of(w World, region string) ([]*links.Link, error) {
	if s == healthLinks {
		return w.RegionHealthLinks(region)
	}
	return w.RegionLinks(region)
}

// addToxic adds the toxic typ with attrs to every link of the set.
func (o ToxicOpts) addToxic(w World, f Fault, set linkSet, typ string, attrs map[string]any) (func() error, error) {
	toxic := links.Toxic{Name: links.OwnToxic(FaultID(f)), Type: typ, Stream: o.Stream,
		Toxicity: float32(o.Toxicity), Attributes: attrs}
	if toxic.Toxicity == 0 {
		toxic.Toxicity = 1e-9 // 0 means "every connection" to links.Toxic; here it means none
	}
	ls, err := set.of(w, f.Target)
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

// defineToxic is Define for a toxic kind: a data-link toxic meets the
// connections through the region's nodes; a health-check toxic only what
// the health checks then change.
func defineToxic[P Applier](name, summary string, set linkSet) Kind {
	m := Meta{Name: name, Summary: summary, Target: TargetRegion, Reach: ReachRegion}
	if set == healthLinks {
		m.Reach = ReachHealth
	}
	return Define[P](m)
}

// LinkDown is link.down: it takes a region's data links down: the NLB fails
// new connections to its targets as refused and the connections they carry
// are cut (health checks use links of their own and still pass). The links
// keep their ports, so healing never has to bind one again.
type LinkDown struct{}

func init() {
	Register(Define[LinkDown](Meta{Name: "link.down", Target: TargetRegion,
		Summary: "takes a region's NLB-to-target data links down: connections refused"}))
}

func (LinkDown) Apply(w World, f Fault) (func() error, error) {
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
