// Package dynamodb is the DynamoDB side of faultline's world: the Backend
// interface that every backend (the embedded one in embedded/, DynamoDB Local
// in a container later) satisfies, and the seeding every experiment starts
// with.
package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Backend is one region's DynamoDB, as testcontainers-go modules shape a
// container: a value with an endpoint and a Terminate.
type Backend interface {
	Endpoint() string                    // "http://127.0.0.1:PORT"
	Addrs() []string                     // every "ip:port" it serves on: the NLB's targets
	Terminate(ctx context.Context) error // idempotent
}

// SeedKey is the key of the i-th seeded item; clients read and write these.
func SeedKey(i int) string { return fmt.Sprintf("item-%04d", i) }

// Seed creates table (partition key "pk", a string; on-demand) unless it
// exists, waits (bounded by ctx) until it is ACTIVE, and puts n items
// {pk: SeedKey(i), v: i, payload: "..."} with BatchWriteItem.
func Seed(ctx context.Context, client *ddb.Client, table string, n int) error {
	_, err := client.CreateTable(ctx, &ddb.CreateTableInput{
		TableName:            aws.String(table),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	})
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("creating table %s: %w", table, err)
	}
	waiter := ddb.NewTableExistsWaiter(client, func(o *ddb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 100*time.Millisecond, time.Second
	})
	if err := waiter.Wait(ctx, &ddb.DescribeTableInput{TableName: aws.String(table)}, 30*time.Second); err != nil {
		return fmt.Errorf("waiting for table %s: %w", table, err)
	}
	for start := 0; start < n; start += 25 {
		var reqs []types.WriteRequest
		for i := start; i < min(start+25, n); i++ {
			reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: map[string]types.AttributeValue{
				"pk":      &types.AttributeValueMemberS{Value: SeedKey(i)},
				"v":       &types.AttributeValueMemberN{Value: strconv.Itoa(i)},
				"payload": &types.AttributeValueMemberS{Value: "seeded by faultline"},
			}}})
		}
		pending := map[string][]types.WriteRequest{table: reqs}
		for attempt := 0; len(pending) > 0; attempt++ {
			if attempt == 5 {
				return fmt.Errorf("seeding %s: items left unprocessed after 5 attempts", table)
			}
			out, err := client.BatchWriteItem(ctx, &ddb.BatchWriteItemInput{RequestItems: pending})
			if err != nil {
				return fmt.Errorf("seeding %s: %w", table, err)
			}
			pending = out.UnprocessedItems
		}
	}
	return nil
}
