package export

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

// Chaos Mesh's own schemas: the openAPIV3Schema of its CRDs
// (testdata/chaos-mesh, v2.8.3), compiled as JSON Schemas with the
// Kubernetes extensions given the meaning the API server gives them:
//   - a field the schema does not declare is an error, as with kubectl's
//     default --validate=strict (the server would prune it: the engine would
//     silently ignore it), unless x-kubernetes-preserve-unknown-fields;
//   - x-kubernetes-int-or-string: an integer or a string;
//   - nullable: null is allowed too.

// crdSchema compiles the v1alpha1 schema of a CRD file; at, when not "",
// is a JSON pointer inside it (e.g. "/properties/spec").
func crdSchema(t *testing.T, file, at string) *jsonschema.Schema {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "chaos-mesh", file))
	if err != nil {
		t.Fatal(err)
	}
	var crd struct {
		Spec struct {
			Versions []struct {
				Name   string
				Schema struct {
					OpenAPIV3Schema map[string]any `yaml:"openAPIV3Schema"`
				}
			}
		}
	}
	if err := yaml.Unmarshal(data, &crd); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var schema map[string]any
	for _, v := range crd.Spec.Versions {
		if v.Name == "v1alpha1" {
			schema = v.Schema.OpenAPIV3Schema
		}
	}
	if schema == nil {
		t.Fatalf("%s: no v1alpha1 schema", file)
	}
	structural(schema)
	doc, err := jsonValue(schema)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	url := "file:///" + file + ".json"
	if err := c.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(url + "#" + at)
	if err != nil {
		t.Fatalf("compiling %s%s: %v", file, at, err)
	}
	return s
}

// structural gives a CRD schema's Kubernetes extensions their meaning in
// JSON Schema, in place. It walks only the keywords that hold schemas, so
// a field named like a keyword is not mistaken for one.
func structural(node any) {
	n, ok := node.(map[string]any)
	if !ok {
		return
	}
	if n["x-kubernetes-int-or-string"] == true {
		delete(n, "type")
		if _, ok := n["anyOf"]; !ok {
			n["anyOf"] = []any{map[string]any{"type": "integer"}, map[string]any{"type": "string"}}
		}
	}
	if n["nullable"] == true {
		if t, ok := n["type"].(string); ok {
			n["type"] = []any{t, "null"}
		}
	}
	if props, ok := n["properties"].(map[string]any); ok {
		if _, set := n["additionalProperties"]; !set && n["x-kubernetes-preserve-unknown-fields"] != true {
			n["additionalProperties"] = false
		}
		for _, p := range props {
			structural(p)
		}
	}
	structural(n["additionalProperties"])
	structural(n["items"])
	structural(n["not"])
	for _, k := range []string{"anyOf", "allOf", "oneOf"} {
		for _, sub := range asSlice(n[k]) {
			structural(sub)
		}
	}
}

// jsonValue turns YAML-decoded values into what the validator takes.
func jsonValue(v any) (any, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return jsonschema.UnmarshalJSON(bytes.NewReader(data))
}

// decodeYAMLDocuments decodes every document of a multi-document YAML.
func decodeYAMLDocuments(t *testing.T, data []byte) []map[string]any {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []map[string]any
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if err != nil {
			if err.Error() == "EOF" {
				return out
			}
			t.Fatalf("the export is not YAML: %v\n%s", err, data)
		}
		out = append(out, doc)
	}
}

// chaosMeshSchemas are the three CRDs' schemas, compiled once per test.
type chaosMeshSchemas struct {
	workflow, dnsChaos, networkChaos *jsonschema.Schema
}

func loadChaosMeshSchemas(t *testing.T) chaosMeshSchemas {
	return chaosMeshSchemas{
		workflow:     crdSchema(t, "chaos-mesh.org_workflows.yaml", ""),
		dnsChaos:     crdSchema(t, "chaos-mesh.org_dnschaos.yaml", ""),
		networkChaos: crdSchema(t, "chaos-mesh.org_networkchaos.yaml", ""),
	}
}

