package mrsc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/faultline-dev/faultline/targets/dynamodb/attr"
)

// The replicas' own protocol: JSON over HTTP POST on the same listeners as
// DynamoDB's (which only answers POST /), under peerPath.
const peerPath = "/faultline/mrsc/"

type wireKey struct {
	Table string
	Key   attr.Item
}

type prepareReq struct {
	From string
	ID   uint64
	Lock bool // a write reserves the items; a strongly consistent read only asks
	Keys []wireKey
}

type prepareResp struct {
	Conflict string `json:",omitempty"`
	Entries  []entry
}

type commitReq struct {
	From    string
	ID      uint64 // 0: a redelivery, which holds no reservation
	Entries []entry
}

type commitResp struct{ Applied []bool }

type abortReq struct {
	From string
	ID   uint64
	Keys []wireKey
}

type syncReq struct {
	From  string
	Table string
	Have  map[string]uint64 // encoded key → version
}

type syncResp struct{ Entries []entry }

// errConflict is a peer's "another region's write holds the item".
type errConflict struct{ why string }

func (e errConflict) Error() string { return e.why }

// post sends one request to the replica in to and decodes its answer.
func (r *replica) post(ctx context.Context, to, path string, in, out any) error {
	if r.g.cut(r.region, to) {
		return fmt.Errorf("%s: isolated from %s", to, r.region)
	}
	base, client, err := r.g.cfg.Peer(r.region, to)
	if err != nil {
		return fmt.Errorf("%s: %w", to, err)
	}
	raw, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+peerPath+path, bytes.NewReader(raw))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", to, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fmt.Errorf("%s: %w", to, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return json.Unmarshal(body, out)
	case http.StatusConflict:
		return errConflict{strings.TrimSpace(string(body))}
	}
	return fmt.Errorf("%s: HTTP %d: %s", to, resp.StatusCode, strings.TrimSpace(string(body)))
}

