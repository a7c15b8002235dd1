package replicator

import (
	"context"
	"time"

	"github.com/kinesis-crr/kinesis-crr/pkg/activeregion"
)

// minRecordLimit is the least a stream's record size limit can be
// (UpdateMaxRecordSize takes 1,024 to 10,240 KiB): a record whose partition
// key and data fit in it fits every stream, whatever its limit.
const minRecordLimit = 1 << 20

// prefetchTimeout bounds a read run in the background, which no
// invocation's context covers.
const prefetchTimeout = 10 * time.Second

// warmingFence is the fence the rule reads through. The rule reads the
// fence only for a batch with records to replicate, so a fence read is the
// first sign that this Region writes: it starts, beside it, the reads of the
// target stream the writes need (warm), so a cold instance waits one
// cross-Region round trip before its first write instead of three, and a
// warm one renews them before a batch would wait. A Region that replicates
// nothing reads no fence and so reaches nothing in the target Region.
type warmingFence struct {
	activeregion.Getter
	warm func(stream string)
}

func (f warmingFence) Get(ctx context.Context, stream string) (activeregion.Config, error) {
	f.warm(stream)
	return f.Getter.Get(ctx, stream)
}

// warmTarget starts, in the background, the reads of stream's target stream
// that are due: the shard map the writer paces by
// (putrecords.Writer.PrefetchShards) and the record size limit.
func (h *Handler) warmTarget(stream string) {
	if h.async == nil {
		return
	}
	target := h.settings.NameMap.Target(stream)
	h.prefetchRecordLimit(target)
	h.async(func() {
		ctx, cancel := context.WithTimeout(context.Background(), prefetchTimeout)
		defer cancel()
		if err := h.writer.PrefetchShards(ctx, target); err != nil {
			h.warnUnpaced(ctx, target, err)
		}
	})
}

// prefetchRecordLimit reads the target stream's record size limit in the
// background when it is unknown or half its recordLimitTTL old, unless such
// a read is under way.
func (h *Handler) prefetchRecordLimit(stream string) {
	if h.async == nil {
		return
	}
	h.limitsMu.Lock()
	cached, ok := h.limits[stream]
	due := (!ok || h.now().Sub(cached.readAt) >= recordLimitTTL/2) && !h.limitReads[stream]
	if due {
		h.limitReads[stream] = true
	}
	h.limitsMu.Unlock()
	if !due {
		return
	}
	h.async(func() {
		defer func() {
			h.limitsMu.Lock()
			delete(h.limitReads, stream)
			h.limitsMu.Unlock()
		}()
		ctx, cancel := context.WithTimeout(context.Background(), prefetchTimeout)
		defer cancel()
		h.readRecordLimit(ctx, stream, cached)
	})
}
