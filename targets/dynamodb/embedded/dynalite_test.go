package embedded_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/faultline-dev/faultline/targets/dynamodb/dynamodbtest"
)

// dynaliteVersion is the peer the differential test compares against.
const dynaliteVersion = "4.0.0"

// startDynalite installs dynalite (cached) and starts it on loopback; it
// skips the test, saying why, where npm or dynalite cannot be had.
func startDynalite(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("npm"); err != nil {
		t.Skip("npm is not installed: the differential test against dynalite needs it (apt-get install -y npm)")
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed")
	}
	dir := os.Getenv("FAULTLINE_NPM_CACHE")
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		dir = filepath.Join(cache, "faultline", "dynalite-"+dynaliteVersion)
	}
	cli := filepath.Join(dir, "node_modules", "dynalite", "cli.js")
	if _, err := os.Stat(cli); err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "npm", "install", "--no-audit", "--no-fund", "--prefix", dir, "dynalite@"+dynaliteVersion).CombinedOutput()
		if err != nil {
			t.Skipf("dynalite %s could not be installed with npm: %v\n%s", dynaliteVersion, err, out)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command("node", cli, "--host", "127.0.0.1", "--port", fmt.Sprint(port), "--createTableMs", "0", "--deleteTableMs", "0")
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "listening") {
				ready <- true
			}
		}
		close(ready)
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("dynalite exited before listening")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("dynalite did not start within 30 s")
	}
	return fmt.Sprintf("http://127.0.0.1:%d", port)
}

// A step runs one operation and returns its outcome as comparable text: the
// error code, or the response with volatile fields left out.
type step struct {
	name string
	run  func(c *dynamodb.Client) string
}

func outcome(err error, render func() string) string {
	if err != nil {
		if code := apiCode(err); code != "" {
			return "error " + code
		}
		return "error " + err.Error()
	}
	return render()
}

func avText(v types.AttributeValue) string {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return "S:" + v.Value
	case *types.AttributeValueMemberN:
		return "N:" + v.Value
	case *types.AttributeValueMemberB:
		return fmt.Sprintf("B:%x", v.Value)
	case *types.AttributeValueMemberBOOL:
		return fmt.Sprintf("BOOL:%v", v.Value)
	case *types.AttributeValueMemberNULL:
		return "NULL"
	case *types.AttributeValueMemberSS:
		s := append([]string(nil), v.Value...)
		sort.Strings(s)
		return "SS:" + strings.Join(s, ",")
	case *types.AttributeValueMemberNS:
		s := append([]string(nil), v.Value...)
		sort.Strings(s)
		return "NS:" + strings.Join(s, ",")
	case *types.AttributeValueMemberL:
		var parts []string
		for _, e := range v.Value {
			parts = append(parts, avText(e))
		}
		return "L[" + strings.Join(parts, " ") + "]"
	case *types.AttributeValueMemberM:
		return "M" + itemText(v.Value)
	}
	return fmt.Sprintf("?%T", v)
}

func itemText(it map[string]types.AttributeValue) string {
	if it == nil {
		return "none"
	}
	keys := make([]string, 0, len(it))
	for k := range it {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+"="+avText(it[k]))
	}
	return "{" + strings.Join(parts, " ") + "}"
}

