package embedded

import (
	"github.com/faultline-dev/faultline/targets/dynamodb/attr"
	"github.com/faultline-dev/faultline/targets/dynamodb/expr"
)

type keysAndAttributes struct {
	Keys                     []attr.Item
	ProjectionExpression     *string
	ExpressionAttributeNames map[string]string
	ConsistentRead           bool
}

func batchGetItem(d *db, raw []byte) (any, *apiError) {
	var in struct{ RequestItems map[string]keysAndAttributes }
	if err := decode(raw, &in); err != nil {
		return nil, err
	}
	total := 0
	for _, ka := range in.RequestItems {
		total += len(ka.Keys)
	}
	if len(in.RequestItems) == 0 || total == 0 {
		return nil, validation("1 validation error detected: Value at 'requestItems' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	if total > 100 {
		return nil, validation("Too many items requested for the BatchGetItem call")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	responses := map[string][]attr.Item{}
	for name, ka := range in.RequestItems {
		t, aerr := d.table(name)
		if aerr != nil {
			return nil, aerr
		}
		ph := &expr.Placeholders{Names: ka.ExpressionAttributeNames}
		var proj []expr.Path
		if ka.ProjectionExpression != nil {
			var err error
			if proj, err = expr.ParseProjection(*ka.ProjectionExpression, ph); err != nil {
				return nil, validation("%s", err.Error())
			}
		}
		if err := ph.Unused(); err != nil {
			return nil, validation("%s", err.Error())
		}
		seen := map[string]bool{}
		found := []attr.Item{}
		for _, k := range ka.Keys {
			if aerr := t.checkKey(k); aerr != nil {
				return nil, aerr
			}
			ek := t.encodeKey(k)
			if seen[ek] {
				return nil, validation("Provided list of item keys contains duplicates")
			}
			seen[ek] = true
			if it, ok := t.items[ek]; ok {
				if proj != nil {
					found = append(found, expr.Project(it, proj))
				} else {
					found = append(found, attr.CopyItem(it))
				}
			}
		}
		responses[name] = found
	}
	return map[string]any{"Responses": responses, "UnprocessedKeys": map[string]any{}}, nil
}

type writeRequest struct {
	PutRequest    *struct{ Item attr.Item }
	DeleteRequest *struct{ Key attr.Item }
}

func batchWriteItem(d *db, raw []byte) (any, *apiError) {
	var in struct{ RequestItems map[string][]writeRequest }
	if err := decode(raw, &in); err != nil {
		return nil, err
	}
	total := 0
	for _, reqs := range in.RequestItems {
		total += len(reqs)
	}
	if len(in.RequestItems) == 0 || total == 0 {
		return nil, validation("1 validation error detected: Value at 'requestItems' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	if total > 25 {
		return nil, validation("1 validation error detected: Value at 'requestItems' failed to satisfy constraint: Map value must satisfy constraint: [Member must have length less than or equal to 25, Member must have length greater than or equal to 1]")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	// Validate everything first: a batch with one bad request writes nothing.
	type op struct {
		t       *table
		key     string
		item    attr.Item // nil: delete
		keyItem attr.Item
	}
	var ops []op
	for name, reqs := range in.RequestItems {
		t, aerr := d.table(name)
		if aerr != nil {
			return nil, aerr
		}
		seen := map[string]bool{}
		for _, r := range reqs {
			var o op
			switch {
			case r.PutRequest != nil && r.DeleteRequest == nil:
				if aerr := t.checkItemKey(r.PutRequest.Item); aerr != nil {
					return nil, aerr
				}
				if itemSize(r.PutRequest.Item) > maxItemSize {
					return nil, validation("Item size has exceeded the maximum allowed size")
				}
				o = op{t: t, key: t.encodeKey(r.PutRequest.Item), item: attr.CopyItem(r.PutRequest.Item)}
			case r.DeleteRequest != nil && r.PutRequest == nil:
				if aerr := t.checkKey(r.DeleteRequest.Key); aerr != nil {
					return nil, aerr
				}
				o = op{t: t, key: t.encodeKey(r.DeleteRequest.Key), keyItem: r.DeleteRequest.Key}
			default:
				return nil, validation("Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes")
			}
			if seen[o.key] {
				return nil, validation("Provided list of item keys contains duplicates")
			}
			seen[o.key] = true
			ops = append(ops, o)
		}
	}
	for _, o := range ops {
		if o.item == nil {
			delete(o.t.items, o.key)
			d.wrote(o.t, o.key, o.keyItem, nil, "BatchWriteItem")
		} else {
			o.t.items[o.key] = o.item
			d.wrote(o.t, o.key, o.t.keyOf(o.item), o.item, "BatchWriteItem")
		}
	}
	return map[string]any{"UnprocessedItems": map[string]any{}}, nil
}
