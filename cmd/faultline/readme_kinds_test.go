package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/faultline-dev/faultline/faults"
)

// The README's "Fault kinds" table says what the kinds' parameter structs
// declare: a row for every kind and a kind for every row, each kind's own
// parameters (the DNS selectors and toxiproxy's stream and toxicity are
// stated once, below the table) with their defaults or "required", and an
// example that the kind accepts.
func TestReadmeFaultKinds(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(data), "| kind | params (default) | what it does | example `params` |\n")
	if !ok {
		t.Fatal("README.md has no fault kinds table")
	}
	shared := map[string]bool{"qtype": true, "client": true, "probability": true, "stream": true, "toxicity": true}
	ticked := regexp.MustCompile("`([^`]*)`")
	rows := map[string]bool{}
	for _, line := range strings.Split(table, "\n")[1:] {
		if !strings.HasPrefix(line, "| `") {
			break
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		if len(cells) != 4 {
			t.Errorf("README row %q: want 4 cells", line)
			continue
		}
		name := strings.Trim(strings.TrimSpace(cells[0]), "`")
		rows[name] = true
		k, ok := faults.Lookup(name)
		if !ok {
			t.Errorf("README: %s is not a fault kind", name)
			continue
		}
		// The parameters: backticked names outside parentheses, each
		// followed by what it defaults to, if anything.
		said := map[string]string{}
		for _, m := range regexp.MustCompile("`([a-z_]+)`(?: \\(([^()]*)\\))?").FindAllStringSubmatchIndex(cells[1], -1) {
			if strings.Count(cells[1][:m[0]], "(") != strings.Count(cells[1][:m[0]], ")") {
				continue // a value inside another parameter's parentheses
			}
			note := ""
			if m[4] >= 0 {
				note = strings.ReplaceAll(cells[1][m[4]:m[5]], "`", "")
			}
			said[cells[1][m[2]:m[3]]] = note
		}
		own := map[string]bool{}
		for _, p := range k.Params() {
			if shared[p.Name] {
				continue
			}
			own[p.Name] = true
			note, ok := said[p.Name]
			switch {
			case !ok:
				t.Errorf("README: %s: parameter %s is not in the table", name, p.Name)
			case p.Required && !strings.Contains(note, "required"):
				t.Errorf("README: %s: %s is required, the table says (%s)", name, p.Name, note)
			case p.Default != "" && !strings.HasPrefix(note, p.Default):
				t.Errorf("README: %s: %s defaults to %s, the table says (%s)", name, p.Name, p.Default, note)
			}
		}
		for p := range said {
			if !own[p] {
				t.Errorf("README: %s has no parameter %s of its own", name, p)
			}
		}
		// The example is accepted by the kind.
		ex := ticked.FindStringSubmatch(cells[3])
		if ex == nil {
			t.Errorf("README: %s has no example", name)
			continue
		}
		var raw map[string]string
		if err := yaml.Unmarshal([]byte(ex[1]), &raw); err != nil {
			t.Errorf("README: %s: example %s: %v", name, ex[1], err)
			continue
		}
		if _, err := k.Parse(raw); err != nil {
			t.Errorf("README: %s: example %s: %v", name, ex[1], err)
		}
	}
	for _, n := range faults.Names() {
		if !rows[n] {
			t.Errorf("README: the fault kinds table has no row for %s", n)
		}
	}
}
