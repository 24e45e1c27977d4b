// Package buildinfo says which faultline this is: the module version and the
// VCS revision the Go toolchain recorded in the binary. `faultline version`
// prints it and every run writes it into its journal's run.start, so a
// report (junit.xml's properties) names the faultline that measured it.
package buildinfo

import (
	"fmt"
	"runtime/debug"
)

// Version is the module's version and the revision it was built from, e.g.
// "v0.3.0 (revision 95d325c1a2b3, 2026-12-01T10:00:00Z) go1.26.0", or
// "(devel) go1.26.0" for a build from a work tree without VCS stamping.
func Version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown (built without module information)"
	}
	v := info.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, at, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = ", with uncommitted changes"
			}
		}
	}
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		v += fmt.Sprintf(" (revision %s%s, %s)", rev, dirty, at)
	}
	return v + " " + info.GoVersion
}
