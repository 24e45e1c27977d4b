package embedded_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	ddbseed "github.com/faultline-dev/faultline/targets/dynamodb"
	"github.com/faultline-dev/faultline/targets/dynamodb/dynamodbtest"
)

type av = types.AttributeValue

func s(v string) av { return &types.AttributeValueMemberS{Value: v} }
func n(v string) av { return &types.AttributeValueMemberN{Value: v} }

var ctx = context.Background()

// backend starts a server with table "orders" (pk S, sk N) and returns a client.
func backend(t *testing.T) *dynamodb.Client {
	t.Helper()
	srv := dynamodbtest.Start(t)
	c := dynamodbtest.Client(t, srv.Endpoint())
	_, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String("orders"),
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeN},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange},
		},
		BillingMode: types.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func put(t *testing.T, c *dynamodb.Client, item map[string]av) {
	t.Helper()
	if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("orders"), Item: item}); err != nil {
		t.Fatal(err)
	}
}

func key(pk string, sk int) map[string]av {
	return map[string]av{"pk": s(pk), "sk": n(strconv.Itoa(sk))}
}

// apiCode is the error code the SDK parsed from __type.
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestTables(t *testing.T) {
	c := backend(t)
	d, err := c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("orders")})
	if err != nil {
		t.Fatal(err)
	}
	if d.Table.TableStatus != types.TableStatusActive || len(d.Table.KeySchema) != 2 || *d.Table.TableName != "orders" ||
		d.Table.BillingModeSummary.BillingMode != types.BillingModePayPerRequest || d.Table.CreationDateTime == nil {
		t.Errorf("DescribeTable = %+v", d.Table)
	}
	_, err = c.CreateTable(ctx, &dynamodb.CreateTableInput{TableName: aws.String("orders"),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest})
	var inUse *types.ResourceInUseException
	if !errors.As(err, &inUse) {
		t.Errorf("creating an existing table: %v, want ResourceInUseException", err)
	}
	for i := 0; i < 5; i++ {
		_, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{TableName: aws.String(fmt.Sprintf("t%d-x", i)),
			AttributeDefinitions:  []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeN}},
			KeySchema:             []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
			ProvisionedThroughput: &types.ProvisionedThroughput{ReadCapacityUnits: aws.Int64(5), WriteCapacityUnits: aws.Int64(5)}})
		if err != nil {
			t.Fatal(err)
		}
	}
	// Pages of two: orders, t0-x | t1-x, t2-x | t3-x, t4-x
	var all []string
	var start *string
	for pages := 0; pages < 10; pages++ {
		out, err := c.ListTables(ctx, &dynamodb.ListTablesInput{Limit: aws.Int32(2), ExclusiveStartTableName: start})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, out.TableNames...)
		if start = out.LastEvaluatedTableName; start == nil {
			break
		}
	}
	if strings.Join(all, ",") != "orders,t0-x,t1-x,t2-x,t3-x,t4-x" {
		t.Errorf("ListTables pages = %v", all)
	}
	if _, err := c.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String("t0-x")}); err != nil {
		t.Fatal(err)
	}
	var nf *types.ResourceNotFoundException
	if _, err := c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("t0-x")}); !errors.As(err, &nf) {
		t.Errorf("describe deleted table: %v, want ResourceNotFoundException", err)
	}
	if _, err := c.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String("t0-x")}); !errors.As(err, &nf) {
		t.Errorf("delete deleted table: %v", err)
	}
	// Bad schemas are ValidationExceptions.
	_, err = c.CreateTable(ctx, &dynamodb.CreateTableInput{TableName: aws.String("bad"),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("x"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest})
	if apiCode(err) != "ValidationException" || !strings.Contains(err.Error(), "not defined in AttributeDefinitions") {
		t.Errorf("undefined key attribute: %v", err)
	}
}

