package faults

import "time"

// The toxiproxy toxics as fault kinds, on a region's NLB-to-target data links
// (link.*) and on its health-check links (hc.*): each kind is its toxic's
// attributes, typed and bounded.
func init() {
	Register(defineToxic[LinkLatency]("link.latency", "adds latency to a region's NLB-to-target data links", dataLinks))
	Register(defineToxic[LinkBandwidth]("link.bandwidth", "limits a region's data links to a rate", dataLinks))
	Register(defineToxic[LinkTimeout]("link.timeout", "data links stop passing data; connections close after timeout (0: held until healed)", dataLinks))
	Register(defineToxic[LinkReset]("link.reset", "data-link connections are reset (TCP RST) after timeout", dataLinks))
	Register(defineToxic[LinkSlowClose]("link.slow-close", "data-link connections take delay to close", dataLinks))
	Register(defineToxic[LinkSlicer]("link.slicer", "data is cut into small packets with delays between them", dataLinks))
	Register(defineToxic[LinkLimitData]("link.limit-data", "data-link connections close after bytes", dataLinks))
	Register(defineToxic[HCFail]("hc.fail", "a region's health checks fail: their links hold data (timeout) so no check gets a reply", healthLinks))
	Register(defineToxic[HCReset]("hc.reset", "a region's health-check connections are reset, so every check fails at once", healthLinks))
	Register(defineToxic[HCSlow]("hc.slow", "a region's health checks are slowed by latency (beyond the check timeout, they fail)", healthLinks))
}

// LinkLatency is link.latency (toxiproxy's latency).
type LinkLatency struct {
	Latency time.Duration `param:"latency" required:"true" min:"0s" max:"1h" doc:"added latency, e.g. 200ms"`
	Jitter  time.Duration `param:"jitter" default:"0s" min:"0s" max:"1h" doc:"random extra latency up to this"`
	ToxicOpts
}

func (p LinkLatency) Apply(w World, f Fault) (func() error, error) {
	return p.addToxic(w, f, dataLinks, "latency", map[string]any{"latency": p.Latency.Milliseconds(), "jitter": p.Jitter.Milliseconds()})
}

// LinkBandwidth is link.bandwidth (toxiproxy's bandwidth).
type LinkBandwidth struct {
	Rate int `param:"rate" required:"true" min:"1" max:"10000000" unit:"KB/s" doc:"KB/s"`
	ToxicOpts
}

func (p LinkBandwidth) Apply(w World, f Fault) (func() error, error) {
	return p.addToxic(w, f, dataLinks, "bandwidth", map[string]any{"rate": p.Rate})
}

// LinkTimeout is link.timeout (toxiproxy's timeout).
type LinkTimeout struct {
	Timeout time.Duration `param:"timeout" default:"0s" min:"0s" max:"1h" doc:"close after this; 0 holds the data until the fault is healed"`
	ToxicOpts
}

func (p LinkTimeout) Apply(w World, f Fault) (func() error, error) {
	return p.addToxic(w, f, dataLinks, "timeout", map[string]any{"timeout": p.Timeout.Milliseconds()})
}

// LinkReset is link.reset (toxiproxy's reset_peer).
type LinkReset struct {
	Timeout time.Duration `param:"timeout" default:"0s" min:"0s" max:"1h" doc:"reset after this much time on the connection"`
	ToxicOpts
}

func (p LinkReset) Apply(w World, f Fault) (func() error, error) {
	return p.addToxic(w, f, dataLinks, "reset_peer", map[string]any{"timeout": p.Timeout.Milliseconds()})
}

// LinkSlowClose is link.slow-close (toxiproxy's slow_close).
type LinkSlowClose struct {
	Delay time.Duration `param:"delay" required:"true" min:"0s" max:"1h" doc:"how long a close is held"`
	ToxicOpts
}

func (p LinkSlowClose) Apply(w World, f Fault) (func() error, error) {
	return p.addToxic(w, f, dataLinks, "slow_close", map[string]any{"delay": p.Delay.Milliseconds()})
}

// LinkSlicer is link.slicer (toxiproxy's slicer).
type LinkSlicer struct {
	AverageSize   int `param:"average_size" required:"true" min:"1" max:"1048576" unit:"bytes" doc:"bytes per slice"`
	SizeVariation int `param:"size_variation" default:"0" min:"0" max:"1048576" unit:"bytes" doc:"bytes of random variation"`
	Delay         int `param:"delay" default:"0" min:"0" max:"10000000" unit:"µs" doc:"microseconds between slices"`
	ToxicOpts
}

func (p LinkSlicer) Apply(w World, f Fault) (func() error, error) {
	return p.addToxic(w, f, dataLinks, "slicer", map[string]any{"average_size": p.AverageSize, "size_variation": p.SizeVariation, "delay": p.Delay})
}

// LinkLimitData is link.limit-data (toxiproxy's limit_data).
type LinkLimitData struct {
	Bytes int `param:"bytes" required:"true" min:"1" max:"1099511627776" unit:"bytes" doc:"bytes before the connection closes"`
	ToxicOpts
}

func (p LinkLimitData) Apply(w World, f Fault) (func() error, error) {
	return p.addToxic(w, f, dataLinks, "limit_data", map[string]any{"bytes": p.Bytes})
}

// HCFail is hc.fail: the health-check links hold all data (toxiproxy's
// timeout, never closing).
type HCFail struct{ ToxicOpts }

func (p HCFail) Apply(w World, f Fault) (func() error, error) {
	return p.addToxic(w, f, healthLinks, "timeout", map[string]any{"timeout": 0})
}

// HCReset is hc.reset: health-check connections are reset at once
// (toxiproxy's reset_peer).
type HCReset struct{ ToxicOpts }

func (p HCReset) Apply(w World, f Fault) (func() error, error) {
	return p.addToxic(w, f, healthLinks, "reset_peer", map[string]any{"timeout": 0})
}

// HCSlow is hc.slow: latency on the health-check links.
type HCSlow struct {
	Latency time.Duration `param:"latency" required:"true" min:"0s" max:"1h" doc:"added latency on the health-check links"`
	ToxicOpts
}

func (p HCSlow) Apply(w World, f Fault) (func() error, error) {
	return p.addToxic(w, f, healthLinks, "latency", map[string]any{"latency": p.Latency.Milliseconds()})
}
