package checkpoint

import (
	"errors"
	"fmt"
	"math/bits"
)

// WrittenBeyond names the records of a shard after a checkpoint's
// acknowledged prefix that were written too: an invocation that stopped
// (its deadline, a record handed back) or died mid-batch wrote records after
// the first one it did not write, and the batch comes again from that one.
// A redelivery leaves out what it names, as it leaves out the prefix.
//
// Records are named by their place in the shard, counted from From, the
// first record after the prefix (place 0, never written, or it would be in
// the prefix): a batch is a contiguous run of its shard, so a delivery that
// holds From holds the records after it in the same places, whatever its
// size. Bit k of Written (byte k/8, bit k%8) is the record at place k.
type WrittenBeyond struct {
	From    string `dynamodbav:"from" json:"from"`
	Written []byte `dynamodbav:"written" json:"written"`
	// Count is the number of places Written names: Save keeps the item
	// naming the most, so a later save of the same prefix that knows more
	// replaces one that knows less, and never the other way round.
	Count int `dynamodbav:"count" json:"count"`
}

// maxBeyondPlaces bounds the places WrittenBeyond names: the largest batch
// an event source mapping delivers is 10,000 records.
const maxBeyondPlaces = 10000

// NewWrittenBeyond names the places written[k] marks, counted from from; nil
// when none is marked.
func NewWrittenBeyond(from string, written []bool) *WrittenBeyond {
	wb := &WrittenBeyond{From: from}
	for k, w := range written {
		if !w || k == 0 {
			continue
		}
		for len(wb.Written) <= k/8 {
			wb.Written = append(wb.Written, 0)
		}
		wb.Written[k/8] |= 1 << (k % 8)
		wb.Count++
	}
	if wb.Count == 0 {
		return nil
	}
	return wb
}

// Named is how many records wb names: Count, or 0 for nil.
func (wb *WrittenBeyond) Named() int {
	if wb == nil {
		return 0
	}
	return wb.Count
}

// Has reports whether place k is named.
func (wb *WrittenBeyond) Has(k int) bool {
	return wb != nil && k > 0 && k/8 < len(wb.Written) && wb.Written[k/8]&(1<<(k%8)) != 0
}

// validate reports the first field that would make wb name wrong records.
func (wb *WrittenBeyond) validate(last string) error {
	if err := checkCanonical(wb.From); err != nil {
		return fmt.Errorf("from: %w", err)
	}
	if c, _ := CompareSequenceNumbers(wb.From, last); c <= 0 {
		return fmt.Errorf("from %s is not after lastSequenceNumber %s", wb.From, last)
	}
	if len(wb.Written) > (maxBeyondPlaces+7)/8 {
		return fmt.Errorf("written names places beyond %d, the largest batch", maxBeyondPlaces)
	}
	if len(wb.Written) > 0 && wb.Written[0]&1 != 0 {
		return errors.New("written names place 0, the first record not written")
	}
	n := 0
	for _, b := range wb.Written {
		n += bits.OnesCount8(b)
	}
	if n == 0 || n != wb.Count {
		return fmt.Errorf("count is %d, written names %d places: want the same, and at least one", wb.Count, n)
	}
	return nil
}
