package dnscache

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Preset is a resolver's caching policy, named after the real resolver whose
// documented limits it copies.
type Preset struct {
	Name           string
	MinTTL, MaxTTL time.Duration // clamp on positive answers
	MinNegative    time.Duration // clamp on negative answers (NXDOMAIN, NODATA)
	MaxNegative    time.Duration
	ServFail       time.Duration // how long SERVFAIL is cached; 0: not cached
	ServeStale     bool          // RFC 8767: answer from expired entries when the upstream fails
	Doc            string
}

// StaleTTL is the TTL of a stale answer (RFC 8767 §4 recommends 30 s) and
// StaleMaxAge how long past expiry an entry may still be served.
const (
	StaleTTL    = 30 * time.Second
	StaleMaxAge = 24 * time.Hour
)

// Presets are the policies faultline models. A negative answer without an SOA
// is never cached (RFC 2308 §5) under any of them.
var Presets = map[string]Preset{
	"none": {Name: "none", Doc: "no cache: every query goes to the authoritative server"},
	"unbound": {Name: "unbound", MaxTTL: 86400 * time.Second, MaxNegative: 3600 * time.Second,
		Doc: "unbound defaults: cache-max-ttl 86400 s, cache-max-negative-ttl 3600 s; SERVFAIL is not cached as an answer"},
	"systemd-resolved": {Name: "systemd-resolved", MaxTTL: 2 * time.Hour, MaxNegative: 2 * time.Hour, ServFail: 30 * time.Second,
		Doc: "systemd-resolved: TTLs capped at 2 h, SERVFAIL cached 30 s"},
	"coredns": {Name: "coredns", MinTTL: 5 * time.Second, MaxTTL: 3600 * time.Second, MinNegative: 5 * time.Second,
		MaxNegative: 1800 * time.Second, ServFail: 5 * time.Second,
		Doc: "CoreDNS cache plugin defaults: success 3600 s, denial 1800 s, MINTTL 5 s, servfail 5 s"},
}

// PresetNames lists the presets, sorted.
func PresetNames() []string {
	var names []string
	for n := range Presets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// LookupPreset finds a preset by name.
func LookupPreset(name string) (Preset, error) {
	p, ok := Presets[name]
	if !ok {
		return Preset{}, fmt.Errorf("unknown resolver preset %q; expected one of: %s", name, strings.Join(PresetNames(), ", "))
	}
	return p, nil
}

func clamp(d, lo, hi time.Duration) time.Duration {
	if d < lo {
		d = lo
	}
	if hi > 0 && d > hi {
		d = hi
	}
	return d
}
