package embedded

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"sync"
	"time"

	"github.com/faultline-dev/faultline/targets/dynamodb/attr"
)

// db is one backend's tables. One lock guards everything: requests are small
// and the backend serves tests and experiments, not production load.
type db struct {
	region string
	mu     sync.Mutex
	tables map[string]*table
	// writes sees every client write (WithWrites); now stamps them.
	writes func(Write)
	now    func() time.Time
}

func newDB(region string) *db {
	return &db{region: region, tables: map[string]*table{}, now: time.Now}
}

type keyDef struct {
	name string
	typ  string // S, N or B
}

type table struct {
	name     string
	hash     keyDef
	rng      *keyDef
	attrDefs []attrDef
	created  time.Time
	billing  string
	rcu, wcu int64
	items    map[string]attr.Item // by encoded key
	// stamps are the last-writer-wins stamps of the items, by encoded
	// key, deleted ones too (tombstones: a late replicated put must not
	// bring a deleted item back).
	stamps    map[string]stamp
	createdID string
}

type attrDef struct {
	AttributeName string
	AttributeType string
}

// operation handlers decode a request body and return the response value.
type operation func(d *db, raw []byte) (any, *apiError)

var operations = map[string]operation{
	"CreateTable":    createTable,
	"DescribeTable":  describeTable,
	"ListTables":     listTables,
	"DeleteTable":    deleteTable,
	"PutItem":        putItem,
	"GetItem":        getItem,
	"DeleteItem":     deleteItem,
	"UpdateItem":     updateItem,
	"Query":          query,
	"Scan":           scan,
	"BatchGetItem":   batchGetItem,
	"BatchWriteItem": batchWriteItem,
}

// decode parses a request body: malformed JSON is a SerializationException,
// a bad attribute value a ValidationException.
func decode(raw []byte, into any) *apiError {
	err := json.Unmarshal(raw, into)
	if err == nil {
		return nil
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	if errors.As(err, &syn) || errors.As(err, &typ) {
		return &apiError{typ: typeSerialization, msg: "Start of structure or map found where not expected or malformed JSON: " + err.Error()}
	}
	return validation("%s", err.Error())
}

var tableNamePattern = regexp.MustCompile(`^[a-zA-Z0-9_.-]{3,255}$`)

func checkTableName(name string) *apiError {
	if !tableNamePattern.MatchString(name) {
		return validation("1 validation error detected: Value '%s' at 'tableName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+ and length between 3 and 255", name)
	}
	return nil
}

// table finds a table; the caller holds d.mu.
func (d *db) table(name string) (*table, *apiError) {
	if err := checkTableName(name); err != nil {
		return nil, err
	}
	t, ok := d.tables[name]
	if !ok {
		return nil, notFound()
	}
	return t, nil
}

// encodeKey is an item's identity: its key values, typed.
func (t *table) encodeKey(key attr.Item) string {
	s := key[t.hash.name].Type + ":" + key[t.hash.name].Str
	if t.rng != nil {
		s += "\x00" + key[t.rng.name].Type + ":" + key[t.rng.name].Str
	}
	return fmt.Sprintf("%q", s)
}

// keyOf extracts the key attributes of an item.
func (t *table) keyOf(it attr.Item) attr.Item {
	k := attr.Item{t.hash.name: it[t.hash.name]}
	if t.rng != nil {
		k[t.rng.name] = it[t.rng.name]
	}
	return k
}

// checkItemKey validates that an item (PutItem) carries its key attributes
// with the right types.
func (t *table) checkItemKey(it attr.Item) *apiError {
	for _, k := range t.keys() {
		v, ok := it[k.name]
		if !ok {
			return validation("One or more parameter values were invalid: Missing the key %s in the item", k.name)
		}
		if v.Type != k.typ {
			return validation("One or more parameter values were invalid: Type mismatch for key %s expected: %s actual: %s", k.name, k.typ, v.Type)
		}
		if (v.Type == attr.S || v.Type == attr.B) && v.Str == "" {
			return validation("One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: %s", k.name)
		}
	}
	return nil
}

// checkKey validates a Key parameter (GetItem, DeleteItem, UpdateItem):
// exactly the key attributes, with the right types.
func (t *table) checkKey(key attr.Item) *apiError {
	if len(key) != len(t.keys()) {
		return validation("The provided key element does not match the schema")
	}
	for _, k := range t.keys() {
		v, ok := key[k.name]
		if !ok || v.Type != k.typ {
			return validation("The provided key element does not match the schema")
		}
		if (v.Type == attr.S || v.Type == attr.B) && v.Str == "" {
			return validation("One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: %s", k.name)
		}
	}
	return nil
}

func (t *table) keys() []keyDef {
	if t.rng == nil {
		return []keyDef{t.hash}
	}
	return []keyDef{t.hash, *t.rng}
}

// sorted returns every item in key order: by partition key, then sort key.
// (DynamoDB scans in hash order; any fixed order serves the protocol.)
func (t *table) sorted() []attr.Item {
	items := make([]attr.Item, 0, len(t.items))
	for _, it := range t.items {
		items = append(items, it)
	}
	sort.Slice(items, func(i, j int) bool { return t.less(items[i], items[j]) })
	return items
}

func (t *table) less(a, b attr.Item) bool {
	if c, _ := attr.Compare(a[t.hash.name], b[t.hash.name]); c != 0 {
		return c < 0
	}
	if t.rng == nil {
		return false
	}
	c, _ := attr.Compare(a[t.rng.name], b[t.rng.name])
	return c < 0
}

// itemSize approximates DynamoDB's item size (names plus values).
func itemSize(it attr.Item) int {
	b, _ := json.Marshal(it)
	return len(b)
}

const maxItemSize = 400 << 10
