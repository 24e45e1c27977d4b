package expr

import (
	"fmt"

	"github.com/faultline-dev/faultline/targets/dynamodb/attr"
)

// KeyCondition is a Query's key condition split into its parts: the
// partition key's value and, optionally, a condition on the sort key.
type KeyCondition struct {
	Hash  attr.Value
	Range Cond // nil: every item of the partition
}

// ParseKeyCondition parses a KeyConditionExpression against a table's keys:
// "hash = :v" optionally AND one condition on the sort key (=, <, <=, >, >=,
// BETWEEN, begins_with).
func ParseKeyCondition(src, hashKey, rangeKey string, ph *Placeholders) (*KeyCondition, error) {
	c, err := ParseCondition("KeyConditionExpression", src, ph)
	if err != nil {
		return nil, err
	}
	var parts []Cond
	if a, ok := c.(andCond); ok {
		parts = []Cond{a.l, a.r}
	} else {
		parts = []Cond{c}
	}
	kc := &KeyCondition{}
	found := false
	for _, part := range parts {
		name, isHashEq, v, err := keyPart(part)
		if err != nil {
			return nil, err
		}
		switch {
		case name == hashKey && isHashEq && !found:
			kc.Hash, found = v, true
		case name == rangeKey && rangeKey != "" && kc.Range == nil:
			kc.Range = part
		case name == hashKey:
			return nil, fmt.Errorf("Query key condition not supported")
		default:
			return nil, fmt.Errorf("Query condition missed key schema element: %s", hashKey)
		}
	}
	if !found {
		return nil, fmt.Errorf("Query condition missed key schema element: %s", hashKey)
	}
	return kc, nil
}

// keyPart checks that part is a supported key condition and names its key.
func keyPart(part Cond) (name string, isEq bool, v attr.Value, err error) {
	unsupported := fmt.Errorf("Invalid operator used in KeyConditionExpression: %s", describe(part))
	switch c := part.(type) {
	case compareCond:
		l, lok := c.l.(pathOperand)
		r, rok := c.r.(valueOperand)
		if !lok || !rok || len(l.path) != 1 || c.op == "<>" {
			return "", false, v, unsupported
		}
		return l.path.Top(), c.op == "=", r.v, nil
	case betweenCond:
		if p, ok := c.v.(pathOperand); ok && len(p.path) == 1 {
			return p.path.Top(), false, v, nil
		}
	case funcCond:
		if c.name == "begins_with" && len(c.path) == 1 {
			return c.path.Top(), false, v, nil
		}
	}
	return "", false, v, unsupported
}

func describe(c Cond) string {
	switch c := c.(type) {
	case orCond:
		return "OR"
	case notCond:
		return "NOT"
	case inCond:
		return "IN"
	case andCond:
		return "AND"
	case funcCond:
		return c.name
	case compareCond:
		return c.op
	}
	return "unknown"
}
