package dnsexec_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/targets/dnsexec"
)

const endpoint = "dynamodb.us-east-1.amazonaws.com."

// need skips the test, saying why, when the resolver's binary is missing.
func need(t *testing.T, kind string) {
	t.Helper()
	if _, err := dnsexec.Binary(kind); err != nil {
		t.Skipf("%v", err)
	}
}

// TestModelAgreesWithTheRealResolver runs one timeline (CompareResidual: the
// record served with TTL 1 s goes empty, NODATA with negative TTL 5 s, or
// SERVFAIL, for 4 s, and is restored) through the real resolver and through
// the preset modelled on it, side by side, and requires the residual
// outages, read from the answers' times relative to the heal, to agree
// within 100 ms.
func TestModelAgreesWithTheRealResolver(t *testing.T) {
	for _, kind := range []string{"unbound", "dnsmasq"} {
		for _, fault := range []string{"dns.empty", "dns.servfail"} {
			t.Run(kind+"/"+fault, func(t *testing.T) {
				need(t, kind)
				t.Parallel()
				r, err := dnsexec.CompareResidual(context.Background(), kind, fault)
				if err != nil {
					t.Fatal(err)
				}
				real, model := r.Real, r.Model
				t.Logf("%s, %s: residual outage %s real, %s model (timelines run: %d)", kind, fault, real, model, r.Attempts)
				if d := math.Abs(float64(real - model)); d > float64(100*time.Millisecond) {
					t.Errorf("%s, %s: residual outage %s with the real resolver, %s with the %q model: %s apart, more than 100 ms",
						kind, fault, real, model, kind, time.Duration(d))
				}
			})
		}
	}
}
