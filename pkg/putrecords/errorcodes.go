package putrecords

import "strings"

// errorClass is what a Kinesis error code means for the records it names.
type errorClass uint8

const (
	// codeRetryable: transient; the same records may be sent again.
	codeRetryable errorClass = iota + 1
	// codeThrottled: retryable, and counted (ThrottledRecords).
	codeThrottled
	// codePermanent: the target will answer the same again for these
	// records as they are (missing stream, no permission, unusable KMS
	// key, a record the service rejects).
	codePermanent
)

// errorCodes is the one table of Kinesis error codes, for the entries of a
// PutRecords answer and for whole requests, as aws/retry keeps one table of
// retryable codes.
var errorCodes = map[string]errorClass{
	"ProvisionedThroughputExceededException": codeThrottled,
	"InternalFailure":                        codeRetryable,
	"KMSThrottlingException":                 codeRetryable,
	"ResourceNotFoundException":              codePermanent,
	"AccessDeniedException":                  codePermanent,
	"ValidationException":                    codePermanent,
	"InvalidArgumentException":               codePermanent,
	"UnrecognizedClientException":            codePermanent,
}

// classify returns code's class. A KMS code other than throttling means
// the stream's key is unusable. Other codes not in the table get unknown:
// a request error nobody recognises is retried, because retrying costs
// only time while dropping could lose records; an entry code nobody
// recognises is permanent, because the service answered for that record
// and will answer the same.
func classify(code string, unknown errorClass) errorClass {
	if c, ok := errorCodes[code]; ok {
		return c
	}
	if strings.HasPrefix(code, "KMS") {
		return codePermanent
	}
	return unknown
}
