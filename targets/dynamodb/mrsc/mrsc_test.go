package mrsc_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/faultline-dev/faultline/targets/dynamodb"
	"github.com/faultline-dev/faultline/targets/dynamodb/dynamodbtest"
	"github.com/faultline-dev/faultline/targets/dynamodb/embedded"
	"github.com/faultline-dev/faultline/targets/dynamodb/mrsc"
	"github.com/faultline-dev/faultline/targets/links"
)

const table = "orders"

var regions = []string{"us-east-1", "us-east-2", "us-west-2"}

// world is three embedded backends, each behind its replica, each reached by
// the others through a link of its own (toxiproxy): taking a region's link
// down cuts it off the others, both ways.
type world struct {
	g       *mrsc.Group
	servers map[string]*embedded.Server
	links   map[string]*links.Link
	clients map[string]*ddb.Client

	mu     sync.Mutex
	events []mrsc.Event
}

func newWorld(t *testing.T, retry time.Duration) *world {
	t.Helper()
	return newWorldWitness(t, retry, "")
}

// newWorldWitness is newWorld with witness's replica the table's witness.
func newWorldWitness(t *testing.T, retry time.Duration, witness string) *world {
	t.Helper()
	w := &world{servers: map[string]*embedded.Server{}, links: map[string]*links.Link{}, clients: map[string]*ddb.Client{}}
	hub := links.NewHub()
	t.Cleanup(func() { hub.Close() })
	peerClient := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	t.Cleanup(peerClient.CloseIdleConnections)
	g, err := mrsc.New(mrsc.Config{
		Regions: regions,
		Witness: witness,
		Peer: func(from, to string) (string, *http.Client, error) {
			return "http://" + w.links[to].Addr(), peerClient, nil
		},
		Timeout:  2 * time.Second, // a bound for a busy machine; isolation is refused at once
		Retry:    retry,
		Observer: func(e mrsc.Event) { w.mu.Lock(); w.events = append(w.events, e); w.mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	w.g = g
	for _, r := range regions {
		var herr error
		s := dynamodbtest.Start(t, embedded.WithRegion(r), embedded.WithHandler(func(next http.Handler) http.Handler {
			h, err := g.Handler(r, next)
			herr = err
			return h
		}))
		if herr != nil {
			t.Fatal(herr)
		}
		w.servers[r] = s
		l, err := hub.Add(r, s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		w.links[r] = l
		c := ddb.New(ddb.Options{}, func(o *ddb.Options) {
			*o = dynamodbtest.NewClient(s.Endpoint(), r).Options()
			o.RetryMaxAttempts = 1 // every failure seen as it is
		})
		w.clients[r] = c
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := dynamodb.Seed(ctx, c, table, 5); err != nil {
			cancel()
			t.Fatal(err)
		}
		cancel()
	}
	if err := g.Start(); err != nil {
		t.Fatal(err)
	}
	return w
}

func key(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: id}}
}

func (w *world) put(t *testing.T, region, id string, v int) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := w.clients[region].PutItem(ctx, &ddb.PutItemInput{TableName: aws.String(table), Item: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: id}, "v": &types.AttributeValueMemberN{Value: strconv.Itoa(v)}}})
	return err
}

// get reads v of item id in region (-1: no item).
func (w *world) get(t *testing.T, region, id string, consistent bool) (int, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := w.clients[region].GetItem(ctx, &ddb.GetItemInput{TableName: aws.String(table), Key: key(id), ConsistentRead: aws.Bool(consistent)})
	if err != nil {
		return 0, err
	}
	if out.Item == nil {
		return -1, nil
	}
	n, _ := strconv.Atoi(out.Item["v"].(*types.AttributeValueMemberN).Value)
	return n, nil
}

func mustGet(t *testing.T, w *world, region, id string, consistent bool) int {
	t.Helper()
	v, err := w.get(t, region, id, consistent)
	if err != nil {
		t.Fatalf("reading %s in %s (consistent %v): %v", id, region, consistent, err)
	}
	return v
}

