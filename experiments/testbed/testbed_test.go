package testbed

import (
	"testing"
	"time"

	"github.com/faultline-dev/faultline/experiments/journal"
)

// The testbed journals its faults as applied by the test; what the test
// left applied is healed at cleanup (by "rollback"), and a fault applied
// through its Engine for a bound heals by itself.
func TestFaultsAreHealedWhoeverForgets(t *testing.T) {
	var tb *Testbed
	t.Run("test", func(t *testing.T) {
		tb = Start(t, Options{Regions: []string{"us-east-1"}})
		heal := tb.Apply(t, "dns.servfail", "dynamodb.us-east-1.amazonaws.com", nil)
		heal()
		heal() // a second call is harmless
		tb.Apply(t, "link.down", "us-east-1", nil)
		if _, err := tb.Engine().ApplyFor(tb.Engine().Active()[0].Fault, "test", time.Second); err == nil {
			t.Error("the same fault id applied twice")
		}
	})
	var got []string
	for _, e := range tb.Events() {
		if e.Type == journal.FaultApplied || e.Type == journal.FaultHealed {
			got = append(got, e.Type+" "+e.Fault+" by "+e.By)
		}
	}
	want := []string{"fault.applied f1 by test", "fault.healed f1 by test", "fault.applied f2 by test", "fault.healed f2 by rollback"}
	if len(got) != len(want) {
		t.Fatalf("fault events %q; want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("fault events %q; want %q", got, want)
			break
		}
	}
}
