package faults

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A kind's parameters are one Go struct: each field that carries a param tag
// is a parameter, and the struct is what the kind applies (as a toxiproxy
// toxic is its typed attributes). The tags are the catalogue, `faultline
// kinds`, GET /kinds and the experiment schema read them, and the one
// decoder below fills the struct from text (YAML scalars, the control API's
// JSON, `faultline inject --param k=v`):
//
//	Delay time.Duration `param:"delay" required:"true" min:"0s" max:"60s" doc:"fixed delay, e.g. 500ms"`
//
// Tags: param (the name), default (text, parsed as a given value would be),
// required ("true"), min and max (inclusive; durations as durations),
// unit, doc, enum (a string's allowed values, comma-separated), region
// ("true": the value names a region of the topology). Field types:
// time.Duration, float64, int, bool, string, or a type whose pointer is a
// ParamParser. An embedded struct without a param tag adds its parameters
// (the DNS selectors, toxiproxy's stream and toxicity) after the fields
// before it.

// Applier is a kind's parameter struct, filled and checked: applying it
// injects the fault, and the returned heal undoes it. Apply must leave
// nothing applied when it returns an error.
type Applier interface {
	Apply(w World, f Fault) (heal func() error, err error)
}

// ParamParser is a parameter type of its own (a list of addresses, a query
// type): it parses the parameter's text, trimmed of spaces. Its catalogue
// type is string.
type ParamParser interface {
	ParseParam(s string) error
}

// checker is implemented by parameter structs whose parameters must go
// together; it runs after every parameter is parsed.
type checker interface{ check() error }

// Meta is what a kind is, apart from its parameters.
type Meta struct {
	Name    string
	Summary string
	Target  TargetType
	// Reach is what shows that the fault touched a client; "" is its
	// target type's (ReachOf).
	Reach string
	// NeedsAutomation: it acts on the DNS automation, so an experiment
	// without one is refused before it runs.
	NeedsAutomation bool
	// EmptyAnswers: it shapes no answer itself but empties its target's
	// record by other means (the automation's race): an empty A answer for
	// the target, while it is applied, is the fault reaching a client
	// (ReachDNSEmpty).
	EmptyAnswers bool
	// NeedsReplication: it acts on a global table's replication, so an
	// experiment whose table is not global is refused before it runs.
	NeedsReplication bool
}

// typedKind is a kind defined by its parameter struct P.
type typedKind[P Applier] struct {
	meta   Meta
	params []Param
}

// Define makes the kind whose parameters are the struct P (see the tags
// above). It panics on a struct it cannot read: kinds are defined in init.
func Define[P Applier](m Meta) Kind {
	var zero P
	ps, err := paramsOf(reflect.TypeOf(zero))
	if err != nil {
		panic(fmt.Sprintf("faults: kind %s: %v", m.Name, err))
	}
	k := &typedKind[P]{meta: m, params: ps}
	// Every default must be a valid value of its parameter.
	var p P
	v := reflect.ValueOf(&p).Elem()
	for _, prm := range ps {
		if prm.Default == "" {
			continue
		}
		if err := prm.set(v.FieldByIndex(prm.index), prm.Default); err != nil {
			panic(fmt.Sprintf("faults: kind %s: default of %s: %v", m.Name, prm.Name, err))
		}
	}
	return k
}

func (k *typedKind[P]) Name() string       { return k.meta.Name }
func (k *typedKind[P]) Summary() string    { return k.meta.Summary }
func (k *typedKind[P]) Target() TargetType { return k.meta.Target }
func (k *typedKind[P]) Meta() Meta         { return k.meta }
func (k *typedKind[P]) Params() []Param {
	out := append([]Param(nil), k.params...)
	for i := range out {
		out[i].Enum = append([]string(nil), out[i].Enum...) // the catalogue's own, not the caller's
	}
	return out
}

