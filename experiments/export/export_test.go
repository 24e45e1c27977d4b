package export

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/faultline-dev/faultline/experiments/library"
	"github.com/faultline-dev/faultline/experiments/spec"
)

// The flags a user would give, valid for every built-in experiment.
var (
	chaosMeshOpts = ChaosMeshOptions{Namespace: "shop", Selector: map[string]string{"app": "orders", "app.kubernetes.io/part-of": "shop"}}
	fisOpts       = FISOptions{
		RoleARN:         "arn:aws:iam::123456789012:role/fis-experiments",
		Subnets:         []string{"arn:aws:ec2:us-east-1:123456789012:subnet/subnet-0123456789abcdef0", "arn:aws:ec2:us-east-1:123456789012:subnet/subnet-0fedcba9876543210"},
		TableARN:        "arn:aws:dynamodb:us-east-1:123456789012:table/orders",
		LoadBalancerARN: "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/orders/0123456789abcdef",
		AZs:             []string{"use1-az1", "use1-az2"},
		TimeScale:       60,
	}
)

func builtins(t *testing.T) []*spec.Experiment {
	t.Helper()
	var out []*spec.Experiment
	for _, name := range library.Names() {
		file, data, _ := library.Get(name)
		exp, err := spec.Parse(file, data)
		if err != nil {
			t.Fatalf("built-in %s: %v", name, err)
		}
		out = append(out, exp)
	}
	if len(out) < 5 {
		t.Fatalf("found %d built-in experiments", len(out))
	}
	return out
}

// Every built-in experiment exported to Chaos Mesh (with approximations
// accepted) is a Workflow Chaos Mesh's own CRDs accept, with a chaos
// template for every fault that is not left out.
func TestChaosMeshExportsOfTheBuiltinsValidate(t *testing.T) {
	schemas := loadChaosMeshSchemas(t)
	for _, exp := range builtins(t) {
		t.Run(exp.Name, func(t *testing.T) {
			res, err := ChaosMesh(exp, chaosMeshOpts)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Mappings) != len(exp.Faults) {
				t.Fatalf("%d mappings for %d faults", len(res.Mappings), len(exp.Faults))
			}
			if res.Expressed() == 0 {
				if res.Document != nil {
					t.Fatalf("a document with no fault expressed:\n%s", res.Document)
				}
				t.Logf("no fault expressible: %+v", res.Mappings)
				return
			}
			if err := schemas.validate(res.Document); err != nil {
				t.Fatalf("Chaos Mesh's CRDs refuse the export:\n%v\n%s", err, res.Document)
			}
			docs := decodeYAMLDocuments(t, res.Document)
			templates := docs[0]["spec"].(map[string]any)["templates"].([]any)
			for _, m := range res.Mappings {
				found := false
				for _, tm := range templates {
					name := tm.(map[string]any)["name"].(string)
					found = found || name == dns1123(m.Fault.ID) || strings.HasPrefix(name, dns1123(m.Fault.ID)+"-on-")
				}
				if found != (m.Fidelity != NotExpressible) {
					t.Errorf("fault %s (%s, %s): template present %v", m.Fault.ID, m.Fault.Kind, m.Fidelity, found)
				}
			}
		})
	}
}

// The validator is not a rubber stamp: what Chaos Mesh would refuse, or
// silently drop, fails it.
func TestChaosMeshValidatorRefusesWhatChaosMeshWould(t *testing.T) {
	schemas := loadChaosMeshSchemas(t)
	exp := handMade(t)
	res, err := ChaosMesh(exp, chaosMeshOpts)
	if err != nil {
		t.Fatal(err)
	}
	if err := schemas.validate(res.Document); err != nil {
		t.Fatalf("the hand-made experiment's export is refused:\n%v\n%s", err, res.Document)
	}
	good := string(res.Document)
	for _, c := range []struct{ name, from, to string }{
		{"an action DNSChaos lacks", "action: error", "action: nxdomain"},
		{"a field the CRD does not declare (the server would drop it)", "patterns:", "patternz:"},
		{"a selector mode that does not exist", "mode: all", "mode: most"},
		{"a latency in two units", "latency: 300ms", "latency: 1m30s"},
		{"a template type that does not exist", "templateType: Suspend", "templateType: Sleep"},
		{"a bandwidth limit of zero", "limit: 65536", "limit: 0"},
		{"a template name that is not DNS-1123", "name: f1\n", "name: F_1\n"},
	} {
		bad := strings.Replace(good, c.from, c.to, 1)
		if bad == good {
			t.Fatalf("%s: %q is not in the export:\n%s", c.name, c.from, good)
		}
		if err := schemas.validate([]byte(bad)); err == nil {
			t.Errorf("%s (%q → %q): accepted", c.name, c.from, c.to)
		}
	}
}

