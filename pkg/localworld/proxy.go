package localworld

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"strconv"
	"sync"

	"github.com/kinesis-crr/kinesis-crr/pkg/pause"
)

// endpoint is one URL of one service of one Region: the Region's own, or
// the one callers in the other Region use, which adds the cross-Region
// latency.
type endpoint struct {
	w        *World
	service  string
	region   int
	cross    bool
	upstream string
}

func (e *endpoint) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if !e.w.handlers.enter() {
		writeError(rw, e.service, http.StatusServiceUnavailable, "ServiceUnavailable", "localworld is closed")
		return
	}
	defer e.w.handlers.leave()

	// Reading the whole body first is also what lets net/http notice a
	// client that hangs up while the request is held.
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return // the client went away mid-request
	}
	stream := e.w.calls.noteRequest(e, r, body)
	ctx, stop := e.w.requestContext(r.Context())
	defer stop()
	if e.cross {
		if err := pause.For(ctx, e.w.crossRegionLatency()); err != nil {
			e.abandon(rw)
			return
		}
	}
	if err := e.w.gates[e.region].wait(ctx); err != nil {
		e.abandon(rw)
		return
	}

	if e.service == DynamoDB {
		e.w.serveDynamoDB(ctx, rw, r, body, e.w.replicas[e.region])
		return
	}
	if req, ok := asAtTimestamp(r, body); ok {
		e.serveAtTimestamp(ctx, rw, req)
		return
	}
	switch target := r.Header.Get("X-Amz-Target"); {
	case e.w.calls != nil && iteratorTargets[target]:
		if resp, ok := e.forwardOrFail(ctx, rw, r, body); ok {
			e.w.calls.noteIterators(stream, resp)
			resp.write(rw)
		}
		return
	case target == putRecordsTarget:
		e.servePutRecords(ctx, rw, r, body)
		return
	case target == putRecordTarget:
		e.servePutRecord(ctx, rw, r, body)
		return
	case reshardTargets[target]:
		var req struct {
			StreamName string `json:"StreamName"`
			StreamARN  string `json:"StreamARN"`
		}
		if decodeJSON(body, &req) {
			defer e.w.limiters[e.region].forget(streamNameOf(req.StreamName, req.StreamARN))
		}
	}
	e.forwardAndRelay(ctx, rw, r, body)
}

// abandon answers a request given up while held: nobody reads the answer if
// the client left, and a closing world refuses it.
func (e *endpoint) abandon(rw http.ResponseWriter) {
	writeError(rw, e.service, http.StatusServiceUnavailable, "ServiceUnavailable", "localworld: request abandoned")
}

// requestContext ends when the client goes away or the world closes.
func (w *World) requestContext(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	stop := context.AfterFunc(w.ctx, cancel)
	return ctx, func() {
		stop()
		cancel()
	}
}

// upstreamResponse is an emulator's whole answer, read before any of it is
// relayed, so a DynamoDB write can be looked at (and replicated) first.
type upstreamResponse struct {
	status int
	header http.Header
	body   []byte
}

// hopHeaders belong to one connection and are not forwarded (RFC 9110 7.6.1).
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// forward sends the client's request, unchanged, to target. Nothing is
// re-signed: the emulators check that a signature is there, not that it is
// right.
func (w *World) forward(ctx context.Context, target string, r *http.Request, body []byte) (*upstreamResponse, error) {
	req, err := http.NewRequestWithContext(ctx, r.Method, target+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("forward to %s: %w", target, err)
	}
	req.Header = r.Header.Clone()
	for _, h := range hopHeaders {
		req.Header.Del(h)
	}
	resp, err := w.transport.RoundTrip(req)
	if err != nil {
		return nil, fmt.Errorf("forward to %s: %w", target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read answer of %s: %w", target, err)
	}
	return &upstreamResponse{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

func (u *upstreamResponse) write(rw http.ResponseWriter) {
	h := rw.Header()
	for k, vs := range u.header {
		h[k] = append([]string(nil), vs...)
	}
	for _, k := range hopHeaders {
		h.Del(k)
	}
	h.Set("Content-Length", strconv.Itoa(len(u.body)))
	rw.WriteHeader(u.status)
	_, _ = rw.Write(u.body)
}

// writeError answers in the service's JSON error shape, which the SDK turns
// into an API error with this code and message.
func writeError(rw http.ResponseWriter, service string, status int, code, message string) {
	contentType, prefix := "application/x-amz-json-1.1", ""
	if service == DynamoDB {
		contentType, prefix = "application/x-amz-json-1.0", "com.amazonaws.dynamodb.v20120810#"
	}
	b, err := json.Marshal(map[string]string{"__type": prefix + code, "message": message})
	if err != nil {
		b = []byte(`{"__type":"InternalFailure"}`)
	}
	h := rw.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(b)), 10))
	rw.WriteHeader(status)
	_, _ = rw.Write(b)
}

// gate is open (its channel closed) while a Region answers.
type gate struct {
	mu   sync.Mutex
	open chan struct{}
}

func newGate() *gate {
	c := make(chan struct{})
	close(c)
	return &gate{open: c}
}

func (g *gate) opened() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.open
}

func (g *gate) hang() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
		g.open = make(chan struct{})
	default: // already hung
	}
}

func (g *gate) heal() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open: // already healthy
	default:
		close(g.open)
	}
}

func (g *gate) isOpen() bool {
	select {
	case <-g.opened():
		return true
	default:
		return false
	}
}

func (g *gate) wait(ctx context.Context) error {
	select {
	case <-g.opened():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// tracker counts the requests inside the proxies, so Close can wait for
// them (sync.WaitGroup forbids an Add racing its Wait from zero).
type tracker struct {
	mu     sync.Mutex
	n      int
	closed bool
	idle   chan struct{}
}

func (t *tracker) enter() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.n++
	return true
}

func (t *tracker) leave() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.n--
	if t.n == 0 && t.idle != nil {
		close(t.idle)
		t.idle = nil
	}
}

func (t *tracker) closeAndWait() {
	t.mu.Lock()
	t.closed = true
	if t.n == 0 {
		t.mu.Unlock()
		return
	}
	idle := make(chan struct{})
	t.idle = idle
	t.mu.Unlock()
	<-idle
}
