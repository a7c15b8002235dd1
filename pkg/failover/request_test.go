package failover

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestRequestKeysAreTheJSONNamesOfRequest(t *testing.T) {
	var tags []string
	typ := reflect.TypeFor[Request]()
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		tags = append(tags, name)
	}
	got, want := slices.Sorted(slices.Values(requestKeys)), slices.Sorted(slices.Values(tags))
	if !slices.Equal(got, want) {
		t.Fatalf("got requestKeys %v, want the json names %v", got, want)
	}
}

func TestDecodeRequestNormalizes(t *testing.T) {
	req, err := DecodeRequest([]byte(`{"targetRegion":" us-east-2 ","streams":["a"," b","a"]}`), testSettings())
	if err != nil {
		t.Fatal(err)
	}
	if req.Action != ActionFailover {
		t.Errorf("got action %q, want the default %q", req.Action, ActionFailover)
	}
	if req.TargetRegion != east2 {
		t.Errorf("got targetRegion %q, want %q", req.TargetRegion, east2)
	}
	if want := []string{"a", "b"}; !slices.Equal(req.Streams, want) {
		t.Errorf("got streams %q, want %q (trimmed, duplicates dropped)", req.Streams, want)
	}
}

// FuzzDecodeRequest: any payload either decodes into a request that is valid
// and survives a round trip, or is an ErrBadRequest; it never panics.
func FuzzDecodeRequest(f *testing.F) {
	for _, seed := range []string{
		`{"targetRegion":"us-east-2"}`,
		`{"action":"status"}`,
		`{"action":"init","targetRegion":"us-east-1","streams":["s1"]}`,
		`{"targetRegion":"us-east-2","streams":["s1","s2"],"dryRun":true,"reason":"r","expectedEpoch":7,"parkPrevious":true,"requestedBy":"x","ignoreShards":{"s1":["shardId-000000000001"]}}`,
		`{"targetRegion":`, `null`, `[]`, `{"TargetRegion":"us-east-2"}`, `{"dryRun":true,"dryRun":true}`,
	} {
		f.Add([]byte(seed))
	}
	s := testSettings()
	f.Fuzz(func(t *testing.T, payload []byte) {
		req, err := DecodeRequest(payload, s)
		if err != nil {
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("got error %v, want it to wrap ErrBadRequest", err)
			}
			return
		}
		encoded, err := json.Marshal(req)
		if err != nil {
			t.Fatalf("encode decoded request: %v", err)
		}
		again, err := DecodeRequest(encoded, s)
		if err != nil {
			t.Fatalf("decoded request %s does not decode again: %v", encoded, err)
		}
		if !reflect.DeepEqual(normalized(req), normalized(again)) {
			t.Fatalf("round trip changed the request: got %+v, want %+v", again, req)
		}
	})
}

// normalized treats empty and absent collections alike, as JSON does.
func normalized(r Request) Request {
	if len(r.Streams) == 0 {
		r.Streams = nil
	}
	if len(r.IgnoreShards) == 0 {
		r.IgnoreShards = nil
	}
	for k, v := range r.IgnoreShards {
		if len(v) == 0 {
			r.IgnoreShards[k] = nil
		}
	}
	return r
}
