package topology

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/faultline-dev/faultline/targets/dnsstub/dnsstubtest"
	"github.com/faultline-dev/faultline/targets/dynamodb/replica"
)

// events collects what the replicator reports.
type events struct {
	mu  sync.Mutex
	all []replica.Event
}

func (e *events) add(ev replica.Event) { e.mu.Lock(); e.all = append(e.all, ev); e.mu.Unlock() }

func (e *events) of(kind, status string) []replica.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []replica.Event
	for _, ev := range e.all {
		if ev.Kind == kind && (status == "" || ev.Status == status) {
			out = append(out, ev)
		}
	}
	return out
}

func globalWorld(t *testing.T, lag time.Duration) (*World, *events) {
	t.Helper()
	ev := &events{}
	cfg := config()
	cfg.Global = &Global{Lag: lag}
	cfg.ReplicaObserver = ev.add
	w, err := Build(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w, ev
}

// sdk is an aws-sdk-go-v2 client of a region, through the world's DNS and
// the region's NLB.
func sdk(t *testing.T, w *World, region string) *dynamodb.Client {
	t.Helper()
	url, err := w.EndpointURL(region)
	if err != nil {
		t.Fatal(err)
	}
	resolver := dnsstubtest.GoResolver(w.DNSAddr())
	return dynamodb.New(dynamodb.Options{Region: region, BaseEndpoint: aws.String(url),
		Credentials:           credentials.NewStaticCredentialsProvider("a", "b", ""),
		AccountIDEndpointMode: aws.AccountIDEndpointModeDisabled,
		HTTPClient:            awshttp.NewBuildableClient().WithDialerOptions(func(d *net.Dialer) { d.Resolver = resolver })})
}

func put(t *testing.T, c *dynamodb.Client, key string, v int) {
	t.Helper()
	_, err := c.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String("orders"), Item: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: key}, "v": &types.AttributeValueMemberN{Value: strconv.Itoa(v)}}})
	if err != nil {
		t.Fatalf("PutItem %s: %v", key, err)
	}
}

// version reads key's "v" (-1: no item).
func version(t *testing.T, c *dynamodb.Client, key string) int {
	t.Helper()
	out, err := c.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String("orders"),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: key}}})
	if err != nil {
		t.Fatalf("GetItem %s: %v", key, err)
	}
	if out.Item == nil {
		return -1
	}
	n, _ := strconv.Atoi(out.Item["v"].(*types.AttributeValueMemberN).Value)
	return n
}

// eventually polls cond until it holds, within a generous bound (a busy
// machine is slow; the bound is not a speed claim).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A paused path holds every write; on resume they flow, in order, and the
// replicas agree.
func TestReplicationPauseBacklogResume(t *testing.T) {
	w, ev := globalWorld(t, 0)
	east, west := sdk(t, w, "us-east-1"), sdk(t, w, "us-west-2")
	undo, err := w.PauseReplication("us-east-1", replica.Out, "f1")
	if err != nil {
		t.Fatal(err)
	}
	const n = 30
	for i := range n {
		put(t, east, fmt.Sprintf("k-%02d", i), i)
	}
	put(t, east, "k-00", 100) // a second write of one item: both queue, in order
	if got := w.Replicator().Backlog("us-east-1", "us-west-2"); got != n+1 {
		t.Fatalf("backlog while paused: %d, want %d", got, n+1)
	}
	if v := version(t, west, "k-05"); v != -1 {
		t.Fatalf("us-west-2 has k-05 (v=%d) while replication out of us-east-1 is paused", v)
	}
	if got := len(ev.of(replica.KindReplicated, "")); got != 0 {
		t.Fatalf("%d writes replicated while paused", got)
	}
	// Replication into us-east-1 was not paused.
	put(t, west, "w-1", 7)
	eventually(t, "w-1 reaching us-east-1", func() bool { return version(t, east, "w-1") == 7 })
	if err := undo(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the backlogs draining", func() bool {
		return w.Replicator().Backlog("us-east-1", "us-west-2") == 0 && w.Replicator().Backlog("us-west-2", "us-east-1") == 0
	})
	for i := 1; i < n; i++ {
		if v := version(t, west, fmt.Sprintf("k-%02d", i)); v != i {
			t.Errorf("us-west-2 k-%02d: v=%d, want %d", i, v, i)
		}
	}
	if v := version(t, west, "k-00"); v != 100 {
		t.Errorf("us-west-2 k-00: v=%d, want the later write's 100", v)
	}
	applied := ev.of(replica.KindReplicated, replica.Applied)
	if len(applied) != n+2 { // and w-1
		t.Errorf("%d applied, want %d", len(applied), n+2)
	}
	states := ev.of(replica.KindReplication, "")
	if len(states) != 2 || states[0].Status != replica.Paused || states[1].Status != replica.Resumed || states[0].Fault != "f1" ||
		states[0].Region != "us-east-1" || states[0].To != "us-west-2" {
		t.Errorf("path states: %+v", states)
	}
	for _, e := range applied {
		if e.Time.Before(e.Written) {
			t.Errorf("%s applied at %s, before it was written at %s", e.Item, e.Time, e.Written)
		}
	}
	if writes := ev.of(replica.KindWrite, ""); len(writes) != n+2 {
		t.Errorf("%d writes journaled, want %d (the seeding is not)", len(writes), n+2)
	}
}

// Replication goes through the regions' data links: with the destination's
// links down, writes wait; with the source's down, too; up again, they
// arrive.
func TestLinkFaultDelaysReplication(t *testing.T) {
	w, ev := globalWorld(t, 0)
	east, west := sdk(t, w, "us-east-1"), sdk(t, w, "us-west-2")
	for _, faulty := range []string{"us-west-2", "us-east-1"} {
		key := "via-" + faulty
		ls, err := w.RegionLinks(faulty)
		if err != nil {
			t.Fatal(err)
		}
		// The write is made while replication is paused (the source's
		// links must carry the client's write first), then the links go
		// down and replication resumes.
		resume, err := w.PauseReplication("us-east-1", replica.Out, "hold")
		if err != nil {
			t.Fatal(err)
		}
		put(t, east, key, 1)
		for _, l := range ls {
			if err := l.Down(); err != nil {
				t.Fatal(err)
			}
		}
		before := len(ev.of(replica.KindReplicated, ""))
		resume()
		time.Sleep(300 * time.Millisecond) // a window in which nothing may arrive
		if got := len(ev.of(replica.KindReplicated, "")); got != before {
			t.Fatalf("%s's links down: %d writes replicated anyway", faulty, got-before)
		}
		upAt := time.Now()
		for _, l := range ls {
			if err := l.Up(); err != nil {
				t.Fatal(err)
			}
		}
		var applied []replica.Event
		eventually(t, key+" reaching us-west-2", func() bool {
			applied = nil
			for _, e := range ev.of(replica.KindReplicated, replica.Applied) {
				if e.Item == key {
					applied = append(applied, e)
				}
			}
			return len(applied) == 1
		})
		if v := version(t, west, key); v != 1 {
			t.Errorf("%s at us-west-2: v=%d, want 1", key, v)
		}
		if at := applied[0].Time; at.Before(upAt) {
			t.Errorf("%s applied at %s, before the links came up (%s)", key, at, upAt)
		}
	}
}