func TestPutGetDeleteWithConditions(t *testing.T) {
	c := backend(t)
	put(t, c, map[string]av{"pk": s("a"), "sk": n("1"), "price": n("1.50"), "tags": &types.AttributeValueMemberSS{Value: []string{"x", "y"}},
		"meta": &types.AttributeValueMemberM{Value: map[string]av{"color": s("red")}}, "ok": &types.AttributeValueMemberBOOL{Value: true},
		"nothing": &types.AttributeValueMemberNULL{Value: true}, "list": &types.AttributeValueMemberL{Value: []av{n("1"), s("two")}},
		"bin": &types.AttributeValueMemberB{Value: []byte{0, 1, 2}}})
	got, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("orders"), Key: key("a", 1)})
	if err != nil {
		t.Fatal(err)
	}
	if p := got.Item["price"].(*types.AttributeValueMemberN).Value; p != "1.5" {
		t.Errorf("price = %s, want the canonical 1.5", p)
	}
	if b := got.Item["bin"].(*types.AttributeValueMemberB).Value; string(b) != "\x00\x01\x02" {
		t.Errorf("binary = %v", b)
	}
	if len(got.Item) != 9 {
		t.Errorf("item has %d attributes, want 9", len(got.Item))
	}
	// Projection with a nested path and a #name.
	got, err = c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("orders"), Key: key("a", 1),
		ProjectionExpression: aws.String("price, #m.color"), ExpressionAttributeNames: map[string]string{"#m": "meta"}})
	if err != nil || len(got.Item) != 2 || got.Item["meta"].(*types.AttributeValueMemberM).Value["color"].(*types.AttributeValueMemberS).Value != "red" {
		t.Errorf("projection = %v, %v", got.Item, err)
	}
	// Missing item: no Item.
	got, err = c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("orders"), Key: key("zz", 1)})
	if err != nil || got.Item != nil {
		t.Errorf("missing item = %v, %v", got.Item, err)
	}
	// Conditions.
	var ccf *types.ConditionalCheckFailedException
	_, err = c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("orders"), Item: key("a", 1),
		ConditionExpression: aws.String("attribute_not_exists(pk)")})
	if !errors.As(err, &ccf) {
		t.Errorf("put over an existing item with attribute_not_exists: %v", err)
	}
	_, err = c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("orders"), Item: key("a", 1),
		ConditionExpression:                 aws.String("price > :p AND (contains(tags, :t) OR NOT ok = :f)"),
		ExpressionAttributeValues:           map[string]av{":p": n("2"), ":t": s("x"), ":f": &types.AttributeValueMemberBOOL{Value: false}},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld})
	if !errors.As(err, &ccf) || ccf.Item["price"] == nil {
		t.Errorf("failed condition with ALL_OLD: %v (item %v)", err, ccf)
	}
	out, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("orders"), Item: map[string]av{"pk": s("a"), "sk": n("1"), "price": n("3")},
		ConditionExpression:       aws.String("price BETWEEN :lo AND :hi AND begins_with(pk, :a) AND size(tags) = :two AND attribute_type(meta, :m) AND price IN (:lo, :x)"),
		ExpressionAttributeValues: map[string]av{":lo": n("1.5"), ":hi": n("2"), ":a": s("a"), ":two": n("2"), ":m": s("M"), ":x": n("9")},
		ReturnValues:              types.ReturnValueAllOld})
	if err != nil || out.Attributes["tags"] == nil {
		t.Fatalf("conditional put: %v (old %v)", err, out)
	}
	del, err := c.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String("orders"), Key: key("a", 1),
		ConditionExpression: aws.String("price = :p"), ExpressionAttributeValues: map[string]av{":p": n("3.0")}, ReturnValues: types.ReturnValueAllOld})
	if err != nil || del.Attributes["price"] == nil {
		t.Errorf("conditional delete: %v", err)
	}
	if _, err := c.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String("orders"), Key: key("a", 1),
		ConditionExpression: aws.String("attribute_exists(pk)")}); !errors.As(err, &ccf) {
		t.Errorf("delete of a missing item with attribute_exists: %v", err)
	}
}

