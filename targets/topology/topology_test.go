package topology

import (
	"context"
	"net"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"go.uber.org/goleak"

	"github.com/faultline-dev/faultline/targets/dnsstub/dnsstubtest"
	"github.com/faultline-dev/faultline/targets/nlb"
)

func config() Config {
	hc := nlb.DefaultHealthCheck()
	return Config{Zone: "amazonaws.com.", RecordTTL: time.Second, NegativeTTL: time.Second, Table: "orders", Items: 10,
		Regions: []Region{
			{Name: "us-east-1", Endpoint: "dynamodb.us-east-1.amazonaws.com.", Nodes: 2, Targets: 2, HealthCheck: hc},
			{Name: "us-west-2", Endpoint: "dynamodb.us-west-2.amazonaws.com.", Nodes: 1, Targets: 1, HealthCheck: hc},
		}}
}

// The whole path as a client sees it: the endpoint name resolves through the
// DNS server to the region's node addresses, and a GetItem through a node
// reaches the seeded table.
func TestBuiltWorldServesThroughDNSAndNLB(t *testing.T) {
	w, err := Build(context.Background(), config())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	resolver := dnsstubtest.GoResolver(w.DNSAddr())
	addrs, err := resolver.LookupHost(context.Background(), "dynamodb.us-east-1.amazonaws.com")
	sort.Strings(addrs)
	if err != nil || strings.Join(addrs, ",") != "127.0.1.1,127.0.1.2" {
		t.Fatalf("us-east-1 resolves to %v, %v; want its two nodes", addrs, err)
	}
	if addrs, _ := resolver.LookupHost(context.Background(), "dynamodb.us-west-2.amazonaws.com"); strings.Join(addrs, ",") != "127.0.2.1" {
		t.Errorf("us-west-2 resolves to %v", addrs)
	}
	url, err := w.EndpointURL("us-east-1")
	if err != nil || !strings.HasPrefix(url, "http://dynamodb.us-east-1.amazonaws.com:") {
		t.Fatalf("endpoint URL %q, %v", url, err)
	}
	west, _ := w.EndpointURL("us-west-2")
	if strings.TrimPrefix(url, "http://dynamodb.us-east-1.amazonaws.com") != strings.TrimPrefix(west, "http://dynamodb.us-west-2.amazonaws.com") {
		t.Errorf("regions listen on different ports: %s, %s (every endpoint shares one, as 443)", url, west)
	}
	client := dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(url),
		Credentials:           credentials.NewStaticCredentialsProvider("a", "b", ""),
		AccountIDEndpointMode: aws.AccountIDEndpointModeDisabled,
		HTTPClient:            awshttp.NewBuildableClient().WithDialerOptions(func(d *net.Dialer) { d.Resolver = resolver })})
	out, err := client.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String("orders"),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "item-0009"}}})
	if err != nil || out.Item == nil {
		t.Fatalf("GetItem through DNS and the NLB: %v", err)
	}
	if ls, err := w.RegionLinks("us-east-1"); err != nil || len(ls) != 2 {
		t.Errorf("us-east-1 data links: %d, %v", len(ls), err)
	}
	if _, err := w.RegionLinks("eu-west-1"); err == nil {
		t.Error("links of an unknown region")
	}
}

func TestCloseLeavesNothingListening(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	w, err := Build(context.Background(), config())
	if err != nil {
		t.Fatal(err)
	}
	lb, _ := w.NLB("us-east-1")
	listening := append(lb.NodeAddrs(), w.DNSAddr())
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	for _, a := range listening {
		if c, err := net.DialTimeout("tcp", a, 300*time.Millisecond); err == nil {
			c.Close()
			t.Errorf("%s still accepts after Close", a)
		}
	}
	time.Sleep(100 * time.Millisecond)
}

func TestBuildFailureUndoesEverything(t *testing.T) {
	cfg := config()
	cfg.Regions[1].Nodes = 0 // the second region cannot start
	if _, err := Build(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "us-west-2") {
		t.Fatalf("err = %v, want the second region's failure", err)
	}
	// The first region's nodes were closed again: a new build can bind them.
	cfg.Regions[1].Nodes = 1
	w, err := Build(context.Background(), cfg)
	if err != nil {
		t.Fatalf("rebuild after a failed build: %v", err)
	}
	w.Close()
}
