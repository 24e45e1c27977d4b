package embedded

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/faultline-dev/faultline/targets/dynamodb/attr"
)

// Global tables: the embedded backend keeps, beside every item, the
// last-writer-wins stamp of the write that made it (or deleted it: a
// tombstone), as DynamoDB keeps one hidden per item. A write a client makes
// is stamped with the backend's clock at acknowledgement and reported to
// the Write hook; a write a replicator applies arrives with its source's
// stamp in the headers below and is applied only when its stamp is newer
// than the item's (else it is superseded: answered 200 with
// ReplicaStatusHeader "superseded", nothing changed).

// The headers of a replicated write (PutItem with the whole item, or
// DeleteItem) through the ordinary DynamoDB API. A backend that does not
// know them (DynamoDB Local) applies the write unconditionally: the
// replicator then keeps last-writer-wins itself (targets/dynamodb/replica).
const (
	ReplicaStampHeader  = "X-Faultline-Replica-Stamp"  // the source's acknowledgement, Unix nanoseconds
	ReplicaSourceHeader = "X-Faultline-Replica-Source" // the source region (breaks ties of equal stamps)
	ReplicaStatusHeader = "X-Faultline-Replica"        // answer: applied or superseded
)

// Write is one write a client made and the backend acknowledged, as the
// Write hook sees it: the table, the item's key and its new image (nil: it
// was deleted), both in DynamoDB JSON, and the stamp.
type Write struct {
	Table string
	Key   json.RawMessage // {"pk":{"S":"item-0001"}}
	Item  json.RawMessage // the whole new item; nil for a delete
	// ID is the key as text (the partition key's value, and "|" and the
	// sort key's when there is one), for the journal.
	ID string
	// Version is the item's numeric "v" attribute, when it has one that
	// fits an int64.
	Version *int64
	Op      string    // PutItem, UpdateItem, DeleteItem, BatchWriteItem
	At      time.Time // the acknowledgement: the last-writer-wins stamp
	Region  string
}

// WithWrites hands every write a client makes to f, in the order the
// backend applied them, while the backend holds its lock: f must be quick
// (enqueue, not send). Replicated writes are not handed on.
func WithWrites(f func(Write)) Option { return func(c *config) { c.writes = f } }

// WithClock sets the clock that stamps writes (tests skew a region's).
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// stamp orders two writes of one item: the newer acknowledgement wins;
// equal ones are ordered by region name, so every replica picks the same.
type stamp struct {
	ns     int64
	region string
}

func (a stamp) newer(b stamp) bool {
	if a.ns != b.ns {
		return a.ns > b.ns
	}
	return a.region > b.region
}

// wrote stamps a client's write of key k in t (item nil: deleted) and hands
// it to the hook. The caller holds d.mu.
func (d *db) wrote(t *table, k string, key attr.Item, item attr.Item, op string) {
	now := d.now()
	st := stamp{ns: now.UnixNano(), region: d.region}
	if old, ok := t.stamps[k]; ok && !st.newer(old) {
		// The clock went back, or a replicated write carried a stamp from
		// a region whose clock runs ahead: this write is still the newest
		// here, so its stamp follows the item's.
		st.ns = old.ns + 1
		now = time.Unix(0, st.ns)
	}
	t.stamps[k] = st
	if d.writes == nil {
		return
	}
	w := Write{Table: t.name, Op: op, At: now, Region: d.region, ID: t.keyText(key)}
	w.Key, _ = json.Marshal(key)
	if item != nil {
		w.Item, _ = json.Marshal(item)
		w.Version = version(item)
	}
	d.writes(w)
}

// keyText is a key as text: the partition key's value, then "|" and the
// sort key's.
func (t *table) keyText(key attr.Item) string {
	s := key[t.hash.name].Str
	if t.rng != nil {
		s += "|" + key[t.rng.name].Str
	}
	return s
}

// version is an item's numeric "v" attribute, when it fits an int64.
func version(it attr.Item) *int64 {
	v, ok := it["v"]
	if !ok || v.Type != attr.N {
		return nil
	}
	i, err := strconv.ParseInt(v.Str, 10, 64)
	if err != nil {
		return nil
	}
	return &i
}

// replicated applies a write a replicator sends (PutItem with the whole
// item, or DeleteItem, no expressions) when its stamp is newer than the
// item's; superseded says it was not.
func (d *db) replicated(op string, raw []byte, st stamp) (superseded bool, aerr *apiError) {
	var in struct {
		TableName string
		Item      attr.Item
		Key       attr.Item
	}
	if err := decode(raw, &in); err != nil {
		return false, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	t, aerr := d.table(in.TableName)
	if aerr != nil {
		return false, aerr
	}
	key := in.Key
	switch op {
	case "PutItem":
		if aerr := t.checkItemKey(in.Item); aerr != nil {
			return false, aerr
		}
		key = t.keyOf(in.Item)
	case "DeleteItem":
		if aerr := t.checkKey(in.Key); aerr != nil {
			return false, aerr
		}
	default:
		return false, validation("a replicated write is a PutItem or a DeleteItem, got %s", op)
	}
	k := t.encodeKey(key)
	if old, ok := t.stamps[k]; ok && !st.newer(old) {
		// Its own stamp: the same write sent again (a retry after a
		// timeout), already applied.
		return old != st, nil
	}
	t.stamps[k] = st
	if op == "PutItem" {
		t.items[k] = attr.CopyItem(in.Item)
	} else {
		delete(t.items, k)
	}
	return false, nil
}

// replicaStamp reads a replicated write's headers; ok is false when the
// request is a client's.
func replicaStamp(h interface{ Get(string) string }) (stamp, bool) {
	s := h.Get(ReplicaStampHeader)
	if s == "" {
		return stamp{}, false
	}
	ns, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return stamp{}, false
	}
	return stamp{ns: ns, region: h.Get(ReplicaSourceHeader)}, true
}
