package mrsc

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/faultline-dev/faultline/targets/dynamodb/attr"
)

// replica is one region's replica: the versions it holds, the items
// reserved for writes in progress, and what it owes the others.
type replica struct {
	g      *Group
	region string
	peers  []string // the other two regions
	// witness: this region's replica is the table's witness, serving no
	// client once replication is on.
	witness bool
	next    http.Handler

	applyMu sync.Mutex // one install of a peer's version at a time

	mu       sync.Mutex
	schemas  map[string]keySchema
	versions map[string]uint64           // itemKey.id() → version (0: as seeded)
	locks    map[string]*lock            // itemKey.id() → the write holding it
	pending  map[string]map[string]entry // peer → itemKey.id() → the latest version it missed
}

// lock reserves an item for one write.
type lock struct {
	origin  string // the region whose write holds it
	id      uint64
	expires time.Time
	done    chan struct{} // closed when released
}

// entry is one committed version of an item, as replicas exchange it.
type entry struct {
	Table   string
	Key     attr.Item
	Version uint64
	Item    attr.Item // nil: deleted
	Op      string    `json:",omitempty"`
	// Written is when the source acknowledged it (Unix nanoseconds).
	Written int64 `json:",omitempty"`
}

func (e entry) key() itemKey { return newItemKey(e.Table, e.Key) }

func newReplica(g *Group, region string) *replica {
	r := &replica{g: g, region: region, schemas: map[string]keySchema{}, versions: map[string]uint64{},
		locks: map[string]*lock{}, pending: map[string]map[string]entry{}}
	for _, o := range g.cfg.Regions {
		if o != region {
			r.peers = append(r.peers, o)
		}
	}
	return r
}

// The errors the replica answers with, as DynamoDB spells them.
const (
	typeConflict = "com.amazonaws.dynamodb.v20120810#ReplicatedWriteConflictException"
	typeInternal = "com.amazonaws.dynamodb.v20120810#InternalServerError"
	// msgConflict is the API model's description of the exception.
	msgConflict = "The request was rejected because one or more items in the request are being modified by a request in another Region."
	msgInternal = "Internal server error"
)

// ServeHTTP serves clients (POST /) and peers (POST /faultline/mrsc/...).
func (r *replica) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if strings.HasPrefix(req.URL.Path, peerPath) {
		r.servePeer(w, req)
		return
	}
	op := strings.TrimPrefix(req.Header.Get("X-Amz-Target"), "DynamoDB_20120810.")
	if r.witness && req.Method == http.MethodPost && r.g.started.Load() {
		r.serveWitness(w, op)
		return
	}
	if req.Method != http.MethodPost || !r.g.started.Load() || !intercepted[op] {
		if op == "CreateTable" || op == "DeleteTable" {
			r.mu.Lock()
			clear(r.schemas)
			r.mu.Unlock()
		}
		r.next.ServeHTTP(w, req)
		return
	}
	raw, err := io.ReadAll(io.LimitReader(req.Body, maxBody+1))
	if err != nil || len(raw) > maxBody {
		r.next.ServeHTTP(w, restore(req, raw)) // the backend says what is wrong with it
		return
	}
	var status int
	var body []byte
	var why string
	if writes[op] {
		status, body, why = r.write(req.Context(), op, raw)
	} else {
		status, body, why = r.strongRead(req.Context(), op, raw)
	}
	if status == 0 { // not ours to answer: an eventually consistent read, a malformed request
		r.next.ServeHTTP(w, restore(req, raw))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/x-amz-json-1.0")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if why != "" {
		h.Set("X-Faultline-Mrsc", why) // why the replica refused, for whoever debugs it
	}
	w.WriteHeader(status)
	w.Write(body)
}

// maxBody is the backend's own bound on a request (DynamoDB's: 16 MB).
const maxBody = 16 << 20

var (
	writes      = map[string]bool{"PutItem": true, "UpdateItem": true, "DeleteItem": true, "BatchWriteItem": true}
	intercepted = map[string]bool{"PutItem": true, "UpdateItem": true, "DeleteItem": true, "BatchWriteItem": true,
		"GetItem": true, "BatchGetItem": true, "Query": true, "Scan": true}
)

