package localworld

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"net/http"
	"strconv"

	"github.com/kinesis-crr/kinesis-crr/pkg/pause"
)

const (
	putRecordsTarget = "Kinesis_20131202.PutRecords"
	putRecordTarget  = "Kinesis_20131202.PutRecord"
)

// reshardTargets change a stream's shards: the limiter lists them again.
var reshardTargets = map[string]bool{
	"Kinesis_20131202.SplitShard":       true,
	"Kinesis_20131202.MergeShards":      true,
	"Kinesis_20131202.UpdateShardCount": true,
	"Kinesis_20131202.DeleteStream":     true,
}

// slot is one entry's answer in a PutRecords response.
type slot struct {
	SequenceNumber string `json:"SequenceNumber,omitempty"`
	ShardID        string `json:"ShardId,omitempty"`
	ErrorCode      string `json:"ErrorCode,omitempty"`
	ErrorMessage   string `json:"ErrorMessage,omitempty"`
}

// putRecordsResponse is PutRecords' answer; the emulator's is read into it
// too.
type putRecordsResponse struct {
	FailedRecordCount int    `json:"FailedRecordCount"`
	Records           []slot `json:"Records"`
	EncryptionType    string `json:"EncryptionType,omitempty"`
}

// servePutRecords answers a PutRecords as a Kinesis whose shards have
// write limits would: entries over their shard's limit (or failed by an
// injected fault) are answered in their slot; the rest go to the emulator
// as one PutRecords, in their order; the answers are merged back by index.
// A request the limiter cannot read goes to the emulator untouched, for it
// to refuse as Kinesis would.
func (e *endpoint) servePutRecords(ctx context.Context, rw http.ResponseWriter, r *http.Request, body []byte) {
	l, fl := e.w.limiters[e.region], e.w.faulters[e.region]
	var top map[string]json.RawMessage
	var req struct {
		StreamName string            `json:"StreamName"`
		StreamARN  string            `json:"StreamARN"`
		Records    []json.RawMessage `json:"Records"`
	}
	if !decodeJSON(body, &top) || !decodeJSON(body, &req) || len(req.Records) == 0 || len(req.Records) > 500 {
		e.forwardAndRelay(ctx, rw, r, body)
		return
	}
	stream := streamNameOf(req.StreamName, req.StreamARN)
	shards, err := l.shards(ctx, stream)
	if err != nil {
		e.forwardAndRelay(ctx, rw, r, body) // an unknown stream: the emulator says so
		return
	}
	type placed struct {
		shard string
		size  int
	}
	entries := make([]placed, len(req.Records))
	for i, raw := range req.Records {
		var pe putEntry
		if !decodeJSON(raw, &pe) {
			e.forwardAndRelay(ctx, rw, r, body)
			return
		}
		shard, size, ok := placeEntry(shards, pe)
		if !ok {
			e.forwardAndRelay(ctx, rw, r, body)
			return
		}
		entries[i] = placed{shard, size}
	}

	n := int64(len(entries))
	l.count(func(s *KinesisStats) { s.Requests++; s.Entries += n })
	plan := fl.plan(len(entries))
	switch {
	case plan.requestError:
		l.count(func(s *KinesisStats) { s.Faulted += n })
		writeError(rw, Kinesis, http.StatusInternalServerError, "InternalFailure", "localworld: injected internal failure")
		return
	case plan.resetBefore:
		l.count(func(s *KinesisStats) { s.Faulted += n; s.Resets++ })
		resetConnection(rw)
		return
	}

	answer := make([]slot, len(entries))
	var admitted []int
	var throttled, faulted int64
	for i, en := range entries {
		switch {
		case plan.entryError != nil && plan.entryError[i]:
			answer[i] = slot{ErrorCode: "InternalFailure", ErrorMessage: "Internal service failure."}
			faulted++
		case !l.admit(shards, en.shard, en.size):
			answer[i] = slot{ErrorCode: "ProvisionedThroughputExceededException", ErrorMessage: throttleMessage(en.shard, stream)}
			throttled++
		default:
			admitted = append(admitted, i)
		}
	}
	l.count(func(s *KinesisStats) {
		s.Throttled += throttled
		s.Faulted += faulted
		s.Admitted += int64(len(admitted))
	})

	var encryption string
	if len(admitted) > 0 {
		subset := make([]json.RawMessage, len(admitted))
		for j, i := range admitted {
			subset[j] = req.Records[i]
		}
		records, err := json.Marshal(subset)
		if err != nil {
			writeError(rw, Kinesis, http.StatusInternalServerError, "InternalFailure", err.Error())
			return
		}
		top["Records"] = records
		fwd, err := json.Marshal(top)
		if err != nil {
			writeError(rw, Kinesis, http.StatusInternalServerError, "InternalFailure", err.Error())
			return
		}
		resp, ok := e.forwardOrFail(ctx, rw, r, fwd)
		if !ok {
			return
		}
		var got putRecordsResponse
		if resp.status != http.StatusOK || !decodeJSON(resp.body, &got) || len(got.Records) != len(admitted) {
			e.answer(ctx, rw, plan, resp.write) // the emulator's own refusal, as it gave it
			return
		}
		for j, i := range admitted {
			answer[i] = got.Records[j]
			if s := got.Records[j].ShardID; s != "" && !l.knows(stream, s) {
				l.forget(stream) // resharded past the proxy: list again
			}
		}
		encryption = got.EncryptionType
	}
	out := putRecordsResponse{Records: answer, EncryptionType: encryption}
	for _, s := range answer {
		if s.ErrorCode != "" {
			out.FailedRecordCount++
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		writeError(rw, Kinesis, http.StatusInternalServerError, "InternalFailure", err.Error())
		return
	}
	e.answer(ctx, rw, plan, func(rw http.ResponseWriter) { writeJSON(rw, b) })
}

// servePutRecord answers a PutRecord: over its shard's limit it is refused
// whole, with the ProvisionedThroughputExceededException Kinesis gives.
func (e *endpoint) servePutRecord(ctx context.Context, rw http.ResponseWriter, r *http.Request, body []byte) {
	l, fl := e.w.limiters[e.region], e.w.faulters[e.region]
	var req struct {
		putEntry
		StreamName string `json:"StreamName"`
		StreamARN  string `json:"StreamARN"`
	}
	if !decodeJSON(body, &req) {
		e.forwardAndRelay(ctx, rw, r, body)
		return
	}
	stream := streamNameOf(req.StreamName, req.StreamARN)
	shards, err := l.shards(ctx, stream)
	if err != nil {
		e.forwardAndRelay(ctx, rw, r, body)
		return
	}
	shard, size, ok := placeEntry(shards, req.putEntry)
	if !ok {
		e.forwardAndRelay(ctx, rw, r, body)
		return
	}
	l.count(func(s *KinesisStats) { s.Requests++; s.Entries++ })
	plan := fl.plan(1)
	switch {
	case plan.requestError:
		l.count(func(s *KinesisStats) { s.Faulted++ })
		writeError(rw, Kinesis, http.StatusInternalServerError, "InternalFailure", "localworld: injected internal failure")
		return
	case plan.resetBefore:
		l.count(func(s *KinesisStats) { s.Faulted++; s.Resets++ })
		resetConnection(rw)
		return
	case !l.admit(shards, shard, size):
		l.count(func(s *KinesisStats) { s.Throttled++ })
		writeError(rw, Kinesis, http.StatusBadRequest, "ProvisionedThroughputExceededException", throttleMessage(shard, stream))
		return
	}
	l.count(func(s *KinesisStats) { s.Admitted++ })
	resp, ok := e.forwardOrFail(ctx, rw, r, body)
	if !ok {
		return
	}
	var got slot
	if resp.status == http.StatusOK && decodeJSON(resp.body, &got) && got.ShardID != "" && !l.knows(stream, got.ShardID) {
		l.forget(stream)
	}
	e.answer(ctx, rw, plan, resp.write)
}

// answer gives a forwarded request's answer, unless a fault holds it for a
// while first or cuts the connection instead.
func (e *endpoint) answer(ctx context.Context, rw http.ResponseWriter, plan faultPlan, write func(http.ResponseWriter)) {
	l := e.w.limiters[e.region]
	if plan.stall > 0 {
		l.count(func(s *KinesisStats) { s.Stalls++ })
		if pause.For(ctx, plan.stall) != nil {
			return // the client gave up; the write stands
		}
	}
	if plan.resetAfter {
		l.count(func(s *KinesisStats) { s.Resets++ })
		resetConnection(rw)
		return
	}
	write(rw)
}

// forwardAndRelay passes the request to the emulator and its answer back.
func (e *endpoint) forwardAndRelay(ctx context.Context, rw http.ResponseWriter, r *http.Request, body []byte) {
	if resp, ok := e.forwardOrFail(ctx, rw, r, body); ok {
		resp.write(rw)
	}
}

// forwardOrFail sends body to the emulator; when that fails it answers the
// client itself (unless the client left) and returns false.
func (e *endpoint) forwardOrFail(ctx context.Context, rw http.ResponseWriter, r *http.Request, body []byte) (*upstreamResponse, bool) {
	resp, err := e.w.forward(ctx, e.upstream, r, body)
	if err != nil {
		if ctx.Err() == nil {
			writeError(rw, e.service, http.StatusBadGateway, "InternalFailure", fmt.Sprintf("localworld: %s of %s: %v", e.service, e.w.regions[e.region], err))
		}
		return nil, false
	}
	return resp, true
}

// writeJSON answers 200 with a Kinesis JSON body.
func writeJSON(rw http.ResponseWriter, b []byte) {
	h := rw.Header()
	h.Set("Content-Type", "application/x-amz-json-1.1")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(b)), 10))
	rw.WriteHeader(http.StatusOK)
	_, _ = rw.Write(b)
}
