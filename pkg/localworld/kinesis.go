package localworld

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

const getShardIteratorTarget = "Kinesis_20131202.GetShardIterator"

// atTimestampRequest is a GetShardIterator request of type AT_TIMESTAMP,
// the one kinesalite gets wrong: on a shard with no record at or after the
// timestamp it never answers, where Kinesis gives an iterator that reads
// what arrives next.
type atTimestampRequest struct {
	StreamName        string  `json:"StreamName"`
	ShardID           string  `json:"ShardId"`
	ShardIteratorType string  `json:"ShardIteratorType"`
	Timestamp         float64 `json:"Timestamp"`
}

// asAtTimestamp reads r as an AT_TIMESTAMP GetShardIterator request.
func asAtTimestamp(r *http.Request, body []byte) (atTimestampRequest, bool) {
	if r.Header.Get("X-Amz-Target") != getShardIteratorTarget {
		return atTimestampRequest{}, false
	}
	var req atTimestampRequest
	if json.Unmarshal(body, &req) != nil || req.ShardIteratorType != string(types.ShardIteratorTypeAtTimestamp) || req.Timestamp <= 0 {
		return atTimestampRequest{}, false
	}
	return req, true
}

// serveAtTimestamp answers an AT_TIMESTAMP request as Kinesis does: an
// iterator at the shard's first record that arrived at or after the
// timestamp, or, when none has, one that reads whatever arrives next. The
// LATEST iterator is taken before the scan, so a record that arrives
// during the scan is read by one or the other.
func (e *endpoint) serveAtTimestamp(ctx context.Context, rw http.ResponseWriter, req atTimestampRequest) {
	// The limiter's client reaches the same emulator; one per request
	// would open connections afresh each time.
	iterator, err := firstAtOrAfter(ctx, e.w.limiters[e.region].client, req)
	if err != nil {
		if ctx.Err() == nil {
			writeError(rw, Kinesis, http.StatusBadRequest, "InvalidArgumentException", fmt.Sprintf("localworld: GetShardIterator AT_TIMESTAMP: %v", err))
		}
		return
	}
	e.w.calls.noteIterator(req.StreamName, iterator)
	b, err := json.Marshal(map[string]string{"ShardIterator": iterator})
	if err != nil {
		writeError(rw, Kinesis, http.StatusInternalServerError, "InternalFailure", err.Error())
		return
	}
	writeJSON(rw, b)
}

func firstAtOrAfter(ctx context.Context, client *kinesis.Client, req atTimestampRequest) (string, error) {
	sec, frac := int64(req.Timestamp), req.Timestamp-float64(int64(req.Timestamp))
	at := time.Unix(sec, int64(frac*1e9))
	in := func(t types.ShardIteratorType) *kinesis.GetShardIteratorInput {
		return &kinesis.GetShardIteratorInput{StreamName: aws.String(req.StreamName), ShardId: aws.String(req.ShardID), ShardIteratorType: t}
	}
	latest, err := client.GetShardIterator(ctx, in(types.ShardIteratorTypeLatest))
	if err != nil {
		return "", err
	}
	from, err := client.GetShardIterator(ctx, in(types.ShardIteratorTypeTrimHorizon))
	if err != nil {
		return "", err
	}
	for iter := from.ShardIterator; iter != nil; {
		out, err := client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(10000)})
		if err != nil {
			return "", err
		}
		for _, r := range out.Records {
			if !aws.ToTime(r.ApproximateArrivalTimestamp).Before(at) {
				it, err := client.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
					StreamName: aws.String(req.StreamName), ShardId: aws.String(req.ShardID),
					ShardIteratorType: types.ShardIteratorTypeAtSequenceNumber, StartingSequenceNumber: r.SequenceNumber,
				})
				if err != nil {
					return "", err
				}
				return aws.ToString(it.ShardIterator), nil
			}
		}
		if len(out.Records) == 0 {
			break
		}
		iter = out.NextShardIterator
	}
	if latest.ShardIterator == nil {
		return "", errors.New("kinesalite gave no LATEST iterator")
	}
	return aws.ToString(latest.ShardIterator), nil
}
