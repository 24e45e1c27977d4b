package buildinfo

import (
	"runtime"
	"strings"
	"testing"
)

// A test binary has build info: the version names the Go that built it.
func TestVersion(t *testing.T) {
	v := Version()
	if !strings.HasSuffix(v, " "+runtime.Version()) || strings.HasPrefix(v, "unknown") {
		t.Errorf("Version() = %q, want it to end with the Go version %s", v, runtime.Version())
	}
}
