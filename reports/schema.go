package reports

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/invopop/jsonschema"
	validator "github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/faultline-dev/faultline/experiments/measure"
)

// SchemaVersion is the version of the format of report.json and trials.json
// (one version for both: trials.json holds each trial's report.json), the
// first field of each. Within a version fields are only added; removing,
// renaming or retyping a field, or changing what a metric means, makes the
// next version. It is a string holding a whole number: a consumer compares
// it for equality with the version it was written for (README, "Reports").
const SchemaVersion = "1"

// The schemas' ids ($id).
const (
	ReportSchemaID = "https://faultline.dev/schema/report.json"
	TrialsSchemaID = "https://faultline.dev/schema/trials.json"
)

// Report is report.json: its schema version, then the run's summary.
type Report struct {
	SchemaVersion string `json:"schema_version"`
	measure.Summary
}

// TrialsReport is trials.json: its schema version, the distributions across
// the trials, and every trial's report.json as it is in its trial-NN/.
type TrialsReport struct {
	SchemaVersion string `json:"schema_version"`
	measure.TrialsSummary
	// Trials shadows TrialsSummary.Trials (encoding/json takes the
	// shallower field, and the schema's reflector the later one): each
	// trial is a whole report.json, schema_version and all.
	Trials []Report `json:"trials"`
}

// NewReport is the run's report.json. A list is [] when empty, never null.
func NewReport(s measure.Summary) Report {
	s.Faults = orEmpty(s.Faults)
	s.Clients = orEmpty(s.Clients)
	s.Assertions = orEmpty(s.Assertions)
	return Report{SchemaVersion: SchemaVersion, Summary: s}
}

// NewTrialsReport is trials.json.
func NewTrialsReport(ts measure.TrialsSummary) TrialsReport {
	r := TrialsReport{SchemaVersion: SchemaVersion, TrialsSummary: ts, Trials: []Report{}}
	for _, t := range ts.Trials {
		r.Trials = append(r.Trials, NewReport(t))
	}
	r.TrialsSummary.Trials = nil
	r.Assertions = orEmpty(r.Assertions)
	if r.Metrics == nil {
		r.Metrics = map[string]map[string]measure.Dist{}
	}
	return r
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// JSON writes report.json.
func JSON(w io.Writer, s measure.Summary) error {
	return writeChecked(w, "report.json", NewReport(s), ValidateReportJSON)
}

// TrialsJSON writes trials.json.
func TrialsJSON(w io.Writer, ts measure.TrialsSummary) error {
	return writeChecked(w, "trials.json", NewTrialsReport(ts), ValidateTrialsJSON)
}

// selfCheck, set at link time (-ldflags=-X=...reports.selfCheck=1, as
// cmd/faultline's tests build the binary), has a faultline binary check its
// own reports as a test does.
var selfCheck string

// writeChecked writes v as indented JSON. In a test (and in a binary built
// with selfCheck), it then checks what it wrote against the file's schema
// and panics when it breaks it: every report.json and trials.json that any
// test makes, whichever code path wrote it, is validated, and no caller can
// swallow the failure (the runner keeps a broken run's first error, not
// its report's). A faultline built for users does not check.
func writeChecked(w io.Writer, name string, v any, validate func([]byte) error) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	if selfCheck != "" || testing.Testing() {
		if verr := validate(b); verr != nil {
			panic(fmt.Sprintf("%s breaks its own schema: %v\n%s", name, verr, b))
		}
	}
	return err
}

// ReportSchema is report.json's JSON Schema (draft 2020-12), generated from
// the Go types that are encoded into it (`faultline schema --report`).
func ReportSchema() []byte { return schemas().report }

// TrialsSchema is trials.json's JSON Schema (`faultline schema --trials`).
func TrialsSchema() []byte { return schemas().trials }

// ValidateReportJSON checks a report.json against ReportSchema.
func ValidateReportJSON(data []byte) error { return validate(schemas().reportV, data) }

// ValidateTrialsJSON checks a trials.json against TrialsSchema.
func ValidateTrialsJSON(data []byte) error { return validate(schemas().trialsV, data) }

func validate(s *validator.Schema, data []byte) error {
	doc, err := validator.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return err
	}
	return s.Validate(doc)
}

type schemaSet struct {
	report, trials   []byte
	reportV, trialsV *validator.Schema
}

