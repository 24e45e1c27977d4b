package spec

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// decoder walks yaml.Nodes (which carry line and column: the reason for
// yaml.v3 here) and collects every error with its position.
type decoder struct {
	file string
	errs ErrorList
	// global is topology.table.global's mapping, when given (its lag is
	// checked against the run once the schedule is read).
	global *yaml.Node
}

// misplaced says where a key that is unknown where it stands belongs.
var misplaced = map[string]string{
	"global": "a global table is the table's, for every region at once: set topology.table.global (each region's table is then a replica)",
}

func (d *decoder) errorf(n *yaml.Node, format string, args ...any) {
	d.errs = append(d.errs, &Error{Pos: d.pos(n), Msg: fmt.Sprintf(format, args...)})
}

func (d *decoder) pos(n *yaml.Node) Pos {
	if n == nil {
		return Pos{File: d.file, Line: 1, Col: 1}
	}
	return Pos{File: d.file, Line: n.Line, Col: n.Column}
}

func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// mapping checks that n is a mapping of known keys, reports unknown,
// duplicate and missing required keys, and calls each present key's handler.
func (d *decoder) mapping(n *yaml.Node, what string, fields []field) {
	n = deref(n)
	if n == nil || n.Kind != yaml.MappingNode {
		d.errorf(n, "%s: expected a mapping of keys (%s), got %s", what, fieldNames(fields), kindName(n))
		return
	}
	byName := map[string]field{}
	for _, f := range fields {
		byName[f.name] = f
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, "%s: expected a key name, got %s", what, kindName(k))
			continue
		}
		f, ok := byName[k.Value]
		if !ok {
			if hint, ok := misplaced[k.Value]; ok {
				d.errorf(k, "%s: unknown key %q: %s", what, k.Value, hint)
				continue
			}
			d.errorf(k, "%s: unknown key %q; expected one of: %s", what, k.Value, fieldNames(fields))
			continue
		}
		if seen[k.Value] {
			d.errorf(k, "%s: key %q appears twice", what, k.Value)
			continue
		}
		seen[k.Value] = true
		f.set(k, v)
	}
	for _, f := range fields {
		if f.required && !seen[f.name] {
			d.errorf(n, "%s: missing required key %q", what, f.name)
		}
	}
}

func fieldNames(fields []field) string {
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.name
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func kindName(n *yaml.Node) string {
	n = deref(n)
	if n == nil {
		return "nothing"
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing (null)"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "a document"
}

// scalar returns n's text if it is a scalar (not null).
func (d *decoder) scalar(n *yaml.Node, what string) (string, bool) {
	n = deref(n)
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		d.errorf(n, "%s: expected a value, got %s", what, kindName(n))
		return "", false
	}
	return n.Value, true
}

func (d *decoder) str(n *yaml.Node, what string, dst *string) {
	if s, ok := d.scalar(n, what); ok {
		*dst = s
	}
}

func (d *decoder) integer(n *yaml.Node, what string, lo, hi int64) (int64, bool) {
	s, ok := d.scalar(n, what)
	if !ok {
		return 0, false
	}
	i, err := strconv.ParseInt(s, 10, 64)
	if err != nil || deref(n).Tag != "!!int" {
		d.errorf(n, "%s: expected a whole number, got %q", what, s)
		return 0, false
	}
	if i < lo || i > hi {
		d.errorf(n, "%s: %d is out of range; expected %d to %d", what, i, lo, hi)
		return 0, false
	}
	return i, true
}

func (d *decoder) intField(n *yaml.Node, what string, lo, hi int64, dst *int) {
	if i, ok := d.integer(n, what, lo, hi); ok {
		*dst = int(i)
	}
}

func (d *decoder) number(n *yaml.Node, what string, lo, hi float64, dst *float64) {
	s, ok := d.scalar(n, what)
	if !ok {
		return
	}
	tag := deref(n).Tag
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || (tag != "!!int" && tag != "!!float") || math.IsNaN(f) || math.IsInf(f, 0) {
		d.errorf(n, "%s: expected a number, got %q", what, s)
		return
	}
	if f < lo || f > hi {
		d.errorf(n, "%s: %g is out of range; expected %g to %g", what, f, lo, hi)
		return
	}
	*dst = f
}

func (d *decoder) boolean(n *yaml.Node, what string, dst *bool) {
	s, ok := d.scalar(n, what)
	if !ok {
		return
	}
	if deref(n).Tag != "!!bool" {
		d.errorf(n, "%s: expected true or false, got %q", what, s)
		return
	}
	*dst = strings.EqualFold(s, "true") || strings.EqualFold(s, "yes") || strings.EqualFold(s, "on")
}

// duration parses a Go duration ("500ms", "3s") within [lo, hi]. Bare numbers
// are refused: "3" could mean seconds or milliseconds.
func (d *decoder) duration(n *yaml.Node, what string, lo, hi time.Duration, dst *time.Duration) bool {
	s, ok := d.scalar(n, what)
	if !ok {
		return false
	}
	if tag := deref(n).Tag; tag == "!!int" || tag == "!!float" {
		d.errorf(n, "%s: expected a duration like 500ms or 3s, got the bare number %s (add a unit)", what, s)
		return false
	}
	v, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		d.errorf(n, "%s: expected a duration like 500ms or 3s, got %q", what, s)
		return false
	}
	if v < 0 {
		d.errorf(n, "%s: must not be negative, got %s", what, s)
		return false
	}
	if v < lo || v > hi {
		d.errorf(n, "%s: %s is out of range; expected %s to %s", what, s, lo, hi)
		return false
	}
	*dst = v
	return true
}

// list calls each for every element of a sequence.
func (d *decoder) list(n *yaml.Node, what string, each func(i int, el *yaml.Node)) {
	n = deref(n)
	if n == nil || n.Kind != yaml.SequenceNode {
		d.errorf(n, "%s: expected a list, got %s", what, kindName(n))
		return
	}
	for i, el := range n.Content {
		each(i, el)
	}
}

func (d *decoder) strList(n *yaml.Node, what string, dst *[]string) {
	var out []string
	d.list(n, what, func(i int, el *yaml.Node) {
		var s string
		d.str(el, fmt.Sprintf("%s[%d]", what, i), &s)
		out = append(out, s)
	})
	*dst = out
}
