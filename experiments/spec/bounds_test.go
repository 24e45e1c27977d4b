package spec

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/faultline-dev/faultline/faults"
)

// boundsBases are files that every bounded key can be set in: a reference
// client's keys in the first, an application's in the second. The health
// check's interval and timeout leave each other room at both ends.
var boundsBases = []string{`name: bounds
topology:
  automation: {enactors: 3}
  table:
    global:
      replication_lag: 10m
  regions:
    - name: us-east-1
      health_check: {interval: 5m, timeout: 10ms}
    - name: us-west-2
clients:
  - name: ref
    strategy: failover
    regions: [us-east-1, us-west-2]
schedule:
  duration: 1h
  faults:
    - kind: dns.empty
      target: dynamodb.us-east-1.amazonaws.com
      start: 0s
      duration: 1s
`, `name: bounds
topology:
  regions:
    - name: us-east-1
clients:
  - name: app
    command: [sleep, "60"]
    health: {url: "http://127.0.0.1:1/healthz"}
schedule:
  duration: 1h
`, `name: bounds
topology:
  regions:
    - name: us-east-1
      capacity: {rps: 10}
clients:
  - name: herd
    regions: [us-east-1]
    fleet: {size: 10, rate: 10, retry: standard}
schedule:
  duration: 1h
`}

// bounded is one key with bounds, found by walking the format's tables.
type bounded struct {
	path []string // keys, and "0" for a list's first element
	val  value
}

func boundedKeys(v value, path []string) []bounded {
	switch v.typ {
	case tDuration, tNumber:
		return []bounded{{path, v}}
	case tInteger:
		if v.ilo == math64Min && v.ihi == math64Max {
			return nil // unbounded
		}
		return []bounded{{path, v}}
	case tObject:
		var out []bounded
		for _, f := range v.fields() {
			out = append(out, boundedKeys(f.val, append(append([]string(nil), path...), f.name))...)
		}
		return out
	case tList:
		return boundedKeys(*v.item, append(append([]string(nil), path...), "0"))
	}
	return nil
}

// probe is a value at a bound: text as YAML writes it, and whether it is
// inside.
type probe struct {
	text   string
	inside bool
}

func probes(v value) []probe {
	switch v.typ {
	case tDuration:
		lo := v.dlo
		if v.positive {
			lo = time.Nanosecond
		}
		below := lo - time.Millisecond
		if v.positive {
			below = 0
		}
		return []probe{{lo.String(), true}, {below.String(), false}, {v.dhi.String(), true}, {(v.dhi + time.Millisecond).String(), false}}
	case tInteger:
		return []probe{{fmt.Sprint(v.ilo), true}, {fmt.Sprint(v.ilo - 1), false}, {fmt.Sprint(v.ihi), true}, {fmt.Sprint(v.ihi + 1), false}}
	}
	return floatProbes(v.flo, v.fhi)
}

func floatProbes(lo, hi float64) []probe {
	f := func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
	return []probe{{f(lo), true}, {f(math.Nextafter(lo, math.Inf(-1))), false}, {f(hi), true}, {f(math.Nextafter(hi, math.Inf(1))), false}}
}

// verdict is what the parser and the schema say about one file, and about
// the line of the value probed.
type verdict struct {
	parser, schema             ErrorList
	parserAtLine, schemaAtLine bool
}

func judge(t *testing.T, doc *yaml.Node, path []string) verdict {
	t.Helper()
	text, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(text, &root); err != nil {
		t.Fatal(err)
	}
	line := nodeAt(root.Content[0], path).Line
	var v verdict
	d := &decoder{file: "bounds.yaml"}
	d.experiment(root.Content[0])
	v.parser = d.errs
	v.schema = checkSchema("bounds.yaml", root.Content[0])
	for _, e := range v.parser {
		v.parserAtLine = v.parserAtLine || e.Pos.Line == line
	}
	for _, e := range v.schema {
		v.schemaAtLine = v.schemaAtLine || e.Pos.Line == line
	}
	return v
}

// setAt sets the scalar at path, making the mappings on the way.
func setAt(n *yaml.Node, path []string, text string) bool {
	n = deref(n)
	for i, seg := range path {
		last := i == len(path)-1
		switch n.Kind {
		case yaml.SequenceNode:
			j, err := strconv.Atoi(seg)
			if err != nil || j >= len(n.Content) {
				return false
			}
			n = deref(n.Content[j])
			continue
		case yaml.MappingNode:
		default:
			return false
		}
		var next *yaml.Node
		for k := 0; k+1 < len(n.Content); k += 2 {
			if n.Content[k].Value == seg {
				next = n.Content[k+1]
			}
		}
		if next == nil {
			next = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: seg}, next)
		}
		if last {
			*next = yaml.Node{Kind: yaml.ScalarNode, Value: text}
			// Let YAML type it as it would in a file: 5m a string, 3 an int.
			var typed yaml.Node
			if err := yaml.Unmarshal([]byte(text), &typed); err == nil && len(typed.Content) == 1 {
				next.Tag = typed.Content[0].Tag
			}
			return true
		}
		n = deref(next)
	}
	return false
}

func parseBase(t *testing.T, text string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatal(err)
	}
	return &doc
}

