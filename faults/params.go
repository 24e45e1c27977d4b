package faults

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ParamType is the type of a fault parameter's value.
type ParamType string

const (
	Duration ParamType = "duration" // Go duration: "250ms", "2s"
	Float    ParamType = "float"
	Int      ParamType = "int"
	Bool     ParamType = "bool"
	String   ParamType = "string" // checked by Param.Check
)

// Param documents and constrains one parameter of a kind.
type Param struct {
	Name     string
	Type     ParamType
	Default  string // "" means required when Required is set, absent otherwise
	Required bool
	Min, Max float64 // inclusive bounds for duration (in ms) and numbers; both zero: unbounded
	Bounded  bool    // Min and Max apply (typed kinds)
	Unit     string  // what a number counts: "KB/s", "s", "bytes"
	Enum     []string
	Doc      string
	// Check validates a String parameter and returns its typed value.
	Check func(s string) (any, error)
	// Region says the value names a region of the topology, so the
	// experiment parser can check it before anything runs.
	Region bool

	index []int // the field of the parameter struct (typed kinds)
}

// Values are validated, typed parameter values.
type Values map[string]any

func (v Values) Duration(name string) time.Duration { d, _ := v[name].(time.Duration); return d }
func (v Values) Float(name string) float64          { f, _ := v[name].(float64); return f }
func (v Values) Bool(name string) bool              { b, _ := v[name].(bool); return b }
func (v Values) Int(name string) int                { i, _ := v[name].(int); return i }
func (v Values) Get(name string) any                { return v[name] }

// ParamError says which parameter is wrong, so the experiment parser can point
// at its line and column.
type ParamError struct {
	Param string // "" when the error is not about one parameter
	Msg   string
}

func (e *ParamError) Error() string {
	if e.Param == "" {
		return e.Msg
	}
	return fmt.Sprintf("parameter %q: %s", e.Param, e.Msg)
}

// Validate checks raw parameters against the kind's declared ones and returns
// them typed, with defaults filled in.
func Validate(k Kind, raw map[string]string) (Values, error) {
	if tk, ok := k.(interface {
		Parse(map[string]string) (Applier, error)
	}); ok {
		p, err := tk.Parse(raw)
		if err != nil {
			return nil, err
		}
		return Values{typedKey: p}, nil
	}
	declared := map[string]Param{}
	for _, p := range k.Params() {
		declared[p.Name] = p
	}
	for name := range raw {
		if _, ok := declared[name]; !ok {
			return nil, &ParamError{Param: name, Msg: fmt.Sprintf("unknown parameter for %s; %s", k.Name(), expectedParams(k.Params()))}
		}
	}
	vals := Values{}
	for _, p := range k.Params() {
		s, given := raw[p.Name]
		if !given {
			if p.Required {
				return nil, &ParamError{Param: p.Name, Msg: fmt.Sprintf("required by %s (%s)", k.Name(), p.Doc)}
			}
			s = p.Default
			if s == "" {
				continue
			}
		}
		v, err := parseParam(p, s)
		if err != nil {
			return nil, &ParamError{Param: p.Name, Msg: err.Error()}
		}
		vals[p.Name] = v
	}
	if c, ok := k.(interface{ check(Values) error }); ok {
		if err := c.check(vals); err != nil {
			return nil, err
		}
	}
	return vals, nil
}

func parseParam(p Param, s string) (any, error) {
	switch p.Type {
	case Duration:
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("expected a duration like 250ms or 2s, got %q", s)
		}
		if d < 0 {
			return nil, fmt.Errorf("must not be negative, got %s", s)
		}
		if err := inBounds(p, float64(d.Milliseconds()), s); err != nil {
			return nil, err
		}
		return d, nil
	case Float:
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return nil, fmt.Errorf("expected a number, got %q", s)
		}
		if err := inBounds(p, f, s); err != nil {
			return nil, err
		}
		return f, nil
	case Int:
		i, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("expected a whole number, got %q", s)
		}
		if err := inBounds(p, float64(i), s); err != nil {
			return nil, err
		}
		return int(i), nil
	case Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("expected true or false, got %q", s)
		}
		return b, nil
	case String:
		if p.Check == nil {
			return strings.TrimSpace(s), nil
		}
		return p.Check(strings.TrimSpace(s))
	}
	return nil, fmt.Errorf("parameter type %q is not supported", p.Type)
}

func inBounds(p Param, f float64, s string) error {
	if p.Min == 0 && p.Max == 0 {
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

func expectedParams(params []Param) string {
	var names []string
	for _, p := range params {
		names = append(names, p.Name)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return "it takes no parameters"
	}
	return "expected one of: " + strings.Join(names, ", ")
}
