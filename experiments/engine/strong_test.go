package engine

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/targets/dynamodb/dynamodbtest"
	"github.com/faultline-dev/faultline/targets/nlb"
	"github.com/faultline-dev/faultline/targets/topology"
)

// A strongly consistent table's write is journaled once as ddb.write, in
// the region that acknowledged it, and as ddb.replicated for each other
// replica, with the acknowledgement as written_ms.
func TestStrongWritesJournaled(t *testing.T) {
	cfg := worldConfig()
	hc := nlb.DefaultHealthCheck()
	cfg.Regions = append(cfg.Regions, topology.Region{Name: "us-east-2", Endpoint: "dynamodb.us-east-2.amazonaws.com.", Nodes: 1, Targets: 1, HealthCheck: hc})
	cfg.Strong = true
	e, err := Open(context.Background(), Config{Topology: cfg, Journal: recordedJournal(), Log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	lb, _ := e.World().NLB("us-west-2")
	c := dynamodbtest.NewClient("http://"+lb.Targets()[0].Addr, "us-west-2")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("orders"), Item: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "item-0002"}, "v": &types.AttributeValueMemberN{Value: "42"}}}); err != nil {
		t.Fatal(err)
	}
	var writes []journal.Event
	deadline := time.Now().Add(10 * time.Second)
	for {
		writes = eventsOf(e, journal.DDBWrite)
		if len(eventsOf(e, journal.DDBReplicated)) == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(writes) != 1 {
		t.Fatalf("ddb.write events: %+v", writes)
	}
	w := writes[0]
	if w.Region != "us-west-2" || w.Name != "orders" || w.Item != "item-0002" || w.ItemVersion == nil || *w.ItemVersion != 42 || w.Op != "PutItem" {
		t.Errorf("ddb.write %+v", w)
	}
	to := map[string]bool{}
	for _, r := range eventsOf(e, journal.DDBReplicated) {
		to[r.To] = true
		if r.Region != "us-west-2" || r.Item != "item-0002" || r.Status != "applied" || r.WrittenMS == nil || *r.WrittenMS != w.T {
			t.Errorf("ddb.replicated %+v (write at %.3f)", r, w.T)
		}
	}
	if !to["us-east-1"] || !to["us-east-2"] {
		t.Errorf("replicated to %v, want us-east-1 and us-east-2", to)
	}
}
