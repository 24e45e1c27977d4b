package expr

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/faultline-dev/faultline/targets/dynamodb/attr"
)

// Placeholders are a request's ExpressionAttributeNames and Values. One
// Placeholders is shared by every expression of a request, so that Unused can
// report what none of them used, as DynamoDB does.
type Placeholders struct {
	Names  map[string]string
	Values map[string]attr.Value

	usedNames  map[string]bool
	usedValues map[string]bool
}

// Unused returns DynamoDB's error for placeholders no expression used.
func (p *Placeholders) Unused() error {
	var names, values []string
	for k := range p.Names {
		if !p.usedNames[k] {
			names = append(names, k)
		}
	}
	for k := range p.Values {
		if !p.usedValues[k] {
			values = append(values, k)
		}
	}
	sort.Strings(names)
	sort.Strings(values)
	switch {
	case len(names) > 0:
		return fmt.Errorf("Value provided in ExpressionAttributeNames unused in expressions: keys: {%s}", strings.Join(names, ", "))
	case len(values) > 0:
		return fmt.Errorf("Value provided in ExpressionAttributeValues unused in expressions: keys: {%s}", strings.Join(values, ", "))
	}
	return nil
}

type parser struct {
	src  string
	toks []token
	i    int
	ph   *Placeholders
	// what names the expression in error messages: "ConditionExpression"...
	what string
}

func newParser(what, src string, ph *Placeholders) (*parser, error) {
	if strings.TrimSpace(src) == "" {
		return nil, fmt.Errorf("Invalid %s: The expression can not be empty;", what)
	}
	toks, err := lex(src)
	if err != nil {
		return nil, fmt.Errorf("Invalid %s: %v", what, err)
	}
	if ph.usedNames == nil {
		ph.usedNames, ph.usedValues = map[string]bool{}, map[string]bool{}
	}
	return &parser{src: src, toks: toks, ph: ph, what: what}, nil
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) errAt(t token) error {
	return fmt.Errorf("Invalid %s: %v", p.what, syntaxError(p.src, min(t.pos, len(p.src)), t.text))
}

func (p *parser) keyword(kw string) bool {
	t := p.peek()
	if t.kind == tIdent && strings.EqualFold(t.text, kw) {
		p.i++
		return true
	}
	return false
}

func (p *parser) punct(s string) bool {
	t := p.peek()
	if t.kind == tPunct && t.text == s {
		p.i++
		return true
	}
	return false
}

func (p *parser) expect(s string) error {
	if !p.punct(s) {
		return p.errAt(p.peek())
	}
	return nil
}

func (p *parser) end() error {
	if t := p.peek(); t.kind != tEOF {
		return p.errAt(t)
	}
	return nil
}

// reserved words that cannot be attribute names without a #placeholder; a
// short list of the ones users hit most (DynamoDB has 573).
var reserved = map[string]bool{"AND": true, "OR": true, "NOT": true, "BETWEEN": true, "IN": true, "SET": true,
	"REMOVE": true, "ADD": true, "DELETE": true, "SIZE": true, "NAME": true, "STATUS": true, "DATA": true,
	"VALUE": true, "KEY": true, "TIMESTAMP": true, "DATE": true, "TIME": true, "YEAR": true, "COUNT": true}

func (p *parser) path() (Path, error) {
	var path Path
	for {
		t := p.next()
		switch t.kind {
		case tIdent:
			if reserved[strings.ToUpper(t.text)] {
				return nil, fmt.Errorf("Invalid %s: Attribute name is a reserved keyword; reserved keyword: %s", p.what, t.text)
			}
			path = append(path, step{name: t.text})
		case tName:
			name, ok := p.ph.Names[t.text]
			if !ok {
				return nil, fmt.Errorf("Invalid %s: An expression attribute name used in the document path is not defined; attribute name: %s", p.what, t.text)
			}
			p.ph.usedNames[t.text] = true
			path = append(path, step{name: name})
		default:
			return nil, p.errAt(t)
		}
		for p.punct("[") {
			n := p.next()
			if n.kind != tNumber {
				return nil, p.errAt(n)
			}
			idx, err := strconv.Atoi(n.text)
			if err != nil {
				return nil, p.errAt(n)
			}
			if err := p.expect("]"); err != nil {
				return nil, err
			}
			path = append(path, step{index: idx, isIdx: true})
		}
		if !p.punct(".") {
			return path, nil
		}
	}
}

func (p *parser) value() (attr.Value, error) {
	t := p.next()
	if t.kind != tValue {
		return attr.Value{}, p.errAt(t)
	}
	v, ok := p.ph.Values[t.text]
	if !ok {
		return attr.Value{}, fmt.Errorf("Invalid %s: An expression attribute value used in expression is not defined; attribute value: %s", p.what, t.text)
	}
	p.ph.usedValues[t.text] = true
	return v, nil
}

// operand: path | :value | size(path)
func (p *parser) operand() (operand, error) {
	t := p.peek()
	switch {
	case t.kind == tValue:
		v, err := p.value()
		return valueOperand{v}, err
	case t.kind == tIdent && strings.EqualFold(t.text, "size") && p.toks[p.i+1].text == "(":
		p.i += 2
		path, err := p.path()
		if err != nil {
			return nil, err
		}
		return sizeOperand{path}, p.expect(")")
	}
	path, err := p.path()
	return pathOperand{path}, err
}

