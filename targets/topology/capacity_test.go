package topology

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/faultline-dev/faultline/targets/dynamodb/capacity"
	"github.com/faultline-dev/faultline/targets/dynamodb/container/containertest"
	"github.com/faultline-dev/faultline/targets/nlb"
)

// burst sends n GetItems at once through the region's NLB, without
// retries, and counts the answers.
func burst(t *testing.T, w *World, region string, n int) (served, throttled int) {
	t.Helper()
	c := sdk(t, w, region)
	type result struct{ err error }
	out := make(chan result, n)
	for i := range n {
		go func() {
			_, err := c.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String("orders"),
				Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: fmt.Sprintf("item-%04d", i%10)}}},
				func(o *dynamodb.Options) { o.Retryer = aws.NopRetryer{} })
			out <- result{err}
		}()
	}
	for range n {
		r := <-out
		var api smithy.APIError
		switch {
		case r.err == nil:
			served++
		case errors.As(r.err, &api) && api.ErrorCode() == "ThrottlingException":
			throttled++
		default:
			t.Errorf("unexpected: %v", r.err)
		}
	}
	return served, throttled
}

// A region's capacity holds on its targets: a burst above it is throttled
// through the NLB, health checks pass (the targets stay healthy), and
// seeding the table (more requests than the capacity allows) is not
// counted.
func TestRegionCapacity(t *testing.T) {
	cfg := config()
	cfg.Items = 200 // 8 BatchWriteItems and more at 1 request/s: seeding must pass the capacity
	cfg.Regions[0].Capacity = &capacity.Config{RPS: 1, Burst: 3, MaxWait: time.Millisecond}
	capacityWorld(t, cfg)
}

// The same on the container backend: the targets become HTTP proxies with
// the capacity in front.
func TestContainerRegionCapacity(t *testing.T) {
	containertest.RequireDocker(t)
	cfg := config()
	cfg.RunID = fmt.Sprintf("test-%d", time.Now().UnixNano())
	cfg.Regions[0].Container = &Container{Image: containertest.StandIn(t)}
	cfg.Regions[0].Capacity = &capacity.Config{RPS: 1, Burst: 3, MaxWait: time.Millisecond}
	capacityWorld(t, cfg)
}

func capacityWorld(t *testing.T, cfg Config) {
	t.Helper()
	seen := make(chan capacity.Second, 100)
	cfg.CapacityObserver = func(region string, s capacity.Second) {
		if region == "us-east-1" && s.Throttled > 0 {
			select {
			case seen <- s:
			default:
			}
		}
	}
	w, err := Build(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	time.Sleep(3 * time.Second) // the bucket full again after the health checks' start
	served, throttled := burst(t, w, "us-east-1", 12)
	if served < 3 || served > 5 || throttled != 12-served {
		t.Fatalf("us-east-1 (1/s, burst 3): %d served, %d throttled of 12 at once", served, throttled)
	}
	if s, th := burst(t, w, "us-west-2", 12); s != 12 || th != 0 {
		t.Fatalf("us-west-2 has no capacity: %d served, %d throttled", s, th)
	}
	select {
	case <-seen:
	case <-time.After(5 * time.Second):
		t.Fatal("no second of us-east-1's load with its throttling observed")
	}
	lb, _ := w.NLB("us-east-1")
	for _, tg := range lb.Targets() {
		if tg.State != nlb.StateHealthy {
			t.Errorf("target %s unhealthy: health checks must pass the capacity", tg.Addr)
		}
	}
}
