package measure

import (
	"strings"
)

// trusted: the client's requests are faultline's own record of what went
// on the wire (a reference client's, or what the nodes saw of an
// application: NAME.server). An application's own lines are its word, not
// evidence: that a fault touched it must show at the nodes or in its DNS.
func trusted(c ClientInfo) bool {
	return c.Strategy != "app" || strings.HasSuffix(c.Name, ".server")
}

// dnsClass: the request failed while resolving the name.
func dnsClass(class string) bool { return strings.HasPrefix(class, "dns-") }
