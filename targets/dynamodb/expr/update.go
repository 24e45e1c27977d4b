package expr

import (
	"errors"
	"fmt"
	"strings"

	"github.com/faultline-dev/faultline/targets/dynamodb/attr"
)

// Update is a parsed UpdateExpression.
type Update struct {
	actions []action
}

type action struct {
	verb  string // SET, REMOVE, ADD, DELETE
	path  Path
	value valueExpr  // SET
	arg   attr.Value // ADD, DELETE
}

// valueExpr is the right-hand side of a SET action.
type valueExpr interface {
	value(it attr.Item) (attr.Value, error)
}

type plainValue struct{ o operand }
type arith struct {
	l, r  valueExpr
	minus bool
}
type ifNotExists struct {
	path Path
	def  valueExpr
}
type listAppend struct{ a, b valueExpr }

var errBadPath = errors.New("The provided expression refers to an attribute that does not exist in the item")

func (v plainValue) value(it attr.Item) (attr.Value, error) {
	x, ok, err := v.o.eval(it)
	if err != nil {
		return attr.Value{}, err
	}
	if !ok {
		return attr.Value{}, errBadPath
	}
	return x, nil
}

func (v arith) value(it attr.Item) (attr.Value, error) {
	l, err := v.l.value(it)
	if err != nil {
		return attr.Value{}, err
	}
	r, err := v.r.value(it)
	if err != nil {
		return attr.Value{}, err
	}
	if l.Type != attr.N || r.Type != attr.N {
		return attr.Value{}, errors.New("An operand in the update expression has an incorrect data type")
	}
	n, err := attr.AddNumbers(l.Str, r.Str, v.minus)
	return attr.Value{Type: attr.N, Str: n}, err
}

func (v ifNotExists) value(it attr.Item) (attr.Value, error) {
	if x, ok := v.path.Get(it); ok {
		return x, nil
	}
	return v.def.value(it)
}

func (v listAppend) value(it attr.Item) (attr.Value, error) {
	a, err := v.a.value(it)
	if err != nil {
		return attr.Value{}, err
	}
	b, err := v.b.value(it)
	if err != nil {
		return attr.Value{}, err
	}
	if a.Type != attr.L || b.Type != attr.L {
		return attr.Value{}, errors.New("Invalid UpdateExpression: Incorrect operand type for operator or function; operator or function: list_append, operand type: " + nonList(a, b))
	}
	out := attr.Value{Type: attr.L, List: append(append([]attr.Value{}, a.List...), b.List...)}
	return out, nil
}

func nonList(a, b attr.Value) string {
	if a.Type != attr.L {
		return a.Type
	}
	return b.Type
}

// ParseUpdate parses an UpdateExpression: SET, REMOVE, ADD and DELETE
// clauses, each at most once.
func ParseUpdate(src string, ph *Placeholders) (*Update, error) {
	p, err := newParser("UpdateExpression", src, ph)
	if err != nil {
		return nil, err
	}
	u := &Update{}
	seen := map[string]bool{}
	for p.peek().kind != tEOF {
		t := p.next()
		verb := strings.ToUpper(t.text)
		if t.kind != tIdent || (verb != "SET" && verb != "REMOVE" && verb != "ADD" && verb != "DELETE") {
			return nil, p.errAt(t)
		}
		if seen[verb] {
			return nil, fmt.Errorf("Invalid UpdateExpression: The \"%s\" section can only be used once in an update expression;", verb)
		}
		seen[verb] = true
		for {
			a := action{verb: verb}
			if a.path, err = p.path(); err != nil {
				return nil, err
			}
			switch verb {
			case "SET":
				if err := p.expect("="); err != nil {
					return nil, err
				}
				if a.value, err = p.setValue(); err != nil {
					return nil, err
				}
			case "ADD", "DELETE":
				if a.arg, err = p.value(); err != nil {
					return nil, err
				}
			}
			u.actions = append(u.actions, a)
			if !p.punct(",") {
				break
			}
		}
	}
	if err := u.checkOverlap(); err != nil {
		return nil, err
	}
	return u, nil
}