func restore(req *http.Request, raw []byte) *http.Request {
	req.Body = io.NopCloser(strings.NewReader(string(raw)))
	req.ContentLength = int64(len(raw))
	return req
}

func errorBody(typ, msg string) []byte {
	b, _ := json.Marshal(map[string]string{"__type": typ, "message": msg})
	return b
}

func conflict(why string) (int, []byte, string) {
	return http.StatusBadRequest, errorBody(typeConflict, msgConflict), why
}

func internal(why string) (int, []byte, string) {
	return http.StatusInternalServerError, errorBody(typeInternal, msgInternal), why
}

// keysOfWrite are the items a write touches; ok is false when the request
// is malformed (the backend answers it).
func (r *replica) keysOfWrite(ctx context.Context, op string, raw []byte) ([]itemKey, map[string]keySchema, bool) {
	schemas := map[string]keySchema{}
	var keys []itemKey
	add := func(table string, it attr.Item) bool {
		ks, ok := schemas[table]
		if !ok {
			var err error
			if ks, err = r.schema(ctx, table); err != nil {
				return false
			}
			schemas[table] = ks
		}
		k, ok := keyOf(ks, it)
		if !ok {
			return false
		}
		keys = append(keys, newItemKey(table, k))
		return true
	}
	switch op {
	case "PutItem":
		var in struct {
			TableName string
			Item      attr.Item
		}
		if json.Unmarshal(raw, &in) != nil || !add(in.TableName, in.Item) {
			return nil, nil, false
		}
	case "UpdateItem", "DeleteItem":
		var in struct {
			TableName string
			Key       attr.Item
		}
		if json.Unmarshal(raw, &in) != nil || !add(in.TableName, in.Key) {
			return nil, nil, false
		}
	case "BatchWriteItem":
		var in struct {
			RequestItems map[string][]struct {
				PutRequest    *struct{ Item attr.Item }
				DeleteRequest *struct{ Key attr.Item }
			}
		}
		if json.Unmarshal(raw, &in) != nil {
			return nil, nil, false
		}
		for _, table := range sortedKeys(in.RequestItems) {
			for _, w := range in.RequestItems[table] {
				switch {
				case w.PutRequest != nil:
					if !add(table, w.PutRequest.Item) {
						return nil, nil, false
					}
				case w.DeleteRequest != nil:
					if !add(table, w.DeleteRequest.Key) {
						return nil, nil, false
					}
				default:
					return nil, nil, false
				}
			}
		}
	}
	if len(keys) == 0 {
		return nil, nil, false
	}
	return dedupe(keys), schemas, true
}

func dedupe(keys []itemKey) []itemKey {
	seen := map[string]bool{}
	var out []itemKey
	for _, k := range keys {
		if !seen[k.id()] {
			seen[k.id()] = true
			out = append(out, k)
		}
	}
	return out
}