func TestValidationErrors(t *testing.T) {
	c := backend(t)
	var nf *types.ResourceNotFoundException
	if _, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("nope"), Key: key("a", 1)}); !errors.As(err, &nf) {
		t.Errorf("unknown table: %v", err)
	}
	cases := []struct {
		name string
		call func() error
		want string
	}{
		{"missing key attribute", func() error {
			_, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("orders"), Item: map[string]av{"pk": s("a")}})
			return err
		}, "Missing the key sk"},
		{"wrong key type", func() error {
			_, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("orders"), Item: map[string]av{"pk": s("a"), "sk": s("1")}})
			return err
		}, "Type mismatch for key sk"},
		{"key not matching schema", func() error {
			_, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("orders"), Key: map[string]av{"pk": s("a")}})
			return err
		}, "does not match the schema"},
		{"syntax error", func() error {
			_, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("orders"), Item: key("a", 1), ConditionExpression: aws.String("pk = = :v"),
				ExpressionAttributeValues: map[string]av{":v": s("a")}})
			return err
		}, "Syntax error"},
		{"undefined value", func() error {
			_, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("orders"), Item: key("a", 1), ConditionExpression: aws.String("pk = :v")})
			return err
		}, "attribute value used in expression is not defined"},
		{"undefined name", func() error {
			_, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("orders"), Item: key("a", 1), ConditionExpression: aws.String("attribute_exists(#x)")})
			return err
		}, "attribute name used in the document path is not defined"},
		{"unused value", func() error {
			_, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("orders"), Item: key("a", 1), ConditionExpression: aws.String("attribute_exists(pk)"),
				ExpressionAttributeValues: map[string]av{":v": s("a")}})
			return err
		}, "unused in expressions"},
		{"reserved word", func() error {
			_, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("orders"), Item: key("a", 1), ConditionExpression: aws.String("attribute_exists(status)")})
			return err
		}, "reserved keyword"},
		{"update of a key", func() error {
			_, err := c.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("orders"), Key: key("a", 1), UpdateExpression: aws.String("SET pk = :v"),
				ExpressionAttributeValues: map[string]av{":v": s("b")}})
			return err
		}, "part of the key"},
		{"bad number", func() error {
			_, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("orders"), Item: map[string]av{"pk": s("a"), "sk": n("one")}})
			return err
		}, "numeric"},
		{"empty key string", func() error {
			_, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("orders"), Item: map[string]av{"pk": s(""), "sk": n("1")}})
			return err
		}, "empty string"},
		{"query without the partition key", func() error {
			_, err := c.Query(ctx, &dynamodb.QueryInput{TableName: aws.String("orders"), KeyConditionExpression: aws.String("sk = :v"),
				ExpressionAttributeValues: map[string]av{":v": n("1")}})
			return err
		}, "missed key schema element"},
	}
	for _, tc := range cases {
		err := tc.call()
		if apiCode(err) != "ValidationException" || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want a ValidationException saying %q", tc.name, err, tc.want)
		}
	}
}

