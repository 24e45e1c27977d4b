package spec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/faultline-dev/faultline/faults"
	"github.com/faultline-dev/faultline/targets/dnscache"
	"github.com/faultline-dev/faultline/targets/dnsexec"
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

// oneOfRequired makes exactly one of keys required in object o.
func oneOfRequired(o obj, keys ...string) obj {
	var alts []obj
	for _, k := range keys {
		alts = append(alts, obj{"required": []string{k}})
	}
	o["oneOf"] = alts
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

func duration(lo, hi time.Duration, desc string) obj {
	return pattern(durationPattern, fmt.Sprintf("%s (a Go duration, %s to %s)", desc, lo, hi))
}

func schemaDoc() obj {
	healthCheck := object(nil, obj{
		"interval":            duration(50*time.Millisecond, 5*time.Minute, "between checks of a target"),
		"timeout":             duration(10*time.Millisecond, 2*time.Minute, "of one check; shorter than the interval"),
		"healthy_threshold":   integer(2, 10, "consecutive successes that make a target healthy"),
		"unhealthy_threshold": integer(2, 10, "consecutive failures that make a target unhealthy"),
		"protocol":            enum([]string{"tcp", "http"}, "how a target is checked"),
		"path":                pattern(`^/`, "http: the path to GET"),
		"matcher":             pattern(`^[0-9]{3}(-[0-9]{3})?(,[0-9]{3}(-[0-9]{3})?)*$`, "http: healthy status codes, like 200 or 200-399"),
	})
	region := object([]string{"name"}, obj{
		"name":                   pattern(namePattern.String(), "e.g. us-east-1"),
		"nodes":                  integer(1, 8, "NLB nodes, one per availability zone"),
		"targets":                integer(1, 8, "targets in front of the region's backend"),
		"health_check":           healthCheck,
		"cross_zone":             boolean("route across availability zones"),
		"backend":                enum([]string{BackendEmbedded, BackendContainer}, "this region's DynamoDB"),
		"connection_termination": boolean("reset connections to a target that turns unhealthy"),
		"idle_timeout":           duration(0, maxIdleTimeout, "an idle connection is forgotten (next packet: RST); 0s: off, else at least 100ms"),
		"max_connection_age":     duration(0, maxAge, "a connection this old is closed between exchanges; 0s: off, else at least 100ms"),
		"velocity_limit": object(nil, obj{
			"max_share": number(0.01, 1, "share of nodes that may leave DNS within the window"),
			"window":    duration(100*time.Millisecond, time.Hour, "the velocity window"),
		}),
	})
	topology := object([]string{"regions"}, obj{
		"endpoint": pattern(`\{region\}`, "each region's endpoint name, with {region}"),
		"zone":     str("the zone the DNS server is authoritative for"),
		"dns": object(nil, obj{
			"ttl":          duration(0, 24*time.Hour, "TTL of the endpoint records, whole seconds"),
			"negative_ttl": duration(0, 24*time.Hour, "SOA TTL and MINIMUM, whole seconds"),
		}),
		"resolver": oneOfRequired(object(nil, obj{
			"preset":      enum(dnscache.PresetNames(), "a model of a caching resolver between clients and the server"),
			"exec":        enum(dnsexec.Names(), "a real caching resolver run between clients and the server, one process per client"),
			"serve_stale": boolean("answer from expired entries when the server fails (RFC 8767; models only)"),
		}), "preset", "exec"),
		"automation": object(nil, obj{
			"enactors":      integer(2, 9, "enactors of the DNS automation model"),
			"plan_interval": duration(100*time.Millisecond, time.Minute, "how often the planner plans"),
			"fix":           boolean("enactors check the plan's generation at apply time"),
		}),
		"table": object(nil, obj{
			"name":  pattern(tablePattern.String(), "the table seeded in every region"),
			"items": integer(1, 100000, "items seeded"),
		}),
		"regions": list(region, 1, "the regions"),
		"backend": enum([]string{BackendEmbedded, BackendContainer}, "every region's DynamoDB"),
		"images": object(nil, obj{
			"dynamodb": pattern(`^\S+$`, "the container backend's image"),
		}),
	})
	client := object([]string{"name"}, obj{
		"name":     pattern(clientPattern.String(), "the client's name"),
		"strategy": enum([]string{StrategySingleRegion, StrategyFailover}, "the reference client's strategy (not with image)"),
		"regions":  list(pattern(namePattern.String(), "a region"), 1, "the first is primary"),
		"image":    pattern(`^\S+$`, "your application's image: the client runs it as a container"),
		"command":  list(obj{"type": "string"}, 1, "your application's command: faultline runs it in its sandbox"),
		"health": object([]string{"url"}, obj{
			"url":      pattern(`^http://`, "the application's health endpoint"),
			"interval": duration(10*time.Millisecond, time.Minute, "how often it is probed"),
			"timeout":  duration(10*time.Millisecond, time.Minute, "how long one probe may take (default 1s)"),
		}),
		"env":               obj{"type": "object", "propertyNames": obj{"pattern": envPattern.String()}, "additionalProperties": obj{"type": []string{"string", "number", "boolean"}}, "description": "with image: the application's environment"},
		"rate":              number(0.1, 1000, "requests per second"),
		"operations":        list(enum(Operations, "an operation"), 1, "sent in turn"),
		"timeout":           duration(10*time.Millisecond, time.Minute, "per SDK call"),
		"keep_alive":        boolean("reuse connections"),
		"probe_interval":    duration(10*time.Millisecond, time.Minute, "failover: how often to try the primary while away"),
		"latency_objective": duration(time.Millisecond, time.Hour, "a request slower than this counts as unavailable (default: metrics.latency_objective)"),
	})
	// A reference client needs a strategy and regions; an application
	// (image or command) takes neither a strategy nor the reference
	// client's settings, and is one or the other.
	client["if"] = obj{"anyOf": []obj{{"required": []string{"image"}}, {"required": []string{"command"}}}}
	client["then"] = obj{"not": obj{"anyOf": []obj{
		{"required": []string{"strategy"}}, {"required": []string{"rate"}}, {"required": []string{"operations"}},
		{"required": []string{"timeout"}}, {"required": []string{"keep_alive"}}, {"required": []string{"probe_interval"}}}}}
	client["else"] = obj{"required": []string{"strategy", "regions"}, "not": obj{"anyOf": []obj{{"required": []string{"env"}}, {"required": []string{"health"}}}}}
	client["not"] = obj{"required": []string{"image", "command"}}

	assertion := object([]string{"client", "expr"}, obj{
		"client": pattern(`^(\*|[a-z0-9][a-z0-9_-]*(\.server|\.probe)?)$`, "a client's name, an application's NAME.server or NAME.probe, or * for every client"),
		"expr":   pattern(`^\s*([a-z0-9]+\()?[a-z_0-9]+\)?\s*(<=|>=|==|!=|<|>)\s*-?[0-9.]+\s*$`, "METRIC OP NUMBER, e.g. failover_ms < 2000"),
		"fault":  pattern(idPattern.String(), "the fault the metric is relative to (default: the first)"),
	})
	fault := object([]string{"kind", "target", "start", "duration"}, obj{
		"id":       pattern(idPattern.String(), "how the journal and assertions name the fault"),
		"kind":     enum(faults.Names(), "the fault kind"),
		"target":   str("an endpoint name (DNS kinds) or a region (link and health-check kinds)"),
		"start":    duration(0, time.Hour, "from the start of the experiment"),
		"duration": duration(0, time.Hour, "how long the fault is applied"),
		"params":   obj{"type": "object", "description": "the kind's parameters"},
	})
	var perKind []obj
	for _, name := range faults.Names() {
		kind, _ := faults.Lookup(name)
		props := obj{}
		var required []string
		for _, p := range kind.Params() {
			props[p.Name] = paramSchema(p)
			if p.Required && p.Default == "" {
				required = append(required, p.Name)
			}
		}
		params := object(required, props)
		then := obj{"properties": obj{"params": params}}
		if len(required) > 0 {
			then["required"] = []string{"params"}
		}
		perKind = append(perKind, obj{"if": obj{"properties": obj{"kind": obj{"const": name}}, "required": []string{"kind"}}, "then": then})
	}
	fault["allOf"] = perKind

	return obj{
		"$schema":              "https://json-schema.org/draft/2020-12/schema",
		"$id":                  SchemaID,
		"title":                "faultline experiment",
		"description":          "An experiment file for faultline (README: Experiment file reference).",
		"type":                 "object",
		"required":             []string{"name", "topology", "clients", "schedule"},
		"additionalProperties": false,
		"properties": obj{
			"name":        pattern(namePattern.String(), "the experiment's name"),
			"description": str("one line, shown by faultline list"),
			"seed":        obj{"type": "integer", "description": "seed for random choices"},
			"topology":    topology,
			"clients":     list(client, 1, "the clients"),
			"metrics": object(nil, obj{
				"consecutive_successes": integer(1, 1000, "K in the failover and recover definitions"),
				"latency_objective":     duration(time.Millisecond, time.Hour, "a request slower than this counts as unavailable, in availability and in detect, failover and recover"),
			}),
			"schedule": object([]string{"duration"}, obj{
				"duration":      duration(0, time.Hour, "how long clients run, from when every application is ready"),
				"ready_timeout": duration(time.Second, time.Hour, "how long the applications may take to be ready (default 2m)"),
				"faults":        list(fault, 0, "the faults"),
			}),
			"assertions":   list(assertion, 0, "checked after the run"),
			"steady_state": list(assertion, 0, "checked before the first fault and after the last heal"),
			"stop_when":    list(assertion, 0, "a condition that heals everything and ends the run early"),
		},
	}
}

// paramSchema is one fault parameter: YAML may write any of them quoted.
func paramSchema(p faults.Param) obj {
	desc := p.Doc
	if p.Default != "" {
		desc += " (default " + p.Default + ")"
	}
	switch p.Type {
	case faults.Duration:
		return pattern(durationPattern, desc)
	case faults.Float:
		return obj{"type": []string{"number", "string"}, "description": desc}
	case faults.Int:
		return obj{"type": []string{"integer", "string"}, "description": desc}
	case faults.Bool:
		return obj{"type": []string{"boolean", "string"}, "description": desc}
	}
	return obj{"type": []string{"string", "number", "boolean"}, "description": desc}
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
		if err := c.AddResource(SchemaID, doc); err != nil {
			compileError = err
			return
		}
		compiled, compileError = c.Compile(SchemaID)
	})
	return compiled, compileError
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
