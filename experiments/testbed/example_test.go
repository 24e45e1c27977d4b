package testbed_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/faultline-dev/faultline/experiments/testbed"
)

// A Go team's failover code under test: read from the current region; on
// an error move to the next one, and try the primary again after a second.
type store struct {
	dbs       []*dynamodb.Client
	current   int
	awaySince time.Time
	failbacks int // tries of the primary after a second away
}

func (s *store) get(ctx context.Context, key string) error {
	if s.current != 0 && time.Since(s.awaySince) > time.Second {
		s.current = 0
		s.failbacks++
	}
	_, err := s.dbs[s.current].GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("faultline"),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: key}}})
	if err != nil {
		s.current, s.awaySince = (s.current+1)%len(s.dbs), time.Now()
	}
	return err
}

// The README's example: the primary's DNS record goes empty, the code
// under test fails over, and the metrics say how fast.
func TestFailoverWhenTheRecordIsEmpty(t *testing.T) {
	tb := testbed.Start(t, testbed.Options{})
	s := &store{}
	for _, region := range []string{"us-east-1", "us-west-2"} {
		s.dbs = append(s.dbs, dynamodb.New(dynamodb.Options{Region: region, HTTPClient: tb.HTTPClient(),
			BaseEndpoint: aws.String(tb.Endpoint(region)), Retryer: retry.AddWithMaxAttempts(retry.NewStandard(), 1),
			Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""), AccountIDEndpointMode: aws.AccountIDEndpointModeDisabled}))
	}
	ctx := context.Background()
	call := func(n int) (failures int) {
		for i := 0; i < n; i++ {
			if err := s.get(ctx, "item-0001"); err != nil {
				failures++
			}
			time.Sleep(10 * time.Millisecond)
		}
		return failures
	}
	call(20)
	heal := tb.Apply(t, "dns.empty", "dynamodb.us-east-1.amazonaws.com", nil)
	// A slow machine may take over a second for the 50 calls: each try of
	// the primary after a second away fails once more, no other call may.
	if failed := call(50); failed > 1+s.failbacks {
		t.Errorf("%d calls failed while us-east-1's record was empty (%d tries of the primary); the failover should have served all but the first and those", failed, s.failbacks)
	}
	heal()
	time.Sleep(1100 * time.Millisecond) // the negative answer's TTL
	call(20)

	m := tb.Metrics()
	if m.DetectMS == nil || m.FailoverMS == nil || *m.FailoverMS > 500 {
		t.Errorf("detect %v, failover %v; want the empty answer detected and failed over within 500 ms", val(m.DetectMS), val(m.FailoverMS))
	}
	if m.RecoverMS == nil {
		t.Error("never back on us-east-1 after the heal")
	}
	if !m.FaultReached || m.Requests < 90 {
		t.Errorf("metrics %+v: want the fault to reach the code under test", m)
	}
}

func val(v *float64) any {
	if v == nil {
		return nil
	}
	return *v
}

// The resolver goes through faultline's DNS server: the real name resolves
// to the NLB's nodes, not at all while an NXDOMAIN fault is on, and again
// after its heal.
func TestResolverSeesFaults(t *testing.T) {
	tb := testbed.Start(t, testbed.Options{Regions: []string{"eu-west-1"}, TTL: time.Second})
	ctx := context.Background()
	name := "dynamodb.eu-west-1.amazonaws.com"
	addrs, err := tb.Resolver().LookupHost(ctx, name)
	if err != nil || len(addrs) != 2 {
		t.Fatalf("before: %v, %v; want the two nodes", addrs, err)
	}
	heal := tb.Apply(t, "dns.nxdomain", name, nil)
	if _, err := tb.Resolver().LookupHost(ctx, name); err == nil || !strings.Contains(err.Error(), "no such host") {
		t.Errorf("during: %v; want no such host", err)
	}
	heal()
	if addrs, err := tb.Resolver().LookupHost(ctx, name); err != nil || len(addrs) != 2 {
		t.Errorf("after: %v, %v", addrs, err)
	}
	if n := tb.Summary().Faults; len(n) != 1 || n[0].EndMS == nil {
		t.Errorf("faults in the summary: %+v; want the one, healed", n)
	}
}
