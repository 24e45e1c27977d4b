// Package attr is DynamoDB's attribute value as it travels in the JSON 1.0
// protocol ({"S":"x"}, {"N":"1.5"}, {"M":{...}}, ...): parsing with
// DynamoDB's validation, canonical numbers, comparison and equality.
package attr

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Type tags, as DynamoDB names them.
const (
	S    = "S"
	N    = "N"
	B    = "B"
	BOOL = "BOOL"
	NULL = "NULL"
	M    = "M"
	L    = "L"
	SS   = "SS"
	NS   = "NS"
	BS   = "BS"
)

// Value is one attribute value. Exactly the field of its Type is used:
// Str holds S and N (canonical) and B (raw bytes); Set holds SS, NS and BS
// members the same way.
type Value struct {
	Type string
	Str  string
	Bool bool
	Map  map[string]Value
	List []Value
	Set  []string
}

// Item is an item: attribute name → value.
type Item map[string]Value

func String(s string) Value { return Value{Type: S, Str: s} }
func Bytes(b []byte) Value  { return Value{Type: B, Str: string(b)} }
func Boolean(b bool) Value  { return Value{Type: BOOL, Bool: b} }

// Number parses a decimal number into its canonical form.
func Number(s string) (Value, error) {
	c, err := CanonicalNumber(s)
	if err != nil {
		return Value{}, err
	}
	return Value{Type: N, Str: c}, nil
}

// UnmarshalJSON parses and validates one value: exactly one type key, sets
// non-empty and without duplicates, numbers well formed.
func (v *Value) UnmarshalJSON(data []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return errors.New("an AttributeValue must be an object like {\"S\": \"text\"}")
	}
	if len(raw) != 1 {
		return errors.New("Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes")
	}
	for typ, body := range raw {
		return v.parse(typ, body)
	}
	return nil
}

func (v *Value) parse(typ string, body json.RawMessage) error {
	*v = Value{Type: typ}
	switch typ {
	case S:
		return json.Unmarshal(body, &v.Str)
	case N:
		var s string
		if err := json.Unmarshal(body, &s); err != nil {
			return errors.New("The parameter cannot be converted to a numeric value")
		}
		c, err := CanonicalNumber(s)
		v.Str = c
		return err
	case B:
		var s string
		if err := json.Unmarshal(body, &s); err != nil {
			return err
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return errors.New("Invalid binary value: not base64")
		}
		v.Str = string(b)
		return nil
	case BOOL:
		return json.Unmarshal(body, &v.Bool)
	case NULL:
		var b bool
		if err := json.Unmarshal(body, &b); err != nil || !b {
			return errors.New("Null attribute value types must have the value of true")
		}
		v.Bool = true
		return nil
	case M:
		v.Map = map[string]Value{}
		return json.Unmarshal(body, &v.Map)
	case L:
		v.List = []Value{}
		return json.Unmarshal(body, &v.List)
	case SS, NS, BS:
		var members []string
		if err := json.Unmarshal(body, &members); err != nil {
			return err
		}
		if len(members) == 0 {
			return emptySet[typ]
		}
		seen := map[string]bool{}
		for _, m := range members {
			switch typ {
			case NS:
				c, err := CanonicalNumber(m)
				if err != nil {
					return err
				}
				m = c
			case BS:
				b, err := base64.StdEncoding.DecodeString(m)
				if err != nil {
					return errors.New("Invalid binary value: not base64")
				}
				m = string(b)
			}
			if seen[m] {
				return duplicates(typ, members)
			}
			seen[m] = true
			v.Set = append(v.Set, m)
		}
		return nil
	}
	return fmt.Errorf("Supplied AttributeValue has an unknown datatype %q", typ)
}

// DynamoDB's words for an empty set and for duplicates in a set differ by
// the set's type (as dynalite reproduces them, irregular spacing included).
var emptySet = map[string]error{
	SS: errors.New("One or more parameter values were invalid: An string set  may not be empty"),
	NS: errors.New("One or more parameter values were invalid: An number set  may not be empty"),
	BS: errors.New("One or more parameter values were invalid: Binary sets should not be empty"),
}

