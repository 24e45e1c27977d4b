package expr

import (
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/targets/dynamodb/attr"
)

func num(s string) attr.Value { v, _ := attr.Number(s); return v }

var item = attr.Item{
	"pk":    attr.String("user#1"),
	"age":   num("42"),
	"name":  attr.String("Ada"),
	"tags":  {Type: attr.SS, Set: []string{"a", "b"}},
	"meta":  {Type: attr.M, Map: map[string]attr.Value{"color": attr.String("red"), "sizes": {Type: attr.L, List: []attr.Value{num("1"), num("2")}}}},
	"ok":    attr.Boolean(true),
	"items": {Type: attr.L, List: []attr.Value{attr.String("x")}},
}

func ph() *Placeholders {
	return &Placeholders{
		Names:  map[string]string{"#n": "name", "#m": "meta"},
		Values: map[string]attr.Value{":a": num("40"), ":b": num("50"), ":s": attr.String("Ad"), ":t": attr.String("a"), ":ada": attr.String("Ada"), ":red": attr.String("red"), ":two": num("2"), ":ss": attr.String("SS"), ":one": num("1")},
	}
}

func TestConditions(t *testing.T) {
	cases := map[string]bool{
		"age > :a":                                true,
		"age BETWEEN :a AND :b":                   true,
		"age < :a OR #n = :ada":                   true,
		"NOT (age < :a) AND attribute_exists(pk)": true,
		"attribute_not_exists(missing)":           true,
		"begins_with(#n, :s)":                     true,
		"contains(tags, :t)":                      true,
		"#m.color = :red":                         true,
		"#m.sizes[1] = :two":                      true,
		"size(tags) = :two":                       true,
		"attribute_type(tags, :ss)":               true,
		"#n IN (:s, :ada)":                        true,
		"age <> :a":                               true,
		"missing = :a":                            false,
		"age >= :b":                               false,
		"contains(#n, :t) and age = :a":           false,
		"(age > :a AND (#n = :s OR #n = :ada))":   true,
	}
	for src, want := range cases {
		c, err := ParseCondition("ConditionExpression", src, ph())
		if err != nil {
			t.Errorf("%s: %v", src, err)
			continue
		}
		if got, err := c.Eval(item); err != nil || got != want {
			t.Errorf("%s = %v, %v; want %v", src, got, err, want)
		}
	}
}

func TestConditionErrors(t *testing.T) {
	cases := map[string]string{
		"":                        "can not be empty",
		"age >":                   "Syntax error",
		"age = = :a":              "Syntax error",
		"age = :nope":             "attribute value used in expression is not defined",
		"#nope = :a":              "attribute name used in the document path is not defined",
		"status = :a":             "reserved keyword",
		"frobnicate(age)":         "Invalid function name",
		"age BETWEEN :a OR :b":    "Syntax error",
		"age = :a)":               "Syntax error",
		"age ~ :a":                "Syntax error",
		strings.Repeat("a", 5000): "maximum allowed size",
	}
	for src, want := range cases {
		_, err := ParseCondition("ConditionExpression", src, ph())
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", src, err, want)
		}
	}
}

func TestUpdates(t *testing.T) {
	p := ph()
	p.Values[":l"] = attr.Value{Type: attr.L, List: []attr.Value{attr.String("y")}}
	p.Values[":more"] = attr.Value{Type: attr.SS, Set: []string{"c"}}
	u, err := ParseUpdate("SET age = age + :one, #m.color = :s, items = list_append(items, :l), fresh = if_not_exists(fresh, :two) REMOVE #m.sizes[0] ADD tags :more", p)
	if err != nil {
		t.Fatal(err)
	}
	out, err := u.Apply(item)
	if err != nil {
		t.Fatal(err)
	}
	if out["age"].Str != "43" || out["meta"].Map["color"].Str != "Ad" || len(out["items"].List) != 2 || out["fresh"].Str != "2" ||
		len(out["meta"].Map["sizes"].List) != 1 || len(out["tags"].Set) != 3 {
		t.Errorf("after update: %+v", out)
	}
	if item["age"].Str != "42" || len(item["meta"].Map["sizes"].List) != 2 {
		t.Error("the update changed the original item")
	}
	if strings.Join(u.Paths(), ",") != "age,meta,items,fresh,tags" {
		t.Errorf("paths = %v", u.Paths())
	}
	for src, want := range map[string]string{
		"SET a = :one SET b = :one":  "can only be used once",
		"SET age = :one, age = :two": "overlap",
		"SET #n = #n + :one":         "incorrect data type",
		"ADD #n :s":                  "Incorrect operand type",
		"SET nested.deep = :one":     "invalid for update",
		"SET a = size(tags)":         "not allowed",
		"MERGE a :one":               "Syntax error",
	} {
		u, err := ParseUpdate(src, ph())
		if err == nil {
			_, err = u.Apply(item)
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", src, err, want)
		}
	}
}

func TestKeyConditions(t *testing.T) {
	p := ph()
	if kc, err := ParseKeyCondition("pk = :s AND age BETWEEN :a AND :b", "pk", "age", p); err != nil || kc.Hash.Str != "Ad" || kc.Range == nil {
		t.Errorf("key condition: %+v %v", kc, err)
	}
	for src, want := range map[string]string{
		"age = :a":              "missed key schema element: pk",
		"pk = :s OR age = :a":   "Invalid operator",
		"pk <> :s":              "Invalid operator",
		"pk = :s AND #n = :ada": "missed key schema element",
	} {
		if _, err := ParseKeyCondition(src, "pk", "age", ph()); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", src, err, want)
		}
	}
}

func TestUnusedPlaceholders(t *testing.T) {
	p := ph()
	if _, err := ParseCondition("ConditionExpression", "#n = :ada", p); err != nil {
		t.Fatal(err)
	}
	if err := p.Unused(); err == nil || !strings.Contains(err.Error(), "#m") {
		t.Errorf("unused = %v", err)
	}
}

func TestProjection(t *testing.T) {
	paths, err := ParseProjection("#n, #m.color, items[0]", ph())
	if err != nil {
		t.Fatal(err)
	}
	out := Project(item, paths)
	if len(out) != 3 || out["meta"].Map["color"].Str != "red" || len(out["meta"].Map) != 1 || out["items"].List[0].Str != "x" {
		t.Errorf("projection = %+v", out)
	}
}