// write runs one client write through the protocol:
//  1. reserve the items here (a write of this region's waits for another of
//     this region's; one of another region's in progress is a conflict);
//  2. prepare: reserve them at the peers and learn their versions; a peer
//     that another region's write holds them for answers "conflict"; with
//     no peer answering, the write fails: this replica is isolated;
//  3. catch up: install here any newer version a peer holds, so the
//     write's condition and update act on the latest version;
//  4. apply the write to this region's backend (its answer is the client's);
//  5. commit the new versions at the peers that prepared; acknowledge once
//     one of them has (a majority of three), and leave what the third
//     missed to redelivery.
func (r *replica) write(ctx context.Context, op string, raw []byte) (int, []byte, string) {
	keys, schemas, ok := r.keysOfWrite(ctx, op, raw)
	if !ok {
		return 0, nil, ""
	}
	id := r.g.ids.Add(1)
	if err := r.lockLocal(ctx, keys, id); err != nil {
		return conflict(err.Error())
	}
	defer r.unlockLocal(keys, id)

	prep := r.prepare(ctx, keys, id, true)
	if prep.conflict != "" {
		r.abort(keys, id, prep.ok)
		return conflict(prep.conflict)
	}
	if len(prep.ok) == 0 {
		return internal(fmt.Sprintf("the replica in %s reached no other replica within %s: %s", r.region, r.g.cfg.Timeout, prep.errs))
	}
	base, err := r.catchUp(ctx, keys, prep)
	if err != nil {
		r.abort(keys, id, prep.ok)
		return internal(err.Error())
	}
	status, body := r.send(ctx, op, raw)
	if status != http.StatusOK {
		r.abort(keys, id, prep.ok)
		return status, body, ""
	}
	// The versions the write made.
	var entries []entry
	for _, k := range keys {
		it, err := r.read(ctx, k)
		if err != nil {
			r.rollback(keys, base)
			r.abort(keys, id, prep.ok)
			return internal(err.Error())
		}
		entries = append(entries, entry{Table: k.Table, Key: k.Key, Version: base[k.id()].Version + 1, Item: it, Op: op})
	}
	acked, when, missed, ack := r.commit(entries, id, prep.ok)
	defer ack()
	if len(acked) == 0 {
		r.rollback(keys, base)
		return internal(fmt.Sprintf("the replica in %s could not commit at %v within %s", r.region, prep.ok, r.g.cfg.Timeout))
	}
	now := time.Now()
	r.mu.Lock()
	for _, e := range entries {
		r.versions[e.key().id()] = e.Version
	}
	r.mu.Unlock()
	for i := range entries {
		entries[i].Written = now.UnixNano()
	}
	ack()
	for i, e := range entries {
		k := keys[i]
		r.g.observe(Event{Kind: KindWrite, Time: now, Region: r.region, Table: k.Table, Item: k.name(schemas[k.Table]),
			Version: version(e.Item), Op: op})
	}
	for _, to := range acked {
		r.observeReplicated(to, entries, when[to], "applied", schemas)
	}
	for _, to := range missed {
		r.owe(to, entries)
	}
	return status, body, ""
}

// lockLocal reserves keys here for this region's write id.
func (r *replica) lockLocal(ctx context.Context, keys []itemKey, id uint64) error {
	deadline := time.Now().Add(r.g.cfg.Lease)
	for _, k := range keys {
		for {
			r.mu.Lock()
			l := r.locks[k.id()]
			now := time.Now()
			if l == nil || now.After(l.expires) {
				if l != nil {
					close(l.done) // an expired reservation: whoever waits on it looks again
				}
				r.locks[k.id()] = &lock{origin: r.region, id: id, expires: now.Add(r.g.cfg.Lease), done: make(chan struct{})}
				r.mu.Unlock()
				break
			}
			if l.origin != r.region {
				r.mu.Unlock()
				r.unlockLocal(keys, id)
				return fmt.Errorf("item %s is being modified by a write from %s", k.enc, l.origin)
			}
			done := l.done
			r.mu.Unlock()
			t := time.NewTimer(time.Until(deadline))
			select {
			case <-done:
				t.Stop()
			case <-t.C:
				r.unlockLocal(keys, id)
				return fmt.Errorf("item %s stayed reserved by another write of %s for %s", k.enc, r.region, r.g.cfg.Lease)
			case <-ctx.Done():
				t.Stop()
				r.unlockLocal(keys, id)
				return ctx.Err()
			}
		}
	}
	return nil
}

// unlockLocal releases what write id holds here.
func (r *replica) unlockLocal(keys []itemKey, id uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range keys {
		if l := r.locks[k.id()]; l != nil && l.origin == r.region && l.id == id {
			close(l.done)
			delete(r.locks, k.id())
		}
	}
}

// catchUp installs here every version a peer holds that is newer than this
// replica's, and returns the latest version of each key.
func (r *replica) catchUp(ctx context.Context, keys []itemKey, prep prepared) (map[string]entry, error) {
	latest := map[string]entry{}
	r.mu.Lock()
	for _, k := range keys {
		latest[k.id()] = entry{Table: k.Table, Key: k.Key, Version: r.versions[k.id()]}
	}
	r.mu.Unlock()
	mine := map[string]uint64{}
	for id, e := range latest {
		mine[id] = e.Version
	}
	for _, es := range prep.entries {
		for _, e := range es {
			if e.Version > latest[e.key().id()].Version {
				latest[e.key().id()] = e
			}
		}
	}
	for _, k := range keys {
		e := latest[k.id()]
		if e.Version > mine[k.id()] {
			if err := r.apply(ctx, e); err != nil {
				return nil, err
			}
		}
	}
	// The pre-images, for a rollback.
	for _, k := range keys {
		it, err := r.read(ctx, k)
		if err != nil {
			return nil, err
		}
		e := latest[k.id()]
		e.Item = it
		latest[k.id()] = e
	}
	return latest, nil
}