// validate checks every document of an export: the Workflow against the
// Workflow CRD, and each chaos template's spec, as a standalone object,
// against its own kind's CRD. It also checks what the API server and the
// workflow webhook check beyond the schema: names are DNS-1123, template
// names unique, the entry and every child exist
// (api/v1alpha1/workflow_webhook.go).
func (s chaosMeshSchemas) validate(doc []byte) error {
	var errs []string
	dec := yaml.NewDecoder(bytes.NewReader(doc))
	n := 0
	for ; ; n++ {
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			if err.Error() == "EOF" {
				break
			}
			return err
		}
		v, err := jsonValue(obj)
		if err != nil {
			return err
		}
		switch obj["kind"] {
		case "Workflow":
			if err := s.workflow.Validate(v); err != nil {
				errs = append(errs, fmt.Sprintf("the Workflow against its CRD: %v", err))
			}
			errs = append(errs, s.templates(obj)...)
		case "DNSChaos", "NetworkChaos":
			schema := s.dnsChaos
			if obj["kind"] == "NetworkChaos" {
				schema = s.networkChaos
			}
			if err := schema.Validate(v); err != nil {
				errs = append(errs, fmt.Sprintf("document %d, a %v, against its CRD: %v", n, obj["kind"], err))
			}
			meta, _ := obj["metadata"].(map[string]any)
			for _, k := range []string{"name", "namespace"} {
				if v, _ := meta[k].(string); v == "" || dns1123(v) != v {
					errs = append(errs, fmt.Sprintf("document %d: metadata.%s %q is not a DNS-1123 label", n, k, v))
				}
			}
			if spec, _ := obj["spec"].(map[string]any); spec["duration"] == nil {
				errs = append(errs, fmt.Sprintf("document %d: a standalone chaos without a duration runs until deleted", n))
			}
		default:
			errs = append(errs, fmt.Sprintf("document %d is a %v", n, obj["kind"]))
		}
	}
	if n == 0 {
		errs = append(errs, "no document")
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return nil
}

func (s chaosMeshSchemas) templates(wf map[string]any) []string {
	var errs []string
	meta, _ := wf["metadata"].(map[string]any)
	for _, k := range []string{"name", "namespace"} {
		if v, _ := meta[k].(string); v == "" || dns1123(v) != v {
			errs = append(errs, fmt.Sprintf("metadata.%s %q is not a DNS-1123 label", k, v))
		}
	}
	spec, _ := wf["spec"].(map[string]any)
	templates, _ := spec["templates"].([]any)
	seen := map[string]bool{}
	for _, t := range templates {
		name, _ := t.(map[string]any)["name"].(string)
		if seen[name] || dns1123(name) != name {
			errs = append(errs, fmt.Sprintf("template name %q is a duplicate or not DNS-1123", name))
		}
		seen[name] = true
	}
	if !seen[fmt.Sprint(spec["entry"])] {
		errs = append(errs, fmt.Sprintf("entry %v is no template", spec["entry"]))
	}
	for _, t := range templates {
		tm := t.(map[string]any)
		for _, c := range asSlice(tm["children"]) {
			if !seen[fmt.Sprint(c)] {
				errs = append(errs, fmt.Sprintf("template %v: child %v is no template", tm["name"], c))
			}
		}
		kind, _ := tm["templateType"].(string)
		if !webhookTemplateTypes[kind] {
			errs = append(errs, fmt.Sprintf("template %v: unrecognized template type %q", tm["name"], kind))
		}
		var schema *jsonschema.Schema
		var body any
		switch kind {
		case "DNSChaos":
			schema, body = s.dnsChaos, tm["dnsChaos"]
		case "NetworkChaos":
			schema, body = s.networkChaos, tm["networkChaos"]
		case "Suspend":
			if tm["deadline"] == nil {
				errs = append(errs, fmt.Sprintf("suspend %v has no deadline", tm["name"]))
			}
			continue
		default:
			continue
		}
		specCopy := map[string]any{}
		for k, v := range body.(map[string]any) {
			specCopy[k] = v
		}
		specCopy["duration"] = tm["deadline"]
		obj := map[string]any{"apiVersion": chaosMeshAPIVersion, "kind": kind,
			"metadata": map[string]any{"name": tm["name"], "namespace": meta["namespace"]}, "spec": specCopy}
		v, err := jsonValue(obj)
		if err == nil {
			err = schema.Validate(v)
		}
		if err != nil {
			errs = append(errs, fmt.Sprintf("template %v as a standalone %s against its CRD: %v", tm["name"], kind, err))
		}
	}
	return errs
}

// webhookTemplateTypes are the template types the workflow webhook knows
// (api/v1alpha1/workflow_types.go and the chaos kinds); the CRD's schema
// leaves templateType a free string.
var webhookTemplateTypes = map[string]bool{"Task": true, "Serial": true, "Parallel": true, "Suspend": true, "Schedule": true, "StatusCheck": true,
	"AWSChaos": true, "AzureChaos": true, "BlockChaos": true, "DNSChaos": true, "GCPChaos": true, "HTTPChaos": true, "IOChaos": true, "JVMChaos": true,
	"KernelChaos": true, "NetworkChaos": true, "PhysicalMachineChaos": true, "PodChaos": true, "StressChaos": true, "TimeChaos": true}

func asSlice(v any) []any { s, _ := v.([]any); return s }