// reachable checks that this replica reaches the one in to: DynamoDB's
// health line, through the same path as everything else.
func (r *replica) reachable(ctx context.Context, to string) error {
	if r.g.cut(r.region, to) {
		return fmt.Errorf("isolated from %s", to)
	}
	base, client, err := r.g.cfg.Peer(r.region, to)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/", nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<10))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}

// prepared is what the peers answered a prepare.
type prepared struct {
	ok       []string // the peers that answered
	entries  map[string][]entry
	conflict string // a peer's conflict, if any
	errs     string // why the others did not answer
}

func wireKeys(keys []itemKey) []wireKey {
	out := make([]wireKey, len(keys))
	for i, k := range keys {
		out[i] = wireKey{Table: k.Table, Key: k.Key}
	}
	return out
}

// prepare asks both peers at once, each bounded by the timeout.
func (r *replica) prepare(ctx context.Context, keys []itemKey, id uint64, lock bool) prepared {
	p := prepared{entries: map[string][]entry{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var errs []string
	in := prepareReq{From: r.region, ID: id, Lock: lock, Keys: wireKeys(keys)}
	for _, to := range r.peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := r.g.bounded(ctx)
			defer cancel()
			var out prepareResp
			err := r.post(ctx, to, "prepare", in, &out)
			mu.Lock()
			defer mu.Unlock()
			var c errConflict
			switch {
			case errors.As(err, &c):
				p.conflict = c.why
			case err != nil:
				errs = append(errs, err.Error())
			default:
				p.ok = append(p.ok, to)
				p.entries[to] = out.Entries
			}
		}()
	}
	wg.Wait()
	sort.Strings(p.ok)
	sort.Strings(errs)
	p.errs = strings.Join(errs, "; ")
	return p
}

// abort releases the reservations of write id at the peers that made them,
// without waiting (a lease ends them anyway).
func (r *replica) abort(keys []itemKey, id uint64, peers []string) {
	in := abortReq{From: r.region, ID: id, Keys: wireKeys(keys)}
	for _, to := range peers {
		go func() {
			ctx, cancel := r.g.bounded(context.Background())
			defer cancel()
			r.post(ctx, to, "abort", in, &struct{}{})
		}()
	}
}

func (r *replica) peerCommit(ctx context.Context, to string, entries []entry, id uint64) (commitResp, error) {
	var out commitResp
	err := r.post(ctx, to, "commit", commitReq{From: r.region, ID: id, Entries: entries}, &out)
	return out, err
}

// commit sends the new versions to the peers that prepared and returns once
// one of them applied them (acked, and when each answered) or all failed. A
// commit still under way then finishes on its own: on success it is
// journaled as replicated, on failure owed (redelivered later); missed are
// the peers that did not prepare.
// The caller calls ack once it has set the entries' Written.
func (r *replica) commit(entries []entry, id uint64, peers []string) (acked []string, when map[string]time.Time, missed []string, ack func()) {
	when = map[string]time.Time{}
	type result struct {
		to  string
		at  time.Time
		err error
	}
	results := make(chan result, len(peers))
	// The write's acknowledgement: stragglers read entries' Written after it.
	ackDone := make(chan struct{})
	sent := append([]entry(nil), entries...) // the caller sets Written on entries meanwhile
	for _, to := range peers {
		go func() {
			c, cancel := r.g.bounded(context.Background())
			defer cancel()
			_, err := r.peerCommit(c, to, sent, id)
			results <- result{to, time.Now(), err}
		}()
	}
	for _, to := range r.peers {
		if !contains(peers, to) {
			missed = append(missed, to)
		}
	}
	var failed []string
	for range peers {
		res := <-results
		if res.err == nil {
			acked = append(acked, res.to)
			when[res.to] = res.at
			break
		}
		failed = append(failed, res.to)
	}
	missed = append(missed, failed...)
	if rest := len(peers) - len(acked) - len(failed); rest > 0 && len(acked) > 0 {
		// The other peer's commit is still under way.
		go func() {
			res := <-results
			<-ackDone
			if res.err != nil {
				r.owe(res.to, entries)
				return
			}
			schemas := map[string]keySchema{}
			for _, e := range entries {
				schemas[e.Table], _ = r.schema(context.Background(), e.Table)
			}
			r.observeReplicated(res.to, entries, res.at, "applied", schemas)
		}()
	}
	var once sync.Once
	return acked, when, missed, func() { once.Do(func() { close(ackDone) }) }
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// servePeer answers a peer.
func (r *replica) servePeer(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	raw, err := io.ReadAll(io.LimitReader(req.Body, maxBody))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var out any
	var code int
	var why string
	switch strings.TrimPrefix(req.URL.Path, peerPath) {
	case "prepare":
		out, code, why = r.onPrepare(req.Context(), raw)
	case "commit":
		out, code, why = r.onCommit(req.Context(), raw)
	case "abort":
		out, code, why = r.onAbort(raw)
	case "sync":
		out, code, why = r.onSync(req.Context(), raw)
	default:
		code, why = http.StatusNotFound, "no such peer operation"
	}
	if code != http.StatusOK {
		http.Error(w, why, code)
		return
	}
	b, _ := json.Marshal(out)
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

// fromPeer decodes a peer's request and checks that the peer is one and
// that this replica reaches it back: a replica that hears a peer it cannot
// answer through the network does not count for it.
func (r *replica) fromPeer(ctx context.Context, raw []byte, in any, from func() string) (int, string) {
	if err := json.Unmarshal(raw, in); err != nil {
		return http.StatusBadRequest, err.Error()
	}
	f := from()
	if !contains(r.peers, f) {
		return http.StatusForbidden, fmt.Sprintf("%s is no peer of %s", f, r.region)
	}
	if r.g.cut(f, r.region) {
		return http.StatusServiceUnavailable, fmt.Sprintf("%s is isolated from %s", f, r.region)
	}
	if !r.g.started.Load() {
		return http.StatusServiceUnavailable, "replication has not started"
	}
	return http.StatusOK, ""
}

func (r *replica) onPrepare(ctx context.Context, raw []byte) (any, int, string) {
	var in prepareReq
	if code, why := r.fromPeer(ctx, raw, &in, func() string { return in.From }); code != http.StatusOK {
		return nil, code, why
	}
	c, cancel := r.g.bounded(ctx)
	err := r.reachable(c, in.From)
	cancel()
	if err != nil {
		return nil, http.StatusServiceUnavailable, fmt.Sprintf("%s cannot reach %s back: %v", r.region, in.From, err)
	}
	var keys []itemKey
	for _, k := range in.Keys {
		keys = append(keys, newItemKey(k.Table, k.Key))
	}
	if in.Lock {
		if why := r.lockFor(in.From, in.ID, keys); why != "" {
			return nil, http.StatusConflict, why
		}
	}
	var out prepareResp
	for _, k := range keys {
		it, err := r.read(ctx, k)
		if err != nil {
			if in.Lock {
				r.release(in.From, in.ID, keys)
			}
			return nil, http.StatusInternalServerError, err.Error()
		}
		r.mu.Lock()
		v := r.versions[k.id()]
		r.mu.Unlock()
		out.Entries = append(out.Entries, entry{Table: k.Table, Key: k.Key, Version: v, Item: it})
	}
	return out, http.StatusOK, ""
}

// lockFor reserves keys for write id of region from, all or none; it says
// why not when another region's write holds one.
func (r *replica) lockFor(from string, id uint64, keys []itemKey) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	for _, k := range keys {
		if l := r.locks[k.id()]; l != nil && now.Before(l.expires) && l.origin != from {
			return fmt.Sprintf("item %s is being modified by a write from %s", k.enc, l.origin)
		}
	}
	for _, k := range keys {
		if l := r.locks[k.id()]; l != nil {
			close(l.done) // an older write of from's, or an expired one
		}
		r.locks[k.id()] = &lock{origin: from, id: id, expires: now.Add(r.g.cfg.Lease), done: make(chan struct{})}
	}
	return ""
}

// release frees what write id of region from holds here.
func (r *replica) release(from string, id uint64, keys []itemKey) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range keys {
		if l := r.locks[k.id()]; l != nil && l.origin == from && l.id == id {
			close(l.done)
			delete(r.locks, k.id())
		}
	}
}

func (r *replica) onCommit(ctx context.Context, raw []byte) (any, int, string) {
	var in commitReq
	if code, why := r.fromPeer(ctx, raw, &in, func() string { return in.From }); code != http.StatusOK {
		return nil, code, why
	}
	out := commitResp{Applied: make([]bool, len(in.Entries))}
	var keys []itemKey
	for i, e := range in.Entries {
		applied, err := r.applyIfNewer(ctx, e)
		if err != nil {
			return nil, http.StatusInternalServerError, err.Error()
		}
		out.Applied[i] = applied
		keys = append(keys, e.key())
	}
	if in.ID != 0 {
		r.release(in.From, in.ID, keys)
	}
	return out, http.StatusOK, ""
}

func (r *replica) onAbort(raw []byte) (any, int, string) {
	var in abortReq
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, http.StatusBadRequest, err.Error()
	}
	var keys []itemKey
	for _, k := range in.Keys {
		keys = append(keys, newItemKey(k.Table, k.Key))
	}
	r.release(in.From, in.ID, keys)
	return struct{}{}, http.StatusOK, ""
}

