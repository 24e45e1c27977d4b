package capacity_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/faultline-dev/faultline/targets/dynamodb"
	"github.com/faultline-dev/faultline/targets/dynamodb/capacity"
	"github.com/faultline-dev/faultline/targets/dynamodb/embedded"
)

// backend is an embedded DynamoDB behind a capacity, and an SDK client
// that does not retry (each call is one request).
func backend(t *testing.T, cfg capacity.Config, seed bool) (*capacity.Limiter, *awsddb.Client) {
	t.Helper()
	l, err := capacity.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := embedded.Run(context.Background(), embedded.WithHandler(l.Wrap))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Terminate(context.Background()) })
	l.Enable()
	opts := awsddb.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.Endpoint()),
		Credentials:           credentials.NewStaticCredentialsProvider("a", "b", ""),
		AccountIDEndpointMode: aws.AccountIDEndpointModeDisabled}
	if seed { // through the capacity too: a retrying client
		seeder := awsddb.New(opts, func(o *awsddb.Options) { o.RetryMaxAttempts = 20 })
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := dynamodb.Seed(ctx, seeder, "tbl", 5); err != nil {
			t.Fatal(err)
		}
	}
	opts.Retryer = aws.NopRetryer{}
	return l, awsddb.New(opts)
}

func get(ctx context.Context, c *awsddb.Client) error {
	_, err := c.GetItem(ctx, &awsddb.GetItemInput{TableName: aws.String("tbl"),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: dynamodb.SeedKey(1)}}})
	return err
}

// A burst above the bucket waits its turn in the queue up to the bound;
// beyond it the backend throttles at once with ThrottlingException (HTTP
// 400), which aws-sdk-go-v2 parses and its retryer counts as throttling.
func TestThrottlesAtCapacity(t *testing.T) {
	// 2 a second, a burst of 3, a queue of 1.2 s: of 12 at once, 3 go at
	// once, 2 more wait (500 ms, 1 s) and 7 are throttled.
	l, client := backend(t, capacity.Config{RPS: 2, Burst: 3, MaxWait: 1200 * time.Millisecond, Region: "us-east-1", Table: "tbl"}, true)
	time.Sleep(2 * time.Second) // the seeding's requests took tokens: let the bucket fill
	l.Roll(time.Now())
	var mu sync.Mutex
	var ok, throttled int
	var slowest time.Duration
	var wg sync.WaitGroup
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			began := time.Now()
			err := get(context.Background(), client)
			mu.Lock()
			defer mu.Unlock()
			var api smithy.APIError
			switch {
			case err == nil:
				ok++
				slowest = max(slowest, time.Since(began))
			case errors.As(err, &api) && api.ErrorCode() == "ThrottlingException":
				throttled++
				if !(retry.ThrottleErrorCode{Codes: retry.DefaultThrottleErrorCodes}).IsErrorThrottle(err).Bool() {
					t.Errorf("aws-sdk-go-v2 does not see %v as throttling", err)
				}
			default:
				t.Errorf("unexpected error: %v", err)
			}
		}()
	}
	wg.Wait()
	// Arrivals are not instantaneous on a busy machine: the bucket may
	// refill a token or two while the 12 arrive. Never more than that.
	if ok < 5 || ok > 7 || ok+throttled != 12 {
		t.Fatalf("%d served, %d throttled; want 5 served (3 at once, 2 queued) give or take a refill", ok, throttled)
	}
	if slowest < 700*time.Millisecond {
		t.Fatalf("the slowest served request took %s; the queued ones wait for their slots (500 ms, 1 s)", slowest)
	}
	s := l.Roll(time.Now())
	if s.Offered != 12 || s.Served != ok || s.Throttled != throttled || s.P99 < 700*time.Millisecond {
		t.Fatalf("the second's load %+v; want 12 offered, %d served, %d throttled, p99 the queue's wait", s, ok, throttled)
	}
}

// A provisioned table's capacity answers ProvisionedThroughputExceededException,
// the SDK's typed error, before the request reaches the table (none here:
// what gets through is answered ResourceNotFoundException).
func TestProvisionedThrottlesWithItsOwnError(t *testing.T) {
	_, client := backend(t, capacity.Config{RPS: 0.5, Burst: 1, MaxWait: time.Millisecond, Mode: capacity.Provisioned, Region: "us-east-1", Table: "tbl"}, false)
	var typed *types.ProvisionedThroughputExceededException
	for range 5 {
		if err := get(context.Background(), client); errors.As(err, &typed) {
			if len(typed.ThrottlingReasons) != 1 || aws.ToString(typed.ThrottlingReasons[0].Reason) != "TableReadProvisionedThroughputExceeded" {
				t.Fatalf("throttling reasons %+v", typed.ThrottlingReasons)
			}
			return
		}
	}
	t.Fatal("no ProvisionedThroughputExceededException in 5 requests at 0.5/s")
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []capacity.Config{{RPS: 0, Burst: 1}, {RPS: 1, Burst: 0}, {RPS: 1, Burst: 1, Mode: "reserved"}, {RPS: 1, Burst: 1, MaxWait: -1}} {
		if _, err := capacity.New(c); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}
