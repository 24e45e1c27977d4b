package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/faultline-dev/faultline/targets/dynamodb/replica"
	"github.com/faultline-dev/faultline/targets/nlb"
	"github.com/faultline-dev/faultline/targets/topology"
)

// The global table's replication under load (make bench-replication):
// writers put items in us-east-1 through its NLB as fast as they are
// acknowledged, for a fixed time; the replicator carries every write to
// us-west-2 through that region's NLB. The peer is the writers themselves:
// the clients' acknowledged writes/s beside the writes/s replicated, and
// how long a write took to arrive (lag from its acknowledgement to its
// application at us-west-2), with the table's lag at 0.
func init() { registerOptIn("replication", benchReplication) }

const (
	replWriters  = 8
	replDuration = 5 * time.Second
)

func benchReplication(ctx context.Context, out *os.File) error {
	var mu sync.Mutex
	var lags []time.Duration
	var applied, superseded, dropped atomic.Int64
	hc := nlb.DefaultHealthCheck()
	cfg := topology.Config{Zone: "amazonaws.com.", RecordTTL: 5 * time.Second, NegativeTTL: 5 * time.Second, Table: "bench", Items: 1,
		Global: &topology.Global{},
		ReplicaObserver: func(e replica.Event) {
			if e.Kind != replica.KindReplicated {
				return
			}
			switch e.Status {
			case replica.Applied:
				applied.Add(1)
				mu.Lock()
				lags = append(lags, e.Time.Sub(e.Written))
				mu.Unlock()
			case replica.Superseded:
				superseded.Add(1)
			case replica.Dropped:
				dropped.Add(1)
			}
		},
		Regions: []topology.Region{
			{Name: "us-east-1", Endpoint: "dynamodb.us-east-1.amazonaws.com.", Nodes: 2, Targets: 2, HealthCheck: hc},
			{Name: "us-west-2", Endpoint: "dynamodb.us-west-2.amazonaws.com.", Nodes: 2, Targets: 2, HealthCheck: hc},
		}}
	w, err := topology.Build(ctx, cfg)
	if err != nil {
		return err
	}
	defer w.Close()
	url, _ := w.EndpointURL("us-east-1")
	dnsAddr := w.DNSAddr()
	resolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, dnsAddr)
	}}
	client := awsddb.New(awsddb.Options{Region: "us-east-1", BaseEndpoint: aws.String(url),
		Credentials:           credentials.NewStaticCredentialsProvider("a", "b", ""),
		AccountIDEndpointMode: aws.AccountIDEndpointModeDisabled,
		HTTPClient:            awshttp.NewBuildableClient().WithDialerOptions(func(d *net.Dialer) { d.Resolver = resolver })})
	var acked atomic.Int64
	stop := time.Now().Add(replDuration)
	var wg sync.WaitGroup
	for i := range replWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; time.Now().Before(stop) && ctx.Err() == nil; n++ {
				_, err := client.PutItem(ctx, &awsddb.PutItemInput{TableName: aws.String("bench"), Item: map[string]types.AttributeValue{
					"pk": &types.AttributeValueMemberS{Value: fmt.Sprintf("w%d-%d", i, n%1000)},
					"v":  &types.AttributeValueMemberN{Value: strconv.Itoa(n)}}})
				if err == nil {
					acked.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	writing := replDuration.Seconds()
	backlog := w.Replicator().Backlog("us-east-1", "us-west-2")
	// Drain: how long the backlog takes to arrive after the writers stop.
	drainStart := time.Now()
	for w.Replicator().Backlog("us-east-1", "us-west-2") > 0 && time.Since(drainStart) < time.Minute {
		time.Sleep(10 * time.Millisecond)
	}
	drain := time.Since(drainStart)
	mu.Lock()
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	q := func(p float64) time.Duration {
		if len(lags) == 0 {
			return 0
		}
		return lags[min(len(lags)-1, int(p*float64(len(lags))))]
	}
	fmt.Fprintf(out, "   two regions, embedded backend, %d writers on us-east-1 for %s (through DNS and the NLBs both ways)\n", replWriters, replDuration)
	fmt.Fprintf(out, "   %-38s %10.0f writes/s\n", "acknowledged to clients in us-east-1", float64(acked.Load())/writing)
	fmt.Fprintf(out, "   %-38s %10.0f writes/s (%d applied, %d superseded, %d dropped)\n", "replicated to us-west-2",
		float64(applied.Load())/(writing+drain.Seconds()), applied.Load(), superseded.Load(), dropped.Load())
	fmt.Fprintf(out, "   %-38s %10d writes, drained in %s (%.0f writes/s without writers)\n", "backlog when the writers stopped", backlog,
		drain.Round(time.Millisecond), float64(backlog)/max(drain.Seconds(), 1e-3))
	fmt.Fprintf(out, "   %-38s p50 %s, p99 %s, max %s\n", "lag (acknowledged → applied)", q(0.50).Round(time.Microsecond),
		q(0.99).Round(time.Microsecond), q(1).Round(time.Microsecond))
	lags = nil
	mu.Unlock()

	// The same world at a modest, paced rate: the replicator's own lag
	// when it is not competing with the writers for the two cores.
	const paced, pacedFor = 200, 3 * time.Second
	tick := time.NewTicker(time.Second / paced)
	for n, end := 0, time.Now().Add(pacedFor); time.Now().Before(end) && ctx.Err() == nil; n++ {
		<-tick.C
		client.PutItem(ctx, &awsddb.PutItemInput{TableName: aws.String("bench"), Item: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: fmt.Sprintf("paced-%d", n%1000)}, "v": &types.AttributeValueMemberN{Value: strconv.Itoa(n)}}})
	}
	tick.Stop()
	for w.Replicator().Backlog("us-east-1", "us-west-2") > 0 && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	fmt.Fprintf(out, "   %-38s p50 %s, p99 %s, max %s (%d writes)\n", fmt.Sprintf("lag at %d writes/s, one writer", paced), q(0.50).Round(time.Microsecond),
		q(0.99).Round(time.Microsecond), q(1).Round(time.Microsecond), len(lags))
	return nil
}
