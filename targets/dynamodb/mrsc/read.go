package mrsc

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/faultline-dev/faultline/targets/dynamodb/attr"
)

// strongRead brings this replica up to date for a strongly consistent read
// (GetItem, BatchGetItem, Query, Scan with ConsistentRead), which then goes
// to the backend as it came: a status of 0 says "serve it". With no other
// replica reachable, it fails: a strongly consistent read needs a majority.
// An eventually consistent read is served at once, isolated or not.
func (r *replica) strongRead(ctx context.Context, op string, raw []byte) (int, []byte, string) {
	switch op {
	case "GetItem":
		var in struct {
			TableName      string
			Key            attr.Item
			ConsistentRead bool
		}
		if json.Unmarshal(raw, &in) != nil || !in.ConsistentRead || len(in.Key) == 0 {
			return 0, nil, ""
		}
		return r.readKeys(ctx, []itemKey{newItemKey(in.TableName, in.Key)})
	case "BatchGetItem":
		var in struct {
			RequestItems map[string]struct {
				Keys           []attr.Item
				ConsistentRead bool
			}
		}
		if json.Unmarshal(raw, &in) != nil {
			return 0, nil, ""
		}
		var keys []itemKey
		for _, table := range sortedKeys(in.RequestItems) {
			if ka := in.RequestItems[table]; ka.ConsistentRead {
				for _, k := range ka.Keys {
					keys = append(keys, newItemKey(table, k))
				}
			}
		}
		if len(keys) == 0 {
			return 0, nil, ""
		}
		return r.readKeys(ctx, dedupe(keys))
	case "Query", "Scan":
		var in struct {
			TableName      string
			ConsistentRead bool
		}
		if json.Unmarshal(raw, &in) != nil || !in.ConsistentRead || in.TableName == "" {
			return 0, nil, ""
		}
		return r.syncTable(ctx, in.TableName)
	}
	return 0, nil, ""
}

// readKeys asks the peers for their versions of keys and installs here the
// newest; the read is then served here.
func (r *replica) readKeys(ctx context.Context, keys []itemKey) (int, []byte, string) {
	prep := r.prepare(ctx, keys, 0, false)
	if len(prep.ok) == 0 {
		return internal(fmt.Sprintf("a strongly consistent read in %s reached no other replica within %s: %s", r.region, r.g.cfg.Timeout, prep.errs))
	}
	if _, err := r.catchUp(ctx, keys, prep); err != nil {
		return internal(err.Error())
	}
	return 0, nil, ""
}

// syncTable pulls from the peers every version of table's items newer than
// this replica's; the Query or Scan is then served here.
func (r *replica) syncTable(ctx context.Context, table string) (int, []byte, string) {
	have := map[string]uint64{}
	prefix := table + "\x00"
	r.mu.Lock()
	for id, v := range r.versions {
		if enc, ok := strings.CutPrefix(id, prefix); ok {
			have[enc] = v
		}
	}
	r.mu.Unlock()
	in := syncReq{From: r.region, Table: table, Have: have}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var ok int
	var errs []string
	var got []entry
	for _, to := range r.peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, cancel := r.g.bounded(ctx)
			defer cancel()
			var out syncResp
			err := r.post(c, to, "sync", in, &out)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err.Error())
				return
			}
			ok++
			got = append(got, out.Entries...)
		}()
	}
	wg.Wait()
	if ok == 0 {
		sort.Strings(errs)
		return internal(fmt.Sprintf("a strongly consistent read in %s reached no other replica within %s: %s", r.region, r.g.cfg.Timeout, strings.Join(errs, "; ")))
	}
	for _, e := range got {
		if err := r.apply(ctx, e); err != nil {
			return internal(err.Error())
		}
	}
	return 0, nil, ""
}