// onSync returns the versions of table's items this replica holds newer
// than the asker's.
func (r *replica) onSync(ctx context.Context, raw []byte) (any, int, string) {
	var in syncReq
	if code, why := r.fromPeer(ctx, raw, &in, func() string { return in.From }); code != http.StatusOK {
		return nil, code, why
	}
	c, cancel := r.g.bounded(ctx)
	err := r.reachable(c, in.From)
	cancel()
	if err != nil {
		return nil, http.StatusServiceUnavailable, fmt.Sprintf("%s cannot reach %s back: %v", r.region, in.From, err)
	}
	prefix := in.Table + "\x00"
	type newer struct {
		enc string
		v   uint64
	}
	var ns []newer
	r.mu.Lock()
	for id, v := range r.versions {
		if enc, ok := strings.CutPrefix(id, prefix); ok && v > in.Have[enc] {
			ns = append(ns, newer{enc, v})
		}
	}
	r.mu.Unlock()
	sort.Slice(ns, func(i, j int) bool { return ns[i].enc < ns[j].enc })
	var out syncResp
	for _, n := range ns {
		var key attr.Item
		if err := json.Unmarshal([]byte(n.enc), &key); err != nil {
			continue
		}
		k := newItemKey(in.Table, key)
		it, err := r.read(ctx, k)
		if err != nil {
			return nil, http.StatusInternalServerError, err.Error()
		}
		r.mu.Lock()
		v := r.versions[k.id()]
		r.mu.Unlock()
		out.Entries = append(out.Entries, entry{Table: in.Table, Key: key, Version: v, Item: it})
	}
	return out, http.StatusOK, ""
}