// structural gives the Kubernetes extensions their meaning.
func TestStructuralSchemaExtensions(t *testing.T) {
	schema := map[string]any{"type": "object", "properties": map[string]any{
		"port":   map[string]any{"x-kubernetes-int-or-string": true},
		"note":   map[string]any{"type": "string", "nullable": true},
		"free":   map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": map[string]any{"a": map[string]any{"type": "string"}}},
		"labels": map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string"}},
	}}
	structural(schema)
	doc, _ := jsonValue(schema)
	c := jsonschema.NewCompiler()
	if err := c.AddResource("file:///s.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("file:///s.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		doc string
		ok  bool
	}{
		{`{"port": 8080}`, true},
		{`{"port": "http"}`, true},
		{`{"port": true}`, false},
		{`{"note": null}`, true},
		{`{"free": {"anything": 1}}`, true},
		{`{"labels": {"app": "x"}}`, true},
		{`{"unknown": 1}`, false},
	} {
		var v any
		json.Unmarshal([]byte(c.doc), &v)
		v, _ = jsonValue(v)
		if err := s.Validate(v); (err == nil) != c.ok {
			t.Errorf("%s: valid %v, want %v (%v)", c.doc, err == nil, c.ok, err)
		}
	}
}

// fisValidate runs botocore's ParamValidator (testdata/fis_validate.py) on
// templates, one python3 for all of them; it skips when python3 or
// botocore is missing (.ci/run installs python3-boto3).
func fisValidate(t *testing.T, docs map[string][]byte) map[string][]string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed: the FIS templates cannot be checked against botocore's model (Debian: python3-boto3)")
	}
	if out, err := exec.Command(py, "-c", "import botocore.validate, botocore.handlers").CombinedOutput(); err != nil {
		t.Skipf("python3 has no botocore (Debian: python3-boto3): %v %s", err, out)
	}
	dir := t.TempDir()
	args := []string{filepath.Join("testdata", "fis_validate.py")}
	for name, doc := range docs {
		p := filepath.Join(dir, name+".json")
		if err := os.WriteFile(p, doc, 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, p)
	}
	out, err := exec.Command(py, args...).Output()
	if err != nil {
		t.Fatalf("fis_validate.py: %v\n%s", err, out)
	}
	results := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var r struct {
			File     string
			Errors   []string
			Botocore string
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("fis_validate.py printed %q: %v", line, err)
		}
		results[strings.TrimSuffix(filepath.Base(r.File), ".json")] = r.Errors
		t.Logf("botocore %s: %s: %d errors", r.Botocore, filepath.Base(r.File), len(r.Errors))
	}
	if len(results) != len(docs) {
		t.Fatalf("fis_validate.py answered for %d of %d templates:\n%s", len(results), len(docs), out)
	}
	return results
}

// Every built-in experiment exported to FIS (with approximations accepted)
// is a CreateExperimentTemplate input botocore's model accepts.
func TestFISExportsOfTheBuiltinsValidate(t *testing.T) {
	docs := map[string][]byte{}
	for _, exp := range builtins(t) {
		for _, scale := range []float64{1, 60} {
			o := fisOpts
			o.TimeScale = scale
			res, err := FIS(exp, o)
			if err != nil {
				t.Fatalf("%s: %v", exp.Name, err)
			}
			if res.Expressed() == 0 {
				t.Logf("%s: no fault expressible", exp.Name)
				continue
			}
			var tmpl fisTemplate
			if err := json.Unmarshal(res.Document, &tmpl); err != nil {
				t.Fatalf("%s: %v", exp.Name, err)
			}
			if n := countFaultActions(tmpl); n != res.Expressed() {
				t.Errorf("%s: %d fault actions for %d expressed faults", exp.Name, n, res.Expressed())
			}
			docs[fmt.Sprintf("%s-x%g", exp.Name, scale)] = res.Document
		}
	}
	o := fisOpts
	o.StopAlarms = []string{"arn:aws:cloudwatch:us-east-1:123456789012:alarm:app-availability"} // handMade's one stop_when
	res, err := FIS(handMade(t), o)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(res.Document), `"source": "aws:cloudwatch:alarm"`) {
		t.Errorf("the stop condition is not the alarm given:\n%s", res.Document)
	}
	docs["hand-made"] = res.Document
	for name, errs := range fisValidate(t, docs) {
		if len(errs) > 0 {
			t.Errorf("%s: botocore refuses the template:\n%s\n%s", name, strings.Join(errs, "\n"), docs[name])
		}
	}
}

