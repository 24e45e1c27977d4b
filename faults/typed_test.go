package faults

import (
	"errors"
	"strings"
	"testing"
	"time"
)

type testParams struct {
	Wait  time.Duration `param:"wait" required:"true" min:"1ms" max:"1m" doc:"how long"`
	Share float64       `param:"share" default:"0.5" min:"0" max:"1" doc:"a share"`
	Count int           `param:"count" default:"3" min:"1" max:"9" unit:"things" doc:"how many"`
	Loud  bool          `param:"loud" default:"true" doc:"say it"`
	Mode  string        `param:"mode" default:"b" enum:"a,b,c" doc:"which"`
	testEmbedded
}

type testEmbedded struct {
	Extra string `param:"extra" doc:"anything"`
}

func (testParams) Apply(World, Fault) (func() error, error) { return func() error { return nil }, nil }

func (p *testParams) check() error {
	if p.Extra == "forbidden" {
		return &ParamError{Param: "extra", Msg: "not that"}
	}
	return nil
}

// The tags are the catalogue, and the one decoder fills the struct from them.
func TestTypedParams(t *testing.T) {
	k := Define[testParams](Meta{Name: "test.typed", Summary: "a test", Target: TargetRegion})
	var names []string
	for _, p := range k.Params() {
		names = append(names, p.Name+":"+string(p.Type))
	}
	if got := strings.Join(names, " "); got != "wait:duration share:float count:int loud:bool mode:string extra:string" {
		t.Errorf("params %s", got)
	}
	if p := k.Params()[0]; !p.Required || !p.Bounded || p.Min != 1 || p.Max != 60000 {
		t.Errorf("wait: %+v", p)
	}
	if p := k.Params()[2]; p.Unit != "things" || p.Min != 1 || p.Max != 9 {
		t.Errorf("count: %+v", p)
	}
	parse := k.(interface {
		Parse(map[string]string) (Applier, error)
	}).Parse
	a, err := parse(map[string]string{"wait": " 2s ", "extra": "x"})
	if err != nil {
		t.Fatal(err)
	}
	want := testParams{Wait: 2 * time.Second, Share: 0.5, Count: 3, Loud: true, Mode: "b", testEmbedded: testEmbedded{Extra: "x"}}
	if a.(testParams) != want {
		t.Errorf("parsed %+v, want %+v", a, want)
	}
	bad := map[string]map[string]string{
		`parameter "wait": required by test.typed (how long)`:                        {},
		`parameter "wait": must be between 1ms and 60000ms, got 2m`:                  {"wait": "2m"},
		`parameter "count": expected a whole number, got "many"`:                     {"wait": "1s", "count": "many"},
		`parameter "share": expected a number, got "NaN"`:                            {"wait": "1s", "share": "NaN"},
		`parameter "mode": expected a, b or c, got "d"`:                              {"wait": "1s", "mode": "d"},
		`parameter "loud": expected true or false, got "very"`:                       {"wait": "1s", "loud": "very"},
		`parameter "extra": not that`:                                                {"wait": "1s", "extra": "forbidden"},
		`parameter "wiat": unknown parameter for test.typed; expected one of: count`: {"wiat": "1s"},
	}
	for want, raw := range bad {
		_, err := parse(raw)
		var pe *ParamError
		if !errors.As(err, &pe) || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%v: %v, want %q", raw, err, want)
		}
	}
}

// A struct the decoder cannot read is refused when the kind is defined.
func TestDefineRefusesBadStructs(t *testing.T) {
	for name, define := range map[string]func(){
		"no doc":      func() { Define[noDoc](Meta{Name: "t"}) },
		"one bound":   func() { Define[oneBound](Meta{Name: "t"}) },
		"bad default": func() { Define[badDefault](Meta{Name: "t"}) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: defined", name)
				}
			}()
			define()
		}()
	}
}

type noDoc struct {
	X int `param:"x"`
}
type oneBound struct {
	X int `param:"x" min:"1" doc:"x"`
}
type badDefault struct {
	X int `param:"x" default:"ten" doc:"x"`
}

func (noDoc) Apply(World, Fault) (func() error, error)      { return nil, nil }
func (oneBound) Apply(World, Fault) (func() error, error)   { return nil, nil }
func (badDefault) Apply(World, Fault) (func() error, error) { return nil, nil }
