// Package export writes an experiment for the chaos engines teams already
// run — Chaos Mesh (chaosmesh.go) and AWS FIS (fis.go) — and says, fault by
// fault, how faithful that is: mapped exactly, approximated (and how), or
// not expressible (and why). An engine that cannot do what a fault does is
// never made to look as if it could: the table says so, and the caller
// refuses the export unless the user accepts approximations.
package export

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/faultline-dev/faultline/faults"
)

// Fidelity is how faithfully an engine reproduces a fault.
type Fidelity int

const (
	Exact          Fidelity = iota // the engine does what the fault does
	Approximated                   // the engine does something near it; How says what differs
	NotExpressible                 // the engine has nothing near it; How says why; it is left out
)

func (f Fidelity) String() string {
	switch f {
	case Exact:
		return "exact"
	case Approximated:
		return "approximated"
	}
	return "not expressible"
}

// Mapping is what became of one fault of the experiment.
type Mapping struct {
	Fault    faults.Fault
	Fidelity Fidelity
	As       string // the engine's action, e.g. "DNSChaos error"; "" when not expressible
	How      string // what differs from the fault, or why nothing can stand for it
}

// Result is an export: the engine's document and the fate of every fault.
type Result struct {
	Engine   string // "chaos-mesh" or "fis"
	Document []byte // what the engine takes; the not-expressible faults are not in it
	Mappings []Mapping
	// Notes are what the export decided beside the faults (stop conditions,
	// the Region), printed under the table.
	Notes []string
}

// Unfaithful lists the faults the document does not reproduce exactly.
func (r Result) Unfaithful() []Mapping {
	var out []Mapping
	for _, m := range r.Mappings {
		if m.Fidelity != Exact {
			out = append(out, m)
		}
	}
	return out
}

// Expressed counts the faults that are in the document.
func (r Result) Expressed() int {
	n := 0
	for _, m := range r.Mappings {
		if m.Fidelity != NotExpressible {
			n++
		}
	}
	return n
}

// WriteTable prints every fault's mapping, then the notes.
func (r Result) WriteTable(w io.Writer, experiment string) error {
	fmt.Fprintf(w, "faultline export: %s to %s\n", experiment, r.Engine)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  fault\tkind\tfidelity\tas\thow")
	for _, m := range r.Mappings {
		as := m.As
		if as == "" {
			as = "-"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", m.Fault.ID, m.Fault.Kind, m.Fidelity, as, m.How)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
	return nil
}

// UnfaithfulError refuses an export that would not reproduce every fault
// exactly, naming the faults, when the user did not accept approximations.
type UnfaithfulError struct {
	Engine string
	Faults []Mapping
}

func (e *UnfaithfulError) Error() string {
	var parts []string
	for _, m := range e.Faults {
		parts = append(parts, fmt.Sprintf("%s (%s): %s", m.Fault.ID, m.Fault.Kind, m.Fidelity))
	}
	return fmt.Sprintf("%s cannot reproduce every fault exactly: %s; nothing was written (--approximate accepts the approximations and leaves the faults that cannot be expressed out)",
		e.Engine, strings.Join(parts, ", "))
}

// InputError is a flag the export needs and did not get, or got wrong.
type InputError struct {
	Flag string // e.g. "--role-arn"
	Msg  string
}

func (e *InputError) Error() string { return e.Flag + ": " + e.Msg }

// params parses a fault's raw parameters into its kind's typed struct,
// defaults filled in, so that the mappings read fields, never strings.
func params(f faults.Fault) (faults.Applier, error) {
	k, ok := faults.Lookup(f.Kind)
	if !ok {
		return nil, fmt.Errorf("fault %s: unknown kind %q", f.ID, f.Kind)
	}
	p, err := k.Parse(f.Params)
	if err != nil {
		return nil, fmt.Errorf("fault %s (%s): %w", f.ID, f.Kind, err)
	}
	return p, nil
}

// scale stretches an experiment's times: faultline's built-in experiments
// are compressed (health checks at 1/60 of AWS's), engines run in real time.
func scale(d time.Duration, by float64) time.Duration {
	if by == 0 || by == 1 {
		return d
	}
	return time.Duration(float64(d) * by)
}

// notExpressible and approximated build mappings.
func notExpressible(f faults.Fault, why string) Mapping {
	return Mapping{Fault: f, Fidelity: NotExpressible, How: why}
}

func approximated(f faults.Fault, as, how string) Mapping {
	return Mapping{Fault: f, Fidelity: Approximated, As: as, How: how}
}
