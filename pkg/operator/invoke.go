package operator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/kinesis-crr/kinesis-crr/pkg/failover"
)

// FunctionError is the failover function's own error: it ran and refused
// or failed the call (a bad request, a switch back before settledAt).
type FunctionError struct {
	Region, Message, Type string
}

func (e *FunctionError) Error() string {
	return fmt.Sprintf("the failover function in %s answered with an error: %s", e.Region, e.Message)
}

// invoke calls the failover function in region with req and decodes its
// report. A failover is sent once (the client retries nothing): a second
// delivery of a switch could act on what the first already changed.
func (c *cli) invoke(ctx context.Context, s setup, region string, req failover.Request, timeout time.Duration) (failover.Report, error) {
	payload, err := jsonMarshal(req)
	if err != nil {
		return failover.Report{}, err
	}
	attempts := 3
	if req.Action == failover.ActionFailover || req.Action == "" {
		attempts = 1
	}
	api, err := s.connector.Region(region).Lambda(ctx, timeout, attempts)
	if err != nil {
		return failover.Report{}, err
	}
	out, err := api.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(s.common.function), Payload: payload})
	if err != nil {
		return failover.Report{}, fmt.Errorf("invoke %s in %s: %w", s.common.function, region, err)
	}
	if out.FunctionError != nil {
		var fe struct {
			Message string `json:"errorMessage"`
			Type    string `json:"errorType"`
		}
		if json.Unmarshal(out.Payload, &fe) != nil || fe.Message == "" {
			fe.Message = string(bytes.TrimSpace(out.Payload))
		}
		return failover.Report{}, &FunctionError{Region: region, Message: fe.Message, Type: fe.Type}
	}
	var rep failover.Report
	if err := json.Unmarshal(out.Payload, &rep); err != nil {
		return failover.Report{}, fmt.Errorf("the failover function in %s answered with something that is not a report: %w", region, err)
	}
	return rep, nil
}

func jsonMarshal(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode the payload: %w", err)
	}
	return b, nil
}
