package embedded

import (
	"sort"

	"github.com/faultline-dev/faultline/targets/dynamodb/attr"
	"github.com/faultline-dev/faultline/targets/dynamodb/expr"
)

type readInput struct {
	TableName                 string
	IndexName                 *string
	KeyConditionExpression    *string
	FilterExpression          *string
	ProjectionExpression      *string
	ExpressionAttributeNames  map[string]string
	ExpressionAttributeValues map[string]attr.Value
	Limit                     *int
	ExclusiveStartKey         attr.Item
	ScanIndexForward          *bool
	Select                    string
	ConsistentRead            bool
	Segment, TotalSegments    *int
	KeyConditions             map[string]any // legacy
	ScanFilter, QueryFilter   map[string]any // legacy
}

// plan is a parsed Query or Scan.
type plan struct {
	filter expr.Cond
	proj   []expr.Path
	limit  int
}

func (in *readInput) parse(ph *expr.Placeholders) (*plan, *apiError) {
	if in.IndexName != nil {
		return nil, validation("Secondary indexes are not supported by faultline's embedded backend")
	}
	if in.KeyConditions != nil || in.ScanFilter != nil || in.QueryFilter != nil {
		return nil, validation("Legacy parameters (KeyConditions, ScanFilter, QueryFilter) are not supported by faultline's embedded backend: use expressions")
	}
	if in.Segment != nil || in.TotalSegments != nil {
		return nil, validation("Parallel scans (Segment, TotalSegments) are not supported by faultline's embedded backend")
	}
	p := &plan{}
	if in.Limit != nil {
		if *in.Limit < 1 {
			return nil, validation("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1", *in.Limit)
		}
		p.limit = *in.Limit
	}
	switch in.Select {
	case "", "ALL_ATTRIBUTES", "COUNT":
	case "SPECIFIC_ATTRIBUTES":
		if in.ProjectionExpression == nil {
			return nil, validation("SPECIFIC_ATTRIBUTES requires a ProjectionExpression")
		}
	default:
		return nil, validation("1 validation error detected: Value '%s' at 'select' failed to satisfy constraint: Member must satisfy enum value set: [SPECIFIC_ATTRIBUTES, COUNT, ALL_ATTRIBUTES, ALL_PROJECTED_ATTRIBUTES]", in.Select)
	}
	if in.FilterExpression != nil {
		c, err := expr.ParseCondition("FilterExpression", *in.FilterExpression, ph)
		if err != nil {
			return nil, validation("%s", err.Error())
		}
		p.filter = c
	}
	if in.ProjectionExpression != nil {
		if in.Select == "COUNT" {
			return nil, validation("Cannot specify the AttributesToGet or ProjectionExpression when choosing to get only the Count")
		}
		proj, err := expr.ParseProjection(*in.ProjectionExpression, ph)
		if err != nil {
			return nil, validation("%s", err.Error())
		}
		p.proj = proj
	}
	return p, nil
}

func query(d *db, raw []byte) (any, *apiError) {
	var in readInput
	if err := decode(raw, &in); err != nil {
		return nil, err
	}
	if in.KeyConditionExpression == nil {
		return nil, validation("Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.")
	}
	ph := &expr.Placeholders{Names: in.ExpressionAttributeNames, Values: in.ExpressionAttributeValues}
	d.mu.Lock()
	defer d.mu.Unlock()
	t, aerr := d.table(in.TableName)
	if aerr != nil {
		return nil, aerr
	}
	rangeName := ""
	if t.rng != nil {
		rangeName = t.rng.name
	}
	kc, err := expr.ParseKeyCondition(*in.KeyConditionExpression, t.hash.name, rangeName, ph)
	if err != nil {
		return nil, validation("%s", err.Error())
	}
	if kc.Hash.Type != t.hash.typ {
		return nil, validation("One or more parameter values were invalid: Condition parameter type does not match schema type")
	}
	p, aerr := in.parse(ph)
	if aerr != nil {
		return nil, aerr
	}
	if err := ph.Unused(); err != nil {
		return nil, validation("%s", err.Error())
	}
	if p.filter != nil {
		for _, name := range expr.Attributes(p.filter) {
			for _, k := range t.keys() {
				if name == k.name {
					return nil, validation("Filter Expression can only contain non-primary key attributes: Primary key attribute: %s", name)
				}
			}
		}
	}
	var items []attr.Item
	for _, it := range t.items {
		if !attr.Equal(it[t.hash.name], kc.Hash) {
			continue
		}
		if kc.Range != nil {
			ok, err := kc.Range.Eval(it)
			if err != nil {
				return nil, validation("%s", err.Error())
			}
			if !ok {
				continue
			}
		}
		items = append(items, it)
	}
	sort.Slice(items, func(i, j int) bool { return t.less(items[i], items[j]) })
	if in.ScanIndexForward != nil && !*in.ScanIndexForward {
		for i, j := 0, len(items)-1; i < j; i, j = i+1, j-1 {
			items[i], items[j] = items[j], items[i]
		}
	}
	return t.page(items, &in, p)
}

func scan(d *db, raw []byte) (any, *apiError) {
	var in readInput
	if err := decode(raw, &in); err != nil {
		return nil, err
	}
	if in.KeyConditionExpression != nil {
		return nil, validation("KeyConditionExpression is not a Scan parameter")
	}
	ph := &expr.Placeholders{Names: in.ExpressionAttributeNames, Values: in.ExpressionAttributeValues}
	p, aerr := in.parse(ph)
	if aerr != nil {
		return nil, aerr
	}
	if err := ph.Unused(); err != nil {
		return nil, validation("%s", err.Error())
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	t, aerr := d.table(in.TableName)
	if aerr != nil {
		return nil, aerr
	}
	return t.page(t.sorted(), &in, p)
}

// page applies ExclusiveStartKey, Limit (on items evaluated), the filter,
// the projection and Select to items in order.
func (t *table) page(items []attr.Item, in *readInput, p *plan) (any, *apiError) {
	if in.ExclusiveStartKey != nil {
		if aerr := t.checkKey(in.ExclusiveStartKey); aerr != nil {
			return nil, validation("The provided starting key is invalid: %s", aerr.msg)
		}
		start := t.encodeKey(in.ExclusiveStartKey)
		for i, it := range items {
			if t.encodeKey(it) == start {
				items = items[i+1:]
				break
			}
		}
	}
	var lastKey attr.Item
	if p.limit > 0 && len(items) >= p.limit {
		items = items[:p.limit]
		lastKey = t.keyOf(items[len(items)-1])
	}
	var out []attr.Item
	for _, it := range items {
		if p.filter != nil {
			ok, err := p.filter.Eval(it)
			if err != nil {
				return nil, validation("%s", err.Error())
			}
			if !ok {
				continue
			}
		}
		if p.proj != nil {
			out = append(out, expr.Project(it, p.proj))
		} else {
			out = append(out, attr.CopyItem(it))
		}
	}
	resp := map[string]any{"Count": len(out), "ScannedCount": len(items)}
	if in.Select != "COUNT" {
		if out == nil {
			out = []attr.Item{}
		}
		resp["Items"] = out
	}
	if lastKey != nil {
		resp["LastEvaluatedKey"] = attr.CopyItem(lastKey)
	}
	return resp, nil
}
