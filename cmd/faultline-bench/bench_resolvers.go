package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/faultline-dev/faultline/targets/dnsexec"
)

// The residual outage through each real resolver beside the preset
// modelled on it (`make bench-resolvers`): one timeline per fault
// (dnsexec.CompareResidual: the record, TTL 1 s, goes empty with negative
// TTL 5 s, or SERVFAIL, for 4 s and is restored; the same client asks both
// AAAA then A every 20 ms), a few rounds each. The figures are times of DNS
// answers relative to the heal, not of the machine's speed. A resolver that
// is not installed is named with the command that provides it.
func init() { registerOptIn("resolvers", benchResolvers) }

const resolverRounds = 3

func benchResolvers(ctx context.Context, out *os.File) error {
	fmt.Fprintf(out, "   %-8s %-13s %5s %12s %12s %10s\n", "resolver", "fault", "round", "real", "model", "real-model")
	var failed error
	for _, kind := range dnsexec.Names() {
		if _, err := dnsexec.Binary(kind); err != nil {
			fmt.Fprintf(out, "   %-8s %v\n", kind, err)
			continue
		}
		for _, fault := range []string{"dns.empty", "dns.servfail"} {
			for round := 1; round <= resolverRounds; round++ {
				r, err := dnsexec.CompareResidual(ctx, kind, fault)
				if err != nil {
					fmt.Fprintf(out, "   %-8s %-13s %5d  %v\n", kind, fault, round, err)
					failed = errors.Join(failed, err)
					continue
				}
				fmt.Fprintf(out, "   %-8s %-13s %5d %12s %12s %10s\n", kind, fault, round,
					r.Real.Round(time.Millisecond), r.Model.Round(time.Millisecond), (r.Real - r.Model).Round(time.Millisecond))
			}
		}
	}
	fmt.Fprintln(out, "   (residual outage: the heal to the first A answer with records; real = the resolver process, model = the preset of its name)")
	return failed
}
