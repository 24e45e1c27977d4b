package container

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/faultline-dev/faultline/targets/dynamodb/embedded"
)

// tap is a target's address when the region's table is global or a layer
// (Options.Wrap: a capacity) sits in front: an HTTP reverse proxy to the
// container instead of a byte relay, which, for a global table, reports
// every write a client made and DynamoDB Local acknowledged (200), as the
// embedded backend reports its own. It stamps a write when the answer
// passes it, so two writes of one item racing through two targets may be
// stamped in the other order than the container applied them; an
// UpdateItem's new image is read back with a consistent GetItem (a write
// in between shows as its image). Writes a replicator applies (they carry
// embedded.ReplicaStampHeader) are not reported again.
type tap struct {
	ln       net.Listener
	srv      *http.Server
	upstream string // "127.0.0.1:PORT"
	region   string
	writes   func(embedded.Write)
	client   *http.Client

	mu   sync.Mutex
	keys map[string][2]string // table → hash and range key names
}

func startTap(addr, upstream, region string, writes func(embedded.Write), wrap func(http.Handler) http.Handler) (*tap, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	t := &tap{ln: ln, upstream: upstream, region: region, writes: writes, keys: map[string][2]string{},
		client: &http.Client{Timeout: 5 * time.Second}}
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: upstream})
	proxy.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, _ error) {
		// The container is gone: close, as a dead instance's port would.
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusBadGateway)
	}
	h := t.handler(proxy)
	if wrap != nil {
		h = wrap(h)
	}
	t.srv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go t.srv.Serve(ln)
	return t, nil
}

func (t *tap) Addr() string { return t.ln.Addr().String() }

func (t *tap) Close() error {
	err := t.srv.Close()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

var tappedOps = map[string]bool{"PutItem": true, "UpdateItem": true, "DeleteItem": true, "BatchWriteItem": true}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) { s.status = code; s.ResponseWriter.WriteHeader(code) }

func (t *tap) handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		const prefix = "DynamoDB_20120810."
		target := r.Header.Get("X-Amz-Target")
		op := ""
		if len(target) > len(prefix) && target[:len(prefix)] == prefix {
			op = target[len(prefix):]
		}
		if t.writes == nil || r.Method != http.MethodPost || !tappedOps[op] || r.Header.Get(embedded.ReplicaStampHeader) != "" {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20+1))
		if err != nil {
			http.Error(w, "could not read the request", http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		if sw.status == http.StatusOK {
			t.report(op, body, time.Now())
		}
	})
}

type dynamoItem = map[string]json.RawMessage

// report hands the writes of one acknowledged request on.
func (t *tap) report(op string, body []byte, at time.Time) {
	var in struct {
		TableName    string
		Item, Key    dynamoItem
		RequestItems map[string][]struct {
			PutRequest    *struct{ Item dynamoItem }
			DeleteRequest *struct{ Key dynamoItem }
		}
	}
	if json.Unmarshal(body, &in) != nil {
		return
	}
	switch op {
	case "PutItem":
		t.one(op, in.TableName, nil, in.Item, at)
	case "DeleteItem":
		t.one(op, in.TableName, in.Key, nil, at)
	case "UpdateItem":
		item, err := t.get(in.TableName, in.Key)
		if err == nil {
			t.one(op, in.TableName, in.Key, item, at)
		}
	case "BatchWriteItem":
		for table, reqs := range in.RequestItems {
			for _, r := range reqs {
				switch {
				case r.PutRequest != nil:
					t.one(op, table, nil, r.PutRequest.Item, at)
				case r.DeleteRequest != nil:
					t.one(op, table, r.DeleteRequest.Key, nil, at)
				}
			}
		}
	}
}

// one reports one item's write (item nil: deleted; key nil: the item's).
func (t *tap) one(op, table string, key, item dynamoItem, at time.Time) {
	names, err := t.keyNames(table)
	if err != nil {
		return
	}
	if key == nil {
		key = dynamoItem{names[0]: item[names[0]]}
		if names[1] != "" {
			key[names[1]] = item[names[1]]
		}
	}
	w := embedded.Write{Table: table, Op: op, At: at, Region: t.region, ID: scalar(key[names[0]])}
	if names[1] != "" {
		w.ID += "|" + scalar(key[names[1]])
	}
	w.Key, _ = json.Marshal(key)
	if item != nil {
		w.Item, _ = json.Marshal(item)
		var v struct{ N string }
		if json.Unmarshal(item["v"], &v) == nil && v.N != "" {
			if n, err := strconv.ParseInt(v.N, 10, 64); err == nil {
				w.Version = &n
			}
		}
	}
	t.writes(w)
}

// scalar is a key attribute's value as text ({"S":"x"} → x).
func scalar(raw json.RawMessage) string {
	var v map[string]string
	if json.Unmarshal(raw, &v) != nil {
		return ""
	}
	for _, s := range v {
		return s
	}
	return ""
}

// keyNames are a table's hash and range key names (DescribeTable, cached).
func (t *tap) keyNames(table string) ([2]string, error) {
	t.mu.Lock()
	k, ok := t.keys[table]
	t.mu.Unlock()
	if ok {
		return k, nil
	}
	var out struct {
		Table struct {
			KeySchema []struct{ AttributeName, KeyType string }
		}
	}
	if err := t.call("DescribeTable", map[string]any{"TableName": table}, &out); err != nil {
		return k, err
	}
	for _, e := range out.Table.KeySchema {
		if e.KeyType == "HASH" {
			k[0] = e.AttributeName
		} else {
			k[1] = e.AttributeName
		}
	}
	if k[0] == "" {
		return k, fmt.Errorf("table %s: no hash key", table)
	}
	t.mu.Lock()
	t.keys[table] = k
	t.mu.Unlock()
	return k, nil
}

// get reads an item's image after an UpdateItem.
func (t *tap) get(table string, key dynamoItem) (dynamoItem, error) {
	var out struct{ Item dynamoItem }
	err := t.call("GetItem", map[string]any{"TableName": table, "Key": key, "ConsistentRead": true}, &out)
	return out.Item, err
}

// call is one DynamoDB JSON 1.0 request to the container.
func (t *tap) call(op string, in any, out any) error {
	body, _ := json.Marshal(in)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+t.upstream+"/", bytes.NewReader(body))
	if err != nil {
		return err
	}
	date := time.Now().UTC().Format("20060102T150405Z")
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
	req.Header.Set("X-Amz-Date", date)
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=faultline/"+date[:8]+"/"+t.region+
		"/dynamodb/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0")
	resp, err := t.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d: %s", op, resp.StatusCode, raw)
	}
	return json.Unmarshal(raw, out)
}
