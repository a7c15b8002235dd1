package localworld

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"
)

const dynamoDBTargetPrefix = "DynamoDB_20120810."

// serveDynamoDB forwards one request to the Region's replica and, when it
// changed items, queues their replication into the other replica.
func (w *World) serveDynamoDB(ctx context.Context, rw http.ResponseWriter, r *http.Request, body []byte, rep *replica) {
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), dynamoDBTargetPrefix)
	switch op {
	case "TransactWriteItems", "TransactGetItems", "ExecuteTransaction":
		writeError(rw, DynamoDB, http.StatusBadRequest, "ValidationException",
			"localworld does not model DynamoDB transactions ("+op+"): its global tables replicate item by item, so use single-item (conditional) writes")
		return
	case "ExecuteStatement", "BatchExecuteStatement":
		writeError(rw, DynamoDB, http.StatusBadRequest, "ValidationException",
			"localworld does not model PartiQL ("+op+"): use the item operations")
		return
	case "CreateTable", "DeleteTable", "UpdateTable":
		w.serveTableChange(rw, r, body, op, rep)
		return
	case "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem":
		w.serveWrite(rw, r, body, op, rep)
		return
	}
	resp, err := w.forward(ctx, rep.url, r, body)
	if err != nil {
		if ctx.Err() == nil {
			writeError(rw, DynamoDB, http.StatusBadGateway, "InternalServerError", fmt.Sprintf("localworld: dynamodb of %s: %v", w.regions[rep.index], err))
		}
		return
	}
	resp.write(rw)
}

// serveWrite applies a write in rep and queues its replication. Once
// forwarded, a write is finished and replicated even if its client gives up
// (as in DynamoDB, where a timed-out write may still have happened), so the
// world's context bounds it, not the client's.
func (w *World) serveWrite(rw http.ResponseWriter, r *http.Request, body []byte, op string, rep *replica) {
	resp, err := w.writeAndQueue(r, body, op, rep)
	if err != nil {
		if w.ctx.Err() == nil {
			writeError(rw, DynamoDB, http.StatusBadGateway, "InternalServerError", fmt.Sprintf("localworld: dynamodb of %s: %v", w.regions[rep.index], err))
		}
		return
	}
	resp.write(rw)
}

func (w *World) writeAndQueue(r *http.Request, body []byte, op string, rep *replica) (*upstreamResponse, error) {
	// The lock makes write, read-back and stamp one step: no other write to
	// this replica, local or replicated, can slip between them.
	rep.mu.Lock()
	defer rep.mu.Unlock()
	resp, err := w.forward(w.ctx, rep.url, r, body)
	if err != nil || resp.status != http.StatusOK {
		return resp, err
	}
	rep.writes++
	changes, err := w.changedItems(w.ctx, rep, op, body, resp.body)
	if err != nil {
		// The write happened but cannot be replicated: the replicas have
		// diverged, which WaitReplicated reports.
		w.recordFailure(fmt.Errorf("replicate %s from %s: %w", op, w.regions[rep.index], err))
	}
	delay := w.globalTableDelay()
	l := w.links[rep.index]
	for _, c := range changes {
		now := time.Now()
		st := rep.tick(now)
		rep.setLastWrite(c.table, c.id, st)
		l.enqueue(&event{change: c, stamp: st, due: now.Add(delay)})
	}
	return resp, nil
}

// change is an item's state after a write: item nil means absent.
type change struct {
	table string
	id    string          // the key's identity, see keyID
	key   json.RawMessage // the key attributes
	item  json.RawMessage
}

type attributes = map[string]json.RawMessage

// changedItems works out which items a successful write changed, and their
// state now: the request's item for PutItem, a consistent read-back for
// everything else (an update's result, a deletion).
func (w *World) changedItems(ctx context.Context, rep *replica, op string, reqBody, respBody []byte) ([]change, error) {
	switch op {
	case "PutItem":
		var in struct {
			TableName string
			Item      attributes
		}
		if err := json.Unmarshal(reqBody, &in); err != nil {
			return nil, fmt.Errorf("decode PutItem: %w", err)
		}
		c, err := w.newChange(ctx, rep, in.TableName, in.Item)
		if err != nil {
			return nil, err
		}
		if c.item, err = json.Marshal(in.Item); err != nil {
			return nil, fmt.Errorf("encode item: %w", err)
		}
		return []change{c}, nil
	case "UpdateItem", "DeleteItem":
		var in struct {
			TableName string
			Key       attributes
		}
		if err := json.Unmarshal(reqBody, &in); err != nil {
			return nil, fmt.Errorf("decode %s: %w", op, err)
		}
		c, err := w.readBack(ctx, rep, in.TableName, in.Key)
		if err != nil {
			return nil, err
		}
		return []change{c}, nil
	case "BatchWriteItem":
		return w.batchChanges(ctx, rep, reqBody, respBody)
	}
	return nil, nil
}

