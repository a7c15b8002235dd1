package failover

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/kinesis-crr/kinesis-crr/pkg/activeregion"
)

// Actions of a failover invocation.
const (
	ActionFailover = "failover"
	ActionStatus   = "status"
	ActionInit     = "init"
)

// Request is the invocation payload (docs/cli.md, Payload).
type Request struct {
	// Action is failover (the default), status or init.
	Action string `json:"action,omitempty"`
	// TargetRegion is the Region to activate (failover) or to create the
	// config items with (init).
	TargetRegion string `json:"targetRegion,omitempty"`
	// Streams to act on; empty means every stream of the config table
	// (failover, status). init needs them named.
	Streams []string `json:"streams,omitempty"`
	// DryRun computes the full report and writes nothing.
	DryRun bool `json:"dryRun,omitempty"`
	// Reason and RequestedBy go into each new history entry: the audit trail.
	Reason      string `json:"reason,omitempty"`
	RequestedBy string `json:"requestedBy,omitempty"`
	// ExpectedEpoch fences a failover: a stream at another epoch is left as
	// it is and reported as staleEpoch.
	ExpectedEpoch *int64 `json:"expectedEpoch,omitempty"`
	// ParkPrevious sets the previous Region's replicator to reserved
	// concurrency 0 after the switch.
	ParkPrevious bool `json:"parkPrevious,omitempty"`
	// IgnoreShards maps a stream to shards left out of its resume point, for
	// idle or closed shards whose old checkpoint would hold it back.
	IgnoreShards map[string][]string `json:"ignoreShards,omitempty"`
	// Mode is what the switch does with the old Region's backlog: rewind
	// (the default; producers resend from resumeFrom) or drain.
	Mode activeregion.Mode `json:"mode,omitempty"`
	// Force switches a stream whose previous switch has not settled yet;
	// the switch then starts when that one settles.
	Force bool `json:"force,omitempty"`
}

// ErrBadRequest marks every payload error: nothing was read or written.
var ErrBadRequest = errors.New("bad failover request")

// DecodeRequest decodes payload strictly (unknown fields and trailing data are
// errors) and validates it against the Regions of s. Errors wrap
// ErrBadRequest and say what would be accepted.
func DecodeRequest(payload []byte, s Settings) (Request, error) {
	req, err := decodeStrict(payload)
	if err != nil {
		return Request{}, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	if err := req.validate(s); err != nil {
		return Request{}, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	return req, nil
}

func decodeStrict(payload []byte) (Request, error) {
	if len(bytes.TrimSpace(payload)) == 0 {
		return Request{}, errors.New(`payload is empty, want a JSON object such as {"targetRegion":"us-east-2"}`)
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	var req Request
	if err := dec.Decode(&req); err != nil {
		return Request{}, fmt.Errorf("payload is not a valid request object: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Request{}, errors.New("payload has data after the request object")
	}
	if err := checkKeys(payload); err != nil {
		return Request{}, err
	}
	return req, nil
}

// requestKeys are the payload's field names, spelt exactly.
var requestKeys = []string{"action", "targetRegion", "streams", "dryRun", "reason", "requestedBy", "expectedEpoch", "parkPrevious", "ignoreShards", "mode", "force"}

// checkKeys refuses what encoding/json lets through: keys that match a field
// only case-insensitively, and keys given twice (the last would silently win).
func checkKeys(payload []byte) error {
	dec := json.NewDecoder(bytes.NewReader(payload))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil // null: nothing to check
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("payload is not a valid request object: %w", err)
		}
		key, _ := tok.(string)
		if !slices.Contains(requestKeys, key) {
			if i := slices.IndexFunc(requestKeys, func(k string) bool { return strings.EqualFold(k, key) }); i >= 0 {
				return fmt.Errorf("unknown field %q (did you mean %q?)", key, requestKeys[i])
			}
			return fmt.Errorf("unknown field %q", key)
		}
		if seen[key] {
			return fmt.Errorf("field %q is given twice", key)
		}
		seen[key] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return fmt.Errorf("payload is not a valid request object: %w", err)
		}
	}
	return nil
}

func (r *Request) validate(s Settings) error {
	r.TargetRegion = strings.TrimSpace(r.TargetRegion)
	if r.Action == "" {
		r.Action = ActionFailover
	}
	switch r.Action {
	case ActionFailover, ActionInit:
		if r.TargetRegion == "" {
			return fmt.Errorf("targetRegion is required for %s, one of %s", r.Action, strings.Join(s.Regions, ", "))
		}
	case ActionStatus:
		if r.ExpectedEpoch != nil || r.ParkPrevious || r.Mode != "" || r.Force {
			return errors.New("expectedEpoch, parkPrevious, mode and force only apply to the failover action")
		}
	default:
		return fmt.Errorf("unknown action %q, want %s, %s or %s", r.Action, ActionFailover, ActionStatus, ActionInit)
	}
	if r.TargetRegion != "" && !slices.Contains(s.Regions, r.TargetRegion) {
		return fmt.Errorf("targetRegion %q is not one of the Regions allowed: %s", r.TargetRegion, strings.Join(s.Regions, ", "))
	}
	if r.Action == ActionInit {
		if len(r.Streams) == 0 {
			return errors.New("init needs the streams to create config items for")
		}
		if r.ExpectedEpoch != nil || r.ParkPrevious || r.Mode != "" || r.Force {
			return errors.New("expectedEpoch, parkPrevious, mode and force only apply to the failover action")
		}
	}
	if r.Action == ActionFailover {
		mode, err := activeregion.ParseMode(string(r.Mode))
		if err != nil {
			return err
		}
		r.Mode = mode
	}
	if r.ExpectedEpoch != nil && *r.ExpectedEpoch < 1 {
		return fmt.Errorf("expectedEpoch %d is not an epoch: epochs start at 1", *r.ExpectedEpoch)
	}
	streams := make([]string, 0, len(r.Streams))
	for i, name := range r.Streams {
		name = strings.TrimSpace(name)
		if name == "" {
			return fmt.Errorf("streams[%d] is empty", i)
		}
		if !slices.Contains(streams, name) {
			streams = append(streams, name)
		}
	}
	r.Streams = streams
	for stream, shards := range r.IgnoreShards {
		if len(r.Streams) > 0 && !slices.Contains(r.Streams, stream) {
			return fmt.Errorf("ignoreShards names stream %q, which is not among the streams requested (%s)", stream, strings.Join(r.Streams, ", "))
		}
		for i, shard := range shards {
			if strings.TrimSpace(shard) == "" {
				return fmt.Errorf("ignoreShards[%q][%d] is empty", stream, i)
			}
		}
	}
	return nil
}