var schemas = sync.OnceValue(func() schemaSet {
	var set schemaSet
	set.report = generate(&Report{}, ReportSchemaID, "faultline report.json",
		"The report of one faultline run (faultline run --out DIR, faultline report DIR --format json). schema_version changes only when a field is removed, renamed or retyped or a metric changes meaning; fields may be added within one version.")
	set.trials = generate(&TrialsReport{}, TrialsSchemaID, "faultline trials.json",
		"The outcome of faultline run --trials N: each metric's distribution across the trials and every trial's report.json.")
	c := validator.NewCompiler()
	for id, doc := range map[string][]byte{ReportSchemaID: set.report, TrialsSchemaID: set.trials} {
		parsed, err := validator.UnmarshalJSON(bytes.NewReader(doc))
		if err != nil {
			panic(fmt.Sprintf("%s: %v", id, err)) // a generated document
		}
		if err := c.AddResource(id, parsed); err != nil {
			panic(fmt.Sprintf("%s: %v", id, err))
		}
	}
	set.reportV = c.MustCompile(ReportSchemaID)
	set.trialsV = c.MustCompile(TrialsSchemaID)
	return set
})

// The values of the enumerations, by definition and property.
var (
	verdicts = []any{measure.Pass, measure.Fail, measure.Invalid, measure.Incomplete}
	statuses = []any{"complete", "stopped", "invalid", "incomplete"}
	enums    = map[string]map[string][]any{
		"Report":        {"verdict": verdicts, "status": statuses},
		"TrialsReport":  {"verdict": verdicts},
		"SteadyOutcome": {"when": {"before", "after"}},
	}
)

// generate reflects v's type into a JSON Schema. On top of the reflector's
// rules (a field is required unless omitempty; unknown fields are allowed,
// so that a consumer's copy of the schema accepts the fields added later
// within its version), a pointer field that encoding/json writes as null
// (one without omitempty: an unmeasured metric) is typed as its type or
// null, the enumerations are enums, and schema_version is the constant.
func generate(v any, id, title, description string) []byte {
	r := &jsonschema.Reflector{AllowAdditionalProperties: true, BaseSchemaID: "https://faultline.dev/schema/"}
	s := r.Reflect(v)
	s.ID = jsonschema.ID(id)
	s.Title, s.Description = title, description
	types := map[string]reflect.Type{}
	structTypes(reflect.TypeOf(v), types)
	for name, def := range s.Definitions {
		t, ok := types[name]
		if !ok {
			panic("schema definition " + name + " has no Go type")
		}
		for _, f := range fields(t) {
			prop, ok := def.Properties.Get(f.name)
			if !ok {
				panic(fmt.Sprintf("schema definition %s has no property %s", name, f.name))
			}
			if f.nullable {
				def.Properties.Set(f.name, &jsonschema.Schema{OneOf: []*jsonschema.Schema{prop, {Type: "null"}}})
			}
		}
		for prop, values := range enums[name] {
			p, ok := def.Properties.Get(prop)
			if !ok {
				panic(fmt.Sprintf("schema definition %s has no property %s to enumerate", name, prop))
			}
			p.Enum = values
		}
		if p, ok := def.Properties.Get("schema_version"); ok {
			p.Const = SchemaVersion
			p.Description = "the version of this file's format: compare it for equality with the version the consumer was written for"
		}
	}
	// A definition no $ref names (the Summary that TrialsReport.Trials
	// shadows) goes.
	for pruned := true; pruned; {
		pruned = false
		b, err := json.Marshal(s)
		if err != nil {
			panic(err)
		}
		for name := range s.Definitions {
			if !bytes.Contains(b, []byte(`"#/$defs/`+name+`"`)) {
				delete(s.Definitions, name)
				pruned = true
			}
		}
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		panic(err)
	}
	return append(b, '\n')
}

// structTypes collects every struct type reachable from t, by name (the
// schema's definitions are named so).
func structTypes(t reflect.Type, into map[string]reflect.Type) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || into[t.Name()] == t {
		return
	}
	into[t.Name()] = t
	for i := range t.NumField() {
		if f := t.Field(i); f.IsExported() {
			structTypes(f.Type, into)
		}
	}
}

type field struct {
	name     string
	nullable bool
}

// fields are the JSON properties of a struct type, its embedded structs'
// included, as encoding/json writes them.
func fields(t reflect.Type) []field {
	var out []field
	for i := range t.NumField() {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("json"), ",")
		switch {
		case !f.IsExported() || tag[0] == "-":
		case f.Anonymous && tag[0] == "" && f.Type.Kind() == reflect.Struct:
			out = append(out, fields(f.Type)...)
		default:
			name := tag[0]
			if name == "" {
				name = f.Name
			}
			omitempty := false
			for _, o := range tag[1:] {
				omitempty = omitempty || o == "omitempty" || o == "omitzero"
			}
			out = append(out, field{name: name, nullable: f.Type.Kind() == reflect.Pointer && !omitempty})
		}
	}
	return out
}
