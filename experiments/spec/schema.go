package spec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
	"golang.org/x/text/message"

	"github.com/faultline-dev/faultline/faults"
)

// SchemaID names the experiment format's JSON Schema.
const SchemaID = "https://faultline.dev/schema/experiment.json"

// Schema is the experiment format as a JSON Schema (draft 2020-12), for
// editors (`faultline schema`). It is built from the tables the parser uses
// (its keys, bounds and patterns, the fault kinds and their parameters, the
// resolver presets), and Parse checks every file against it too, so an
// editor and `faultline validate` apply the same rules. Some rules need the
// whole file (a client's region must be in the topology, a fault must end
// before the experiment): those only the parser checks.
func Schema() []byte {
	b, err := json.MarshalIndent(schemaDoc(), "", "  ")
	if err != nil {
		panic(err) // a literal document
	}
	return append(b, '\n')
}

type obj = map[string]any

func object(required []string, props obj) obj {
	o := obj{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

func str(desc string) obj { return obj{"type": "string", "description": desc} }

func pattern(p, desc string) obj { return obj{"type": "string", "pattern": p, "description": desc} }

func enum(values []string, desc string) obj { return obj{"enum": values, "description": desc} }

func integer(lo, hi int, desc string) obj {
	return obj{"type": "integer", "minimum": lo, "maximum": hi, "description": desc}
}

func number(lo, hi float64, desc string) obj {
	return obj{"type": "number", "minimum": lo, "maximum": hi, "description": desc}
}

func boolean(desc string) obj { return obj{"type": "boolean", "description": desc} }

func list(items obj, minItems int, desc string) obj {
	l := obj{"type": "array", "items": items, "description": desc}
	if minItems > 0 {
		l["minItems"] = minItems
	}
	return l
}

// durationPattern is Go's duration syntax ("500ms", "1m30s"); a bare number
// is refused, as the parser refuses it.
const durationPattern = `^\s*([0-9]*\.?[0-9]+(ns|us|µs|ms|s|m|h))+\s*$`

// A duration's bounds, which JSON Schema cannot compare, are stated in
// its description and in these keywords (Go durations, inclusive); the
// compiled schema Parse checks with enforces them (durationVocabulary).
const (
	xDurationMin = "x-duration-minimum"
	xDurationMax = "x-duration-maximum"
)

// schemaDoc is the format's tables (experimentFields and below) as a
// schema: nothing in it is written twice.
func schemaDoc() obj {
	d := &decoder{}
	doc := objectValue("An experiment file for faultline (README: Experiment file reference).",
		func() []field { return d.experimentFields(&Experiment{}, &experimentNodes{}) }).schema()
	doc["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	doc["$id"] = SchemaID
	doc["title"] = "faultline experiment"
	return doc
}

// paramSchema is one fault parameter, from its kind's parameter struct: YAML
// may write any of them quoted (the bounds of a number apply when it is
// not).
func paramSchema(p faults.Param) obj {
	desc := p.Doc
	if p.Default != "" {
		desc += " (default " + p.Default + ")"
	}
	var o obj
	switch p.Type {
	case faults.Duration:
		o = pattern(durationPattern, desc)
		if p.Bounded {
			lo, hi := time.Duration(p.Min*float64(time.Millisecond)), time.Duration(p.Max*float64(time.Millisecond))
			o["description"] = fmt.Sprintf("%s (a Go duration, %s to %s)", desc, lo, hi)
			o[xDurationMin], o[xDurationMax] = lo.String(), hi.String()
		}
		return o
	case faults.Float:
		o = obj{"type": []string{"number", "string"}, "description": desc}
	case faults.Int:
		o = obj{"type": []string{"integer", "string"}, "description": desc}
	case faults.Bool:
		return obj{"type": []string{"boolean", "string"}, "description": desc}
	default:
		if len(p.Enum) > 0 {
			return obj{"enum": p.Enum, "description": desc}
		}
		return obj{"type": []string{"string", "number", "boolean"}, "description": desc}
	}
	if p.Unit != "" && !strings.Contains(desc, p.Unit) {
		o["description"] = desc + " (" + p.Unit + ")"
	}
	if p.Bounded {
		o["minimum"], o["maximum"] = p.Min, p.Max
	}
	return o
}

var (
	compiled     *jsonschema.Schema
	compileOnce  sync.Once
	compileError error
)

func compiledSchema() (*jsonschema.Schema, error) {
	compileOnce.Do(func() {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema()))
		if err != nil {
			compileError = err
			return
		}
		c := jsonschema.NewCompiler()
		c.AssertVocabs()
		vocab, err := durationVocabulary()
		if err != nil {
			compileError = err
			return
		}
		c.RegisterVocabulary(vocab)
		if err := c.AddResource(SchemaID, doc); err != nil {
			compileError = err
			return
		}
		compiled, compileError = c.Compile(SchemaID)
	})
	return compiled, compileError
}

// durationVocabulary enforces x-duration-minimum and x-duration-maximum:
// a string that is a Go duration must lie within them.
func durationVocabulary() (*jsonschema.Vocabulary, error) {
	const url = "https://faultline.dev/schema/vocab/duration"
	meta, err := jsonschema.UnmarshalJSON(strings.NewReader(`{"properties": {
		"` + xDurationMin + `": {"type": "string"}, "` + xDurationMax + `": {"type": "string"}}}`))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(url, meta); err != nil {
		return nil, err
	}
	sch, err := c.Compile(url)
	if err != nil {
		return nil, err
	}
	return &jsonschema.Vocabulary{URL: url, Schema: sch, Compile: compileDurationBounds}, nil
}

func compileDurationBounds(_ *jsonschema.CompilerContext, o map[string]any) (jsonschema.SchemaExt, error) {
	lo, hasLo := o[xDurationMin].(string)
	hi, hasHi := o[xDurationMax].(string)
	if !hasLo && !hasHi {
		return nil, nil
	}
	b := durationBounds{lo: math.MinInt64, hi: math.MaxInt64}
	var err error
	if hasLo {
		if b.lo, err = time.ParseDuration(lo); err != nil {
			return nil, fmt.Errorf("%s: %w", xDurationMin, err)
		}
	}
	if hasHi {
		if b.hi, err = time.ParseDuration(hi); err != nil {
			return nil, fmt.Errorf("%s: %w", xDurationMax, err)
		}
	}
	return b, nil
}

type durationBounds struct{ lo, hi time.Duration }

func (b durationBounds) Validate(ctx *jsonschema.ValidatorContext, v any) {
	s, ok := v.(string)
	if !ok {
		return
	}
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return // the pattern says what is wrong
	}
	switch {
	case d < b.lo:
		ctx.AddError(&durationOutOfRange{keyword: xDurationMin, got: s, bound: b.lo})
	case d > b.hi:
		ctx.AddError(&durationOutOfRange{keyword: xDurationMax, got: s, bound: b.hi})
	}
}

