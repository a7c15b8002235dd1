// Package streamarn parses the Kinesis stream and EFO consumer ARNs a Lambda
// event source mapping reports as eventSourceARN, and maps source stream names
// to target stream names (STREAM_NAME_MAP).
package streamarn

import (
	"fmt"
	"strconv"
	"strings"
)

// ARN is a parsed Kinesis stream ARN, or an EFO consumer ARN of a stream.
type ARN struct {
	Partition string
	Region    string
	Account   string
	Stream    string
	// Consumer is empty for a stream ARN.
	Consumer string
	// ConsumerCreated is the consumer's creation time in epoch seconds, the
	// suffix Kinesis appends to consumer ARNs; 0 for a stream ARN.
	ConsumerCreated int64
}

// maxNameLen is the Kinesis limit for both stream and consumer names.
const maxNameLen = 128

// Parse accepts
//
//	arn:PARTITION:kinesis:REGION:ACCOUNT:stream/NAME
//	arn:PARTITION:kinesis:REGION:ACCOUNT:stream/NAME/consumer/CONSUMER:CREATED
//
// and rejects everything else with an error quoting the input.
func Parse(s string) (ARN, error) {
	a, err := parse(s)
	if err != nil {
		return ARN{}, fmt.Errorf("parse Kinesis ARN %q: %w", s, err)
	}
	return a, nil
}

func parse(s string) (ARN, error) {
	// The consumer suffix holds a sixth colon, so split into six at most.
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 {
		return ARN{}, fmt.Errorf("want 6 colon-separated fields, got %d", len(parts))
	}
	prefix, partition, service, region, account, resource := parts[0], parts[1], parts[2], parts[3], parts[4], parts[5]
	if prefix != "arn" {
		return ARN{}, fmt.Errorf("does not start with \"arn:\"")
	}
	if !isPartition(partition) {
		return ARN{}, fmt.Errorf("invalid partition %q", partition)
	}
	if service != "kinesis" {
		return ARN{}, fmt.Errorf("service is %q, want \"kinesis\"", service)
	}
	if !isRegion(region) {
		return ARN{}, fmt.Errorf("invalid Region %q", region)
	}
	if !isAccount(account) {
		return ARN{}, fmt.Errorf("invalid account %q, want 12 digits", account)
	}
	a := ARN{Partition: partition, Region: region, Account: account}

	rest, ok := strings.CutPrefix(resource, "stream/")
	if !ok {
		return ARN{}, fmt.Errorf("resource %q is not a stream", resource)
	}
	stream, consumerPart, isConsumer := strings.Cut(rest, "/consumer/")
	if err := ValidateStreamName(stream); err != nil {
		return ARN{}, err
	}
	a.Stream = stream
	if !isConsumer {
		return a, nil
	}

	consumer, created, ok := strings.Cut(consumerPart, ":")
	if !ok {
		return ARN{}, fmt.Errorf("consumer %q lacks its \":CREATED\" suffix", consumerPart)
	}
	if !isName(consumer) {
		return ARN{}, fmt.Errorf("invalid consumer name %q: want 1-%d characters of a-z A-Z 0-9 _ . -", consumer, maxNameLen)
	}
	ts, err := parseCreated(created)
	if err != nil {
		return ARN{}, err
	}
	a.Consumer = consumer
	a.ConsumerCreated = ts
	return a, nil
}

func parseCreated(s string) (int64, error) {
	if s == "" || !allDigits(s) {
		return 0, fmt.Errorf("consumer creation time %q is not decimal epoch seconds", s)
	}
	ts, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("consumer creation time %q: %w", s, err)
	}
	return ts, nil
}

// StreamARN is the ARN of the stream itself, without any consumer.
func (a ARN) StreamARN() string {
	return "arn:" + a.Partition + ":kinesis:" + a.Region + ":" + a.Account + ":stream/" + a.Stream
}

// String gives the ARN in the form it was parsed from.
func (a ARN) String() string {
	if a.Consumer == "" {
		return a.StreamARN()
	}
	return a.StreamARN() + "/consumer/" + a.Consumer + ":" + strconv.FormatInt(a.ConsumerCreated, 10)
}

// InRegion is the same stream in another Region of the same partition and
// account. The consumer is dropped: consumers are registered per Region.
func (a ARN) InRegion(region string) ARN {
	return ARN{Partition: a.Partition, Region: region, Account: a.Account, Stream: a.Stream}
}

// ValidateStreamName reports whether name is a valid Kinesis stream name:
// 1-128 characters of a-z, A-Z, 0-9, '_', '.', '-'.
func ValidateStreamName(name string) error {
	if !isName(name) {
		return fmt.Errorf("invalid stream name %q: want 1-%d characters of a-z A-Z 0-9 _ . -", name, maxNameLen)
	}
	return nil
}

func isName(s string) bool {
	if len(s) == 0 || len(s) > maxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && c != '_' && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

// isPartition accepts aws, aws-cn, aws-us-gov, aws-iso, aws-iso-b, aws-eusc
// and partitions yet to come, which all share this shape.
func isPartition(s string) bool {
	if s != "aws" && !strings.HasPrefix(s, "aws-") {
		return false
	}
	return isLowerDashed(s)
}

// isRegion accepts names shaped like us-east-1 or us-gov-west-1, without
// listing the Regions: new ones appear every year.
func isRegion(s string) bool {
	return isLowerDashed(s) && strings.Contains(s, "-")
}

func isLowerDashed(s string) bool {
	if s == "" || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z') && !(c >= '0' && c <= '9') && c != '-' {
			return false
		}
	}
	return true
}

func isAccount(s string) bool {
	return len(s) == 12 && allDigits(s)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}
