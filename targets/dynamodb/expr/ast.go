package expr

import (
	"fmt"
	"strings"

	"github.com/faultline-dev/faultline/targets/dynamodb/attr"
)

// Path is a document path: a top-level attribute then map keys and list
// indexes.
type Path []step

type step struct {
	name  string // map key (the resolved name, not the #placeholder)
	index int    // list index when name is ""
	isIdx bool
}

func (p Path) String() string {
	var b strings.Builder
	for i, s := range p {
		switch {
		case s.isIdx:
			fmt.Fprintf(&b, "[%d]", s.index)
		case i > 0:
			b.WriteString("." + s.name)
		default:
			b.WriteString(s.name)
		}
	}
	return b.String()
}

// Top is the top-level attribute name.
func (p Path) Top() string { return p[0].name }

// Get resolves the path in an item.
func (p Path) Get(it attr.Item) (attr.Value, bool) {
	v, ok := it[p[0].name]
	for _, s := range p[1:] {
		if !ok {
			return attr.Value{}, false
		}
		switch {
		case s.isIdx && v.Type == attr.L && s.index < len(v.List):
			v = v.List[s.index]
		case !s.isIdx && v.Type == attr.M:
			v, ok = v.Map[s.name]
		default:
			return attr.Value{}, false
		}
	}
	return v, ok
}

// operand is something that evaluates to a value: a path, a :value, or a
// function of them.
type operand interface {
	eval(it attr.Item) (attr.Value, bool, error)
}

type pathOperand struct{ path Path }
type valueOperand struct{ v attr.Value }
type sizeOperand struct{ path Path }

func (o pathOperand) eval(it attr.Item) (attr.Value, bool, error) {
	v, ok := o.path.Get(it)
	return v, ok, nil
}

func (o valueOperand) eval(attr.Item) (attr.Value, bool, error) { return o.v, true, nil }

func (o sizeOperand) eval(it attr.Item) (attr.Value, bool, error) {
	v, ok := o.path.Get(it)
	if !ok {
		return attr.Value{}, false, nil
	}
	n, ok := attr.Size(v)
	if !ok {
		return attr.Value{}, false, nil
	}
	return attr.Value{Type: attr.N, Str: fmt.Sprint(n)}, true, nil
}

// Cond is a parsed condition: it holds for an item or not.
type Cond interface {
	Eval(it attr.Item) (bool, error)
}

type andCond struct{ l, r Cond }
type orCond struct{ l, r Cond }
type notCond struct{ c Cond }

func (c andCond) Eval(it attr.Item) (bool, error) {
	l, err := c.l.Eval(it)
	if err != nil || !l {
		return false, err
	}
	return c.r.Eval(it)
}

func (c orCond) Eval(it attr.Item) (bool, error) {
	l, err := c.l.Eval(it)
	if err != nil || l {
		return l, err
	}
	return c.r.Eval(it)
}

func (c notCond) Eval(it attr.Item) (bool, error) {
	v, err := c.c.Eval(it)
	return !v, err
}

type compareCond struct {
	op   string
	l, r operand
}

func (c compareCond) Eval(it attr.Item) (bool, error) {
	l, lok, err := c.l.eval(it)
	if err != nil {
		return false, err
	}
	r, rok, err := c.r.eval(it)
	if err != nil {
		return false, err
	}
	if !lok || !rok {
		return c.op == "<>" && lok != rok, nil
	}
	switch c.op {
	case "=":
		return attr.Equal(l, r), nil
	case "<>":
		return !attr.Equal(l, r), nil
	}
	cmp, ok := attr.Compare(l, r)
	if !ok {
		return false, nil
	}
	switch c.op {
	case "<":
		return cmp < 0, nil
	case "<=":
		return cmp <= 0, nil
	case ">":
		return cmp > 0, nil
	case ">=":
		return cmp >= 0, nil
	}
	return false, fmt.Errorf("unknown comparator %s", c.op)
}

type betweenCond struct{ v, lo, hi operand }

func (c betweenCond) Eval(it attr.Item) (bool, error) {
	v, ok1, _ := c.v.eval(it)
	lo, ok2, _ := c.lo.eval(it)
	hi, ok3, _ := c.hi.eval(it)
	if !ok1 || !ok2 || !ok3 {
		return false, nil
	}
	a, okA := attr.Compare(lo, v)
	b, okB := attr.Compare(v, hi)
	return okA && okB && a <= 0 && b <= 0, nil
}

type inCond struct {
	v    operand
	list []operand
}

func (c inCond) Eval(it attr.Item) (bool, error) {
	v, ok, _ := c.v.eval(it)
	if !ok {
		return false, nil
	}
	for _, o := range c.list {
		if w, ok, _ := o.eval(it); ok && attr.Equal(v, w) {
			return true, nil
		}
	}
	return false, nil
}

type funcCond struct {
	name string
	path Path
	arg  operand // nil for attribute_exists / attribute_not_exists
}

func (c funcCond) Eval(it attr.Item) (bool, error) {
	v, exists := c.path.Get(it)
	switch c.name {
	case "attribute_exists":
		return exists, nil
	case "attribute_not_exists":
		return !exists, nil
	}
	if !exists {
		return false, nil
	}
	a, ok, err := c.arg.eval(it)
	if err != nil || !ok {
		return false, err
	}
	switch c.name {
	case "attribute_type":
		return a.Type == attr.S && v.Type == a.Str, nil
	case "begins_with":
		if (v.Type == attr.S || v.Type == attr.B) && a.Type == v.Type {
			return strings.HasPrefix(v.Str, a.Str), nil
		}
		return false, nil
	case "contains":
		switch v.Type {
		case attr.S, attr.B:
			return a.Type == v.Type && strings.Contains(v.Str, a.Str), nil
		case attr.SS, attr.NS, attr.BS:
			for _, m := range v.Set {
				if m == a.Str && a.Type == v.Type[1:] {
					return true, nil
				}
			}
		case attr.L:
			for _, e := range v.List {
				if attr.Equal(e, a) {
					return true, nil
				}
			}
		}
		return false, nil
	}
	return false, fmt.Errorf("unknown function %s", c.name)
}

// Attributes lists the top-level attribute names a condition reads.
func Attributes(c Cond) []string {
	var names []string
	addPath := func(p Path) { names = append(names, p.Top()) }
	addOperand := func(o operand) {
		switch o := o.(type) {
		case pathOperand:
			addPath(o.path)
		case sizeOperand:
			addPath(o.path)
		}
	}
	var walk func(Cond)
	walk = func(c Cond) {
		switch c := c.(type) {
		case andCond:
			walk(c.l)
			walk(c.r)
		case orCond:
			walk(c.l)
			walk(c.r)
		case notCond:
			walk(c.c)
		case compareCond:
			addOperand(c.l)
			addOperand(c.r)
		case betweenCond:
			addOperand(c.v)
			addOperand(c.lo)
			addOperand(c.hi)
		case inCond:
			addOperand(c.v)
			for _, o := range c.list {
				addOperand(o)
			}
		case funcCond:
			addPath(c.path)
			if c.arg != nil {
				addOperand(c.arg)
			}
		}
	}
	walk(c)
	return names
}