func countFaultActions(t fisTemplate) int {
	n := 0
	for _, a := range t.Actions {
		if a.ActionID != "aws:fis:wait" {
			n++
		}
	}
	return n
}

// The botocore check is not a rubber stamp either.
func TestFISValidatorRefusesWhatFISWould(t *testing.T) {
	res, err := FIS(handMade(t), fisOpts)
	if err != nil {
		t.Fatal(err)
	}
	good := string(res.Document)
	cases := map[string][2]string{
		"no-role":        {`"roleArn": "arn:aws:iam::123456789012:role/fis-experiments",`, ``},
		"long-name":      {`"f1": {`, `"` + strings.Repeat("f", 65) + `": {`},
		"source-number":  {`"source": "none"`, `"source": 5`},
		"no-action-id":   {`"actionId": "aws:fis:wait",`, ``},
		"short-role-arn": {`"arn:aws:iam::123456789012:role/fis-experiments"`, `"arn:aws:iam::1"`},
	}
	docs := map[string][]byte{}
	for name, c := range cases {
		bad := strings.Replace(good, c[0], c[1], 1)
		if bad == good {
			t.Fatalf("%s: %q is not in the template:\n%s", name, c[0], good)
		}
		docs[name] = []byte(bad)
	}
	for name, errs := range fisValidate(t, docs) {
		if len(errs) == 0 {
			t.Errorf("%s: botocore accepts it:\n%s", name, docs[name])
		}
	}
}

// --objects: every built-in and the hand-made experiment as standalone
// DNSChaos and NetworkChaos objects, each accepted by its kind's CRD.
func TestChaosMeshObjectsValidate(t *testing.T) {
	schemas := loadChaosMeshSchemas(t)
	o := chaosMeshOpts
	o.Objects = true
	for _, exp := range append(builtins(t), handMade(t)) {
		res, err := ChaosMesh(exp, o)
		if err != nil {
			t.Fatal(err)
		}
		if res.Expressed() == 0 {
			continue
		}
		if err := schemas.validate(res.Document); err != nil {
			t.Errorf("%s: Chaos Mesh's CRDs refuse the objects:\n%v\n%s", exp.Name, err, res.Document)
		}
		docs := decodeYAMLDocuments(t, res.Document)
		if len(docs) != res.Expressed() {
			t.Errorf("%s: %d objects for %d expressed faults", exp.Name, len(docs), res.Expressed())
		}
		for _, m := range res.Mappings {
			switch {
			case m.Fault.Kind == "dns.flap" && m.Fidelity != NotExpressible:
				t.Errorf("%s: a flap without a Workflow is %s", exp.Name, m.Fidelity)
			case m.Fault.Start > 0 && m.Fidelity == Exact:
				t.Errorf("%s: fault %s starts at %s yet is exact as an object applied at once", exp.Name, m.Fault.ID, m.Fault.Start)
			}
		}
	}
}

// What Chaos Mesh needs of the cluster is checked before anything is written.
func TestChaosMeshOptionsAreChecked(t *testing.T) {
	exp := handMade(t)
	for _, c := range []struct {
		o    ChaosMeshOptions
		flag string
		say  string
	}{
		{ChaosMeshOptions{Selector: map[string]string{"app": "x"}}, "--namespace", "required"},
		{ChaosMeshOptions{Namespace: "Shop_1", Selector: map[string]string{"app": "x"}}, "--namespace", "not a Kubernetes namespace"},
		{ChaosMeshOptions{Namespace: "shop"}, "--selector", "every pod of the namespace"},
		{ChaosMeshOptions{Namespace: "shop", Selector: map[string]string{"app/x/y": "x"}}, "--selector", "not a Kubernetes label"},
		{ChaosMeshOptions{Namespace: "shop", Selector: map[string]string{"app": "a b"}}, "--selector", "not a Kubernetes label"},
	} {
		_, err := ChaosMesh(exp, c.o)
		ie, ok := err.(*InputError)
		if !ok || ie.Flag != c.flag || !strings.Contains(ie.Msg, c.say) {
			t.Errorf("%+v: %v, want %s saying %q", c.o, err, c.flag, c.say)
		}
	}
}
