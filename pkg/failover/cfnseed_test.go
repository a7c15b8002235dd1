package failover

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"
)

// TestCustomResourceEventsThroughTheLambdaHandler pushes CloudFormation
// custom-resource events, shaped as the CDK provider framework sends them,
// through the aws-lambda-go handler. The fixture state has orders and
// payments seeded; the events ask for orders and refunds.
func TestCustomResourceEventsThroughTheLambdaHandler(t *testing.T) {
	const stackID = "arn:aws:cloudformation:us-east-1:123456789012:stack/KdsCrr-us-east-1/5b3e2a40-8d2c-11f0-9f1e-0affd1b4a2c3"
	tests := []struct {
		name    string
		fixture string
		// createErr fails every config item write.
		createErr    error
		wantStatuses map[string]string
		wantWrites   int
		// wantErr lists what the error must mention; empty means success.
		wantErr   []string
		wantErrIs error
	}{
		{name: "create seeds the missing stream and keeps the existing one", fixture: "create.json",
			wantStatuses: map[string]string{"orders": StatusExists, "refunds": StatusCreated}, wantWrites: 1},
		{name: "update seeds a stream added to the list", fixture: "update.json",
			wantStatuses: map[string]string{"orders": StatusExists, "refunds": StatusCreated}, wantWrites: 1},
		{name: "delete leaves every config item", fixture: "delete.json"},
		{name: "create fails when a config item cannot be written", fixture: "create.json",
			createErr: errors.New("ProvisionedThroughputExceededException: rate exceeded"),
			wantErr:   []string{"stream refunds: ProvisionedThroughputExceededException: rate exceeded", "1 of 2 stream(s)"}, wantErrIs: ErrSeedFailed},
		{name: "a long cause is cut to fit CloudFormation's response", fixture: "create.json",
			createErr: errors.New("ValidationException: " + strings.Repeat("é", 2000)),
			wantErr:   []string{"stream refunds: ValidationException", "the failover function's log has the full report"}, wantErrIs: ErrSeedFailed},
		{name: "an action other than init is refused", fixture: "create-failover-action.json",
			wantErr: []string{`action "failover"`, "only seed config items with init"}, wantErrIs: ErrBadRequest},
		{name: "a dry run is refused", fixture: "create-dry-run.json",
			wantErr: []string{"dry run"}, wantErrIs: ErrBadRequest},
		{name: "a missing init request is malformed", fixture: "malformed-no-init-request.json",
			wantErr: []string{"malformed CloudFormation custom-resource event", "no InitRequest"}, wantErrIs: ErrBadRequest},
		{name: "an init request that is not a string is malformed", fixture: "malformed-init-request-object.json",
			wantErr: []string{"malformed CloudFormation custom-resource event", "want the init request as a JSON string"}, wantErrIs: ErrBadRequest},
		{name: "an init request that is not JSON is refused", fixture: "malformed-init-request-json.json",
			wantErr: []string{"custom resource property InitRequest", "not a valid request object"}, wantErrIs: ErrBadRequest},
		{name: "an unknown request type is malformed", fixture: "malformed-request-type.json",
			wantErr: []string{`RequestType "Upsert"`, "Create, Update or Delete"}, wantErrIs: ErrBadRequest},
		{name: "an unknown property is malformed", fixture: "malformed-unknown-property.json",
			wantErr: []string{`unknown property "Streams"`}, wantErrIs: ErrBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			event, err := os.ReadFile(filepath.Join("testdata", "cfn", tt.fixture))
			if err != nil {
				t.Fatal(err)
			}
			f := fixtureHandler()
			f.configs.createErr = tt.createErr
			got, err := lambda.NewHandler(f.h.Handle).Invoke(inLambda("cfn-request"), event)

			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("got response %s, want an error", got)
				}
				if !errors.Is(err, tt.wantErrIs) {
					t.Errorf("got error %v, want it to wrap %v", err, tt.wantErrIs)
				}
				for _, part := range tt.wantErr {
					if !strings.Contains(err.Error(), part) {
						t.Errorf("got error %q, want it to mention %q", err, part)
					}
				}
				// The provider framework sends the message back to
				// CloudFormation with its own stack trace, all in 4 KB.
				if n := len(err.Error()); n > 2048 {
					t.Errorf("got a %d-byte error, want at most 2048", n)
				}
			} else if err != nil {
				t.Fatalf("Invoke: got error %v, want success", err)
			}
			if got := f.configs.writeCount(); got != tt.wantWrites {
				t.Errorf("got %d config writes, want %d", got, tt.wantWrites)
			}
			if len(f.configs.switches) != 0 {
				t.Errorf("got %d Switch calls, want none", len(f.configs.switches))
			}
			for region, l := range f.lambdas {
				if len(l.calls) != 0 {
					t.Errorf("%s: got Lambda calls %v, want none", region, l.calls)
				}
			}
			if err != nil {
				return
			}

			var resp struct {
				PhysicalResourceID *string         `json:"PhysicalResourceId"`
				Data               json.RawMessage `json:"Data"`
				Report
			}
			if err := json.Unmarshal(got, &resp); err != nil {
				t.Fatalf("response %s: %v", got, err)
			}
			// Create and Update answer the fixed id; Delete must answer the
			// id it was given, or the framework fails the deletion.
			if resp.PhysicalResourceID == nil || *resp.PhysicalResourceID != SeedPhysicalResourceID {
				t.Errorf("got PhysicalResourceId %v in %s, want %q", resp.PhysicalResourceID, got, SeedPhysicalResourceID)
			}
			if resp.Data != nil {
				t.Errorf("got Data %s, want none: CloudFormation refuses a custom resource response over 4 KB", resp.Data)
			}
			if got := statuses(resp.Report); !equalMaps(got, tt.wantStatuses) && len(got)+len(tt.wantStatuses) > 0 {
				t.Errorf("got statuses %v, want %v", got, tt.wantStatuses)
			}
			for stream, status := range tt.wantStatuses {
				if status != StatusCreated {
					continue
				}
				item := f.configs.item(stream)
				if item.ActiveRegion != east1 || item.Epoch != 1 {
					t.Errorf("%s: got active %s epoch %d, want %s epoch 1", stream, item.ActiveRegion, item.Epoch, east1)
				}
				if by := item.History[0].RequestedBy; by != "CloudFormation "+stackID {
					t.Errorf("%s: got requestedBy %q, want the stack that seeded it", stream, by)
				}
			}
			if orders := f.configs.item("orders"); orders.Epoch != 1 || orders.ActiveRegion != east1 || len(orders.History) != 1 {
				t.Errorf("orders: got %+v, want it left as it was", orders)
			}
		})
	}
}

// TestOnlyTopLevelEventKeysMakeAnEvent keeps the request path as it was:
// a payload is a custom-resource event only by its top-level keys, so a
// request that merely mentions them elsewhere still meets the strict
// decoding and its error.
func TestOnlyTopLevelEventKeysMakeAnEvent(t *testing.T) {
	tests := []struct {
		payload string
		want    string
	}{
		{`{"targetRegion":"us-east-2","reason":"RequestType ResourceProperties"}`, ""},
		{`{"targetRegion":"us-east-2","ignoreShards":{"RequestType":["x"]}}`, `ignoreShards names stream "RequestType"`},
		{`{"requestType":"Create","targetRegion":"us-east-2"}`, `unknown field "requestType"`},
		{`{"RequestType":"Create"}`, "no ResourceProperties"},
		{`{"ResourceProperties":{}}`, `RequestType ""`},
	}
	for _, tt := range tests {
		t.Run(tt.payload, func(t *testing.T) {
			f := fixtureHandler()
			_, err := lambda.NewHandler(f.h.Handle).Invoke(inLambda("req"), []byte(tt.payload))
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("got error %v, want the failover to run", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("got error %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}
