package awsregion

import "testing"

func TestValid(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"us-east-1", true},
		{"ap-southeast-4", true},
		{"us-gov-west-1", true},
		{"eu-isoe-west-1", true},
		{"", false},
		{"us-east", false},
		{"mars-north", false},
		{"US-EAST-1", false},
		{"us-east-100", false},
		{" us-east-1", false},
	}
	for _, tt := range tests {
		if got := Valid(tt.name); got != tt.want {
			t.Errorf("Valid(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}
