package faults

import (
	"fmt"
	"sort"
	"strings"
)

// ParamType is the type of a fault parameter's value.
type ParamType string

const (
	Duration ParamType = "duration" // Go duration: "250ms", "2s"
	Float    ParamType = "float"
	Int      ParamType = "int"
	Bool     ParamType = "bool"
	String   ParamType = "string" // a string, an enum, or a ParamParser
)

// Param documents and constrains one parameter of a kind: it is read from
// the tags of a field of the kind's parameter struct (typed.go).
type Param struct {
	Name     string
	Type     ParamType
	Default  string // "" means required when Required is set, absent otherwise
	Required bool
	Bounded  bool     // Min and Max apply
	Min, Max float64  // inclusive bounds of a number, or of a duration in ms
	Unit     string   // what a number counts: "KB/s", "s", "bytes"
	Enum     []string // a string's allowed values
	Doc      string
	// Region says the value names a region of the topology, so the
	// experiment parser can check it before anything runs.
	Region bool

	index []int // the field of the parameter struct
}

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

// Validate checks raw parameters against the kind's parameter struct and
// returns it filled, with defaults (Kind.Parse).
func Validate(k Kind, raw map[string]string) (Applier, error) { return k.Parse(raw) }

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