// Parse fills the kind's parameter struct from raw text: every name must be
// a parameter of the kind; an absent one takes its default; then the struct
// checks how its parameters go together.
func (k *typedKind[P]) Parse(raw map[string]string) (Applier, error) {
	var p P
	if err := fill(k.meta.Name, k.params, reflect.ValueOf(&p).Elem(), raw); err != nil {
		return nil, err
	}
	if c, ok := any(&p).(checker); ok {
		if err := c.check(); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func fill(kind string, params []Param, v reflect.Value, raw map[string]string) error {
	declared := map[string]bool{}
	for _, p := range params {
		declared[p.Name] = true
	}
	for name := range raw {
		if !declared[name] {
			return &ParamError{Param: name, Msg: fmt.Sprintf("unknown parameter for %s; %s", kind, expectedParams(params))}
		}
	}
	for _, p := range params {
		s, given := raw[p.Name]
		if !given {
			if p.Required {
				return &ParamError{Param: p.Name, Msg: fmt.Sprintf("required by %s (%s)", kind, p.Doc)}
			}
			s = p.Default
			if s == "" {
				continue
			}
		}
		if err := p.set(v.FieldByIndex(p.index), s); err != nil {
			return &ParamError{Param: p.Name, Msg: err.Error()}
		}
	}
	return nil
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	parserType   = reflect.TypeFor[ParamParser]()
	paramsCache  sync.Map // reflect.Type -> []Param
)

// paramsOf reads a parameter struct's tags.
func paramsOf(t reflect.Type) ([]Param, error) {
	if ps, ok := paramsCache.Load(t); ok {
		return ps.([]Param), nil
	}
	if t == nil || t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("parameters must be a struct, got %v", t)
	}
	var out []Param
	seen := map[string]bool{}
	var walk func(t reflect.Type, index []int) error
	walk = func(t reflect.Type, index []int) error {
		for i := 0; i < t.NumField(); i++ {
			sf := t.Field(i)
			idx := append(append([]int(nil), index...), i)
			name, tagged := sf.Tag.Lookup("param")
			if !tagged {
				if sf.Anonymous && sf.Type.Kind() == reflect.Struct {
					if err := walk(sf.Type, idx); err != nil {
						return err
					}
				}
				continue
			}
			if !sf.IsExported() {
				return fmt.Errorf("field %s: a parameter field must be exported", sf.Name)
			}
			p, err := paramOf(sf, name)
			if err != nil {
				return fmt.Errorf("field %s: %w", sf.Name, err)
			}
			if seen[p.Name] {
				return fmt.Errorf("parameter %q is declared twice", p.Name)
			}
			seen[p.Name] = true
			p.index = idx
			out = append(out, p)
		}
		return nil
	}
	if err := walk(t, nil); err != nil {
		return nil, err
	}
	paramsCache.Store(t, out)
	return out, nil
}

func paramOf(sf reflect.StructField, name string) (Param, error) {
	tag := sf.Tag
	p := Param{Name: name, Default: tag.Get("default"), Required: tag.Get("required") == "true",
		Unit: tag.Get("unit"), Doc: tag.Get("doc"), Region: tag.Get("region") == "true"}
	if name == "" {
		return p, fmt.Errorf("empty param name")
	}
	if p.Doc == "" {
		return p, fmt.Errorf("parameter %q has no doc", name)
	}
	switch ft := sf.Type; {
	case reflect.PointerTo(ft).Implements(parserType):
		p.Type = String
	case ft == durationType:
		p.Type = Duration
	case ft.Kind() == reflect.Float64:
		p.Type = Float
	case ft.Kind() == reflect.Int || ft.Kind() == reflect.Int64:
		p.Type = Int
	case ft.Kind() == reflect.Bool:
		p.Type = Bool
	case ft.Kind() == reflect.String:
		p.Type = String
	default:
		return p, fmt.Errorf("parameter %q: type %v is not a parameter type", name, ft)
	}
	if e := tag.Get("enum"); e != "" {
		if p.Type != String {
			return p, fmt.Errorf("parameter %q: enum on a %s", name, p.Type)
		}
		p.Enum = strings.Split(e, ",")
	}
	lo, hasLo := tag.Lookup("min")
	hi, hasHi := tag.Lookup("max")
	if hasLo != hasHi {
		return p, fmt.Errorf("parameter %q: give both min and max, or neither", name)
	}
	if hasLo {
		var err error
		if p.Min, err = bound(p.Type, lo); err != nil {
			return p, fmt.Errorf("parameter %q: min: %w", name, err)
		}
		if p.Max, err = bound(p.Type, hi); err != nil {
			return p, fmt.Errorf("parameter %q: max: %w", name, err)
		}
		p.Bounded = true
	}
	return p, nil
}

// bound reads a min or max tag: a duration's in milliseconds.
func bound(t ParamType, s string) (float64, error) {
	switch t {
	case Duration:
		d, err := time.ParseDuration(s)
		return float64(d) / float64(time.Millisecond), err
	case Float, Int:
		return strconv.ParseFloat(s, 64)
	}
	return 0, fmt.Errorf("a %s parameter has no bounds", t)
}

// set parses s into the field v, with the messages users see.
func (p Param) set(v reflect.Value, s string) error {
	switch p.Type {
	case Duration:
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("expected a duration like 250ms or 2s, got %q", s)
		}
		if d < 0 {
			return fmt.Errorf("must not be negative, got %s", s)
		}
		if err := p.inBounds(float64(d.Milliseconds()), s); err != nil {
			return err
		}
		v.SetInt(int64(d))
	case Float:
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || math.IsNaN(f) {
			return fmt.Errorf("expected a number, got %q", s)
		}
		if err := p.inBounds(f, s); err != nil {
			return err
		}
		v.SetFloat(f)
	case Int:
		i, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return fmt.Errorf("expected a whole number, got %q", s)
		}
		if err := p.inBounds(float64(i), s); err != nil {
			return err
		}
		v.SetInt(i)
	case Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("expected true or false, got %q", s)
		}
		v.SetBool(b)
	case String:
		s = strings.TrimSpace(s)
		if pp, ok := v.Addr().Interface().(ParamParser); ok {
			return pp.ParseParam(s)
		}
		if len(p.Enum) > 0 && !contains(p.Enum, s) {
			return fmt.Errorf("expected %s, got %q", oneOf(p.Enum), s)
		}
		v.SetString(s)
	default:
		return fmt.Errorf("parameter type %q is not supported", p.Type)
	}
	return nil
}

func (p Param) inBounds(f float64, s string) error {
	if !p.Bounded {
		return nil
	}
	if f < p.Min || f > p.Max {
		unit := ""
		if p.Type == Duration {
			unit = "ms"
		}
		return fmt.Errorf("must be between %g%s and %g%s, got %s", p.Min, unit, p.Max, unit, s)
	}
	return nil
}

// oneOf is "a, b or c".
func oneOf(values []string) string {
	if len(values) == 1 {
		return values[0]
	}
	return strings.Join(values[:len(values)-1], ", ") + " or " + values[len(values)-1]
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
