package measure

import (
	"strings"

	"github.com/faultline-dev/faultline/experiments/journal"
)

// reached says whether anything in the journal shows that fault f touched
// client c. "Reached" means touched, not merely "running at the time": a
// pooled connection that carried on past a node going down was not reached,
// and neither was a client whose DNS answers the fault left unchanged.
func reached(events []journal.Event, reqs []journal.Event, c ClientInfo, f *FaultWindow, dnsShaped int) bool {
	switch f.Reach {
	case ReachDNS, ReachDNSEmpty:
		return dnsShaped > 0
	case ReachNode:
		return refusedAtNode(events, c, f) || (trusted(c) && failedPastDNS(reqs, f, "connect-refused"))
	case ReachHealth:
		return connFailed(events, c, f) || (trusted(c) && failedPastDNS(reqs, f, "")) || answerChanges(events, c, f) > 0
	default: // ReachRegion: the region's links carry every connection through its nodes
		return connectionsMet(events, c, f) || (trusted(c) && carriedPastDNS(reqs, f))
	}
}

// trusted: the client's requests are faultline's own record of what went
// on the wire (a reference client's, or what the nodes saw of an
// application: NAME.server). An application's own lines are its word, not
// evidence: that a fault touched it must show at the nodes or in its DNS.
func trusted(c ClientInfo) bool {
	return c.Strategy != "app" || strings.HasSuffix(c.Name, ".server")
}

// clientEvent: a connection event of c's (an application's views share its
// connections).
func clientEvent(e journal.Event, c ClientInfo) bool {
	return e.Client != "" && e.Client == c.Base()
}

// connectionsMet: a connection of c's at the region's nodes was accepted,
// failed or refused while the fault was applied.
func connectionsMet(events []journal.Event, c ClientInfo, f *FaultWindow) bool {
	for _, e := range events {
		switch e.Type {
		case journal.ConnAccepted, journal.ConnFailed, journal.ConnRefused:
			if clientEvent(e, c) && e.Region == f.Target && f.overlaps(e.T, e.T) {
				return true
			}
		}
	}
	return false
}

// connFailed: a connection of c's at the region's nodes failed (no target
// could carry it, or it was reset) while the fault was applied.
func connFailed(events []journal.Event, c ClientInfo, f *FaultWindow) bool {
	for _, e := range events {
		if e.Type == journal.ConnFailed && clientEvent(e, c) && e.Region == f.Target && f.overlaps(e.T, e.T) {
			return true
		}
	}
	return false
}

// refusedAtNode: a connection attempt of c's was refused at the fault's node.
func refusedAtNode(events []journal.Event, c ClientInfo, f *FaultWindow) bool {
	for _, e := range events {
		if e.Type == journal.ConnRefused && clientEvent(e, c) && f.overlaps(e.T, e.T) &&
			(f.Node == "" || hostOf(e.Node) == hostOf(f.Node)) {
			return true
		}
	}
	return false
}

// carriedPastDNS: a request of c's to the region, in the fault's window,
// got past name resolution (so a connection through the region's nodes
// carried it, or was tried).
func carriedPastDNS(reqs []journal.Event, f *FaultWindow) bool {
	for _, r := range reqs {
		if r.Region == f.Target && f.overlaps(r.T, r.End()) && !dnsClass(r.Error) {
			return true
		}
	}
	return false
}

// failedPastDNS: a request of c's to the region failed in the fault's
// window after name resolution; class, when set, is the only failure that
// counts.
func failedPastDNS(reqs []journal.Event, f *FaultWindow, class string) bool {
	for _, r := range reqs {
		if r.Region == f.Target && f.overlaps(r.T, r.End()) && !r.Succeeded() && !dnsClass(r.Error) &&
			(class == "" || r.Error == class) {
			return true
		}
	}
	return false
}

// dnsClass: the request failed while resolving the name.
func dnsClass(class string) bool { return strings.HasPrefix(class, "dns-") }
