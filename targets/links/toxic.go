package links

import (
	"fmt"
	"sort"
	"strings"
)

// Toxic is one toxiproxy toxic: a type, the stream it acts on and how many
// connections it touches (toxicity, decided per connection).
type Toxic struct {
	Name       string
	Type       string         // latency, bandwidth, slow_close, timeout, reset_peer, slicer, limit_data
	Stream     string         // upstream | downstream (default downstream)
	Toxicity   float32        // 0..1 (0 means 1: every connection)
	Attributes map[string]any // per type, see toxicAttributes
}

func (t Toxic) stream() string {
	if t.Stream == "" {
		return "downstream"
	}
	return t.Stream
}

func (t Toxic) toxicity() float32 {
	if t.Toxicity == 0 {
		return 1
	}
	return t.Toxicity
}

// toxicAttributes are toxiproxy v2.12.0's toxics and their integer
// attributes.
var toxicAttributes = map[string][]string{
	"latency":    {"latency", "jitter"},                       // ms
	"bandwidth":  {"rate"},                                    // KB/s
	"slow_close": {"delay"},                                   // ms
	"timeout":    {"timeout"},                                 // ms, 0 = hold until removed
	"reset_peer": {"timeout"},                                 // ms
	"slicer":     {"average_size", "size_variation", "delay"}, // bytes, bytes, µs
	"limit_data": {"bytes"},
}

// ToxicTypes lists the toxic types, sorted.
func ToxicTypes() []string {
	var types []string
	for t := range toxicAttributes {
		types = append(types, t)
	}
	sort.Strings(types)
	return types
}

// ValidateToxic checks a toxic before toxiproxy sees it, with messages that
// say what was expected.
func ValidateToxic(t Toxic) error {
	if t.Name == "" {
		return fmt.Errorf("toxic needs a name")
	}
	attrs, ok := toxicAttributes[t.Type]
	if !ok {
		return fmt.Errorf("toxic %s: unknown type %q; expected one of: %s", t.Name, t.Type, strings.Join(ToxicTypes(), ", "))
	}
	if s := t.stream(); s != "upstream" && s != "downstream" {
		return fmt.Errorf("toxic %s: stream %q; expected upstream or downstream", t.Name, t.Stream)
	}
	if t.Toxicity < 0 || t.Toxicity > 1 {
		return fmt.Errorf("toxic %s: toxicity %g; expected a number from 0 to 1", t.Name, t.Toxicity)
	}
	for k, v := range t.Attributes {
		if !contains(attrs, k) {
			return fmt.Errorf("toxic %s: %s has no attribute %q; expected: %s", t.Name, t.Type, k, strings.Join(attrs, ", "))
		}
		n, ok := integer(v)
		if !ok {
			return fmt.Errorf("toxic %s: attribute %s = %v; expected a whole number", t.Name, k, v)
		}
		if n < 0 {
			return fmt.Errorf("toxic %s: attribute %s = %d; must not be negative", t.Name, k, n)
		}
	}
	return nil
}

func integer(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int32:
		return int64(n), true
	case int64:
		return n, true
	case float64:
		return int64(n), n == float64(int64(n))
	}
	return 0, false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
