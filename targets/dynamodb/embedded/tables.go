package embedded

import (
	"fmt"
	"sort"
	"time"

	"github.com/faultline-dev/faultline/targets/dynamodb/attr"
)

type keySchemaElement struct {
	AttributeName string
	KeyType       string
}

type throughput struct {
	ReadCapacityUnits  int64
	WriteCapacityUnits int64
}

type createTableInput struct {
	TableName              string
	AttributeDefinitions   []attrDef
	KeySchema              []keySchemaElement
	BillingMode            string
	ProvisionedThroughput  *throughput
	GlobalSecondaryIndexes []any
	LocalSecondaryIndexes  []any
}

func createTable(d *db, raw []byte) (any, *apiError) {
	var in createTableInput
	if err := decode(raw, &in); err != nil {
		return nil, err
	}
	if err := checkTableName(in.TableName); err != nil {
		return nil, err
	}
	if len(in.GlobalSecondaryIndexes)+len(in.LocalSecondaryIndexes) > 0 {
		return nil, validation("Secondary indexes are not supported by faultline's embedded backend")
	}
	t := &table{name: in.TableName, attrDefs: in.AttributeDefinitions, created: time.Now(), items: map[string]attr.Item{}, stamps: map[string]stamp{}}
	types := map[string]string{}
	for _, a := range in.AttributeDefinitions {
		if a.AttributeType != attr.S && a.AttributeType != attr.N && a.AttributeType != attr.B {
			return nil, validation("1 validation error detected: Value '%s' at 'attributeDefinitions.member.attributeType' failed to satisfy constraint: Member must satisfy enum value set: [B, N, S]", a.AttributeType)
		}
		types[a.AttributeName] = a.AttributeType
	}
	switch {
	case len(in.KeySchema) == 0 || len(in.KeySchema) > 2:
		return nil, validation("1 validation error detected: Value null at 'keySchema' failed to satisfy constraint: Member must have length less than or equal to 2 and at least 1")
	case in.KeySchema[0].KeyType != "HASH":
		return nil, validation("Invalid KeySchema: The first KeySchemaElement is not a HASH key type")
	case len(in.KeySchema) == 2 && in.KeySchema[1].KeyType != "RANGE":
		return nil, validation("Invalid KeySchema: The second KeySchemaElement is not a RANGE key type")
	}
	for i, k := range in.KeySchema {
		typ, ok := types[k.AttributeName]
		if !ok {
			return nil, validation("One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [%s], AttributeDefinitions: %v", k.AttributeName, keys(types))
		}
		if i == 0 {
			t.hash = keyDef{k.AttributeName, typ}
		} else {
			t.rng = &keyDef{k.AttributeName, typ}
		}
	}
	if len(types) != len(in.KeySchema) {
		return nil, validation("One or more parameter values were invalid: Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions")
	}
	switch in.BillingMode {
	case "PAY_PER_REQUEST":
		if in.ProvisionedThroughput != nil {
			return nil, validation("One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST")
		}
		t.billing = "PAY_PER_REQUEST"
	case "", "PROVISIONED":
		if in.ProvisionedThroughput == nil {
			return nil, validation("One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED")
		}
		if in.ProvisionedThroughput.ReadCapacityUnits < 1 || in.ProvisionedThroughput.WriteCapacityUnits < 1 {
			return nil, validation("One or more parameter values were invalid: Each of the read and write capacity units must be at least 1")
		}
		t.billing = "PROVISIONED"
		t.rcu, t.wcu = in.ProvisionedThroughput.ReadCapacityUnits, in.ProvisionedThroughput.WriteCapacityUnits
	default:
		return nil, validation("1 validation error detected: Value '%s' at 'billingMode' failed to satisfy constraint: Member must satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]", in.BillingMode)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, exists := d.tables[in.TableName]; exists {
		return nil, &apiError{typ: typeResourceInUse, msg: "Table already exists: " + in.TableName}
	}
	t.createdID = fmt.Sprintf("%08x-0000-4000-8000-%012x", len(d.tables)+1, t.created.UnixNano()&0xffffffffffff)
	d.tables[in.TableName] = t
	return map[string]any{"TableDescription": d.describe(t, "ACTIVE")}, nil
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// describe is a TableDescription; the caller holds d.mu.
func (d *db) describe(t *table, status string) map[string]any {
	var schema []keySchemaElement
	for i, k := range t.keys() {
		kt := "HASH"
		if i == 1 {
			kt = "RANGE"
		}
		schema = append(schema, keySchemaElement{k.name, kt})
	}
	size := 0
	for _, it := range t.items {
		size += itemSize(it)
	}
	desc := map[string]any{
		"TableName":            t.name,
		"TableStatus":          status,
		"KeySchema":            schema,
		"AttributeDefinitions": t.attrDefs,
		"CreationDateTime":     float64(t.created.UnixMilli()) / 1000,
		"ItemCount":            len(t.items),
		"TableSizeBytes":       size,
		"TableArn":             fmt.Sprintf("arn:aws:dynamodb:%s:000000000000:table/%s", d.region, t.name),
		"TableId":              t.createdID,
		"ProvisionedThroughput": map[string]any{
			"ReadCapacityUnits": t.rcu, "WriteCapacityUnits": t.wcu, "NumberOfDecreasesToday": 0,
		},
		"DeletionProtectionEnabled": false,
	}
	if t.billing == "PAY_PER_REQUEST" {
		desc["BillingModeSummary"] = map[string]any{"BillingMode": "PAY_PER_REQUEST", "LastUpdateToPayPerRequestDateTime": float64(t.created.UnixMilli()) / 1000}
	}
	return desc
}

type tableNameInput struct{ TableName string }

func describeTable(d *db, raw []byte) (any, *apiError) {
	var in tableNameInput
	if err := decode(raw, &in); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	t, err := d.table(in.TableName)
	if err != nil {
		if err.typ == typeResourceNotFound {
			err.msg = "Requested resource not found: Table: " + in.TableName + " not found"
		}
		return nil, err
	}
	return map[string]any{"Table": d.describe(t, "ACTIVE")}, nil
}

func deleteTable(d *db, raw []byte) (any, *apiError) {
	var in tableNameInput
	if err := decode(raw, &in); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	t, err := d.table(in.TableName)
	if err != nil {
		return nil, err
	}
	delete(d.tables, in.TableName)
	return map[string]any{"TableDescription": d.describe(t, "DELETING")}, nil
}

func listTables(d *db, raw []byte) (any, *apiError) {
	var in struct {
		Limit                   *int
		ExclusiveStartTableName string
	}
	if err := decode(raw, &in); err != nil {
		return nil, err
	}
	limit := 100
	if in.Limit != nil {
		if *in.Limit < 1 || *in.Limit > 100 {
			return nil, validation("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 100 and at least 1", *in.Limit)
		}
		limit = *in.Limit
	}
	d.mu.Lock()
	names := make([]string, 0, len(d.tables))
	for n := range d.tables {
		if n > in.ExclusiveStartTableName {
			names = append(names, n)
		}
	}
	d.mu.Unlock()
	sort.Strings(names)
	out := map[string]any{}
	if len(names) > limit {
		names = names[:limit]
		out["LastEvaluatedTableName"] = names[limit-1]
	}
	out["TableNames"] = names
	return out, nil
}