// eventually waits (bounded) until f holds.
func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 15s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestMajorityWriteReadAndIsolation(t *testing.T) {
	w := newWorld(t, 50*time.Millisecond)

	// All three up: a write in us-west-2 is read at once, strongly, in us-east-1.
	if err := w.put(t, "us-west-2", "item-0001", 10); err != nil {
		t.Fatal(err)
	}
	if v := mustGet(t, w, "us-east-1", "item-0001", true); v != 10 {
		t.Fatalf("strongly consistent read in us-east-1 after the write in us-west-2: v=%d, want 10", v)
	}
	// Every replica ends up holding it, even read eventually consistently.
	for _, r := range regions {
		eventually(t, "item-0001 v=10 in "+r, func() bool { return mustGet(t, w, r, "item-0001", false) == 10 })
	}

	// us-east-1's link down: the others cannot reach it, and it cannot reach
	// them back.
	if err := w.links["us-east-1"].Down(); err != nil {
		t.Fatal(err)
	}
	// The majority side writes and reads on.
	if err := w.put(t, "us-west-2", "item-0001", 11); err != nil {
		t.Fatalf("a write in us-west-2 with us-east-1 isolated: %v", err)
	}
	if err := w.put(t, "us-east-2", "item-0002", 20); err != nil {
		t.Fatalf("a write in us-east-2 with us-east-1 isolated: %v", err)
	}
	if v := mustGet(t, w, "us-east-2", "item-0001", true); v != 11 {
		t.Fatalf("strongly consistent read in us-east-2: v=%d, want 11", v)
	}
	// The isolated region: its writes fail with InternalServerError (HTTP
	// 500), and so do its strongly consistent reads; eventually consistent
	// reads are served, stale.
	err := w.put(t, "us-east-1", "item-0003", 30)
	var ise *types.InternalServerError
	if !errors.As(err, &ise) {
		t.Fatalf("a write in the isolated us-east-1: %v, want InternalServerError", err)
	}
	if _, err := w.get(t, "us-east-1", "item-0001", true); !errors.As(err, &ise) {
		t.Fatalf("a strongly consistent read in the isolated us-east-1: %v, want InternalServerError", err)
	}
	if v := mustGet(t, w, "us-east-1", "item-0001", false); v != 10 {
		t.Fatalf("an eventually consistent read in the isolated us-east-1: v=%d, want the stale 10", v)
	}
	if v := mustGet(t, w, "us-east-1", "item-0003", false); v != 3 {
		t.Fatalf("the failed write in us-east-1 left item-0003 at v=%d, want the seeded 3", v)
	}
	if p := w.g.Pending()["us-east-1"]; p == 0 {
		t.Fatalf("nothing owed to the isolated us-east-1")
	}

	// Heal: us-east-1 catches up and writes again.
	if err := w.links["us-east-1"].Up(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "us-east-1 caught up", func() bool {
		return mustGet(t, w, "us-east-1", "item-0001", false) == 11 && mustGet(t, w, "us-east-1", "item-0002", false) == 20
	})
	eventually(t, "nothing owed", func() bool { return w.g.Pending()["us-east-1"] == 0 })
	if err := w.put(t, "us-east-1", "item-0003", 31); err != nil {
		t.Fatalf("a write in us-east-1 after the heal: %v", err)
	}
	if v := mustGet(t, w, "us-west-2", "item-0003", true); v != 31 {
		t.Fatalf("strongly consistent read in us-west-2 of us-east-1's write: v=%d, want 31", v)
	}

	// The journal's view: each acknowledged write once, in its region, and
	// replicated to at least one other region.
	w.mu.Lock()
	defer w.mu.Unlock()
	writes, replicated := map[string]int{}, map[string]bool{}
	for _, e := range w.events {
		id := e.Region + " " + e.Item + " " + strconv.FormatInt(*e.Version, 10)
		switch e.Kind {
		case mrsc.KindWrite:
			writes[id]++
			if e.Op != "PutItem" || e.Table != table {
				t.Errorf("write event %+v", e)
			}
		case mrsc.KindReplicated:
			replicated[id] = true
			if e.Status != "applied" || e.To == e.Region || e.Written.IsZero() {
				t.Errorf("replicated event %+v", e)
			}
		}
	}
	for _, id := range []string{"us-west-2 item-0001 10", "us-west-2 item-0001 11", "us-east-2 item-0002 20", "us-east-1 item-0003 31"} {
		if writes[id] != 1 || !replicated[id] {
			t.Errorf("%s: %d write events, replicated %v; want 1 and true", id, writes[id], replicated[id])
		}
	}
	if writes["us-east-1 item-0003 30"] != 0 {
		t.Errorf("the write that failed was journaled as acknowledged")
	}
}

