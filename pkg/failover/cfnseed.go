package failover

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// The deploy-time seed. Each Region stack has a CloudFormation custom
// resource served by the CDK provider framework, whose onEvent handler is
// this function. The framework invokes it synchronously with the
// custom-resource event and fails the resource when the invocation returns
// an error, so a seed that leaves a stream without a config item fails the
// deployment instead of leaving that stream's replicators to fail closed.

const (
	// SeedRequestProperty is the custom resource's property that carries the
	// init request as a JSON string: CloudFormation hands every property
	// value to the provider as a string, so a nested object would arrive
	// with its booleans and numbers turned into strings.
	SeedRequestProperty = "InitRequest"
	// SeedPhysicalResourceID is the seed's physical resource id. It never
	// changes, so CloudFormation never takes an Update for a replacement
	// (which would be followed by a Delete of the "old" seed).
	SeedPhysicalResourceID = "kds-crr-seed"
)

// seedProperties are the properties a seed event may carry: CloudFormation's
// own, which it passes on too, and the request.
var seedProperties = []string{"ServiceToken", "ServiceTimeout", SeedRequestProperty}

// ErrSeedFailed marks a seed that could not create every config item it
// was asked for: the deployment must fail.
var ErrSeedFailed = errors.New("seed of the active-Region config failed")

// seedErrorLimit keeps a failed seed's message well inside the 4 KB
// response CloudFormation accepts from a custom resource: the provider
// framework sends it back as the reason, with a stack trace of its own.
const seedErrorLimit = 1500

// customResourceEvent is what the seed reads of a CloudFormation
// custom-resource request. The provider framework also sends ResponseURL,
// ServiceToken, ResourceType and, on Update, OldResourceProperties: the
// seed needs none of them.
type customResourceEvent struct {
	RequestType        string                     `json:"RequestType"`
	RequestID          string                     `json:"RequestId"`
	StackID            string                     `json:"StackId"`
	LogicalResourceID  string                     `json:"LogicalResourceId"`
	PhysicalResourceID string                     `json:"PhysicalResourceId"`
	ResourceProperties map[string]json.RawMessage `json:"ResourceProperties"`
}

// customResourceEventIn tells a custom-resource event from a failover
// request: an event is a JSON object with a top-level RequestType or
// ResourceProperties, keys the strict request decoding refuses anyway, so
// no valid request is ever taken for an event. ok with an error is an
// event that cannot be served.
func customResourceEventIn(payload []byte) (ev customResourceEvent, ok bool, err error) {
	var top map[string]json.RawMessage
	if json.Unmarshal(payload, &top) != nil {
		return ev, false, nil
	}
	_, hasType := top["RequestType"]
	_, hasProps := top["ResourceProperties"]
	if !hasType && !hasProps {
		return ev, false, nil
	}
	if err := json.Unmarshal(payload, &ev); err != nil {
		return ev, true, malformedEvent("%v", err)
	}
	switch ev.RequestType {
	case "Create", "Update", "Delete":
		return ev, true, nil
	default:
		return ev, true, malformedEvent("RequestType %q, want Create, Update or Delete", ev.RequestType)
	}
}

func malformedEvent(format string, args ...any) error {
	return fmt.Errorf("%w: malformed CloudFormation custom-resource event: %s", ErrBadRequest, fmt.Sprintf(format, args...))
}

// seed serves a custom-resource event. Create and Update run the init
// request of the resource's properties and fail unless every stream's
// config item was created or already existed. Delete succeeds without
// touching anything: deleting a stack never deletes config items, which
// hold the active Region an operator may have moved.
func (h *Handler) seed(ctx context.Context, ev customResourceEvent) (Report, error) {
	log := h.log.With("requestType", ev.RequestType, "stackId", ev.StackID, "logicalResourceId", ev.LogicalResourceID)
	if ev.RequestType == "Delete" {
		log.InfoContext(ctx, "seed deleted: config items left in place")
		return Report{
			Streams:  []StreamReport{},
			Actions:  []string{"custom resource deleted: config items left in place"},
			Warnings: []string{},
			// The framework refuses a Delete answer that changes the id.
			PhysicalResourceID: ev.PhysicalResourceID,
		}, nil
	}
	req, err := h.seedRequest(ev)
	if err != nil {
		log.ErrorContext(ctx, "seed rejected", "error", err.Error())
		return Report{}, err
	}
	inv, err := h.run(ctx, req)
	if err != nil {
		return Report{}, fmt.Errorf("%w: %w", ErrSeedFailed, err)
	}
	if err := notSeeded(inv); err != nil {
		log.ErrorContext(ctx, "seed failed", "error", err.Error())
		return Report{}, err
	}
	report := inv.report
	report.PhysicalResourceID = SeedPhysicalResourceID
	return report, nil
}

// seedRequest decodes the init request carried by the event, as strictly
// as an invocation payload. Only init may be carried, so a template can
// never fail over or park a replicator.
func (h *Handler) seedRequest(ev customResourceEvent) (Request, error) {
	if ev.ResourceProperties == nil {
		return Request{}, malformedEvent("no ResourceProperties, want %s with the init request", SeedRequestProperty)
	}
	for key := range ev.ResourceProperties {
		if !slices.Contains(seedProperties, key) {
			return Request{}, malformedEvent("unknown property %q, want only %s", key, strings.Join(seedProperties, ", "))
		}
	}
	raw, ok := ev.ResourceProperties[SeedRequestProperty]
	if !ok {
		return Request{}, malformedEvent("ResourceProperties has no %s, want the init request as a JSON string", SeedRequestProperty)
	}
	var body string
	if err := json.Unmarshal(raw, &body); err != nil {
		return Request{}, malformedEvent(`%s is %s, want the init request as a JSON string such as "{\"action\":\"init\",...}"`, SeedRequestProperty, raw)
	}
	req, err := DecodeRequest([]byte(body), h.settings)
	if err != nil {
		return Request{}, fmt.Errorf("custom resource property %s: %w", SeedRequestProperty, err)
	}
	switch {
	case req.Action != ActionInit:
		return Request{}, fmt.Errorf("%w: custom resource property %s asks for action %q: a stack may only seed config items with %s",
			ErrBadRequest, SeedRequestProperty, req.Action, ActionInit)
	case req.DryRun:
		return Request{}, fmt.Errorf("%w: custom resource property %s asks for a dry run, which creates no config item for the replicators",
			ErrBadRequest, SeedRequestProperty)
	}
	if req.RequestedBy == "" {
		req.RequestedBy = "CloudFormation " + ev.StackID
	}
	if req.Reason == "" {
		req.Reason = "deploy-time seed (" + ev.RequestType + ")"
	}
	return req, nil
}

// notSeeded names every stream that init left without a config item, with
// the cause.
func notSeeded(inv *invocation) error {
	var failed []string
	for _, s := range inv.report.Streams {
		if slices.Contains([]string{StatusCreated, StatusExists}, s.Status) {
			continue
		}
		cause := "status " + s.Status
		if err := inv.createErrs[s.StreamName]; err != nil {
			cause = err.Error()
		}
		failed = append(failed, fmt.Sprintf("stream %s: %s", s.StreamName, cause))
	}
	if len(failed) == 0 {
		return nil
	}
	return fmt.Errorf("%w: no config item for %d of %d stream(s), so their replicators would fail closed: %s",
		ErrSeedFailed, len(failed), len(inv.report.Streams), truncate(strings.Join(failed, "; "), seedErrorLimit))
}

// truncate cuts s to at most limit bytes on a rune boundary, saying where
// the rest is.
func truncate(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + " … (the failover function's log has the full report)"
}