type writeRequests = map[string][]struct {
	PutRequest    *struct{ Item attributes }
	DeleteRequest *struct{ Key attributes }
}

func (w *World) batchChanges(ctx context.Context, rep *replica, reqBody, respBody []byte) ([]change, error) {
	var in struct{ RequestItems writeRequests }
	if err := json.Unmarshal(reqBody, &in); err != nil {
		return nil, fmt.Errorf("decode BatchWriteItem: %w", err)
	}
	var out struct{ UnprocessedItems writeRequests }
	if err := json.Unmarshal(respBody, &out); err != nil {
		return nil, fmt.Errorf("decode BatchWriteItem answer: %w", err)
	}
	keysOf := func(reqs writeRequests, each func(table string, key attributes) error) error {
		for table, rs := range reqs {
			for _, r := range rs {
				var item attributes
				switch {
				case r.PutRequest != nil:
					item = r.PutRequest.Item
				case r.DeleteRequest != nil:
					item = r.DeleteRequest.Key
				default:
					continue
				}
				if err := each(table, item); err != nil {
					return err
				}
			}
		}
		return nil
	}
	// Unprocessed entries did not happen: replicating their unchanged item
	// with a new stamp could overwrite a later write in the other Region.
	unprocessed := make(map[string]bool)
	if err := keysOf(out.UnprocessedItems, func(table string, item attributes) error {
		schema, err := w.keys.get(ctx, w, rep, table)
		if err != nil {
			return err
		}
		id, _, err := keyID(schema, item)
		unprocessed[table+"\x00"+id] = true
		return err
	}); err != nil {
		return nil, err
	}
	var changes []change
	err := keysOf(in.RequestItems, func(table string, item attributes) error {
		schema, err := w.keys.get(ctx, w, rep, table)
		if err != nil {
			return err
		}
		id, key, err := keyID(schema, item)
		if err != nil || unprocessed[table+"\x00"+id] {
			return err
		}
		c, err := w.readBack(ctx, rep, table, key)
		if err != nil {
			return err
		}
		changes = append(changes, c)
		return nil
	})
	return changes, err
}

func (w *World) newChange(ctx context.Context, rep *replica, table string, item attributes) (change, error) {
	schema, err := w.keys.get(ctx, w, rep, table)
	if err != nil {
		return change{}, err
	}
	id, key, err := keyID(schema, item)
	if err != nil {
		return change{}, fmt.Errorf("table %s: %w", table, err)
	}
	rawKey, err := json.Marshal(key)
	if err != nil {
		return change{}, fmt.Errorf("encode key: %w", err)
	}
	return change{table: table, id: id, key: rawKey}, nil
}

// readBack reads the item with key from rep, consistently, as it is right
// after a write. The caller holds rep.mu.
func (w *World) readBack(ctx context.Context, rep *replica, table string, key attributes) (change, error) {
	c, err := w.newChange(ctx, rep, table, key)
	if err != nil {
		return change{}, err
	}
	var out struct{ Item json.RawMessage }
	if err := w.call(ctx, rep.url, "GetItem", map[string]any{"TableName": table, "Key": c.key, "ConsistentRead": true}, &out); err != nil {
		return change{}, fmt.Errorf("read back %s: %w", table, err)
	}
	if len(out.Item) > 0 && !bytes.Equal(out.Item, []byte("null")) {
		c.item = out.Item
	}
	return c, nil
}

// keyID returns the identity of item's key under schema (the key attribute
// names, hash first) and the key attributes. Numbers are normalised, as
// DynamoDB compares them by value: {"N":"1.0"} and {"N":"1"} are one key.
func keyID(schema []string, item attributes) (string, attributes, error) {
	parts := make([]string, 0, 2*len(schema))
	key := make(attributes, len(schema))
	for _, name := range schema {
		raw, ok := item[name]
		if !ok {
			return "", nil, fmt.Errorf("item lacks key attribute %s", name)
		}
		key[name] = raw
		var typed map[string]string
		if err := json.Unmarshal(raw, &typed); err != nil || len(typed) != 1 {
			return "", nil, fmt.Errorf("key attribute %s: got %s, want one S, N or B value", name, raw)
		}
		for typ, v := range typed {
			if typ == "N" {
				if r, ok := new(big.Rat).SetString(v); ok {
					v = r.RatString()
				}
			}
			parts = append(parts, typ, v)
		}
	}
	id, err := json.Marshal(parts)
	return string(id), key, err
}