func itemsText(items []map[string]types.AttributeValue) string {
	var parts []string
	for _, it := range items {
		parts = append(parts, itemText(it))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func tbl() *string { return aws.String("diff") }

// steps is one sequence covering every operation, successes and errors.
func steps() []step {
	put := func(name string, item map[string]types.AttributeValue, cond string, vals map[string]types.AttributeValue) step {
		return step{name, func(c *dynamodb.Client) string {
			in := &dynamodb.PutItemInput{TableName: tbl(), Item: item, ReturnValues: types.ReturnValueAllOld}
			if cond != "" {
				in.ConditionExpression, in.ExpressionAttributeValues = aws.String(cond), vals
			}
			out, err := c.PutItem(ctx, in)
			return outcome(err, func() string { return itemText(out.Attributes) })
		}}
	}
	get := func(name string, k map[string]types.AttributeValue, proj string) step {
		return step{name, func(c *dynamodb.Client) string {
			in := &dynamodb.GetItemInput{TableName: tbl(), Key: k}
			if proj != "" {
				in.ProjectionExpression = aws.String(proj)
			}
			out, err := c.GetItem(ctx, in)
			return outcome(err, func() string { return itemText(out.Item) })
		}}
	}
	update := func(name, expr, cond string, vals map[string]types.AttributeValue, rv types.ReturnValue) step {
		return step{name, func(c *dynamodb.Client) string {
			in := &dynamodb.UpdateItemInput{TableName: tbl(), Key: key("p", 1), UpdateExpression: aws.String(expr),
				ExpressionAttributeValues: vals, ReturnValues: rv}
			if cond != "" {
				in.ConditionExpression = aws.String(cond)
			}
			out, err := c.UpdateItem(ctx, in)
			return outcome(err, func() string { return itemText(out.Attributes) })
		}}
	}
	query := func(name, cond string, vals map[string]types.AttributeValue, forward bool, limit int32, filter string) step {
		return step{name, func(c *dynamodb.Client) string {
			in := &dynamodb.QueryInput{TableName: tbl(), KeyConditionExpression: aws.String(cond), ExpressionAttributeValues: vals,
				ScanIndexForward: aws.Bool(forward)}
			if limit > 0 {
				in.Limit = aws.Int32(limit)
			}
			if filter != "" {
				in.FilterExpression = aws.String(filter)
			}
			out, err := c.Query(ctx, in)
			return outcome(err, func() string {
				return fmt.Sprintf("%d/%d %s lek=%s", out.Count, out.ScannedCount, itemsText(out.Items), itemText(out.LastEvaluatedKey))
			})
		}}
	}
	v := func(kv ...any) map[string]types.AttributeValue {
		m := map[string]types.AttributeValue{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1].(types.AttributeValue)
		}
		return m
	}
	return []step{
		{"create table", func(c *dynamodb.Client) string {
			out, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{TableName: tbl(),
				AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
					{AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeN}},
				KeySchema: []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash},
					{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange}},
				BillingMode: types.BillingModePayPerRequest})
			return outcome(err, func() string {
				return fmt.Sprintf("%s %d keys", *out.TableDescription.TableName, len(out.TableDescription.KeySchema))
			})
		}},
		{"wait until active", func(c *dynamodb.Client) string {
			for i := 0; i < 50; i++ {
				out, err := c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: tbl()})
				if err != nil {
					return outcome(err, nil)
				}
				if out.Table.TableStatus == types.TableStatusActive {
					return fmt.Sprintf("%s %s %s", out.Table.TableStatus, *out.Table.KeySchema[0].AttributeName, out.Table.KeySchema[1].KeyType)
				}
				time.Sleep(20 * time.Millisecond)
			}
			return "never active"
		}},
		{"create it again", func(c *dynamodb.Client) string {
			_, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{TableName: tbl(),
				AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
				KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
				BillingMode:          types.BillingModePayPerRequest})
			return outcome(err, func() string { return "created" })
		}},
		{"list tables", func(c *dynamodb.Client) string {
			out, err := c.ListTables(ctx, &dynamodb.ListTablesInput{})
			return outcome(err, func() string { return strings.Join(out.TableNames, ",") })
		}},
		{"describe a missing table", func(c *dynamodb.Client) string {
			_, err := c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("missing")})
			return outcome(err, func() string { return "found" })
		}},
		put("put 1", v("pk", s("p"), "sk", n("1"), "a", n("1.50"), "tags", &types.AttributeValueMemberSS{Value: []string{"x", "y"}}), "", nil),
		put("put 2", v("pk", s("p"), "sk", n("2"), "a", n("2"), "m", &types.AttributeValueMemberM{Value: v("c", s("red"))}), "", nil),
		put("put 3 (other partition)", v("pk", s("q"), "sk", n("1")), "", nil),
		put("put over 1, returning old", v("pk", s("p"), "sk", n("1"), "a", n("10")), "", nil),
		put("conditional put fails", v("pk", s("p"), "sk", n("1")), "attribute_not_exists(pk)", nil),
		put("conditional put holds", v("pk", s("p"), "sk", n("3"), "a", n("3")), "attribute_not_exists(pk)", nil),
		put("put missing a key", v("pk", s("p")), "", nil),
		put("put with a wrong key type", v("pk", s("p"), "sk", s("one")), "", nil),
		get("get 1", key("p", 1), ""),
		get("get missing", key("p", 9), ""),
		get("get with projection", key("p", 2), "m.c, a"),
		get("get with a bad key", v("pk", s("p")), ""),
		update("update SET arithmetic", "SET a = a + :d", "", v(":d", n("0.25")), types.ReturnValueUpdatedNew),
		update("update ADD and REMOVE", "ADD cnt :one REMOVE a", "", v(":one", n("1")), types.ReturnValueAllNew),
		update("update failing condition", "SET a = :z", "cnt > :ten", v(":z", n("0"), ":ten", n("10")), types.ReturnValueAllNew),
		update("update if_not_exists, UPDATED_OLD", "SET cnt = if_not_exists(cnt, :z), b = :z", "", v(":z", n("0")), types.ReturnValueUpdatedOld),
		update("update a key attribute", "SET sk = :z", "", v(":z", n("0")), types.ReturnValueNone),
		update("update with an undefined value", "SET a = :nope", "", v(":z", n("0")), types.ReturnValueNone),
		query("query a partition", "pk = :p", v(":p", s("p")), true, 0, ""),
		query("query backwards with limit", "pk = :p", v(":p", s("p")), false, 2, ""),
		query("query a range", "pk = :p AND sk BETWEEN :a AND :b", v(":p", s("p"), ":a", n("2"), ":b", n("3")), true, 0, ""),
		query("query filtering on a key", "pk = :p AND sk >= :a", v(":p", s("p"), ":a", n("1"), ":x", n("2")), true, 0, "attribute_exists(m) OR sk = :x"),
		query("query with a non-key filter", "pk = :p AND sk >= :a", v(":p", s("p"), ":a", n("1"), ":x", n("10.25")), true, 0, "attribute_exists(m) OR a = :x"),
		query("query without the partition key", "sk = :a", v(":a", n("1")), true, 0, ""),
		{"scan with limit", func(c *dynamodb.Client) string {
			out, err := c.Scan(ctx, &dynamodb.ScanInput{TableName: tbl(), Select: types.SelectCount})
			return outcome(err, func() string { return fmt.Sprintf("count %d scanned %d", out.Count, out.ScannedCount) })
		}},
		{"batch write", func(c *dynamodb.Client) string {
			out, err := c.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{"diff": {
				{PutRequest: &types.PutRequest{Item: v("pk", s("b"), "sk", n("1"))}},
				{PutRequest: &types.PutRequest{Item: v("pk", s("b"), "sk", n("2"))}},
				{DeleteRequest: &types.DeleteRequest{Key: key("q", 1)}}}}})
			return outcome(err, func() string { return fmt.Sprintf("unprocessed %d", len(out.UnprocessedItems)) })
		}},
		{"batch get", func(c *dynamodb.Client) string {
			out, err := c.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{
				"diff": {Keys: []map[string]types.AttributeValue{key("b", 1), key("b", 2), key("q", 1)}}}})
			return outcome(err, func() string {
				items := out.Responses["diff"]
				sort.Slice(items, func(i, j int) bool { return itemText(items[i]) < itemText(items[j]) })
				return itemsText(items)
			})
		}},
		{"delete with condition and ALL_OLD", func(c *dynamodb.Client) string {
			out, err := c.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: tbl(), Key: key("p", 3), ReturnValues: types.ReturnValueAllOld,
				ConditionExpression: aws.String("a = :a"), ExpressionAttributeValues: v(":a", n("3"))})
			return outcome(err, func() string { return itemText(out.Attributes) })
		}},
		{"delete failing condition", func(c *dynamodb.Client) string {
			_, err := c.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: tbl(), Key: key("p", 2),
				ConditionExpression: aws.String("a = :a"), ExpressionAttributeValues: v(":a", n("99"))})
			return outcome(err, func() string { return "deleted" })
		}},
		{"delete table", func(c *dynamodb.Client) string {
			out, err := c.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: tbl()})
			return outcome(err, func() string { return *out.TableDescription.TableName })
		}},
		get("get from a deleted table", key("p", 1), ""),
	}
}

// TestDifferentialAgainstDynalite runs one sequence against dynalite and
// against the embedded backend, through aws-sdk-go-v2, and compares.
func TestDifferentialAgainstDynalite(t *testing.T) {
	peer := dynamodbtest.Client(t, startDynalite(t))
	ours := dynamodbtest.Client(t, dynamodbtest.Start(t).Endpoint())
	ss := steps()
	if len(ss) < 25 {
		t.Fatalf("only %d steps", len(ss))
	}
	for _, st := range ss {
		want, got := st.run(peer), st.run(ours)
		if want != got {
			t.Errorf("%s:\n  dynalite: %s\n  ours:     %s", st.name, want, got)
		}
	}
}
