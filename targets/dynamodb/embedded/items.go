package embedded

import (
	"github.com/faultline-dev/faultline/targets/dynamodb/attr"
	"github.com/faultline-dev/faultline/targets/dynamodb/expr"
)

// exprParams are the expression parameters every item operation shares.
type exprParams struct {
	ConditionExpression                 *string
	ExpressionAttributeNames            map[string]string
	ExpressionAttributeValues           map[string]attr.Value
	ReturnValues                        string
	ReturnValuesOnConditionCheckFailure string
	// Legacy parameters, refused with a clear message.
	Expected         map[string]any
	AttributeUpdates map[string]any
}

func (p *exprParams) placeholders() *expr.Placeholders {
	return &expr.Placeholders{Names: p.ExpressionAttributeNames, Values: p.ExpressionAttributeValues}
}

func (p *exprParams) legacy() *apiError {
	if p.Expected != nil || p.AttributeUpdates != nil {
		return validation("Legacy parameters (Expected, AttributeUpdates) are not supported by faultline's embedded backend: use ConditionExpression and UpdateExpression")
	}
	return nil
}

// condition parses the ConditionExpression, if any.
func (p *exprParams) condition(ph *expr.Placeholders) (expr.Cond, *apiError) {
	if p.ConditionExpression == nil {
		return nil, nil
	}
	c, err := expr.ParseCondition("ConditionExpression", *p.ConditionExpression, ph)
	if err != nil {
		return nil, validation("%s", err.Error())
	}
	return c, nil
}

// check evaluates a condition against the current item (nil: none).
func (p *exprParams) check(c expr.Cond, current attr.Item) *apiError {
	if c == nil {
		return nil
	}
	it := current
	if it == nil {
		it = attr.Item{}
	}
	ok, err := c.Eval(it)
	if err != nil {
		return validation("Invalid ConditionExpression: %s", err.Error())
	}
	if ok {
		return nil
	}
	if p.ReturnValuesOnConditionCheckFailure == "ALL_OLD" && current != nil {
		return conditionFailed(attr.CopyItem(current))
	}
	return conditionFailed(nil)
}

// prepare checks what every conditional write shares and parses its
// condition; more parses the operation's own expressions with the same
// placeholders, so that unused ones are found across all of them.
func (p *exprParams) prepare(allowedReturnValues []string, more func(*expr.Placeholders) *apiError) (expr.Cond, *apiError) {
	if err := p.legacy(); err != nil {
		return nil, err
	}
	if err := returnValues(p.ReturnValues, allowedReturnValues...); err != nil {
		return nil, err
	}
	ph := p.placeholders()
	if more != nil {
		if err := more(ph); err != nil {
			return nil, err
		}
	}
	cond, err := p.condition(ph)
	if err != nil {
		return nil, err
	}
	if err := ph.Unused(); err != nil {
		return nil, validation("%s", err.Error())
	}
	return cond, nil
}

func returnValues(rv string, allowed ...string) *apiError {
	if rv == "" {
		return nil
	}
	for _, a := range allowed {
		if rv == a {
			return nil
		}
	}
	return validation("ReturnValues can only be %v for this operation, got %s", allowed, rv)
}

type putItemInput struct {
	TableName string
	Item      attr.Item
	exprParams
}

