// Package metricstest reads back the EMF lines of package metrics and records
// PutMetricData calls, for tests of the metrics and of their callers.
package metricstest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
)

// Document is one EMF line with a single metric directive, as package
// metrics writes them.
type Document struct {
	Timestamp  time.Time
	Namespace  string
	Dimensions [][]string
	// Stream is the value of the StreamName dimension.
	Stream string
	// SourceRegion is the value of the SourceRegion dimension, empty when
	// no dimension set names it.
	SourceRegion string
	// Values and Units are keyed by metric name, one entry per declared
	// metric.
	Values map[string]float64
	Units  map[string]string
}

type emfMetadata struct {
	Timestamp         *int64 `json:"Timestamp"`
	CloudWatchMetrics []struct {
		Namespace  string     `json:"Namespace"`
		Dimensions [][]string `json:"Dimensions"`
		Metrics    []struct {
			Name string `json:"Name"`
			Unit string `json:"Unit"`
		} `json:"Metrics"`
	} `json:"CloudWatchMetrics"`
}

// Parse reads one EMF line and checks it the way CloudWatch Logs would before
// extracting metrics: valid JSON object, an _aws member with a Timestamp and
// exactly one directive with a namespace, each dimension a string member of
// the root, each declared metric a numeric member of the root, no metric
// declared twice.
func Parse(line []byte) (Document, error) {
	var root map[string]json.RawMessage
	if err := json.Unmarshal(line, &root); err != nil {
		return Document{}, fmt.Errorf("parse EMF line: %w", err)
	}
	rawMeta, ok := root["_aws"]
	if !ok {
		return Document{}, errors.New("parse EMF line: no _aws member")
	}
	var meta emfMetadata
	if err := json.Unmarshal(rawMeta, &meta); err != nil {
		return Document{}, fmt.Errorf("parse EMF line: _aws: %w", err)
	}
	if meta.Timestamp == nil {
		return Document{}, errors.New("parse EMF line: _aws.Timestamp missing")
	}
	if len(meta.CloudWatchMetrics) != 1 {
		return Document{}, fmt.Errorf("parse EMF line: got %d metric directives, want 1", len(meta.CloudWatchMetrics))
	}
	dir := meta.CloudWatchMetrics[0]
	if dir.Namespace == "" {
		return Document{}, errors.New("parse EMF line: empty Namespace")
	}
	doc := Document{
		Timestamp:  time.UnixMilli(*meta.Timestamp).UTC(),
		Namespace:  dir.Namespace,
		Dimensions: dir.Dimensions,
		Values:     map[string]float64{},
		Units:      map[string]string{},
	}
	for _, set := range dir.Dimensions {
		for _, dim := range set {
			var value string
			if err := json.Unmarshal(root[dim], &value); err != nil || value == "" {
				return Document{}, fmt.Errorf("parse EMF line: dimension %s: got %s, want a non-empty string", dim, root[dim])
			}
			switch dim {
			case "StreamName":
				doc.Stream = value
			case "SourceRegion":
				doc.SourceRegion = value
			}
		}
	}
	for _, m := range dir.Metrics {
		if _, dup := doc.Values[m.Name]; dup {
			return Document{}, fmt.Errorf("parse EMF line: metric %s declared twice", m.Name)
		}
		// A pointer, so that null is told apart from zero.
		var value *float64
		if err := json.Unmarshal(root[m.Name], &value); err != nil || value == nil {
			return Document{}, fmt.Errorf("parse EMF line: metric %s: got %s, want a number", m.Name, root[m.Name])
		}
		doc.Values[m.Name] = *value
		doc.Units[m.Name] = m.Unit
	}
	return doc, nil
}

// ParseLines parses every non-empty line of out, failing on the first that
// is not a valid EMF document.
func ParseLines(out []byte) ([]Document, error) {
	var docs []Document
	for i, line := range bytes.Split(out, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		doc, err := Parse(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		docs = append(docs, doc)
	}
	return docs, nil
}

// Mirror is a PutMetricDataAPI that records every call. Err, if set, is
// returned by every call; Block, if set, holds every call until it is closed
// or the call's context ends.
type Mirror struct {
	Err   error
	Block chan struct{}

	mu    sync.Mutex
	calls []*cloudwatch.PutMetricDataInput
}

// PutMetricData records in.
func (m *Mirror) PutMetricData(ctx context.Context, in *cloudwatch.PutMetricDataInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.PutMetricDataOutput, error) {
	m.mu.Lock()
	m.calls = append(m.calls, in)
	m.mu.Unlock()
	if m.Block != nil {
		select {
		case <-m.Block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if m.Err != nil {
		return nil, m.Err
	}
	return &cloudwatch.PutMetricDataOutput{}, nil
}

// Calls returns the inputs recorded so far.
func (m *Mirror) Calls() []*cloudwatch.PutMetricDataInput {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]*cloudwatch.PutMetricDataInput(nil), m.calls...)
}