func (u *Update) checkOverlap() error {
	seen := map[string]bool{}
	for _, a := range u.actions {
		key := a.path.String()
		if seen[key] {
			return fmt.Errorf("Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [%s], path two: [%s]", key, key)
		}
		seen[key] = true
	}
	return nil
}

func (p *parser) setValue() (valueExpr, error) {
	l, err := p.setTerm()
	if err != nil {
		return nil, err
	}
	for {
		switch {
		case p.punct("+"):
			r, err := p.setTerm()
			if err != nil {
				return nil, err
			}
			l = arith{l: l, r: r}
		case p.punct("-"):
			r, err := p.setTerm()
			if err != nil {
				return nil, err
			}
			l = arith{l: l, r: r, minus: true}
		default:
			return l, nil
		}
	}
}

func (p *parser) setTerm() (valueExpr, error) {
	t := p.peek()
	if t.kind == tIdent && p.toks[p.i+1].text == "(" {
		switch strings.ToLower(t.text) {
		case "if_not_exists":
			p.i += 2
			path, err := p.path()
			if err != nil {
				return nil, err
			}
			if err := p.expect(","); err != nil {
				return nil, err
			}
			def, err := p.setTerm()
			if err != nil {
				return nil, err
			}
			return ifNotExists{path, def}, p.expect(")")
		case "list_append":
			p.i += 2
			a, err := p.setTerm()
			if err != nil {
				return nil, err
			}
			if err := p.expect(","); err != nil {
				return nil, err
			}
			b, err := p.setTerm()
			if err != nil {
				return nil, err
			}
			return listAppend{a, b}, p.expect(")")
		case "size":
			return nil, errors.New("Invalid UpdateExpression: The function is not allowed to be used this way in an expression; function: size")
		default:
			return nil, fmt.Errorf("Invalid UpdateExpression: Invalid function name; function: %s", t.text)
		}
	}
	o, err := p.operand()
	return plainValue{o}, err
}

// Paths are the top-level attributes the update touches (for key checks and
// UPDATED_* return values).
func (u *Update) Paths() []string {
	var out []string
	seen := map[string]bool{}
	for _, a := range u.actions {
		if !seen[a.path.Top()] {
			seen[a.path.Top()] = true
			out = append(out, a.path.Top())
		}
	}
	return out
}

