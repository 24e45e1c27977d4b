package replica_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	ddb "github.com/faultline-dev/faultline/targets/dynamodb"
	"github.com/faultline-dev/faultline/targets/dynamodb/embedded"
	"github.com/faultline-dev/faultline/targets/dynamodb/replica"
)

// clock is a region's controlled clock: real time plus an offset.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

type recorder struct {
	mu  sync.Mutex
	all []replica.Event
}

func (r *recorder) add(e replica.Event) { r.mu.Lock(); r.all = append(r.all, e); r.mu.Unlock() }
func (r *recorder) replicated(item, to string) []replica.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []replica.Event
	for _, e := range r.all {
		if e.Kind == replica.KindReplicated && e.Item == item && e.To == to {
			out = append(out, e)
		}
	}
	return out
}

// pair is two embedded regions, a and b, replicated directly (no NLB: the
// replicator's part alone), each with a clock of its own.
type pair struct {
	rep          *replica.Replicator
	a, b         *dynamodb.Client
	clockA       *clock
	clockB       *clock
	rec          *recorder
	serverA, srB *embedded.Server
}

func newPair(t *testing.T, opts ...func(*replica.Config)) *pair {
	t.Helper()
	p := &pair{clockA: &clock{}, clockB: &clock{}, rec: &recorder{}}
	var rep atomic.Pointer[replica.Replicator]
	hook := func(w embedded.Write) {
		if r := rep.Load(); r != nil {
			r.Written(replica.Write{Region: w.Region, Table: w.Table, ID: w.ID, Key: w.Key, Item: w.Item, Version: w.Version, Op: w.Op, At: w.At})
		}
	}
	ctx := context.Background()
	var err error
	if p.serverA, err = embedded.Run(ctx, embedded.WithRegion("region-a"), embedded.WithClock(p.clockA.now), embedded.WithWrites(hook)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.serverA.Terminate(ctx) })
	if p.srB, err = embedded.Run(ctx, embedded.WithRegion("region-b"), embedded.WithClock(p.clockB.now), embedded.WithWrites(hook)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.srB.Terminate(ctx) })
	p.a, p.b = client(p.serverA.Endpoint()), client(p.srB.Endpoint())
	for _, c := range []*dynamodb.Client{p.a, p.b} {
		if err := ddb.Seed(ctx, c, "orders", 0); err != nil {
			t.Fatal(err)
		}
	}
	cfg := replica.Config{Observer: p.rec.add, Peers: []replica.Peer{
		{Region: "region-a", Endpoint: p.serverA.Endpoint(), Client: &http.Client{}},
		{Region: "region-b", Endpoint: p.srB.Endpoint(), Client: &http.Client{}},
	}}
	for _, o := range opts {
		o(&cfg)
	}
	r, err := replica.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	rep.Store(r)
	p.rep = r
	return p
}

func client(endpoint string) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials:           credentials.NewStaticCredentialsProvider("a", "b", ""),
		AccountIDEndpointMode: aws.AccountIDEndpointModeDisabled})
}

func put(t *testing.T, c *dynamodb.Client, key string, v int) {
	t.Helper()
	if _, err := c.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String("orders"), Item: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: key}, "v": &types.AttributeValueMemberN{Value: strconv.Itoa(v)}}}); err != nil {
		t.Fatal(err)
	}
}

func version(t *testing.T, c *dynamodb.Client, key string) int {
	t.Helper()
	out, err := c.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String("orders"),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: key}}})
	if err != nil {
		t.Fatal(err)
	}
	if out.Item == nil {
		return -1
	}
	n, _ := strconv.Atoi(out.Item["v"].(*types.AttributeValueMemberN).Value)
	return n
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Last writer wins by the acknowledgement's stamp, not by arrival: region
// a's clock runs an hour ahead, so its write wins although b wrote later
// in real time; b's write, arriving late at a, is superseded there, and
// both replicas end with a's.
func TestLastWriterWinsByStamp(t *testing.T) {
	p := newPair(t)
	p.clockA.offset.Store(int64(time.Hour))
	resume, err := p.rep.Pause("region-a", replica.Both, "f1")
	if err != nil {
		t.Fatal(err)
	}
	put(t, p.a, "k", 1) // stamped now+1h
	put(t, p.b, "k", 2) // later in real time, stamped now
	resume()
	eventually(t, "both directions", func() bool {
		return len(p.rec.replicated("k", "region-a")) == 1 && len(p.rec.replicated("k", "region-b")) == 1
	})
	if e := p.rec.replicated("k", "region-a")[0]; e.Status != replica.Superseded || e.Region != "region-b" {
		t.Errorf("b's write at a: %+v, want superseded", e)
	}
	if e := p.rec.replicated("k", "region-b")[0]; e.Status != replica.Applied || *e.Version != 1 {
		t.Errorf("a's write at b: %+v, want applied", e)
	}
	if va, vb := version(t, p.a, "k"), version(t, p.b, "k"); va != 1 || vb != 1 {
		t.Errorf("replicas disagree or the older write won: a=%d b=%d, want 1 and 1", va, vb)
	}

	// Now b's clock runs ahead of a's: a late replicated write of a loses
	// to b's newer local one; a delete is a write too (its tombstone wins
	// over an older put).
	p.clockA.offset.Store(0)
	p.clockB.offset.Store(int64(2 * time.Hour))
	resume, _ = p.rep.Pause("region-b", replica.In, "f2")
	put(t, p.a, "k2", 10)
	if _, err := p.b.DeleteItem(context.Background(), &dynamodb.DeleteItemInput{TableName: aws.String("orders"),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "k2"}}}); err != nil {
		t.Fatal(err)
	}
	resume()
	eventually(t, "k2 both ways", func() bool {
		return len(p.rec.replicated("k2", "region-a")) == 1 && len(p.rec.replicated("k2", "region-b")) == 1
	})
	if e := p.rec.replicated("k2", "region-b")[0]; e.Status != replica.Superseded {
		t.Errorf("a's put of k2 at b: %+v, want superseded by b's newer delete", e)
	}
	if va, vb := version(t, p.a, "k2"), version(t, p.b, "k2"); va != -1 || vb != -1 {
		t.Errorf("k2: a=%d b=%d, want deleted in both", va, vb)
	}
}

