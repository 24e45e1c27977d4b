package measure_test

import (
	"testing"

	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/experiments/measure"
	"github.com/faultline-dev/faultline/faults"
)

// A journal written before faults said their reach is read by the kind's
// family: that reading must agree with what the catalogue says today.
func TestOldJournalsReadTheCataloguesReach(t *testing.T) {
	for _, k := range faults.Kinds() {
		w := measure.Faults([]journal.Event{{Type: journal.FaultApplied, Fault: "f1", Kind: k.Name(), Target: "x"}})
		if got, want := w[0].Reach, faults.ReachOf(k); got != want {
			t.Errorf("%s: an old journal reads reach %q, the catalogue says %q", k.Name(), got, want)
		}
	}
}
