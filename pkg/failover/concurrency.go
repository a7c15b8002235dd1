package failover

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/kinesis-crr/kinesis-crr/pkg/awsclient"
	"github.com/kinesis-crr/kinesis-crr/pkg/endpoints"
)

// ConcurrencyAPI is the part of a Region's Lambda client that parks and
// unparks the replicator.
type ConcurrencyAPI interface {
	GetFunctionConcurrency(ctx context.Context, in *awslambda.GetFunctionConcurrencyInput, optFns ...func(*awslambda.Options)) (*awslambda.GetFunctionConcurrencyOutput, error)
	PutFunctionConcurrency(ctx context.Context, in *awslambda.PutFunctionConcurrencyInput, optFns ...func(*awslambda.Options)) (*awslambda.PutFunctionConcurrencyOutput, error)
	DeleteFunctionConcurrency(ctx context.Context, in *awslambda.DeleteFunctionConcurrencyInput, optFns ...func(*awslambda.Options)) (*awslambda.DeleteFunctionConcurrencyOutput, error)
}

var _ ConcurrencyAPI = (*awslambda.Client)(nil)

// swapConcurrency unparks the target Region's replicator and, when asked,
// parks the other Regions'. Best effort: the other Region may be down, and the
// switch already stands, so every failure is a warning.
//
// The target Region is this function's own, called within ctx; the others
// within cross, the call's cross-Region deadline.
func (inv *invocation) swapConcurrency(ctx, cross context.Context) {
	fn := inv.h.settings.ReplicatorFunctionName
	target := inv.req.TargetRegion
	if fn == "" {
		inv.action("REPLICATOR_FUNCTION_NAME is empty (local mode): replicator concurrency left alone")
		return
	}
	if !inv.anyActiveInTarget() {
		inv.action("no stream is active in %s after this call: replicator concurrency left alone", target)
		return
	}
	var others []string
	for _, r := range inv.h.settings.Regions {
		if r != target {
			others = append(others, r)
		}
	}
	if inv.req.DryRun {
		inv.action("would unpark replicator %s in %s if its reserved concurrency is 0", fn, target)
		if inv.req.ParkPrevious {
			for _, r := range others {
				inv.action("would park replicator %s in %s (reserved concurrency 0)", fn, r)
			}
		}
		return
	}
	inv.unpark(ctx, fn, target)
	if inv.req.ParkPrevious {
		for _, r := range others {
			inv.park(cross, fn, r)
		}
	}
}

func (inv *invocation) anyActiveInTarget() bool {
	for _, s := range inv.report.Streams {
		if s.ActiveRegion == inv.req.TargetRegion {
			return true
		}
	}
	return false
}

// unpark removes a reserved concurrency of 0 only: any other reserved
// concurrency is the user's own setting and stays.
func (inv *invocation) unpark(ctx context.Context, fn, region string) {
	client, ok := inv.h.concurrency[region]
	if !ok {
		inv.warn("no Lambda client for %s: replicator %s there not unparked; run aws lambda delete-function-concurrency --function-name %s --region %s if it is parked", region, fn, fn, region)
		return
	}
	out, err := client.GetFunctionConcurrency(ctx, &awslambda.GetFunctionConcurrencyInput{FunctionName: aws.String(fn)})
	if err != nil {
		inv.warn("read reserved concurrency of replicator %s in %s: %v; if it is parked, run aws lambda delete-function-concurrency --function-name %s --region %s", fn, region, err, fn, region)
		return
	}
	switch reserved := out.ReservedConcurrentExecutions; {
	case reserved == nil:
		inv.action("replicator %s in %s is not parked (no reserved concurrency): left alone", fn, region)
	case *reserved != 0:
		inv.action("replicator %s in %s keeps its reserved concurrency %d", fn, region, *reserved)
	default:
		if _, err := client.DeleteFunctionConcurrency(ctx, &awslambda.DeleteFunctionConcurrencyInput{FunctionName: aws.String(fn)}); err != nil {
			inv.warn("unpark replicator %s in %s: %v; run aws lambda delete-function-concurrency --function-name %s --region %s", fn, region, err, fn, region)
			return
		}
		inv.action("unparked replicator %s in %s (removed reserved concurrency 0)", fn, region)
	}
}

func (inv *invocation) park(ctx context.Context, fn, region string) {
	client, ok := inv.h.concurrency[region]
	if !ok {
		inv.warn("no Lambda client for %s: replicator %s there not parked", region, fn)
		return
	}
	if _, err := client.PutFunctionConcurrency(ctx, &awslambda.PutFunctionConcurrencyInput{
		FunctionName:                 aws.String(fn),
		ReservedConcurrentExecutions: aws.Int32(0),
	}); err != nil {
		inv.warn("park replicator %s in %s: %v; it keeps draining and skipping, which is safe", fn, region, err)
		return
	}
	inv.action("parked replicator %s in %s (reserved concurrency 0): records that arrived there before the switch wait until it is unparked", fn, region)
}

// regionConcurrency builds one Lambda client per Region, each with the
// endpoint awsclient.Endpoint gives it.
func regionConcurrency(cfg aws.Config, own string, regions []string, local endpoints.File) map[string]ConcurrencyAPI {
	return perRegion(regions, func(r string) ConcurrencyAPI {
		return awslambda.NewFromConfig(cfg, func(o *awslambda.Options) {
			o.Region, o.BaseEndpoint = r, awsclient.Endpoint(own, r, o.BaseEndpoint, local[r].Lambda)
		})
	})
}
