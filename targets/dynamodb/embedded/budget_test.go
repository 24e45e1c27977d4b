package embedded_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go"

	"github.com/faultline-dev/faultline/targets/dynamodb/dynamodbtest"
	"github.com/faultline-dev/faultline/targets/dynamodb/embedded"
)

// The backend holds at most its budget of request bytes at once, across
// all requests: a request that finds it spent waits briefly, then is
// throttled as DynamoDB throttles; a body larger than the whole budget gets
// 413 without being read; once the bytes are given back, requests go
// through again.
func TestBodyBudgetAcrossRequests(t *testing.T) {
	const budget = 1 << 20
	srv := dynamodbtest.Start(t, embedded.WithBodyBudget(budget))
	host := strings.TrimPrefix(srv.Endpoint(), "http://")

	// A slow client holds 900 KB of the budget: it sends its headers and
	// only part of its body.
	slow, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	const held = 900 << 10
	fmt.Fprintf(slow, "POST / HTTP/1.1\r\nHost: %s\r\nX-Amz-Target: DynamoDB_20120810.ListTables\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: %d\r\n\r\n{", host, held)
	waitFor(t, func() bool { return post(t, host, 0) != "" }) // the server is up

	// Give the server a moment to take the slow body's bytes.
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := post(t, host, 200<<10) // 200 KB more than the budget has left
		if strings.Contains(got, "ThrottlingException") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a request over the budget got %q, want a ThrottlingException", got)
		}
	}
	// A small one still fits.
	if got := post(t, host, 10<<10); !strings.HasPrefix(got, "400 ") || strings.Contains(got, "Throttling") {
		// (its body is not JSON DynamoDB knows: a 400 of another kind is the answer)
		t.Errorf("a request that fits got %q", got)
	}
	// Larger than the whole budget: 413, unread.
	if got := post(t, host, 2<<20); !strings.HasPrefix(got, "413 ") {
		t.Errorf("a body larger than the budget got %q, want 413", got)
	}
	// The slow client finishes; its bytes come back and the same request
	// that was throttled goes through.
	if _, err := io.WriteString(slow, strings.Repeat(" ", held-2)+"}"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(slow), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("the slow request: %v %v", resp, err)
	}
	resp.Body.Close()
	if got := post(t, host, 200<<10); strings.Contains(got, "Throttling") {
		t.Errorf("after the slow request ended: %q", got)
	}
}

// The SDK reads the backend's throttling as DynamoDB's: a
// ThrottlingException (which its retryer backs off from).
func TestBudgetThrottlingIsDynamoDBs(t *testing.T) {
	srv := dynamodbtest.Start(t, embedded.WithBodyBudget(1024))
	host := strings.TrimPrefix(srv.Endpoint(), "http://")
	slow, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	fmt.Fprintf(slow, "POST / HTTP/1.1\r\nHost: %s\r\nX-Amz-Target: DynamoDB_20120810.ListTables\r\nContent-Length: 900\r\n\r\n{", host)
	c := dynamodbtest.Client(t, srv.Endpoint())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err = c.ListTables(ctx, &dynamodb.ListTablesInput{ExclusiveStartTableName: aws.String(strings.Repeat("t", 200))},
			func(o *dynamodb.Options) { o.RetryMaxAttempts = 1 })
		var api smithy.APIError
		if errors.As(err, &api) && api.ErrorCode() == "ThrottlingException" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ListTables over the budget: %v; want a ThrottlingException", err)
		}
	}
}

// post sends a ListTables with a body of n bytes (0: an empty object) and
// returns the status line and body.
func post(t *testing.T, host string, n int) string {
	t.Helper()
	body := "{}"
	if n > 2 {
		body = "{" + strings.Repeat(" ", n-2) + "}"
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+host+"/", strings.NewReader(body))
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810.PutItem")
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %s", resp.StatusCode, b)
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