// checkBounds probes one bounded key at both ends, in the first base file
// that takes its inside values without any error (or, where a rule about
// other keys refuses them everywhere, without an error on its line): a
// value just inside passes the parser and the schema, just outside fails
// both, on its line.
func checkBounds(t *testing.T, name string, path []string, ps []probe, bases []func() *yaml.Node) {
	t.Helper()
	ctx, strict := -1, false
	for _, relaxed := range []bool{false, true} {
		for i, base := range bases {
			fits := true
			for _, p := range ps {
				if !p.inside {
					continue
				}
				doc := base()
				if !setAt(doc.Content[0], path, p.text) {
					fits = false
					break
				}
				v := judge(t, doc, path)
				if relaxed {
					fits = fits && !v.parserAtLine && !v.schemaAtLine
				} else {
					fits = fits && len(v.parser) == 0 && len(v.schema) == 0
				}
			}
			if fits {
				ctx, strict = i, !relaxed
				break
			}
		}
		if ctx >= 0 {
			break
		}
	}
	if ctx < 0 {
		doc := bases[0]()
		setAt(doc.Content[0], path, ps[0].text)
		v := judge(t, doc, path)
		t.Errorf("%s: no file takes its values inside the bounds: parser %v; schema %v", name, v.parser, v.schema)
		return
	}
	if !strict {
		t.Logf("%s: other keys' rules refuse a bound (judged on its line only)", name)
	}
	for _, p := range ps {
		doc := bases[ctx]()
		setAt(doc.Content[0], path, p.text)
		v := judge(t, doc, path)
		switch {
		case p.inside && (v.parserAtLine || v.schemaAtLine):
			t.Errorf("%s = %s (inside): parser %v; schema %v", name, p.text, v.parser, v.schema)
		case !p.inside && !v.parserAtLine:
			t.Errorf("%s = %s (outside): the parser takes it (%v)", name, p.text, v.parser)
		case !p.inside && !v.schemaAtLine:
			t.Errorf("%s = %s (outside): the schema takes it (%v)", name, p.text, v.schema)
		}
	}
}

// The parser and the schema agree on every bound of the format, because
// both come from the same tables: walked here, every bounded key (and every
// bounded parameter of every fault kind) is set just inside and just
// outside each of its bounds.
func TestParserAndSchemaAgreeOnBounds(t *testing.T) {
	d := &decoder{}
	keys := boundedKeys(objectValue("", func() []field { return d.experimentFields(&Experiment{}, &experimentNodes{}) }), nil)
	if len(keys) < 20 {
		t.Fatalf("found %d bounded keys; the walk lost some", len(keys))
	}
	var bases []func() *yaml.Node
	for _, b := range boundsBases {
		bases = append(bases, func() *yaml.Node { return parseBase(t, b) })
	}
	for _, k := range keys {
		checkBounds(t, strings.Join(k.path, "."), k.path, probes(k.val), bases)
	}

	// Fault parameters: each kind on a target of its type, with its
	// required parameters at their lowest.
	together := map[string]map[string]string{"dns.redirect": {"to": "127.0.255.1"}, "ddb.replication-lag": {"lag": "10m"}}
	n := 0
	for _, kind := range faults.Kinds() {
		target := "us-east-1"
		if kind.Target() == faults.TargetDNSName {
			target = "dynamodb.us-east-1.amazonaws.com"
		}
		for _, p := range kind.Params() {
			if !p.Bounded {
				continue
			}
			n++
			base := func() *yaml.Node {
				doc := parseBase(t, boundsBases[0])
				f := []string{"schedule", "faults", "0"}
				setAt(doc.Content[0], append(f, "kind"), kind.Name())
				setAt(doc.Content[0], append(f, "target"), target)
				for _, q := range kind.Params() {
					if q.Required {
						setAt(doc.Content[0], append(f, "params", q.Name), paramProbes(q)[0].text)
					}
				}
				for k, v := range together[kind.Name()] {
					setAt(doc.Content[0], append(f, "params", k), v)
				}
				return doc
			}
			path := []string{"schedule", "faults", "0", "params", p.Name}
			checkBounds(t, kind.Name()+" "+p.Name, path, paramProbes(p), []func() *yaml.Node{base})
		}
	}
	if n < 20 {
		t.Errorf("found %d bounded fault parameters; the kinds lost some", n)
	}
}

// paramProbes are a fault parameter's bounds, written unquoted.
func paramProbes(p faults.Param) []probe {
	if p.Type == faults.Duration {
		ms := func(x float64) time.Duration { return time.Duration(x * float64(time.Millisecond)) }
		return []probe{{ms(p.Min).String(), true}, {(ms(p.Min) - time.Millisecond).String(), false},
			{ms(p.Max).String(), true}, {(ms(p.Max) + time.Millisecond).String(), false}}
	}
	if p.Type == faults.Int {
		return []probe{{fmt.Sprint(int64(p.Min)), true}, {fmt.Sprint(int64(p.Min) - 1), false},
			{fmt.Sprint(int64(p.Max)), true}, {fmt.Sprint(int64(p.Max) + 1), false}}
	}
	return floatProbes(p.Min, p.Max)
}