// ParseCondition parses a ConditionExpression, FilterExpression or (with
// what "KeyConditionExpression") a key condition.
func ParseCondition(what, src string, ph *Placeholders) (Cond, error) {
	p, err := newParser(what, src, ph)
	if err != nil {
		return nil, err
	}
	c, err := p.or()
	if err != nil {
		return nil, err
	}
	return c, p.end()
}

func (p *parser) or() (Cond, error) {
	l, err := p.and()
	for err == nil && p.keyword("OR") {
		var r Cond
		r, err = p.and()
		l = orCond{l, r}
	}
	return l, err
}

func (p *parser) and() (Cond, error) {
	l, err := p.not()
	for err == nil && p.keyword("AND") {
		var r Cond
		r, err = p.not()
		l = andCond{l, r}
	}
	return l, err
}

func (p *parser) not() (Cond, error) {
	if p.keyword("NOT") {
		c, err := p.not()
		return notCond{c}, err
	}
	return p.primary()
}

var comparators = map[string]bool{"=": true, "<>": true, "<": true, "<=": true, ">": true, ">=": true}

var condFuncs = map[string]int{"attribute_exists": 1, "attribute_not_exists": 1, "attribute_type": 2, "begins_with": 2, "contains": 2}

func (p *parser) primary() (Cond, error) {
	if p.punct("(") {
		c, err := p.or()
		if err != nil {
			return nil, err
		}
		return c, p.expect(")")
	}
	t := p.peek()
	if t.kind == tIdent && p.toks[p.i+1].text == "(" {
		if arity, ok := condFuncs[strings.ToLower(t.text)]; ok {
			p.i += 2
			path, err := p.path()
			if err != nil {
				return nil, err
			}
			fc := funcCond{name: strings.ToLower(t.text), path: path}
			if arity == 2 {
				if err := p.expect(","); err != nil {
					return nil, err
				}
				if fc.arg, err = p.operand(); err != nil {
					return nil, err
				}
			}
			return fc, p.expect(")")
		}
		if !strings.EqualFold(t.text, "size") {
			return nil, fmt.Errorf("Invalid %s: Invalid function name; function: %s", p.what, t.text)
		}
	}
	l, err := p.operand()
	if err != nil {
		return nil, err
	}
	switch op := p.peek(); {
	case op.kind == tPunct && comparators[op.text]:
		p.i++
		r, err := p.operand()
		return compareCond{op.text, l, r}, err
	case p.keyword("BETWEEN"):
		lo, err := p.operand()
		if err != nil {
			return nil, err
		}
		if !p.keyword("AND") {
			return nil, p.errAt(p.peek())
		}
		hi, err := p.operand()
		return betweenCond{l, lo, hi}, err
	case p.keyword("IN"):
		if err := p.expect("("); err != nil {
			return nil, err
		}
		ic := inCond{v: l}
		for {
			o, err := p.operand()
			if err != nil {
				return nil, err
			}
			ic.list = append(ic.list, o)
			if !p.punct(",") {
				break
			}
		}
		return ic, p.expect(")")
	default:
		return nil, p.errAt(op)
	}
}

// ParseProjection parses a ProjectionExpression into paths.
func ParseProjection(src string, ph *Placeholders) ([]Path, error) {
	p, err := newParser("ProjectionExpression", src, ph)
	if err != nil {
		return nil, err
	}
	var paths []Path
	for {
		path, err := p.path()
		if err != nil {
			return nil, err
		}
		paths = append(paths, path)
		if !p.punct(",") {
			break
		}
	}
	return paths, p.end()
}

// Project keeps only the given paths of an item (top-level and nested).
func Project(it attr.Item, paths []Path) attr.Item {
	out := attr.Item{}
	for _, path := range paths {
		v, ok := path.Get(it)
		if !ok {
			continue
		}
		if len(path) == 1 {
			out[path.Top()] = attr.Copy(v)
			continue
		}
		// Nested projections keep the enclosing maps; lists keep the
		// selected elements in order, as DynamoDB returns them.
		setPath(out, path, attr.Copy(v))
	}
	return out
}

func setPath(it attr.Item, path Path, v attr.Value) {
	root, ok := it[path.Top()]
	if !ok {
		if path[1].isIdx {
			root = attr.Value{Type: attr.L}
		} else {
			root = attr.Value{Type: attr.M, Map: map[string]attr.Value{}}
		}
	}
	it[path.Top()] = setIn(root, path[1:], v)
}

func setIn(c attr.Value, rest Path, v attr.Value) attr.Value {
	if len(rest) == 0 {
		return v
	}
	s := rest[0]
	if s.isIdx {
		if c.Type != attr.L {
			c = attr.Value{Type: attr.L}
		}
		var child attr.Value
		if len(rest) > 1 {
			child = attr.Value{Type: attr.M, Map: map[string]attr.Value{}}
		}
		c.List = append(c.List, setIn(child, rest[1:], v))
		return c
	}
	if c.Type != attr.M {
		c = attr.Value{Type: attr.M, Map: map[string]attr.Value{}}
	}
	child, ok := c.Map[s.name]
	if !ok && len(rest) > 1 {
		child = attr.Value{Type: attr.M, Map: map[string]attr.Value{}}
	}
	c.Map[s.name] = setIn(child, rest[1:], v)
	return c
}
