package faultline_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// The one-way flow (ARCHITECTURE.md): experiment file → spec → Engine(world)
// → journal → metrics → reports. A package may use what is upstream of it,
// never what is downstream; the targets know nothing of experiments or
// faults. This test reads every package's dependencies (go list) and fails
// on an arrow that runs against the flow.
func TestLayering(t *testing.T) {
	const mod = "github.com/faultline-dev/faultline/"
	deps := packageDeps(t)
	if len(deps) == 0 {
		t.Fatal("go list found no packages")
	}
	rules := []struct {
		pkgs   string   // a package, or a prefix ending in "/" for a tree
		banned []string // packages or trees (ending in "/") it must not depend on
		why    string
	}{
		{"targets/", []string{"experiments/", "faults", "reports", "cmd/"}, "the world knows nothing of experiments or faults"},
		{"faults", []string{"experiments/", "reports", "cmd/", "targets/topology"}, "a fault kind acts on the narrow faults.World, not on an experiment or the whole topology"},
		{"experiments/journal", []string{"faults", "targets/", "experiments/measure", "reports"}, "the journal is a plain stream of events"},
		{"experiments/assert", []string{"experiments/", "faults", "targets/", "reports"}, "the assertion grammar stands alone"},
		{"experiments/measure", []string{"faults", "targets/", "experiments/spec", "experiments/engine", "experiments/runner", "reports"}, "metrics are pure functions of the journal"},
		{"reports", []string{"faults", "targets/", "experiments/spec", "experiments/engine", "experiments/runner", "experiments/testbed"}, "reports are pure functions of metrics and the journal"},
		{"experiments/spec", []string{"experiments/measure", "experiments/engine", "experiments/runner", "reports"}, "spec parses experiments; it does not measure or run them"},
		{"experiments/export", []string{"experiments/engine", "experiments/runner", "experiments/testbed", "experiments/measure", "reports", "cmd/", "targets/topology"}, "an export reads an experiment; it runs nothing"},
		{"experiments/engine", []string{"experiments/runner", "experiments/testbed", "experiments/measure", "reports", "cmd/"}, "the Engine is under its drivers and above the metrics"},
	}
	for pkg, ds := range deps {
		rel, ok := strings.CutPrefix(pkg, mod)
		if !ok {
			continue
		}
		for _, r := range rules {
			if !within(rel, r.pkgs) {
				continue
			}
			for _, d := range ds {
				drel, ok := strings.CutPrefix(d, mod)
				if !ok {
					continue
				}
				for _, b := range r.banned {
					if within(drel, b) {
						t.Errorf("%s depends on %s: %s", rel, drel, r.why)
					}
				}
			}
		}
	}
}

// The Engine alone applies faults: only it implements the fault catalogue's
// view of the world.
func TestOnlyTheEngineImplementsFaultsWorld(t *testing.T) {
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules") && path != "." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		dir := filepath.ToSlash(filepath.Dir(path))
		if dir == "faults" || dir == "experiments/engine" {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.Contains(string(src), "faults.World") {
			t.Errorf("%s names faults.World: only experiments/engine adapts the world for the fault catalogue", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// within: rel is pkg, or lies in the tree pkg ("x/").
func within(rel, pkg string) bool {
	if strings.HasSuffix(pkg, "/") {
		return strings.HasPrefix(rel, pkg)
	}
	return rel == pkg
}

// packageDeps maps every package of the module to its transitive
// dependencies (not its tests').
func packageDeps(t *testing.T) map[string][]string {
	t.Helper()
	goCmd := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goCmd); err != nil {
		if goCmd, err = exec.LookPath("go"); err != nil {
			t.Skip("no go command to list the packages with")
		}
	}
	out, err := exec.Command(goCmd, "list", "-f", "{{.ImportPath}}|{{join .Deps \" \"}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, ds, _ := strings.Cut(line, "|")
		deps[pkg] = strings.Fields(ds)
	}
	return deps
}
