package putrecords

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
)

// failingBatch is n records over keys keys, cycled (n/keys records of each
// key, spread through the batch), with entryCodes failing a seeded share
// of first attempts with InternalFailure.
func failingBatch(f *fakeKinesis, seed uint64, prefix string, n, keys int, share float64) []Record {
	rng := rand.New(rand.NewPCG(seed, 1))
	recs := make([]Record, n)
	for i := range recs {
		data := fmt.Sprintf("%s-%d", prefix, i)
		recs[i] = Record{SequenceNumber: fmt.Sprint(i + 1), PartitionKey: fmt.Sprintf("key-%d", i%keys), Data: []byte(data)}
		if rng.Float64() < share {
			f.entryCodes[data] = []string{"InternalFailure"}
		}
	}
	return recs
}

// TestAWriterThatSawFailuresSendsFewRecordsOfAKeyPerRoundSoAFailureResendsLittle:
// 10 % of entries failing, 5 records of each key in a 500-record batch. The
// first Write learns of the failures; the next, careful, sends at most
// carefulPerKey records of a key per round, so each failure can force at
// most one later copy of its key to be written again.
func TestAWriterThatSawFailuresSendsFewRecordsOfAKeyPerRoundSoAFailureResendsLittle(t *testing.T) {
	f := newFake()
	f.entryCodes = map[string][]string{}
	w := NewWriter(f, Options{Concurrency: 1, Sleep: noSleep, Jitter: identityJitter})
	const n, keys = 500, 100

	first := failingBatch(f, 1, "first", n, keys, 0.10)
	res1 := w.Write(context.Background(), Batch{Stream: "s1", Records: first})
	checkLastCopiesInOrder(t, f, first, res1)
	second := failingBatch(f, 2, "second", n, keys, 0.10)
	res2 := w.Write(context.Background(), Batch{Stream: "s1", Records: second})
	checkLastCopiesInOrder(t, f, second, res2)

	for _, res := range []Result{res1, res2} {
		if res.Stats.Written != n {
			t.Fatalf("wrote %d of %d records: %+v", res.Stats.Written, n, res.Stats)
		}
	}
	t.Logf("resent per record: %.3f unbounded, %.3f careful", float64(res1.Stats.Resent)/n, float64(res2.Stats.Resent)/n)
	if res1.Stats.Resent <= res2.Stats.Resent {
		t.Errorf("careful Write resent %d, no fewer than the first's %d", res2.Stats.Resent, res1.Stats.Resent)
	}
	if float64(res2.Stats.Resent) > 0.05*n {
		t.Errorf("careful Write resent %d records, want at most 5 %% of %d", res2.Stats.Resent, n)
	}
}

func TestThrottlingAloneLeavesTheWriterBatchingFreely(t *testing.T) {
	f := newFake()
	f.entryCodes = map[string][]string{}
	w := NewWriter(f, Options{Concurrency: 1, Sleep: noSleep, Jitter: identityJitter})
	recs := records("k", "k", "k", "k")
	f.entryCodes[string(recs[0].Data)] = []string{"ProvisionedThroughputExceededException"}
	w.Write(context.Background(), Batch{Stream: "s1", Records: recs})
	if w.failedRecently(w.opts.Now()) {
		t.Error("a throttle made the writer careful; only other failures should")
	}
	recs2 := []Record{{SequenceNumber: "2000", PartitionKey: "j", Data: []byte("j0")}, {SequenceNumber: "2001", PartitionKey: "j", Data: []byte("j1")}}
	f.entryCodes["j0"] = []string{"InternalFailure"}
	w.Write(context.Background(), Batch{Stream: "s1", Records: recs2})
	if !w.failedRecently(w.opts.Now()) {
		t.Error("an internal failure left the writer batching freely")
	}
}