type durationOutOfRange struct {
	keyword, got string
	bound        time.Duration
}

func (e *durationOutOfRange) KeywordPath() []string { return []string{e.keyword} }

func (e *durationOutOfRange) LocalizedString(*message.Printer) string {
	if e.keyword == xDurationMin {
		return fmt.Sprintf("%s is shorter than %s", e.got, e.bound)
	}
	return fmt.Sprintf("%s is longer than %s", e.got, e.bound)
}

// checkSchema validates a parsed YAML document against Schema and returns
// its violations at the positions of the offending nodes.
func checkSchema(file string, root *yaml.Node) ErrorList {
	sch, err := compiledSchema()
	if err != nil {
		return ErrorList{{Pos: Pos{file, 1, 1}, Msg: "the experiment schema does not compile: " + err.Error()}}
	}
	inst, err := jsonValue(root)
	if err != nil {
		return nil // the parser reports what YAML cannot express as JSON
	}
	verr, ok := sch.Validate(inst).(*jsonschema.ValidationError)
	if !ok {
		return nil
	}
	var out ErrorList
	for _, leaf := range leaves(verr) {
		n := nodeAt(root, leaf.InstanceLocation)
		out = append(out, &Error{Pos: Pos{file, n.Line, n.Column},
			Msg: fmt.Sprintf("%s: %s (the experiment schema; `faultline schema` prints it)", pathOf(leaf.InstanceLocation), leafMessage(leaf))})
	}
	return out.sorted()
}

// leaves are the innermost causes: the ones that say what is wrong.
func leaves(e *jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(e.Causes) == 0 {
		return []*jsonschema.ValidationError{e}
	}
	var out []*jsonschema.ValidationError
	for _, c := range e.Causes {
		out = append(out, leaves(c)...)
	}
	return out
}

func leafMessage(e *jsonschema.ValidationError) string {
	msg := e.Error()
	if i := strings.LastIndex(msg, "\n"); i >= 0 {
		msg = msg[i+1:]
	}
	// The library leads with the location; the error's position says it.
	msg = leadingLocation.ReplaceAllString(strings.TrimSpace(msg), "")
	return msg
}

var leadingLocation = regexp.MustCompile(`^(- )?at '[^']*': `)

func pathOf(loc []string) string {
	if len(loc) == 0 {
		return "experiment"
	}
	var b strings.Builder
	for i, p := range loc {
		if _, err := strconv.Atoi(p); err == nil {
			fmt.Fprintf(&b, "[%s]", p)
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	return b.String()
}

// nodeAt walks a JSON pointer's segments down the YAML tree; where it cannot
// go further, the last node reached stands for the place.
func nodeAt(n *yaml.Node, loc []string) *yaml.Node {
	n = deref(n)
	for _, seg := range loc {
		next := (*yaml.Node)(nil)
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == seg {
					next = n.Content[i+1]
				}
			}
		case yaml.SequenceNode:
			if i, err := strconv.Atoi(seg); err == nil && i < len(n.Content) {
				next = n.Content[i]
			}
		}
		if next == nil {
			return n
		}
		n = deref(next)
	}
	return n
}

// jsonValue is the YAML document as the JSON value a schema validates:
// objects, arrays, json.Number, strings, booleans and null.
func jsonValue(root *yaml.Node) (any, error) {
	var v any
	if err := root.Decode(&v); err != nil {
		return nil, err
	}
	v, err := stringKeys(v)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return jsonschema.UnmarshalJSON(bytes.NewReader(b))
}

// stringKeys turns YAML's map[any]any (non-string keys) into JSON objects.
func stringKeys(v any) (any, error) {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			y, err := stringKeys(x)
			if err != nil {
				return nil, err
			}
			t[k] = y
		}
		return t, nil
	case map[any]any:
		m := map[string]any{}
		for k, x := range t {
			y, err := stringKeys(x)
			if err != nil {
				return nil, err
			}
			m[fmt.Sprint(k)] = y
		}
		return m, nil
	case []any:
		for i, x := range t {
			y, err := stringKeys(x)
			if err != nil {
				return nil, err
			}
			t[i] = y
		}
		return t, nil
	}
	return v, nil
}
