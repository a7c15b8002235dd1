package lag

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/kinesis-crr/kinesis-crr/pkg/metrics"
)

// MetricsAPI is what the CloudWatch figures need: GetMetricData in the
// source Region.
type MetricsAPI interface {
	GetMetricData(ctx context.Context, in *cloudwatch.GetMetricDataInput, optFns ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error)
}

var _ MetricsAPI = (*cloudwatch.Client)(nil)

// CloudWatch is what the source Region's metrics said over the last
// Window: the replicator's ReplicationLagSeconds and its mapping's
// IteratorAge, their maxima (absent when no datapoint).
type CloudWatch struct {
	Window                    string   `json:"window"`
	ReplicationLagSeconds     *float64 `json:"replicationLagSeconds"`
	MappingIteratorAgeSeconds *float64 `json:"mappingIteratorAgeSeconds"`
}

// CloudWatchWindow is how far back FromCloudWatch looks.
const CloudWatchWindow = 5 * time.Minute

// FromCloudWatch reads the stream's figures from the source Region's
// CloudWatch: KinesisReplication ReplicationLagSeconds by StreamName and
// AWS/Lambda IteratorAge of function (the replicator behind the mapping).
func FromCloudWatch(ctx context.Context, api MetricsAPI, stream, function string, now time.Time) (*CloudWatch, error) {
	query := func(id, namespace, name, dim, value string) cwtypes.MetricDataQuery {
		return cwtypes.MetricDataQuery{
			Id: aws.String(id),
			MetricStat: &cwtypes.MetricStat{
				Metric: &cwtypes.Metric{
					Namespace: aws.String(namespace), MetricName: aws.String(name),
					Dimensions: []cwtypes.Dimension{{Name: aws.String(dim), Value: aws.String(value)}},
				},
				Period: aws.Int32(60),
				Stat:   aws.String("Maximum"),
			},
		}
	}
	out, err := api.GetMetricData(ctx, &cloudwatch.GetMetricDataInput{
		StartTime: aws.Time(now.Add(-CloudWatchWindow)),
		EndTime:   aws.Time(now),
		MetricDataQueries: []cwtypes.MetricDataQuery{
			query("lag", metrics.DefaultNamespace, "ReplicationLagSeconds", metrics.StreamNameDimension, stream),
			query("iteratorAge", "AWS/Lambda", "IteratorAge", "FunctionName", function),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("cloudwatch metrics of %s: %w", stream, err)
	}
	cw := &CloudWatch{Window: CloudWatchWindow.String()}
	for _, r := range out.MetricDataResults {
		if len(r.Values) == 0 {
			continue
		}
		m := r.Values[0]
		for _, v := range r.Values[1:] {
			m = max(m, v)
		}
		switch aws.ToString(r.Id) {
		case "lag":
			cw.ReplicationLagSeconds = &m
		case "iteratorAge":
			// Lambda reports IteratorAge in milliseconds.
			cw.MappingIteratorAgeSeconds = new(m / 1000)
		}
	}
	return cw, nil
}