func putItem(d *db, raw []byte) (any, *apiError) {
	var in putItemInput
	if err := decode(raw, &in); err != nil {
		return nil, err
	}
	cond, aerr := in.prepare([]string{"NONE", "ALL_OLD"}, nil)
	if aerr != nil {
		return nil, aerr
	}
	if itemSize(in.Item) > maxItemSize {
		return nil, validation("Item size has exceeded the maximum allowed size")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	t, aerr := d.table(in.TableName)
	if aerr != nil {
		return nil, aerr
	}
	if aerr := t.checkItemKey(in.Item); aerr != nil {
		return nil, aerr
	}
	k := t.encodeKey(in.Item)
	old := t.items[k]
	if aerr := in.check(cond, old); aerr != nil {
		return nil, aerr
	}
	t.items[k] = attr.CopyItem(in.Item)
	d.wrote(t, k, t.keyOf(in.Item), in.Item, "PutItem")
	out := map[string]any{}
	if in.ReturnValues == "ALL_OLD" && old != nil {
		out["Attributes"] = old
	}
	return out, nil
}

type keyInput struct {
	TableName                string
	Key                      attr.Item
	ProjectionExpression     *string
	ConsistentRead           bool
	AttributesToGet          []string
	ExpressionAttributeNames map[string]string
}

func getItem(d *db, raw []byte) (any, *apiError) {
	var in keyInput
	if err := decode(raw, &in); err != nil {
		return nil, err
	}
	if in.AttributesToGet != nil {
		return nil, validation("Legacy parameter AttributesToGet is not supported by faultline's embedded backend: use ProjectionExpression")
	}
	ph := &expr.Placeholders{Names: in.ExpressionAttributeNames}
	var proj []expr.Path
	if in.ProjectionExpression != nil {
		var err error
		if proj, err = expr.ParseProjection(*in.ProjectionExpression, ph); err != nil {
			return nil, validation("%s", err.Error())
		}
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
	if aerr := t.checkKey(in.Key); aerr != nil {
		return nil, aerr
	}
	it, ok := t.items[t.encodeKey(in.Key)]
	if !ok {
		return map[string]any{}, nil
	}
	if proj != nil {
		return map[string]any{"Item": expr.Project(it, proj)}, nil
	}
	return map[string]any{"Item": attr.CopyItem(it)}, nil
}

type deleteItemInput struct {
	TableName string
	Key       attr.Item
	exprParams
}

func deleteItem(d *db, raw []byte) (any, *apiError) {
	var in deleteItemInput
	if err := decode(raw, &in); err != nil {
		return nil, err
	}
	cond, aerr := in.prepare([]string{"NONE", "ALL_OLD"}, nil)
	if aerr != nil {
		return nil, aerr
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	t, aerr := d.table(in.TableName)
	if aerr != nil {
		return nil, aerr
	}
	if aerr := t.checkKey(in.Key); aerr != nil {
		return nil, aerr
	}
	k := t.encodeKey(in.Key)
	old := t.items[k]
	if aerr := in.check(cond, old); aerr != nil {
		return nil, aerr
	}
	delete(t.items, k)
	d.wrote(t, k, in.Key, nil, "DeleteItem")
	out := map[string]any{}
	if in.ReturnValues == "ALL_OLD" && old != nil {
		out["Attributes"] = old
	}
	return out, nil
}

type updateItemInput struct {
	TableName        string
	Key              attr.Item
	UpdateExpression *string
	exprParams
}

func updateItem(d *db, raw []byte) (any, *apiError) {
	var in updateItemInput
	if err := decode(raw, &in); err != nil {
		return nil, err
	}
	var upd *expr.Update
	cond, aerr := in.prepare([]string{"NONE", "ALL_OLD", "ALL_NEW", "UPDATED_OLD", "UPDATED_NEW"}, func(ph *expr.Placeholders) *apiError {
		if in.UpdateExpression == nil {
			return nil
		}
		var err error
		if upd, err = expr.ParseUpdate(*in.UpdateExpression, ph); err != nil {
			return validation("%s", err.Error())
		}
		return nil
	})
	if aerr != nil {
		return nil, aerr
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	t, aerr := d.table(in.TableName)
	if aerr != nil {
		return nil, aerr
	}
	if aerr := t.checkKey(in.Key); aerr != nil {
		return nil, aerr
	}
	var touched []string
	if upd != nil {
		touched = upd.Paths()
		for _, p := range touched {
			for _, k := range t.keys() {
				if p == k.name {
					return nil, validation("One or more parameter values were invalid: Cannot update attribute %s. This attribute is part of the key", p)
				}
			}
		}
	}
	k := t.encodeKey(in.Key)
	old := t.items[k]
	if aerr := in.check(cond, old); aerr != nil {
		return nil, aerr
	}
	base := old
	if base == nil {
		base = attr.CopyItem(in.Key) // UpdateItem creates the item
	}
	updated := attr.CopyItem(base)
	if upd != nil {
		var err error
		if updated, err = upd.Apply(base); err != nil {
			return nil, validation("%s", err.Error())
		}
	}
	if itemSize(updated) > maxItemSize {
		return nil, validation("Item size to update has exceeded the maximum allowed size")
	}
	t.items[k] = updated
	d.wrote(t, k, in.Key, updated, "UpdateItem")
	out := map[string]any{}
	switch in.ReturnValues {
	case "ALL_OLD":
		if old != nil {
			out["Attributes"] = old
		}
	case "ALL_NEW":
		out["Attributes"] = attr.CopyItem(updated)
	case "UPDATED_OLD":
		if sel := pick(old, touched); len(sel) > 0 {
			out["Attributes"] = sel
		}
	case "UPDATED_NEW":
		if sel := pick(updated, touched); len(sel) > 0 {
			out["Attributes"] = sel
		}
	}
	return out, nil
}

// pick copies the named top-level attributes that exist in it.
func pick(it attr.Item, names []string) attr.Item {
	out := attr.Item{}
	for _, n := range names {
		if v, ok := it[n]; ok {
			out[n] = attr.Copy(v)
		}
	}
	return out
}