// rollback puts back the versions a write that failed to commit replaced.
func (r *replica) rollback(keys []itemKey, base map[string]entry) {
	ctx, cancel := context.WithTimeout(context.Background(), r.g.cfg.Timeout)
	defer cancel()
	for _, k := range keys {
		r.install(ctx, k, base[k.id()].Item)
	}
}

// apply installs a committed version unless this replica holds a newer one;
// it reports whether it did.
func (r *replica) applyIfNewer(ctx context.Context, e entry) (bool, error) {
	id := e.key().id()
	r.mu.Lock()
	if r.versions[id] >= e.Version {
		r.mu.Unlock()
		return false, nil
	}
	r.mu.Unlock()
	return true, r.apply(ctx, e)
}

// apply installs e and records its version.
func (r *replica) apply(ctx context.Context, e entry) error {
	r.applyMu.Lock()
	defer r.applyMu.Unlock()
	id := e.key().id()
	r.mu.Lock()
	if r.versions[id] >= e.Version {
		r.mu.Unlock()
		return nil
	}
	r.mu.Unlock()
	if err := r.install(ctx, e.key(), e.Item); err != nil {
		return err
	}
	r.mu.Lock()
	r.versions[id] = e.Version
	r.mu.Unlock()
	return nil
}

// owe records that to missed these versions; redelivery offers them again.
func (r *replica) owe(to string, entries []entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.pending[to]
	if m == nil {
		m = map[string]entry{}
		r.pending[to] = m
	}
	for _, e := range entries {
		if old, ok := m[e.key().id()]; !ok || old.Version < e.Version {
			m[e.key().id()] = e
		}
	}
}

// flush offers to what it missed.
func (r *replica) flush(to string) {
	r.mu.Lock()
	m := r.pending[to]
	var entries []entry
	for _, id := range sortedKeys(m) {
		entries = append(entries, m[id])
	}
	r.mu.Unlock()
	if len(entries) == 0 {
		return
	}
	ctx, cancel := r.g.bounded(context.Background())
	defer cancel()
	res, err := r.peerCommit(ctx, to, entries, 0)
	if err != nil {
		return
	}
	when := time.Now()
	r.mu.Lock()
	for _, e := range entries {
		if cur, ok := m[e.key().id()]; ok && cur.Version == e.Version {
			delete(m, e.key().id())
		}
	}
	r.mu.Unlock()
	schemas := map[string]keySchema{}
	for _, e := range entries {
		if _, ok := schemas[e.Table]; !ok {
			schemas[e.Table], _ = r.schema(ctx, e.Table)
		}
	}
	for i, e := range entries {
		status := "applied"
		if i < len(res.Applied) && !res.Applied[i] {
			status = "superseded"
		}
		r.observeReplicated(to, []entry{e}, when, status, schemas)
	}
}

func (r *replica) observeReplicated(to string, entries []entry, when time.Time, status string, schemas map[string]keySchema) {
	for _, e := range entries {
		r.g.observe(Event{Kind: KindReplicated, Time: when, Region: r.region, To: to, Table: e.Table,
			Item: e.key().name(schemas[e.Table]), Version: version(e.Item), Op: e.Op,
			Written: time.Unix(0, e.Written), Status: status})
	}
}

// typeNotFound is DynamoDB's answer for a table its region does not have.
const typeNotFound = "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException"

// serveWitness answers a client in the witness's region: there is no
// replica table there (DynamoDB's witness holds the data but serves no
// reads or writes), so ListTables lists nothing and every other operation
// finds no table.
func (r *replica) serveWitness(w http.ResponseWriter, op string) {
	status, body := http.StatusBadRequest, errorBody(typeNotFound, "Requested resource not found")
	if op == "ListTables" {
		status, body = http.StatusOK, []byte(`{"TableNames":[]}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/x-amz-json-1.0")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Faultline-Mrsc", "the witness in "+r.region+" serves no reads or writes")
	w.WriteHeader(status)
	w.Write(body)
}