func TestUpdateItem(t *testing.T) {
	c := backend(t)
	upd := func(expr string, vals map[string]av, rv types.ReturnValue) map[string]av {
		t.Helper()
		out, err := c.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("orders"), Key: key("u", 1),
			UpdateExpression: aws.String(expr), ExpressionAttributeValues: vals, ReturnValues: rv,
			ExpressionAttributeNames: namesIn(expr)})
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return out.Attributes
	}
	// Creates the item.
	a := upd("SET cnt = :one, #n = :name, items = :l", map[string]av{":one": n("1"), ":name": s("first"),
		":l": &types.AttributeValueMemberL{Value: []av{s("a")}}}, types.ReturnValueAllNew)
	if len(a) != 5 {
		t.Errorf("ALL_NEW after create = %v", a)
	}
	a = upd("SET cnt = cnt + :inc", map[string]av{":inc": n("2.5")}, types.ReturnValueUpdatedNew)
	if v := a["cnt"].(*types.AttributeValueMemberN).Value; v != "3.5" || len(a) != 1 {
		t.Errorf("cnt + 2.5 = %v", a)
	}
	a = upd("SET cnt = cnt - :d, other = if_not_exists(other, :z), items = list_append(items, :more)",
		map[string]av{":d": n("0.5"), ":z": n("0"), ":more": &types.AttributeValueMemberL{Value: []av{s("b")}}}, types.ReturnValueUpdatedOld)
	if v := a["cnt"].(*types.AttributeValueMemberN).Value; v != "3.5" || a["other"] != nil {
		t.Errorf("UPDATED_OLD = %v", a)
	}
	a = upd("ADD cnt :ten, tags :ss REMOVE other", map[string]av{":ten": n("10"), ":ss": &types.AttributeValueMemberSS{Value: []string{"p", "q"}}}, types.ReturnValueAllNew)
	if v := a["cnt"].(*types.AttributeValueMemberN).Value; v != "13" || a["other"] != nil || len(a["items"].(*types.AttributeValueMemberL).Value) != 2 {
		t.Errorf("after ADD/REMOVE = %v", a)
	}
	a = upd("DELETE tags :p", map[string]av{":p": &types.AttributeValueMemberSS{Value: []string{"p"}}}, types.ReturnValueAllNew)
	if tags := a["tags"].(*types.AttributeValueMemberSS).Value; len(tags) != 1 || tags[0] != "q" {
		t.Errorf("after DELETE tags = %v", tags)
	}
	// Arithmetic on a string is a ValidationException.
	_, err := c.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("orders"), Key: key("u", 1),
		UpdateExpression: aws.String("SET #n = #n + :one"), ExpressionAttributeNames: map[string]string{"#n": "name"},
		ExpressionAttributeValues: map[string]av{":one": n("1")}})
	if apiCode(err) != "ValidationException" {
		t.Errorf("string + 1: %v", err)
	}
	// A failed condition leaves the item as it was.
	_, err = c.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("orders"), Key: key("u", 1),
		UpdateExpression: aws.String("SET cnt = :z"), ConditionExpression: aws.String("cnt < :z"),
		ExpressionAttributeValues: map[string]av{":z": n("0")}})
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		t.Errorf("conditional update: %v", err)
	}
}

func namesIn(expr string) map[string]string {
	if strings.Contains(expr, "#n") {
		return map[string]string{"#n": "name"}
	}
	return nil
}

