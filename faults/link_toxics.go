package faults

// The toxiproxy toxics as fault kinds, on a region's NLB-to-target data links
// (link.*) and on its health-check links (hc.*), each with its attributes
// validated.
func init() {
	dur := func(name, def, doc string, required bool) Param {
		return Param{Name: name, Type: Duration, Default: def, Required: required, Min: 0, Max: 3_600_000, Doc: doc}
	}
	for _, k := range []toxicKind{
		{name: "link.latency", summary: "adds latency to a region's NLB-to-target data links", toxic: "latency",
			params: []Param{dur("latency", "", "added latency, e.g. 200ms", true), dur("jitter", "0s", "random extra latency up to this", false)},
			attrs: func(v Values) map[string]any {
				return map[string]any{"latency": ms(v, "latency"), "jitter": ms(v, "jitter")}
			}},
		{name: "link.bandwidth", summary: "limits a region's data links to a rate", toxic: "bandwidth",
			params: []Param{{Name: "rate", Type: Int, Required: true, Min: 1, Max: 10_000_000, Doc: "KB/s"}},
			attrs:  func(v Values) map[string]any { return map[string]any{"rate": v.Int("rate")} }},
		{name: "link.timeout", summary: "data links stop passing data; connections close after timeout (0: held until healed)", toxic: "timeout",
			params: []Param{dur("timeout", "0s", "close after this; 0 holds the data until the fault is healed", false)},
			attrs:  func(v Values) map[string]any { return map[string]any{"timeout": ms(v, "timeout")} }},
		{name: "link.reset", summary: "data-link connections are reset (TCP RST) after timeout", toxic: "reset_peer",
			params: []Param{dur("timeout", "0s", "reset after this much time on the connection", false)},
			attrs:  func(v Values) map[string]any { return map[string]any{"timeout": ms(v, "timeout")} }},
		{name: "link.slow-close", summary: "data-link connections take delay to close", toxic: "slow_close",
			params: []Param{dur("delay", "", "how long a close is held", true)},
			attrs:  func(v Values) map[string]any { return map[string]any{"delay": ms(v, "delay")} }},
		{name: "link.slicer", summary: "data is cut into small packets with delays between them", toxic: "slicer",
			params: []Param{{Name: "average_size", Type: Int, Required: true, Min: 1, Max: 1 << 20, Doc: "bytes per slice"},
				{Name: "size_variation", Type: Int, Default: "0", Min: 0, Max: 1 << 20, Doc: "bytes of random variation"},
				{Name: "delay", Type: Int, Default: "0", Min: 0, Max: 10_000_000, Doc: "microseconds between slices"}},
			attrs: func(v Values) map[string]any {
				return map[string]any{"average_size": v.Int("average_size"), "size_variation": v.Int("size_variation"), "delay": v.Int("delay")}
			}},
		{name: "link.limit-data", summary: "data-link connections close after bytes", toxic: "limit_data",
			params: []Param{{Name: "bytes", Type: Int, Required: true, Min: 1, Max: 1 << 40, Doc: "bytes before the connection closes"}},
			attrs:  func(v Values) map[string]any { return map[string]any{"bytes": v.Int("bytes")} }},
		{name: "hc.fail", summary: "a region's health checks fail: their links hold data (timeout) so no check gets a reply", toxic: "timeout", health: true,
			attrs: func(Values) map[string]any { return map[string]any{"timeout": 0} }},
		{name: "hc.reset", summary: "a region's health-check connections are reset, so every check fails at once", toxic: "reset_peer", health: true,
			attrs: func(Values) map[string]any { return map[string]any{"timeout": 0} }},
		{name: "hc.slow", summary: "a region's health checks are slowed by latency (beyond the check timeout, they fail)", toxic: "latency", health: true,
			params: []Param{dur("latency", "", "added latency on the health-check links", true)},
			attrs:  func(v Values) map[string]any { return map[string]any{"latency": ms(v, "latency")} }},
	} {
		Register(k)
	}
}