// Apply runs the update on a copy of it and returns the new item. Every
// right-hand side is evaluated against the item as it was, as DynamoDB does.
func (u *Update) Apply(it attr.Item) (attr.Item, error) {
	before := it
	out := attr.CopyItem(it)
	for _, a := range u.actions {
		switch a.verb {
		case "SET":
			v, err := a.value.value(before)
			if err != nil {
				return nil, err
			}
			if err := assign(out, a.path, v); err != nil {
				return nil, err
			}
		case "REMOVE":
			remove(out, a.path)
		case "ADD":
			if err := add(out, a.path, a.arg); err != nil {
				return nil, err
			}
		case "DELETE":
			if err := del(out, a.path, a.arg); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

var errInvalidPath = errors.New("The document path provided in the update expression is invalid for update")

// assign sets path to v; the containers above it must exist.
func assign(it attr.Item, path Path, v attr.Value) error {
	if len(path) == 1 {
		it[path.Top()] = v
		return nil
	}
	root, ok := it[path.Top()]
	if !ok {
		return errInvalidPath
	}
	root = attr.Copy(root)
	if err := assignIn(&root, path[1:], v); err != nil {
		return err
	}
	it[path.Top()] = root
	return nil
}

func assignIn(c *attr.Value, rest Path, v attr.Value) error {
	s := rest[0]
	last := len(rest) == 1
	switch {
	case s.isIdx && c.Type == attr.L:
		if s.index >= len(c.List) {
			if !last {
				return errInvalidPath
			}
			c.List = append(c.List, v) // past the end appends, as DynamoDB does
			return nil
		}
		if last {
			c.List[s.index] = v
			return nil
		}
		return assignIn(&c.List[s.index], rest[1:], v)
	case !s.isIdx && c.Type == attr.M:
		if last {
			c.Map[s.name] = v
			return nil
		}
		child, ok := c.Map[s.name]
		if !ok {
			return errInvalidPath
		}
		if err := assignIn(&child, rest[1:], v); err != nil {
			return err
		}
		c.Map[s.name] = child
		return nil
	}
	return errInvalidPath
}

func remove(it attr.Item, path Path) {
	if len(path) == 1 {
		delete(it, path.Top())
		return
	}
	root, ok := it[path.Top()]
	if !ok {
		return
	}
	root = attr.Copy(root)
	if removeIn(&root, path[1:]) {
		it[path.Top()] = root
	}
}

// removeIn removes the element rest names below c; false when there is none.
func removeIn(c *attr.Value, rest Path) bool {
	s := rest[0]
	last := len(rest) == 1
	switch {
	case s.isIdx && c.Type == attr.L && s.index < len(c.List):
		if last {
			c.List = append(c.List[:s.index:s.index], c.List[s.index+1:]...)
			return true
		}
		return removeIn(&c.List[s.index], rest[1:])
	case !s.isIdx && c.Type == attr.M:
		if last {
			delete(c.Map, s.name)
			return true
		}
		child, ok := c.Map[s.name]
		if ok && removeIn(&child, rest[1:]) {
			c.Map[s.name] = child
			return true
		}
	}
	return false
}

// add is ADD: numbers are added (a missing attribute counts as 0); sets gain
// members (a missing attribute becomes the set).
func add(it attr.Item, path Path, v attr.Value) error {
	cur, exists := path.Get(it)
	switch v.Type {
	case attr.N:
		if !exists {
			return assign(it, path, v)
		}
		if cur.Type != attr.N {
			return fmt.Errorf("An operand in the update expression has an incorrect data type")
		}
		n, err := attr.AddNumbers(cur.Str, v.Str, false)
		if err != nil {
			return err
		}
		return assign(it, path, attr.Value{Type: attr.N, Str: n})
	case attr.SS, attr.NS, attr.BS:
		if !exists {
			return assign(it, path, v)
		}
		if cur.Type != v.Type {
			return fmt.Errorf("An operand in the update expression has an incorrect data type")
		}
		merged := attr.Copy(cur)
		for _, m := range v.Set {
			if !contains(merged.Set, m) {
				merged.Set = append(merged.Set, m)
			}
		}
		return assign(it, path, merged)
	}
	return fmt.Errorf("Invalid UpdateExpression: Incorrect operand type for operator or function; operator: ADD, operand type: %s", typeName(v.Type))
}

// del is DELETE: removes members from a set; an emptied set is removed.
func del(it attr.Item, path Path, v attr.Value) error {
	if v.Type != attr.SS && v.Type != attr.NS && v.Type != attr.BS {
		return fmt.Errorf("Invalid UpdateExpression: Incorrect operand type for operator or function; operator: DELETE, operand type: %s", typeName(v.Type))
	}
	cur, exists := path.Get(it)
	if !exists {
		return nil
	}
	if cur.Type != v.Type {
		return fmt.Errorf("An operand in the update expression has an incorrect data type")
	}
	var kept []string
	for _, m := range cur.Set {
		if !contains(v.Set, m) {
			kept = append(kept, m)
		}
	}
	if len(kept) == 0 {
		remove(it, path)
		return nil
	}
	return assign(it, path, attr.Value{Type: cur.Type, Set: kept})
}

func contains(s []string, x string) bool {
	for _, m := range s {
		if m == x {
			return true
		}
	}
	return false
}

func typeName(t string) string {
	names := map[string]string{attr.S: "STRING", attr.N: "NUMBER", attr.B: "BINARY", attr.BOOL: "BOOLEAN", attr.NULL: "NULL",
		attr.M: "MAP", attr.L: "LIST", attr.SS: "SET", attr.NS: "SET", attr.BS: "SET"}
	return names[t]
}