// A write of an item that a write from another region holds fails with
// ReplicatedWriteConflictException; once that write ends, it goes through.
func TestConflictingWrite(t *testing.T) {
	w := newWorld(t, 50*time.Millisecond)
	// A write from us-west-2 in progress: its prepare has reserved the item
	// at the other two replicas.
	in := map[string]any{"From": "us-west-2", "ID": 99, "Lock": true,
		"Keys": []map[string]any{{"Table": table, "Key": map[string]any{"pk": map[string]string{"S": "item-0004"}}}}}
	for _, r := range []string{"us-east-1", "us-east-2"} {
		if code := peerPost(t, w, r, "prepare", in); code != http.StatusOK {
			t.Fatalf("prepare at %s: HTTP %d", r, code)
		}
	}
	err := w.put(t, "us-east-1", "item-0004", 40)
	var rwc *types.ReplicatedWriteConflictException
	if !errors.As(err, &rwc) {
		t.Fatalf("a write in us-east-1 of an item us-west-2 is modifying: %v, want ReplicatedWriteConflictException", err)
	}
	if code := httpStatus(err); code != http.StatusBadRequest {
		t.Errorf("HTTP %d, want 400", code)
	}
	// A write of another item is not held up.
	if err := w.put(t, "us-east-1", "item-0000", 1); err != nil {
		t.Fatalf("a write of another item: %v", err)
	}
	// us-west-2's write aborts: the item is free again.
	for _, r := range []string{"us-east-1", "us-east-2"} {
		peerPost(t, w, r, "abort", in)
	}
	if err := w.put(t, "us-east-1", "item-0004", 41); err != nil {
		t.Fatalf("the write once the item is free: %v", err)
	}
	if v := mustGet(t, w, "us-west-2", "item-0004", true); v != 41 {
		t.Fatalf("v=%d, want 41", v)
	}
}

