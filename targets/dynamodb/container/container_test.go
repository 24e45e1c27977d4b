package container_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/faultline-dev/faultline/targets/dynamodb"
	"github.com/faultline-dev/faultline/targets/dynamodb/container"
	"github.com/faultline-dev/faultline/targets/dynamodb/container/containertest"
)

func client(endpoint string) *ddb.Client {
	return ddb.New(ddb.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials:           credentials.NewStaticCredentialsProvider("x", "y", ""),
		AccountIDEndpointMode: aws.AccountIDEndpointModeDisabled})
}

// The stand-in image (faultline's embedded backend behind DynamoDB Local's
// command line, in place of amazon/dynamodb-local, which cannot be pulled
// here) starts through testcontainers-go's dynamodb module, answers the AWS
// SDK on its endpoint and on every target relay, and leaves nothing behind.
func TestContainerBackendWithStandInImage(t *testing.T) {
	containertest.RequireDocker(t)
	image := containertest.StandIn(t)
	ctx := context.Background()
	runID := fmt.Sprintf("test-%d", time.Now().UnixNano())
	b, err := container.Run(ctx, container.Options{Image: image, Region: "us-east-1", RunID: runID,
		Targets: []string{"127.0.100.1:0", "127.0.100.2:0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Terminate(ctx)

	if err := dynamodb.Seed(ctx, client(b.Endpoint()), "orders", 30); err != nil {
		t.Fatal(err)
	}
	for _, addr := range b.Addrs() {
		out, err := client("http://"+addr).GetItem(ctx, &ddb.GetItemInput{TableName: aws.String("orders"),
			Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: dynamodb.SeedKey(29)}}})
		if err != nil {
			t.Fatalf("through target %s: %v", addr, err)
		}
		if v, ok := out.Item["v"].(*types.AttributeValueMemberN); !ok || v.Value != "29" {
			t.Errorf("through target %s: item %v; want v=29", addr, out.Item)
		}
	}
	left, err := container.List(ctx, runID)
	if err != nil || len(left) != 1 || left[0].Kind != "container" || left[0].RunID != runID {
		t.Errorf("while running: List = %v, %v; want its one container, labelled with the run", left, err)
	}

	if err := b.Terminate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Terminate(ctx); err != nil {
		t.Errorf("a second Terminate: %v", err)
	}
	if left, err := container.List(ctx, runID); err != nil || len(left) != 0 {
		t.Errorf("after Terminate: List = %v, %v; want nothing", left, err)
	}
	if _, err := client("http://"+b.Addrs()[0]).ListTables(ctx, &ddb.ListTablesInput{}); err == nil {
		t.Error("a target still answers after Terminate")
	}
}

// An image that is neither here nor pullable fails at once with ErrImage and
// a message that says what to do; nothing is left running.
func TestContainerBackendImageNotFound(t *testing.T) {
	containertest.RequireDocker(t)
	ctx := context.Background()
	runID := fmt.Sprintf("test-%d", time.Now().UnixNano())
	_, err := container.Run(ctx, container.Options{Image: "127.0.0.1:1/faultline/no-such-image:0", Region: "r", RunID: runID})
	if !errors.Is(err, container.ErrImage) {
		t.Fatalf("err = %v; want ErrImage", err)
	}
	for _, want := range []string{"--image dynamodb=REF", "--backend embedded"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error %q does not say %q", err, want)
		}
	}
	if left, err := container.List(ctx, runID); err != nil || len(left) != 0 {
		t.Errorf("List = %v, %v; want nothing left", left, err)
	}
}

// Cleanup removes what a crashed run left: a container of the run that
// nobody terminated.
func TestContainerCleanupRemovesLeftovers(t *testing.T) {
	containertest.RequireDocker(t)
	image := containertest.StandIn(t)
	ctx := context.Background()
	runID := fmt.Sprintf("test-%d", time.Now().UnixNano())
	b, err := container.Run(ctx, container.Options{Image: image, Region: "r", RunID: runID})
	if err != nil {
		t.Fatal(err)
	}
	removed, err := container.Cleanup(ctx, runID)
	if err != nil || len(removed) != 1 || removed[0].ID != b.ContainerID() {
		t.Fatalf("Cleanup = %v, %v; want the run's container %s", removed, err, b.ContainerID())
	}
	if left, err := container.List(ctx, runID); err != nil || len(left) != 0 {
		t.Errorf("after Cleanup: List = %v, %v", left, err)
	}
	b.Terminate(ctx) // its relays; the container is gone already
}

func TestDiagnose(t *testing.T) {
	cases := []struct {
		err  string
		want error
	}{
		{"rootless Docker not found", container.ErrNoDocker},
		{"Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?", container.ErrNoDocker},
		{"Error response from daemon: pull access denied for x, repository does not exist", container.ErrImage},
		{"Error response from daemon: Get \"https://registry-1.docker.io/v2/\": dial tcp: lookup registry-1.docker.io: i/o timeout", container.ErrImage},
		{"Bind for 127.0.0.1:8000 failed: port is already allocated", container.ErrPort},
	}
	for _, tc := range cases {
		err := container.Diagnose(errors.New(tc.err), "dynamodb", "amazon/dynamodb-local:2.6.1")
		if !errors.Is(err, tc.want) {
			t.Errorf("Diagnose(%q) = %v; want %v", tc.err, err, tc.want)
		}
	}
	if err := container.Diagnose(errors.New("something else"), "dynamodb", "img"); errors.Is(err, container.ErrImage) || !strings.Contains(err.Error(), "something else") {
		t.Errorf("an unknown error: %v", err)
	}
}
