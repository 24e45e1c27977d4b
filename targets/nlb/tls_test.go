package nlb_test

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/faultline-dev/faultline/targets/dynamodb"
	"github.com/faultline-dev/faultline/targets/dynamodb/embedded"
	"github.com/faultline-dev/faultline/targets/nlb"
	"github.com/faultline-dev/faultline/targets/nlb/nlbtest"
	"github.com/faultline-dev/faultline/targets/tlsca"
)

// A TLS listener terminates TLS with the run CA's certificate for the
// endpoint name and forwards plaintext to the backend: aws-sdk-go-v2 on
// https:// with only the CA trusted gets its item, and the node reports each
// HTTP exchange it carried (operation, status, client) as the server side
// sees it.
func TestTLSListenerTerminatesAndObservesHTTP(t *testing.T) {
	backend, err := embedded.Run(context.Background(), embedded.WithAddrs("127.0.100.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Terminate(context.Background())
	ca, err := tlsca.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close()
	cert, err := ca.Issue("dynamodb.us-east-1.amazonaws.com")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.1.1:0") // a free port for the TLS listener
	if err != nil {
		t.Fatal(err)
	}
	tlsPort := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	lb, rec := nlbtest.Start(t, nlb.Config{NodeIPs: []string{"127.0.1.1"}, Targets: backend.Addrs(), HealthCheck: fast,
		TLS: &tls.Config{Certificates: []tls.Certificate{cert}}, TLSPort: tlsPort})

	// The endpoint's real name, dialled at the node's TLS address.
	node := net.JoinHostPort("127.0.1.1", strconv.Itoa(tlsPort))
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, node)
		}}
	defer tr.CloseIdleConnections()
	client := ddb.New(ddb.Options{Region: "us-east-1", BaseEndpoint: aws.String("https://dynamodb.us-east-1.amazonaws.com"),
		Credentials: credentials.NewStaticCredentialsProvider("a", "b", ""), AccountIDEndpointMode: aws.AccountIDEndpointModeDisabled,
		HTTPClient: &http.Client{Transport: tr}})
	ctx := context.Background()
	if err := dynamodb.Seed(ctx, client, "orders", 3); err != nil {
		t.Fatal(err)
	}
	out, err := client.GetItem(ctx, &ddb.GetItemInput{TableName: aws.String("orders"),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: dynamodb.SeedKey(2)}}})
	if err != nil || out.Item == nil {
		t.Fatalf("GetItem over TLS: %v, %v", out, err)
	}
	got := rec.WaitFor(t, 2*time.Second, func(e nlb.Event) bool { return e.Kind == "http.request" && e.Op == "GetItem" })
	var gets []nlb.Event
	for _, e := range got {
		if e.Kind == "http.request" && e.Op == "GetItem" {
			gets = append(gets, e)
		}
	}
	if len(gets) != 1 || !gets[0].OK || gets[0].Detail != "GetItem 200" ||
		gets[0].Started.IsZero() || gets[0].Client == "" {
		t.Errorf("GetItem exchanges seen by the node: %+v", gets)
	}
	// A client that does not trust the CA is refused in the handshake.
	bad, err := tls.Dial("tcp", node, &tls.Config{ServerName: "dynamodb.us-east-1.amazonaws.com"})
	if err == nil {
		bad.Close()
		t.Error("a client without the run's CA completed the handshake")
	}
	_ = lb
}
