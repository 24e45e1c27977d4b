package topology

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/faultline-dev/faultline/targets/dnsstub"
	"github.com/faultline-dev/faultline/targets/dnsstub/dnsstubtest"
	"github.com/faultline-dev/faultline/targets/dynamodb/mrsc"
	"github.com/faultline-dev/faultline/targets/nlb"
)

var strongRegions = []string{"us-east-1", "us-east-2", "us-west-2"}

func strongConfig(observe func(mrsc.Event)) Config {
	hc := nlb.DefaultHealthCheck()
	cfg := Config{Zone: "amazonaws.com.", RecordTTL: time.Second, NegativeTTL: time.Second, Table: "orders", Items: 5,
		Strong: true, StrongObserver: observe}
	for _, r := range strongRegions {
		cfg.Regions = append(cfg.Regions, Region{Name: r, Endpoint: "dynamodb." + r + ".amazonaws.com.", Nodes: 1, Targets: 1, HealthCheck: hc})
	}
	return cfg
}

// client reaches a region through the world (DNS, NLB, data links), or,
// with direct, the region's backend itself, as a connection the client
// holds from before a DNS fault would.
func strongClient(t *testing.T, w *World, region string, direct bool) *dynamodb.Client {
	t.Helper()
	url, err := w.EndpointURL(region)
	if err != nil {
		t.Fatal(err)
	}
	if direct {
		lb, _ := w.NLB(region)
		url = "http://" + lb.Targets()[0].Addr
	}
	return dynamodb.New(dynamodb.Options{Region: region, BaseEndpoint: aws.String(url),
		Credentials:           credentials.NewStaticCredentialsProvider("a", "b", ""),
		AccountIDEndpointMode: aws.AccountIDEndpointModeDisabled, RetryMaxAttempts: 1,
		HTTPClient: awshttp.NewBuildableClient().WithDialerOptions(func(d *net.Dialer) { d.Resolver = dnsstubtest.GoResolver(w.DNSAddr()) })})
}

func putV(c *dynamodb.Client, id string, v int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("orders"), Item: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: id}, "v": &types.AttributeValueMemberN{Value: strconv.Itoa(v)}}})
	return err
}

func getV(c *dynamodb.Client, id string, consistent bool) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("orders"), ConsistentRead: aws.Bool(consistent),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: id}}})
	if err != nil {
		return 0, err
	}
	if out.Item == nil {
		return -1, nil
	}
	return strconv.Atoi(out.Item["v"].(*types.AttributeValueMemberN).Value)
}

// The strongly consistent global table in a built world: replicas reach
// each other through the endpoints' DNS names and NLBs, so an empty DNS
// record for us-east-1 isolates it: the majority writes on, us-east-1's
// writes fail with InternalServerError (seen by a client still connected to
// it), and after the heal us-east-1 catches up.
func TestStrongGlobalTableThroughTheWorld(t *testing.T) {
	var mu sync.Mutex
	var events []mrsc.Event
	w, err := Build(context.Background(), strongConfig(func(e mrsc.Event) { mu.Lock(); events = append(events, e); mu.Unlock() }))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if g, ok := w.Strong(); !ok || len(g.Regions()) != 3 {
		t.Fatal("no strongly consistent table")
	}
	east, east2, west := strongClient(t, w, "us-east-1", false), strongClient(t, w, "us-east-2", false), strongClient(t, w, "us-west-2", false)
	if v, err := getV(east, "item-0004", true); err != nil || v != 4 {
		t.Fatalf("the seeded item, strongly read in us-east-1: %d, %v", v, err)
	}
	if err := putV(west, "item-0001", 100); err != nil {
		t.Fatal(err)
	}
	if v, err := getV(east, "item-0001", true); err != nil || v != 100 {
		t.Fatalf("us-west-2's write, strongly read in us-east-1: %d, %v", v, err)
	}

	// us-east-1's record goes empty (NOERROR, no answers), as on October 20.
	remove, err := w.DNS().AddRule(dnsstub.Rule{Name: "dynamodb.us-east-1.amazonaws.com.", Action: dnsstub.Empty(dnsstub.EmptyOptions{}), Fault: "f1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := putV(west, "item-0001", 101); err != nil {
		t.Fatalf("a write in us-west-2 while us-east-1 is isolated: %v", err)
	}
	if v, err := getV(east2, "item-0001", true); err != nil || v != 101 {
		t.Fatalf("strongly consistent read in us-east-2: %d, %v", v, err)
	}
	held := strongClient(t, w, "us-east-1", true)
	err = putV(held, "item-0002", 200)
	var ise *types.InternalServerError
	if !errors.As(err, &ise) {
		t.Fatalf("a write in the isolated us-east-1: %v, want InternalServerError", err)
	}
	if _, err := getV(held, "item-0001", true); !errors.As(err, &ise) {
		t.Fatalf("a strongly consistent read in the isolated us-east-1: %v, want InternalServerError", err)
	}
	if v, err := getV(held, "item-0001", false); err != nil || v != 100 {
		t.Fatalf("an eventually consistent read in the isolated us-east-1: %d, %v; want the stale 100", v, err)
	}

	remove()
	deadline := time.Now().Add(15 * time.Second)
	for {
		v, err := getV(held, "item-0001", false)
		if err == nil && v == 101 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("us-east-1 did not catch up within 15s: %d, %v", v, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := putV(east, "item-0002", 201); err != nil {
		t.Fatalf("a write in us-east-1 after the heal: %v", err)
	}
	if v, err := getV(west, "item-0002", true); err != nil || v != 201 {
		t.Fatalf("us-east-1's write, strongly read in us-west-2: %d, %v", v, err)
	}
	mu.Lock()
	defer mu.Unlock()
	var got []string
	for _, e := range events {
		if e.Kind == mrsc.KindWrite {
			got = append(got, e.Region+":"+e.Item+"="+strconv.FormatInt(*e.Version, 10))
		}
	}
	if strings.Join(got, " ") != "us-west-2:item-0001=100 us-west-2:item-0001=101 us-east-1:item-0002=201" {
		t.Errorf("acknowledged writes %v", got)
	}
}

func TestStrongNeedsThreeEmbeddedRegions(t *testing.T) {
	cfg := strongConfig(nil)
	cfg.Regions = cfg.Regions[:2]
	if _, err := Build(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "exactly 3 regions") {
		t.Errorf("two regions: %v", err)
	}
	cfg = strongConfig(nil)
	cfg.Regions[2].Container = &Container{}
	if _, err := Build(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "embedded backend") {
		t.Errorf("a container region: %v", err)
	}
}

// Two replicas and a witness: the witness's region answers clients as a
// region without the table; the replicas write and read through it.
func TestStrongWitness(t *testing.T) {
	cfg := strongConfig(nil)
	cfg.StrongWitness = "us-west-2"
	w, err := Build(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var rnf *types.ResourceNotFoundException
	if _, err := getV(strongClient(t, w, "us-west-2", false), "item-0001", false); !errors.As(err, &rnf) {
		t.Fatalf("a read in the witness's region: %v, want ResourceNotFoundException", err)
	}
	if err := putV(strongClient(t, w, "us-east-1", false), "item-0001", 7); err != nil {
		t.Fatal(err)
	}
	if v, err := getV(strongClient(t, w, "us-east-2", false), "item-0001", true); err != nil || v != 7 {
		t.Fatalf("strongly consistent read in us-east-2: %d, %v", v, err)
	}
	cfg.StrongWitness = "eu-west-1"
	if _, err := Build(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "witness") {
		t.Errorf("a witness outside the regions: %v", err)
	}
}
