package testbed_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/experiments/testbed"
	"github.com/faultline-dev/faultline/targets/nlb"
)

func dbs(tb *testbed.Testbed, regions ...string) []*dynamodb.Client {
	var out []*dynamodb.Client
	for _, region := range regions {
		out = append(out, dynamodb.New(dynamodb.Options{Region: region, HTTPClient: tb.HTTPClient(),
			BaseEndpoint: aws.String(tb.Endpoint(region)),
			Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""), AccountIDEndpointMode: aws.AccountIDEndpointModeDisabled}))
	}
	return out
}

// get reads an item. Its context is never cancelled: cancelling a request's
// context just after its response was read can make net/http close the
// connection, and these tests watch who closes connections.
func get(db *dynamodb.Client) error {
	_, err := db.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String("faultline"),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "item-0001"}}})
	return err
}

// nlb.reset-connections resets every open connection of the region's load
// balancer at once, and only that region's: the Engine journals the fault,
// the reset (how many) and each connection's close with its reason. The
// pooled client dials again and goes on.
func TestResetConnectionsFault(t *testing.T) {
	tb := testbed.Start(t, testbed.Options{KeepAlive: true})
	c := dbs(tb, "us-east-1", "us-west-2")
	for i := 0; i < 5; i++ {
		for _, db := range c {
			if err := get(db); err != nil {
				t.Fatal(err)
			}
		}
	}
	heal := tb.Apply(t, "nlb.reset-connections", "us-east-1", nil)
	heal()
	var resets []journal.Event
	closed := map[string]int{}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resets, closed = nil, map[string]int{}
		for _, e := range tb.Events() {
			switch {
			case e.Type == journal.ConnsReset:
				resets = append(resets, e)
			case e.Type == journal.ConnClosed && e.Detail == nlb.ClosedReset:
				closed[e.Region]++
			}
		}
		if len(resets) == 1 && closed["us-east-1"] > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(resets) != 1 || resets[0].Region != "us-east-1" || !strings.HasPrefix(resets[0].Detail, "reset ") {
		t.Fatalf("conns.reset events: %+v; want one, us-east-1's", resets)
	}
	if closed["us-east-1"] == 0 || closed["us-west-2"] != 0 {
		t.Errorf("connections closed by the reset, by region: %v; want us-east-1's only", closed)
	}
	applied := false
	for _, e := range tb.Events() {
		if e.Type == journal.FaultApplied && e.Kind == "nlb.reset-connections" && e.Target == "us-east-1" {
			applied = true
		}
	}
	if !applied {
		t.Error("the fault was not journaled as applied")
	}
	for _, db := range c {
		if err := get(db); err != nil {
			t.Errorf("a request after the reset: %v", err)
		}
	}
}

// With a maximum connection age, a pooled client's connection is closed
// for its age and the client dials again, looking the name up: so it meets
// a DNS fault that a connection kept for ever would hide. (Go's transport
// sometimes closes a connection of its own accord too; the test asks only
// that the age closes happen and that the fault reaches the client.)
func TestMaxAgeBringsAPooledClientToADNSFault(t *testing.T) {
	tb := testbed.Start(t, testbed.Options{KeepAlive: true, MaxConnectionAge: 300 * time.Millisecond})
	db := dbs(tb, "us-east-1")[0]
	// Steady state: a close for the connection's age, and after it a new
	// lookup of the name by the client.
	reResolved := func() bool {
		closed := false
		for _, e := range tb.Events() {
			switch {
			case e.Type == journal.ConnClosed && e.Detail == nlb.ClosedMaxAge:
				closed = true
			case closed && e.Type == journal.DNSQuery:
				return true
			}
		}
		return false
	}
	deadline := time.Now().Add(30 * time.Second)
	for !reResolved() && time.Now().Before(deadline) {
		if err := get(db); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !reResolved() {
		t.Fatal("no connection was closed for its age and followed by a new lookup")
	}
	heal := tb.Apply(t, "dns.empty", "dynamodb.us-east-1.amazonaws.com", nil)
	defer heal()
	deadline = time.Now().Add(30 * time.Second)
	for tb.Metrics().DNSQueriesInFault == 0 && time.Now().Before(deadline) {
		get(db)
		time.Sleep(20 * time.Millisecond)
	}
	if m := tb.Metrics(); m.DNSQueriesInFault == 0 || m.DetectMS == nil {
		t.Errorf("dns_queries_in_fault %d, detect %v; want the fault to reach the pooled client", m.DNSQueriesInFault, val(m.DetectMS))
	}
}

// An idle pooled connection is forgotten by the NLB's idle timeout: the
// SDK's next request on it meets an RST, and the SDK's retry on a new
// connection (and so a new lookup) serves it. The journal shows the flow
// expiring and the close with its reason.
func TestIdleTimeoutResetsAPooledConnection(t *testing.T) {
	tb := testbed.Start(t, testbed.Options{KeepAlive: true, IdleTimeout: 300 * time.Millisecond})
	db := dbs(tb, "us-east-1")[0]
	if err := get(db); err != nil {
		t.Fatal(err)
	}
	expired := func() bool {
		for _, e := range tb.Events() {
			if e.Type == journal.ConnExpired && e.Client == testbed.ClientName {
				return true
			}
		}
		return false
	}
	deadline := time.Now().Add(30 * time.Second)
	for !expired() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if !expired() {
		t.Fatal("the idle connection never expired")
	}
	if err := get(db); err != nil {
		t.Errorf("the request after the idle timeout: %v; want the SDK to retry it on a new connection", err)
	}
	closed := false
	for _, e := range tb.Events() {
		if e.Type == journal.ConnClosed && e.Detail == nlb.ClosedIdle {
			closed = true
		}
	}
	if !closed {
		t.Error("no connection was journaled as closed by the idle timeout")
	}
}
