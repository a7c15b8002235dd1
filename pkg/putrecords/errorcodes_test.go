package putrecords

import "testing"

func TestClassifySaysWhatEachErrorCodeMeansForTheRecords(t *testing.T) {
	tests := []struct {
		code    string
		unknown errorClass
		want    errorClass
	}{
		{"ProvisionedThroughputExceededException", codePermanent, codeThrottled},
		{"InternalFailure", codePermanent, codeRetryable},
		{"KMSThrottlingException", codePermanent, codeRetryable},
		{"KMSDisabledException", codeRetryable, codePermanent},
		{"KMSAccessDeniedException", codeRetryable, codePermanent},
		{"ResourceNotFoundException", codeRetryable, codePermanent},
		{"AccessDeniedException", codeRetryable, codePermanent},
		{"ValidationException", codeRetryable, codePermanent},
		{"InvalidArgumentException", codeRetryable, codePermanent},
		{"UnrecognizedClientException", codeRetryable, codePermanent},
		{"an unknown request error is retried", codeRetryable, codeRetryable},
		{"an unknown entry error is permanent", codePermanent, codePermanent},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			if got := classify(tt.code, tt.unknown); got != tt.want {
				t.Errorf("classify(%q, unknown %d) = %d, want %d", tt.code, tt.unknown, got, tt.want)
			}
		})
	}
}