func TestQueryAndScan(t *testing.T) {
	c := backend(t)
	for i := 1; i <= 10; i++ {
		put(t, c, map[string]av{"pk": s("q"), "sk": n(strconv.Itoa(i)), "even": &types.AttributeValueMemberBOOL{Value: i%2 == 0}})
	}
	put(t, c, map[string]av{"pk": s("other"), "sk": n("1")})
	query := func(cond string, vals map[string]av, forward bool, limit int32, filter string) ([]string, *dynamodb.QueryOutput) {
		t.Helper()
		in := &dynamodb.QueryInput{TableName: aws.String("orders"), KeyConditionExpression: aws.String(cond),
			ExpressionAttributeValues: vals, ScanIndexForward: aws.Bool(forward)}
		if limit > 0 {
			in.Limit = aws.Int32(limit)
		}
		if filter != "" {
			in.FilterExpression = aws.String(filter)
		}
		out, err := c.Query(ctx, in)
		if err != nil {
			t.Fatalf("%s: %v", cond, err)
		}
		var sks []string
		for _, it := range out.Items {
			sks = append(sks, it["sk"].(*types.AttributeValueMemberN).Value)
		}
		return sks, out
	}
	q := map[string]av{":q": s("q")}
	with := func(extra map[string]av) map[string]av {
		m := map[string]av{":q": s("q")}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	cases := []struct {
		cond string
		vals map[string]av
		want string
	}{
		{"pk = :q", q, "1,2,3,4,5,6,7,8,9,10"},
		{"pk = :q AND sk = :v", with(map[string]av{":v": n("3")}), "3"},
		{"pk = :q AND sk < :v", with(map[string]av{":v": n("3")}), "1,2"},
		{"pk = :q AND sk <= :v", with(map[string]av{":v": n("3")}), "1,2,3"},
		{"pk = :q AND sk > :v", with(map[string]av{":v": n("8")}), "9,10"},
		{"pk = :q AND sk >= :v", with(map[string]av{":v": n("8")}), "8,9,10"},
		{"sk BETWEEN :a AND :b AND pk = :q", with(map[string]av{":a": n("4"), ":b": n("6")}), "4,5,6"},
	}
	for _, tc := range cases {
		if got, _ := query(tc.cond, tc.vals, true, 0, ""); strings.Join(got, ",") != tc.want {
			t.Errorf("%s = %v, want %s", tc.cond, got, tc.want)
		}
	}
	if got, _ := query("pk = :q", q, false, 3, ""); strings.Join(got, ",") != "10,9,8" {
		t.Errorf("backwards, limit 3 = %v", got)
	}
	got, out := query("pk = :q", with(map[string]av{":t": &types.AttributeValueMemberBOOL{Value: true}}), true, 4, "even = :t")
	if strings.Join(got, ",") != "2,4" || out.ScannedCount != 4 || out.Count != 2 || out.LastEvaluatedKey == nil {
		t.Errorf("filtered page = %v (count %d scanned %d lek %v)", got, out.Count, out.ScannedCount, out.LastEvaluatedKey)
	}
	// begins_with on a string sort key needs a table with one.
	c.CreateTable(ctx, &dynamodb.CreateTableInput{TableName: aws.String("events"),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("ts"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema: []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String("ts"), KeyType: types.KeyTypeRange}}, BillingMode: types.BillingModePayPerRequest})
	for _, ts := range []string{"2025-10-19", "2025-10-20T06", "2025-10-20T11", "2025-10-21"} {
		c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("events"), Item: map[string]av{"pk": s("e"), "ts": s(ts)}})
	}
	qo, err := c.Query(ctx, &dynamodb.QueryInput{TableName: aws.String("events"), KeyConditionExpression: aws.String("pk = :e AND begins_with(ts, :d)"),
		ExpressionAttributeValues: map[string]av{":e": s("e"), ":d": s("2025-10-20")}})
	if err != nil || qo.Count != 2 {
		t.Errorf("begins_with: %v, count %d", err, qo.Count)
	}
	// Scan pages through everything exactly once.
	seen := 0
	var start map[string]av
	for pages := 0; pages < 20; pages++ {
		out, err := c.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String("orders"), Limit: aws.Int32(3), ExclusiveStartKey: start})
		if err != nil {
			t.Fatal(err)
		}
		seen += len(out.Items)
		if start = out.LastEvaluatedKey; start == nil {
			break
		}
	}
	if seen != 11 {
		t.Errorf("scan pages saw %d items, want 11", seen)
	}
	so, err := c.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String("orders"), Select: types.SelectCount,
		FilterExpression: aws.String("attribute_exists(even)")})
	if err != nil || so.Count != 10 || so.Items != nil {
		t.Errorf("scan count = %v, %v", so, err)
	}
}

func TestBatches(t *testing.T) {
	c := backend(t)
	var writes []types.WriteRequest
	for i := 0; i < 25; i++ {
		writes = append(writes, types.WriteRequest{PutRequest: &types.PutRequest{Item: key("b", i)}})
	}
	out, err := c.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{"orders": writes}})
	if err != nil || len(out.UnprocessedItems) != 0 {
		t.Fatalf("batch write: %v", err)
	}
	got, err := c.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{
		"orders": {Keys: []map[string]av{key("b", 0), key("b", 24), key("b", 99)}}}})
	if err != nil || len(got.Responses["orders"]) != 2 {
		t.Fatalf("batch get: %v, %d items", err, len(got.Responses["orders"]))
	}
	_, err = c.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{"orders": {
		{DeleteRequest: &types.DeleteRequest{Key: key("b", 0)}}, {PutRequest: &types.PutRequest{Item: map[string]av{"pk": s("b")}}}}}})
	if apiCode(err) != "ValidationException" {
		t.Errorf("a batch with a bad put: %v", err)
	}
	if g, _ := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("orders"), Key: key("b", 0)}); g.Item == nil {
		t.Error("a rejected batch deleted an item")
	}
	writes = append(writes, types.WriteRequest{PutRequest: &types.PutRequest{Item: key("b", 25)}})
	if _, err := c.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{"orders": writes}}); apiCode(err) != "ValidationException" {
		t.Errorf("26 writes: %v", err)
	}
}

