// Package dynamodbtest starts embedded DynamoDB backends for tests and
// builds aws-sdk-go-v2 clients for them, as net/http/httptest does for HTTP.
package dynamodbtest

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/faultline-dev/faultline/targets/dynamodb/embedded"
)

// Start starts a backend on 127.0.0.1:0 and terminates it when the test ends.
func Start(t testing.TB, opts ...embedded.Option) *embedded.Server {
	t.Helper()
	s, err := embedded.Run(context.Background(), opts...)
	if err != nil {
		t.Fatalf("starting the embedded backend: %v", err)
	}
	t.Cleanup(func() { s.Terminate(context.Background()) })
	return s
}

// Client is an aws-sdk-go-v2 client for endpoint with dummy static
// credentials, region us-east-1 and the SDK's default retryer.
func Client(t testing.TB, endpoint string) *dynamodb.Client {
	t.Helper()
	return NewClient(endpoint, "us-east-1")
}

// NewClient is Client without a test.
func NewClient(endpoint, region string) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:                region,
		BaseEndpoint:          aws.String(endpoint),
		Credentials:           credentials.NewStaticCredentialsProvider("faultline", "faultline", ""),
		AccountIDEndpointMode: aws.AccountIDEndpointModeDisabled,
	})
}
