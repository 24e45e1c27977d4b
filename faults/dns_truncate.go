package faults

import (
	"fmt"

	"github.com/faultline-dev/faultline/targets/dnsstub"
)

// dns.truncate: UDP answers come back truncated (TC, no records), sending
// clients to TCP; tcp says whether TCP then works.
func init() {
	Register(dnsKind{
		name:    "dns.truncate",
		summary: "UDP answers are truncated (TC set, no records), forcing TCP; optionally TCP fails too",
		params: []Param{{Name: "tcp", Type: String, Default: "ok", Doc: "what the TCP retry gets: ok, servfail or drop",
			Check: func(s string) (any, error) {
				if s != "ok" && s != "servfail" && s != "drop" {
					return nil, fmt.Errorf("expected ok, servfail or drop, got %q", s)
				}
				return s, nil
			}}},
		action: func(_ World, v Values) (dnsstub.Action, error) {
			return dnsstub.Truncate(dnsstub.TruncateOptions{TCP: v.Get("tcp").(string)}), nil
		},
	})
}