// The protocol edges the SDK does not produce: unknown operations,
// malformed JSON, every response's CRC32 header.
func TestProtocolErrors(t *testing.T) {
	srv := dynamodbtest.Start(t)
	post := func(target, body string) (*http.Response, string) {
		req, _ := http.NewRequest("POST", srv.Endpoint(), strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-amz-json-1.0")
		req.Header.Set("X-Amz-Target", target)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b := new(strings.Builder)
		fmt.Fprint(b, readAll(resp))
		return resp, b.String()
	}
	resp, body := post("DynamoDB_20120810.CreateGlobalTable", "{}")
	if resp.StatusCode != 400 || !strings.Contains(body, "com.amazon.coral.service#UnknownOperationException") {
		t.Errorf("unknown operation: %d %s", resp.StatusCode, body)
	}
	resp, body = post("DynamoDB_20120810.PutItem", "{not json")
	if resp.StatusCode != 400 || !strings.Contains(body, "SerializationException") {
		t.Errorf("bad JSON: %d %s", resp.StatusCode, body)
	}
	resp, body = post("DynamoDB_20120810.PutItem", `{"TableName":"orders","Item":{"pk":{"S":"a","N":"1"}}}`)
	if resp.StatusCode != 400 || !strings.Contains(body, "ValidationException") {
		t.Errorf("two types in one value: %d %s", resp.StatusCode, body)
	}
	if resp.Header.Get("X-Amz-Crc32") == "" || resp.Header.Get("x-amzn-RequestId") == "" {
		t.Errorf("headers = %v", resp.Header)
	}
	get, err := http.Get(srv.Endpoint())
	if err != nil || get.StatusCode != 200 {
		t.Errorf("GET / = %v %v", get, err)
	}
	get.Body.Close()
}

func readAll(r *http.Response) string {
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := r.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}

func TestConcurrentClients(t *testing.T) {
	c := backend(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				k := key(fmt.Sprintf("c%d", g), i)
				if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("orders"), Item: k}); err != nil {
					errs <- err
					return
				}
				if out, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("orders"), Key: k}); err != nil || out.Item == nil {
					errs <- fmt.Errorf("get after put: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	out, err := c.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String("orders"), Select: types.SelectCount})
	if err != nil || out.Count != 200 {
		t.Errorf("after concurrent puts: count %d, %v", out.Count, err)
	}
}

func TestSeed(t *testing.T) {
	srv := dynamodbtest.Start(t, embeddedAddrs()...)
	c := dynamodbtest.Client(t, srv.Endpoint())
	if err := ddbseed.Seed(ctx, c, "faultline", 60); err != nil {
		t.Fatal(err)
	}
	if err := ddbseed.Seed(ctx, c, "faultline", 60); err != nil { // again: the table exists
		t.Fatal(err)
	}
	out, err := c.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String("faultline"), Select: types.SelectCount})
	if err != nil || out.Count != 60 {
		t.Errorf("seeded %d items, %v", out.Count, err)
	}
	// Every address serves the same store.
	for _, a := range srv.Addrs() {
		c2 := dynamodbtest.Client(t, "http://"+a)
		g, err := c2.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("faultline"), Key: map[string]av{"pk": s(ddbseed.SeedKey(59))}})
		if err != nil || g.Item == nil {
			t.Errorf("%s: %v", a, err)
		}
	}
}