// keySchemas caches each table's key attribute names; global-table
// replicas share them, so one cache serves both.
type keySchemas struct {
	mu     sync.Mutex
	tables map[string][]string
}

func (k *keySchemas) get(ctx context.Context, w *World, rep *replica, table string) ([]string, error) {
	k.mu.Lock()
	schema, ok := k.tables[table]
	k.mu.Unlock()
	if ok {
		return schema, nil
	}
	var out struct {
		Table struct {
			KeySchema []struct {
				AttributeName string
				KeyType       string
			}
		}
	}
	if err := w.call(ctx, rep.url, "DescribeTable", map[string]string{"TableName": table}, &out); err != nil {
		return nil, fmt.Errorf("key schema of %s: %w", table, err)
	}
	for _, kind := range []string{"HASH", "RANGE"} {
		for _, e := range out.Table.KeySchema {
			if e.KeyType == kind {
				schema = append(schema, e.AttributeName)
			}
		}
	}
	if len(schema) == 0 {
		return nil, fmt.Errorf("key schema of %s: none in DescribeTable", table)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.tables == nil {
		k.tables = make(map[string][]string)
	}
	k.tables[table] = schema
	return schema, nil
}

func (k *keySchemas) forget(table string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.tables, table)
}

// serveTableChange applies a table change to both replicas at once, as
// global tables do, so a test may create its tables through either Region.
func (w *World) serveTableChange(rw http.ResponseWriter, r *http.Request, body []byte, op string, rep *replica) {
	resp, err := w.changeTables(r, body, op, rep)
	if err != nil {
		if w.ctx.Err() == nil {
			writeError(rw, DynamoDB, http.StatusBadGateway, "InternalServerError", fmt.Sprintf("localworld: %s: %v", op, err))
		}
		return
	}
	resp.write(rw)
}

func (w *World) changeTables(r *http.Request, body []byte, op string, rep *replica) (*upstreamResponse, error) {
	// Both replicas locked, in index order, so no write runs while the
	// tables change and a deleted table's write stamps go with it.
	for _, x := range w.replicas {
		x.mu.Lock()
		defer x.mu.Unlock()
	}
	var in struct{ TableName string }
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, fmt.Errorf("decode %s: %w", op, err)
	}
	resp, err := w.forward(w.ctx, rep.url, r, body)
	if err != nil || resp.status != http.StatusOK {
		return resp, err
	}
	other := w.replicas[1-rep.index]
	otherResp, err := w.forward(w.ctx, other.url, r, body)
	if err != nil {
		return nil, fmt.Errorf("in %s: %w", w.regions[other.index], err)
	}
	if otherResp.status != http.StatusOK {
		// Done in one replica only: say so, in the other's words.
		return otherResp, nil
	}
	if op == "DeleteTable" {
		w.keys.forget(in.TableName)
		for _, x := range w.replicas {
			delete(x.lastWrite, in.TableName)
		}
	}
	return resp, nil
}

// dynamoDBError is an emulator's error answer.
type dynamoDBError struct {
	Status  int    `json:"-"`
	Type    string `json:"__type"`
	Message string `json:"message"`
}

func (e *dynamoDBError) Error() string {
	code := e.Type[strings.LastIndex(e.Type, "#")+1:]
	return fmt.Sprintf("%s (HTTP %d): %s", code, e.Status, e.Message)
}

func (e *dynamoDBError) is(code string) bool { return strings.HasSuffix(e.Type, "#"+code) }

// call sends one DynamoDB operation straight to a replica's emulator. The
// emulator wants an Authorization header of the SigV4 shape and a date,
// but checks no signature.
func (w *World) call(ctx context.Context, url, op string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("%s: encode: %w", op, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	now := time.Now().UTC()
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", dynamoDBTargetPrefix+op)
	req.Header.Set("X-Amz-Date", now.Format("20060102T150405Z"))
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDLOCAL/"+now.Format("20060102")+
		"/us-east-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=localworld")
	resp, err := w.transport.RoundTrip(req)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s: read answer: %w", op, err)
	}
	if resp.StatusCode != http.StatusOK {
		e := &dynamoDBError{Status: resp.StatusCode}
		if json.Unmarshal(b, e) != nil || e.Type == "" {
			e.Type, e.Message = "Unknown", string(b)
		}
		return fmt.Errorf("%s: %w", op, e)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s: decode answer: %w", op, err)
	}
	return nil
}

// isResourceNotFound says whether err is DynamoDB's "no such table".
func isResourceNotFound(err error) bool {
	var e *dynamoDBError
	return errors.As(err, &e) && e.is("ResourceNotFoundException")
}
