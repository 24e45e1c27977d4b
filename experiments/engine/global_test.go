package engine

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/faults"
	"github.com/faultline-dev/faultline/targets/topology"
)

// A global table's events reach the journal through the Engine: the write,
// the path paused and resumed by the fault, the write replicated after the
// heal with when it was written.
func TestGlobalTableJournal(t *testing.T) {
	cfg := worldConfig()
	cfg.Global = &topology.Global{}
	e, err := Open(context.Background(), Config{Topology: cfg, Journal: recordedJournal(), Log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if _, err := e.Apply(faults.Fault{ID: "pause", Kind: "ddb.replication-pause", Target: "us-east-1", Params: map[string]string{"direction": "out"}}, "test"); err != nil {
		t.Fatal(err)
	}
	url, _ := e.World().EndpointURL("us-east-1")
	dnsAddr := e.World().DNSAddr()
	resolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, dnsAddr)
	}}
	client := dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(url),
		Credentials:           credentials.NewStaticCredentialsProvider("a", "b", ""),
		AccountIDEndpointMode: aws.AccountIDEndpointModeDisabled,
		HTTPClient:            awshttp.NewBuildableClient().WithDialerOptions(func(d *net.Dialer) { d.Resolver = resolver })})
	if _, err := client.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String("orders"), Item: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "k"}, "v": &types.AttributeValueMemberN{Value: "7"}}}); err != nil {
		t.Fatal(err)
	}
	if err := e.Heal("pause", "scheduled", "test"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(eventsOf(e, journal.DDBReplicated)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no ddb.replicated within 30s of the heal")
		}
		time.Sleep(20 * time.Millisecond)
	}
	w := eventsOf(e, journal.DDBWrite)
	if len(w) != 1 || w[0].Region != "us-east-1" || w[0].Item != "k" || w[0].ItemVersion == nil || *w[0].ItemVersion != 7 || w[0].Op != "PutItem" || w[0].Name != "orders" {
		t.Fatalf("ddb.write: %+v", w)
	}
	r := eventsOf(e, journal.DDBReplicated)[0]
	if r.Region != "us-east-1" || r.To != "us-west-2" || r.Status != "applied" || r.Item != "k" || *r.ItemVersion != 7 ||
		r.WrittenMS == nil || *r.WrittenMS != w[0].T || r.T < *r.WrittenMS {
		t.Errorf("ddb.replicated: %+v (written at %v)", r, r.WrittenMS)
	}
	healed := eventsOf(e, journal.FaultHealed)[0].T
	if r.T < healed {
		t.Errorf("applied at %.1f ms, before the pause was healed at %.1f ms", r.T, healed)
	}
	states := eventsOf(e, journal.DDBReplication)
	if len(states) != 2 || states[0].Status != "paused" || states[1].Status != "resumed" || states[0].Fault != "pause" || states[0].To != "us-west-2" {
		t.Errorf("ddb.replication: %+v", states)
	}
}

// A replication fault on a world without a global table is bad input.
func TestReplicationFaultNeedsAGlobalTable(t *testing.T) {
	e := open(t, 0)
	_, err := e.Apply(faults.Fault{Kind: "ddb.replication-lag", Target: "us-east-1", Params: map[string]string{"lag": "1s"}}, "test")
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "topology.table.global") {
		t.Fatalf("err = %v, want ErrInvalid naming topology.table.global", err)
	}
	if len(e.Active()) != 0 {
		t.Error("something was applied")
	}
}