// A conditional write evaluates its condition against the latest version,
// even in a replica that missed it; a strongly consistent read returns it
// without waiting for redelivery.
func TestConditionOnLatestVersion(t *testing.T) {
	w := newWorld(t, time.Hour) // no redelivery during the test
	if err := w.links["us-east-1"].Down(); err != nil {
		t.Fatal(err)
	}
	if err := w.put(t, "us-west-2", "item-0001", 7); err != nil {
		t.Fatal(err)
	}
	if err := w.links["us-east-1"].Up(); err != nil {
		t.Fatal(err)
	}
	if v := mustGet(t, w, "us-east-1", "item-0002", false); v != 2 {
		t.Fatalf("seeded item-0002 in us-east-1: %d", v)
	}
	if v := mustGet(t, w, "us-east-1", "item-0001", false); v != 1 {
		t.Fatalf("us-east-1 should still hold the stale v=1 (no redelivery), holds %d", v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := w.clients["us-east-1"].UpdateItem(ctx, &ddb.UpdateItemInput{TableName: aws.String(table), Key: key("item-0001"),
		UpdateExpression:          aws.String("SET v = v + :one"),
		ConditionExpression:       aws.String("v = :seven"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":one": &types.AttributeValueMemberN{Value: "1"}, ":seven": &types.AttributeValueMemberN{Value: "7"}}})
	if err != nil {
		t.Fatalf("a conditional update in us-east-1 on the latest version (7): %v", err)
	}
	for _, r := range regions {
		if r == "us-east-1" {
			continue
		}
		if v := mustGet(t, w, r, "item-0001", true); v != 8 {
			t.Fatalf("strongly consistent read in %s: v=%d, want 8", r, v)
		}
	}
}

func TestConfig(t *testing.T) {
	peer := func(from, to string) (string, *http.Client, error) { return "", http.DefaultClient, nil }
	if _, err := mrsc.New(mrsc.Config{Regions: regions, Witness: "eu-west-1", Peer: peer}); err == nil {
		t.Error("a witness outside the regions accepted")
	}
	for _, rs := range [][]string{{"us-east-1", "us-west-2"}, {"a", "b", "c", "d"}, {"a", "a", "b"}} {
		if _, err := mrsc.New(mrsc.Config{Regions: rs, Peer: peer}); err == nil {
			t.Errorf("regions %v accepted", rs)
		}
	}
	g, err := mrsc.New(mrsc.Config{Regions: regions, Peer: peer})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if _, err := g.Handler("eu-west-1", http.NotFoundHandler()); err == nil {
		t.Error("a replica in a region outside the group")
	}
	if err := g.Start(); err == nil {
		t.Error("started without backends")
	}
}

func peerPost(t *testing.T, w *world, region, op string, in any) int {
	t.Helper()
	b, _ := json.Marshal(in)
	resp, err := http.Post(w.servers[region].Endpoint()+"/faultline/mrsc/"+op, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func httpStatus(err error) int {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// Writers in all three regions increment the same counters at once: every
// acknowledged increment is counted exactly once (no update lost, none
// doubled), whichever region took it, and the replicas agree afterwards.
// A write that met a conflict is retried, as an application would.
func TestConcurrentIncrementsLoseNothing(t *testing.T) {
	w := newWorld(t, 50*time.Millisecond)
	const perWriter = 15
	items := []string{"item-0000", "item-0001"}
	var acked sync.Map // item → *int64 count
	var wg sync.WaitGroup
	for _, r := range regions {
		for _, id := range items {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < perWriter; i++ {
					giveUp := time.Now().Add(60 * time.Second) // a bound, not a speed: conflicts are retried until then
					for attempt := 0; ; attempt++ {
						ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
						_, err := w.clients[r].UpdateItem(ctx, &ddb.UpdateItemInput{TableName: aws.String(table), Key: key(id),
							UpdateExpression:          aws.String("ADD n :one"),
							ExpressionAttributeValues: map[string]types.AttributeValue{":one": &types.AttributeValueMemberN{Value: "1"}}})
						cancel()
						if err == nil {
							c, _ := acked.LoadOrStore(id, new(int64))
							w.mu.Lock()
							*c.(*int64)++
							w.mu.Unlock()
							break
						}
						var rwc *types.ReplicatedWriteConflictException
						if !errors.As(err, &rwc) || time.Now().After(giveUp) {
							t.Errorf("increment in %s: %v (attempt %d)", r, err, attempt)
							return
						}
						time.Sleep(time.Duration(1+rand.IntN(2*min(attempt+1, 10))) * time.Millisecond) // jittered back-off
					}
				}
			}()
		}
	}
	wg.Wait()
	for _, id := range items {
		c, _ := acked.Load(id)
		want := *c.(*int64)
		if want != int64(len(regions)*perWriter) {
			t.Errorf("%s: %d increments acknowledged, want %d", id, want, len(regions)*perWriter)
		}
		for _, r := range regions {
			eventually(t, id+" agreed in "+r, func() bool {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				out, err := w.clients[r].GetItem(ctx, &ddb.GetItemInput{TableName: aws.String(table), Key: key(id)})
				if err != nil || out.Item["n"] == nil {
					return false
				}
				n, _ := strconv.ParseInt(out.Item["n"].(*types.AttributeValueMemberN).Value, 10, 64)
				return n == want
			})
		}
	}
}

// Two replicas and a witness: the witness's region serves no client (no
// replica table there), but it makes the majority for a replica whose
// fellow replica is cut off, and hands that replica the write after the heal.
func TestWitness(t *testing.T) {
	w := newWorldWitness(t, time.Hour, "us-west-2") // no redelivery: the heal's catch-up is the read's
	_, err := w.get(t, "us-west-2", "item-0001", false)
	var rnf *types.ResourceNotFoundException
	if !errors.As(err, &rnf) {
		t.Fatalf("a read in the witness's region: %v, want ResourceNotFoundException", err)
	}
	if err := w.put(t, "us-west-2", "item-0001", 5); !errors.As(err, &rnf) {
		t.Fatalf("a write in the witness's region: %v, want ResourceNotFoundException", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := w.clients["us-west-2"].ListTables(ctx, &ddb.ListTablesInput{}); err != nil || len(out.TableNames) != 0 {
		t.Fatalf("ListTables in the witness's region: %v, %v; want none", out, err)
	}

	if err := w.links["us-east-2"].Down(); err != nil {
		t.Fatal(err)
	}
	if err := w.put(t, "us-east-1", "item-0001", 50); err != nil {
		t.Fatalf("a write in us-east-1 with the other replica cut off (the witness makes the majority): %v", err)
	}
	var ise *types.InternalServerError
	if err := w.put(t, "us-east-2", "item-0002", 60); !errors.As(err, &ise) {
		t.Fatalf("a write in the isolated us-east-2: %v, want InternalServerError", err)
	}
	if err := w.links["us-east-2"].Up(); err != nil {
		t.Fatal(err)
	}
	if v := mustGet(t, w, "us-east-2", "item-0001", true); v != 50 {
		t.Fatalf("strongly consistent read in us-east-2 after the heal: v=%d, want 50", v)
	}
	// Both replicas cut off from each other and the witness down: nothing commits.
	if err := w.links["us-west-2"].Down(); err != nil {
		t.Fatal(err)
	}
	if err := w.links["us-east-2"].Down(); err != nil {
		t.Fatal(err)
	}
	if err := w.put(t, "us-east-1", "item-0001", 51); !errors.As(err, &ise) {
		t.Fatalf("a write in us-east-1 with neither the witness nor the other replica: %v, want InternalServerError", err)
	}
}
