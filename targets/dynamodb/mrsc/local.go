package mrsc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"

	"github.com/faultline-dev/faultline/targets/dynamodb/attr"
)

// The replica's own backend, spoken to in DynamoDB's protocol in-process:
// what it holds is read and installed through GetItem, PutItem and
// DeleteItem, so the layer needs nothing of the backend's insides.

// call sends one request to the replica's backend.
func (r *replica) call(ctx context.Context, op string, body any) (int, []byte) {
	raw, err := json.Marshal(body)
	if err != nil {
		return http.StatusInternalServerError, nil
	}
	return r.send(ctx, op, raw)
}

// send sends a raw request body to the replica's backend.
func (r *replica) send(ctx context.Context, op string, raw []byte) (int, []byte) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "/", bytes.NewReader(raw))
	if err != nil {
		return http.StatusInternalServerError, nil
	}
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	rec := httptest.NewRecorder()
	r.next.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes()
}

// keySchema is a table's key attribute names (hash, then range).
type keySchema []string

// schema is table's key schema, asked of the backend once.
func (r *replica) schema(ctx context.Context, table string) (keySchema, error) {
	r.mu.Lock()
	ks, ok := r.schemas[table]
	r.mu.Unlock()
	if ok {
		return ks, nil
	}
	status, body := r.call(ctx, "DescribeTable", map[string]string{"TableName": table})
	if status != http.StatusOK {
		return nil, fmt.Errorf("describing %s: HTTP %d", table, status)
	}
	var out struct {
		Table struct {
			KeySchema []struct{ AttributeName, KeyType string }
		}
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, err
	}
	for _, k := range out.Table.KeySchema {
		if k.KeyType == "HASH" {
			ks = append(keySchema{k.AttributeName}, ks...)
		} else {
			ks = append(ks, k.AttributeName)
		}
	}
	if len(ks) == 0 {
		return nil, fmt.Errorf("table %s has no key schema", table)
	}
	r.mu.Lock()
	r.schemas[table] = ks
	r.mu.Unlock()
	return ks, nil
}

// itemKey is one item of one table: its key attributes, and their encoding
// (canonical JSON: the map's names sorted, numbers canonical).
type itemKey struct {
	Table string
	Key   attr.Item
	enc   string
}

func newItemKey(table string, key attr.Item) itemKey {
	b, _ := json.Marshal(key)
	return itemKey{Table: table, Key: key, enc: string(b)}
}

// id is the key's identity across tables.
func (k itemKey) id() string { return k.Table + "\x00" + k.enc }

// name is the key as the journal shows it: the key value, or hash/range.
func (k itemKey) name(ks keySchema) string {
	var parts []string
	for _, n := range ks {
		v := k.Key[n]
		switch v.Type {
		case attr.S, attr.N:
			parts = append(parts, v.Str)
		default:
			b, _ := json.Marshal(v)
			parts = append(parts, string(b))
		}
	}
	return strings.Join(parts, "/")
}

// keyOf takes the key attributes out of an item; ok is false when one is
// missing (the backend then refuses the request itself).
func keyOf(ks keySchema, it attr.Item) (attr.Item, bool) {
	k := attr.Item{}
	for _, n := range ks {
		v, ok := it[n]
		if !ok {
			return nil, false
		}
		k[n] = v
	}
	return k, true
}

// read is an item as the backend holds it now (nil: absent).
func (r *replica) read(ctx context.Context, k itemKey) (attr.Item, error) {
	status, body := r.call(ctx, "GetItem", map[string]any{"TableName": k.Table, "Key": k.Key, "ConsistentRead": true})
	if status != http.StatusOK {
		return nil, fmt.Errorf("reading %s in %s: HTTP %d %s", k.enc, k.Table, status, body)
	}
	var out struct{ Item attr.Item }
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, err
	}
	return out.Item, nil
}

// install makes the backend hold item (nil: no item) under k.
func (r *replica) install(ctx context.Context, k itemKey, item attr.Item) error {
	var status int
	var body []byte
	if item == nil {
		status, body = r.call(ctx, "DeleteItem", map[string]any{"TableName": k.Table, "Key": k.Key})
	} else {
		status, body = r.call(ctx, "PutItem", map[string]any{"TableName": k.Table, "Item": item})
	}
	if status != http.StatusOK {
		return fmt.Errorf("installing %s in %s: HTTP %d %s", k.enc, k.Table, status, body)
	}
	return nil
}

// version is an item's numeric "v" attribute, the journal's item version.
func version(it attr.Item) *int64 {
	v, ok := it["v"]
	if !ok || v.Type != attr.N {
		return nil
	}
	n, err := strconv.ParseInt(v.Str, 10, 64)
	if err != nil {
		return nil
	}
	return &n
}