// duplicates is the error for a set with a repeated member, naming the
// members as sent (numbers are compared by value: 1 and 1.0 repeat).
func duplicates(typ string, members []string) error {
	list := strings.Join(members, ", ")
	switch typ {
	case SS:
		return fmt.Errorf("One or more parameter values were invalid: Input collection [%s] contains duplicates.", list)
	case BS:
		return fmt.Errorf("One or more parameter values were invalid: Input collection [%s]of type BS contains duplicates.", list)
	}
	return errors.New("Input collection contains duplicates")
}

// MarshalJSON writes the protocol form.
func (v Value) MarshalJSON() ([]byte, error) {
	var body any
	switch v.Type {
	case S, N:
		body = v.Str
	case B:
		body = base64.StdEncoding.EncodeToString([]byte(v.Str))
	case BOOL, NULL:
		body = v.Bool
	case M:
		m := v.Map
		if m == nil {
			m = map[string]Value{}
		}
		body = m
	case L:
		l := v.List
		if l == nil {
			l = []Value{}
		}
		body = l
	case SS, NS:
		body = v.Set
	case BS:
		enc := make([]string, len(v.Set))
		for i, m := range v.Set {
			enc[i] = base64.StdEncoding.EncodeToString([]byte(m))
		}
		body = enc
	default:
		return nil, fmt.Errorf("attr: value without a type")
	}
	return json.Marshal(map[string]any{v.Type: body})
}

// Equal is deep equality; sets compare as sets, numbers by value.
func Equal(a, b Value) bool {
	if a.Type != b.Type {
		return false
	}
	switch a.Type {
	case S, N, B:
		return a.Str == b.Str // numbers are canonical
	case BOOL, NULL:
		return a.Bool == b.Bool
	case M:
		if len(a.Map) != len(b.Map) {
			return false
		}
		for k, av := range a.Map {
			bv, ok := b.Map[k]
			if !ok || !Equal(av, bv) {
				return false
			}
		}
		return true
	case L:
		if len(a.List) != len(b.List) {
			return false
		}
		for i := range a.List {
			if !Equal(a.List[i], b.List[i]) {
				return false
			}
		}
		return true
	case SS, NS, BS:
		if len(a.Set) != len(b.Set) {
			return false
		}
		as, bs := sorted(a.Set), sorted(b.Set)
		for i := range as {
			if as[i] != bs[i] {
				return false
			}
		}
		return true
	}
	return false
}

// Compare orders two scalar values of one type (S, N or B); ok is false when
// they cannot be ordered.
func Compare(a, b Value) (c int, ok bool) {
	if a.Type != b.Type {
		return 0, false
	}
	switch a.Type {
	case N:
		return CompareNumbers(a.Str, b.Str), true
	case S, B:
		return bytes.Compare([]byte(a.Str), []byte(b.Str)), true
	}
	return 0, false
}

// Size is DynamoDB's size(): length of a string or binary, members of a set,
// elements of a list or map.
func Size(v Value) (int, bool) {
	switch v.Type {
	case S:
		return len([]rune(v.Str)), true
	case B:
		return len(v.Str), true
	case SS, NS, BS:
		return len(v.Set), true
	case L:
		return len(v.List), true
	case M:
		return len(v.Map), true
	}
	return 0, false
}

// Copy is a deep copy, so stored items never alias a request's values.
func Copy(v Value) Value {
	switch v.Type {
	case M:
		m := make(map[string]Value, len(v.Map))
		for k, e := range v.Map {
			m[k] = Copy(e)
		}
		v.Map = m
	case L:
		l := make([]Value, len(v.List))
		for i, e := range v.List {
			l[i] = Copy(e)
		}
		v.List = l
	case SS, NS, BS:
		v.Set = append([]string(nil), v.Set...)
	}
	return v
}

// CopyItem deep-copies an item.
func CopyItem(it Item) Item {
	out := make(Item, len(it))
	for k, v := range it {
		out[k] = Copy(v)
	}
	return out
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}