// Every write kind replicates: PutItem, UpdateItem, DeleteItem,
// BatchWriteItem; lag holds them back at least that long.
func TestEveryWriteReplicatesAfterItsLag(t *testing.T) {
	p := newPair(t, func(c *replica.Config) { c.Lag = 50 * time.Millisecond })
	ctx := context.Background()
	put(t, p.a, "p", 1)
	if _, err := p.a.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("orders"),
		Key:              map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "u"}},
		UpdateExpression: aws.String("SET v = :v"), ExpressionAttributeValues: map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: "3"}}}); err != nil {
		t.Fatal(err)
	}
	put(t, p.a, "d", 4)
	if _, err := p.a.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String("orders"),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "d"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.a.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{"orders": {
		{PutRequest: &types.PutRequest{Item: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "b"}, "v": &types.AttributeValueMemberN{Value: "5"}}}}}}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "every write at b", func() bool {
		return version(t, p.b, "p") == 1 && version(t, p.b, "u") == 3 && version(t, p.b, "b") == 5 && len(p.rec.replicated("d", "region-b")) == 2
	})
	if v := version(t, p.b, "d"); v != -1 {
		t.Errorf("d at b: v=%d, want deleted", v)
	}
	for _, item := range []string{"p", "u", "d", "b"} {
		for _, e := range p.rec.replicated(item, "region-b") {
			if e.Time.Sub(e.Written) < 50*time.Millisecond {
				t.Errorf("%s (%s) applied %s after it was written, before its 50ms lag", item, e.Op, e.Time.Sub(e.Written))
			}
		}
	}
}

// A full backlog drops (and says so) rather than grow.
func TestBacklogIsBounded(t *testing.T) {
	p := newPair(t, func(c *replica.Config) { c.Backlog = 3 })
	resume, _ := p.rep.Pause("region-a", replica.Out, "f1")
	for i := range 5 {
		put(t, p.a, "k"+strconv.Itoa(i), i)
	}
	if got := p.rep.Backlog("region-a", "region-b"); got != 3 {
		t.Errorf("backlog %d, want 3", got)
	}
	dropped := 0
	for i := range 5 {
		for _, e := range p.rec.replicated("k"+strconv.Itoa(i), "region-b") {
			if e.Status == replica.Dropped {
				dropped++
			}
		}
	}
	if dropped != 2 {
		t.Errorf("%d dropped, want 2", dropped)
	}
	resume()
	eventually(t, "the three queued", func() bool { return version(t, p.b, "k2") == 2 })
}

// Closing reports what was still queued as dropped.
func TestCloseDropsTheBacklog(t *testing.T) {
	p := newPair(t)
	p.rep.Pause("region-a", replica.Out, "f1")
	put(t, p.a, "k", 1)
	p.rep.Close()
	if es := p.rec.replicated("k", "region-b"); len(es) != 1 || es[0].Status != replica.Dropped {
		t.Errorf("after Close: %+v, want one dropped", es)
	}
}

// A replicated write sent twice (a retry after a timeout) is applied once
// and answered applied both times; an older one is superseded.
func TestReplicatedWriteIsIdempotent(t *testing.T) {
	p := newPair(t)
	send := func(ns int64) string {
		body := `{"TableName":"orders","Item":{"pk":{"S":"r"},"v":{"N":"` + strconv.FormatInt(ns, 10) + `"}}}`
		req, _ := http.NewRequest(http.MethodPost, p.srB.Endpoint()+"/", strings.NewReader(body))
		req.Header.Set("X-Amz-Target", "DynamoDB_20120810.PutItem")
		req.Header.Set("Content-Type", "application/x-amz-json-1.0")
		req.Header.Set(embedded.ReplicaStampHeader, strconv.FormatInt(ns, 10))
		req.Header.Set(embedded.ReplicaSourceHeader, "region-a")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("HTTP %d", resp.StatusCode)
		}
		return resp.Header.Get(embedded.ReplicaStatusHeader)
	}
	if a, b, c := send(100), send(100), send(50); a != "applied" || b != "applied" || c != "superseded" {
		t.Errorf("first %q, again %q, older %q; want applied, applied, superseded", a, b, c)
	}
	if v := version(t, p.b, "r"); v != 100 {
		t.Errorf("v=%d, want 100", v)
	}
}
