package spec

import (
	"encoding/json"
	"errors"
	"regexp"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/faultline-dev/faultline/experiments/library"
)

// full has every mapping the format knows, so each can get an unknown key.
const full = `name: x
topology:
  dns: {ttl: 1s}
  resolver: {preset: unbound}
  automation: {enactors: 3}
  table: {name: orders}
  images: {dynamodb: a/b:1}
  regions:
    - name: us-east-1
      health_check: {interval: 1s}
      velocity_limit: {max_share: 0.5}
    - name: us-west-2
clients:
  - name: c
    strategy: failover
    regions: [us-east-1, us-west-2]
metrics: {consecutive_successes: 3}
schedule:
  duration: 10s
  faults:
    - kind: dns.empty
      target: dynamodb.us-east-1.amazonaws.com
      start: 1s
      duration: 2s
assertions:
  - client: c
    expr: failover_ms < 2000
steady_state:
  - client: c
    expr: availability > 0.9
`

// The schema knows exactly the keys the parser knows, at every level: an
// unknown key's error lists the parser's keys, and they are the schema's
// properties there.
func TestSchemaHasTheParsersKeys(t *testing.T) {
	if _, err := Parse("full.yaml", []byte(full)); err != nil {
		t.Fatalf("the full example is invalid: %v", err)
	}
	var schema map[string]any
	if err := json.Unmarshal(Schema(), &schema); err != nil {
		t.Fatal(err)
	}
	paths := [][]string{{}, {"topology"}, {"topology", "dns"}, {"topology", "resolver"}, {"topology", "automation"},
		{"topology", "table"}, {"topology", "images"}, {"topology", "regions", "0"}, {"topology", "regions", "0", "health_check"},
		{"topology", "regions", "0", "velocity_limit"}, {"clients", "0"}, {"metrics"}, {"schedule"}, {"schedule", "faults", "0"},
		{"assertions", "0"}, {"steady_state", "0"}}
	listed := regexp.MustCompile(`unknown key "zzz"; expected one of: (.*)$`)
	for _, path := range paths {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(full), &doc); err != nil {
			t.Fatal(err)
		}
		n := nodeAt(doc.Content[0], path)
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "zzz"}, &yaml.Node{Kind: yaml.ScalarNode, Value: "1"})
		text, _ := yaml.Marshal(&doc)
		_, err := Parse("x.yaml", text)
		var list ErrorList
		if !errors.As(err, &list) {
			t.Fatalf("%v: err = %v", path, err)
		}
		var parserKeys []string
		for _, e := range list {
			if m := listed.FindStringSubmatch(e.Msg); m != nil {
				parserKeys = strings.Split(m[1], ", ")
			}
		}
		schemaKeys := propertiesAt(schema, path)
		sort.Strings(parserKeys)
		sort.Strings(schemaKeys)
		if strings.Join(parserKeys, ",") != strings.Join(schemaKeys, ",") || len(parserKeys) == 0 {
			t.Errorf("at %v: the parser knows %v, the schema %v", path, parserKeys, schemaKeys)
		}
	}
}

func propertiesAt(s map[string]any, path []string) []string {
	for _, seg := range path {
		if items, ok := s["items"].(map[string]any); ok && s["type"] == "array" {
			s = items
			continue
		}
		s = s["properties"].(map[string]any)[seg].(map[string]any)
		if items, ok := s["items"].(map[string]any); ok {
			_ = items
		}
	}
	if items, ok := s["items"].(map[string]any); ok {
		s = items
	}
	var keys []string
	for k := range s["properties"].(map[string]any) {
		keys = append(keys, k)
	}
	return keys
}

// Every built-in experiment satisfies the schema.
func TestLibraryMatchesTheSchema(t *testing.T) {
	for _, name := range library.Names() {
		file, data, _ := library.Get(name)
		var doc yaml.Node
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Fatal(err)
		}
		if errs := checkSchema(file, doc.Content[0]); len(errs) > 0 {
			t.Errorf("%s: %v", name, errs)
		}
	}
}

// What only the schema says (a text that is a YAML number) is reported by Parse at its place.
func TestSchemaErrorsHavePositions(t *testing.T) {
	cases := []struct{ text, pos, phrase string }{
		{strings.Replace(minimal, "name: x\n", "name: x\ndescription: 7\n", 1), "bad.yaml:2:14", "description"},
		{strings.Replace(minimal, "topology:\n", "topology:\n  table: {name: 12345}\n", 1), "bad.yaml:3:17", "topology.table.name: got number, want string"},
	}
	for _, c := range cases {
		_, err := Parse("bad.yaml", []byte(c.text))
		var list ErrorList
		if !errors.As(err, &list) || len(list) == 0 {
			t.Errorf("err = %v; want an error at %s about %s", err, c.pos, c.phrase)
			continue
		}
		if first := list[0].Error(); !strings.HasPrefix(first, c.pos+": ") || !strings.Contains(first, c.phrase) {
			t.Errorf("first error %q; want at %s about %s", first, c.pos, c.phrase)
		}
	}
}
