package localworld

import (
	"cmp"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Call is one kind of request the world's proxies received, and how many
// of them: who sent it, from where, to which Region's service, and what it
// asked for on which resource. It is what an IAM policy is checked
// against, which the world itself never does.
type Call struct {
	// Caller is the application id of the SDK client that sent the request
	// (aws.Config.AppID, or a client's Options.AppID, which the SDK sends
	// in the User-Agent as "app/<id>"); empty when the client set none.
	Caller string
	// From is the Region the caller is in, as the URL it used says (see
	// Endpoint); Region is the one whose endpoint received the request.
	From, Region string
	// Service is Kinesis or DynamoDB; Operation the API's name
	// ("PutRecords", "GetItem").
	Service, Operation string
	// Resource is the stream (Kinesis: StreamName, the name in StreamARN,
	// or for GetRecords the stream its iterator was issued for) or the table
	// (DynamoDB: TableName; a BatchWriteItem or BatchGetItem is one Call
	// per table it names); empty when the request names none.
	Resource string
	// Count is how many such requests arrived.
	Count int
}

// callKey is a Call without its count.
type callKey struct {
	caller, from, region, service, operation, resource string
}

// iteratorTargets answer with shard iterators the recorder must learn.
var iteratorTargets = map[string]bool{
	getShardIteratorTarget:        true,
	"Kinesis_20131202.GetRecords": true,
}

// iteratorLifetime is how long Kinesis honours a shard iterator: an
// iterator older than that is never presented again, so the recorder may
// forget which stream it was issued for.
const iteratorLifetime = 5 * time.Minute

// callRecorder counts the requests of each Call, and remembers which stream
// each shard iterator it has seen belongs to, because a GetRecords request
// names only its iterator while IAM authorises it on the stream.
type callRecorder struct {
	mu    sync.Mutex
	calls map[callKey]int
	// iterators and older hold the iterators of the current and the
	// previous iteratorLifetime, so that memory stays bounded by what two
	// lifetimes issue however long the world runs.
	iterators, older map[string]string
	rotated          time.Time
}

func newCallRecorder() *callRecorder {
	return &callRecorder{calls: make(map[callKey]int), iterators: make(map[string]string), rotated: time.Now()}
}

// noteRequest counts one request and returns the stream it is on (Kinesis
// only), so its answer's iterators can be attributed to it. A nil recorder
// (Options.RecordCalls unset) notes nothing.
func (c *callRecorder) noteRequest(e *endpoint, r *http.Request, body []byte) (stream string) {
	if c == nil {
		return ""
	}
	target := r.Header.Get("X-Amz-Target")
	op := target[strings.LastIndex(target, ".")+1:]
	from := e.region
	if e.cross {
		from = 1 - e.region
	}
	key := callKey{
		caller:    appID(r.Header.Get("User-Agent")),
		from:      e.w.regions[from],
		region:    e.w.regions[e.region],
		service:   e.service,
		operation: op,
	}
	var resources []string
	if e.service == DynamoDB {
		resources = tablesOf(body)
	} else {
		var req struct {
			StreamName    string `json:"StreamName"`
			StreamARN     string `json:"StreamARN"`
			ShardIterator string `json:"ShardIterator"`
		}
		if decodeJSON(body, &req) {
			stream = streamNameOf(req.StreamName, req.StreamARN)
			if stream == "" && req.ShardIterator != "" {
				stream = c.streamOf(req.ShardIterator)
			}
		}
		resources = []string{stream}
	}
	if len(resources) == 0 {
		resources = []string{""}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, res := range resources {
		key.resource = res
		c.calls[key]++
	}
	return stream
}

// noteIterators remembers that the iterators in a GetShardIterator or
// GetRecords answer belong to stream.
func (c *callRecorder) noteIterators(stream string, resp *upstreamResponse) {
	if c == nil || stream == "" || resp.status != http.StatusOK {
		return
	}
	var out struct {
		ShardIterator     string `json:"ShardIterator"`
		NextShardIterator string `json:"NextShardIterator"`
	}
	if !decodeJSON(resp.body, &out) {
		return
	}
	c.noteIterator(stream, out.ShardIterator)
	c.noteIterator(stream, out.NextShardIterator)
}

func (c *callRecorder) noteIterator(stream, iterator string) {
	if c == nil || stream == "" || iterator == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := time.Now(); now.Sub(c.rotated) >= iteratorLifetime {
		c.older, c.iterators, c.rotated = c.iterators, make(map[string]string), now
	}
	c.iterators[iterator] = stream
}

func (c *callRecorder) streamOf(iterator string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.iterators[iterator]; ok {
		return s
	}
	return c.older[iterator]
}

func (c *callRecorder) snapshot() []Call {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	out := make([]Call, 0, len(c.calls))
	for k, n := range c.calls {
		out = append(out, Call{Caller: k.caller, From: k.from, Region: k.region, Service: k.service, Operation: k.operation, Resource: k.resource, Count: n})
	}
	c.mu.Unlock()
	slices.SortFunc(out, func(a, b Call) int {
		return cmp.Or(cmp.Compare(a.Caller, b.Caller), cmp.Compare(a.From, b.From), cmp.Compare(a.Region, b.Region),
			cmp.Compare(a.Service, b.Service), cmp.Compare(a.Operation, b.Operation), cmp.Compare(a.Resource, b.Resource))
	})
	return out
}

// appID finds the application id in an SDK User-Agent ("... app/<id> ...").
func appID(userAgent string) string {
	for _, field := range strings.Fields(userAgent) {
		if id, ok := strings.CutPrefix(field, "app/"); ok {
			return id
		}
	}
	return ""
}

// tablesOf returns the tables a DynamoDB request names, sorted.
func tablesOf(body []byte) []string {
	var req struct {
		TableName    string                     `json:"TableName"`
		RequestItems map[string]json.RawMessage `json:"RequestItems"`
	}
	if !decodeJSON(body, &req) {
		return nil
	}
	if req.TableName != "" {
		return []string{req.TableName}
	}
	tables := make([]string, 0, len(req.RequestItems))
	for t := range req.RequestItems {
		tables = append(tables, t)
	}
	slices.Sort(tables)
	return tables
}

// Calls returns every kind of request the proxies have received since
// Start, with its count, sorted by caller, Regions, service, operation and
// resource; nil unless Options.RecordCalls is set. A request is noted on
// arrival, before a hang holds it or a fault or throttle answers it, since
// the caller needed the permission either way. Requests the world makes
// itself (CreateTables, CreateStream, replication, reading back writes)
// reach the emulators directly and are not among them.
func (w *World) Calls() []Call { return w.calls.snapshot() }
