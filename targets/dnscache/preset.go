package dnscache

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Preset is a resolver's caching policy, modelled on the real resolver it is
// named after: its documented limits, and its timing as measured against the
// real one (targets/dnsexec runs the real ones; the tests compare the two).
type Preset struct {
	Name           string
	MinTTL, MaxTTL time.Duration // clamp on positive answers
	MinNegative    time.Duration // clamp on negative answers (NXDOMAIN, NODATA)
	MaxNegative    time.Duration
	ServFail       time.Duration // how long SERVFAIL is cached; 0: not cached
	ServeStale     bool          // RFC 8767: answer from expired entries when the upstream fails

	// WholeSeconds counts TTLs in whole seconds of the wall clock, as the
	// C resolvers do (time(2)): an entry stored at 12.7 s with TTL 5 is
	// stored at second 12, and expires at 17.0 s.
	WholeSeconds bool
	// LastSecond keeps serving an entry through the second its TTL reaches
	// 0 (with TTL 0): it lives TTL+1 seconds counted from the second it was
	// stored (unbound: an entry expires when its absolute TTL < now).
	LastSecond bool
	// SharedSOA caches the zone's SOA once, shared by every negative
	// answer: a negative answer is served only while that SOA is cached
	// (and its own TTL lasts), and the SOA is stored again only once it has
	// expired, by whichever negative answer comes next. unbound's message
	// cache refers to the SOA in its rrset cache, which keeps the cached
	// rrset while it lives. A client that asks AAAA beside A (Go, glibc)
	// refreshes it with its AAAA NODATA answers: the A record's empty
	// answer first ends when the AAAA answers' SOA expires, then is revived
	// by their next one and lasts its own TTL.
	SharedSOA bool

	Doc string
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
	"unbound": {Name: "unbound", MaxTTL: 86400 * time.Second, MaxNegative: 3600 * time.Second, ServFail: 5 * time.Second,
		WholeSeconds: true, LastSecond: true, SharedSOA: true,
		Doc: "modelled on unbound 1.17 (defaults; measured against the real one): cache-max-ttl 86400 s, cache-max-negative-ttl 3600 s; " +
			"SERVFAIL cached 5 s (NORR_TTL); whole wall-clock seconds, an entry served TTL+1 s (TTL 0 in its last second); " +
			"a negative answer is served only while the zone's SOA, shared by all of them, is cached"},
	"dnsmasq": {Name: "dnsmasq", WholeSeconds: true,
		Doc: "modelled on dnsmasq 2.90 (defaults; measured against the real one): TTLs as given, no cap; " +
			"negative answers with SOA cached min(SOA TTL, MINIMUM); SERVFAIL not cached; whole wall-clock seconds, an entry expires when its second comes"},
	"systemd-resolved": {Name: "systemd-resolved", MaxTTL: 2 * time.Hour, MaxNegative: 2 * time.Hour, ServFail: 10 * time.Second,
		Doc: "modelled on systemd-resolved (its source, not run here): TTLs capped at 2 h, SERVFAIL cached 10 s (CACHE_TTL_STRANGE_RCODE_USEC)"},
	"coredns": {Name: "coredns", MinTTL: 5 * time.Second, MaxTTL: 3600 * time.Second, MinNegative: 5 * time.Second,
		MaxNegative: 1800 * time.Second, ServFail: 5 * time.Second,
		Doc: "modelled on the CoreDNS cache plugin (defaults): success 3600 s, denial 1800 s, MINTTL 5 s, servfail 5 s"},
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
