// Package endpoints reads and writes the endpoints file of a local
// deployment: for each Region, the URLs of its Kinesis, DynamoDB and Lambda
// as an operator outside both Regions reaches them. `scripts/demo.sh --keep`
// writes it; `kdscrr --endpoints FILE` points its clients at it instead of
// AWS. The file is JSON:
//
//	{"us-east-1": {"kinesis": "http://127.0.0.1:P", "dynamodb": "…", "lambda": "…"},
//	 "us-east-2": {…}}
//
// Unknown keys are ignored, so writers may add more (the demo adds "from":
// the URLs each Region's services have for callers in the other Region).
package endpoints

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"slices"

	"github.com/kinesis-crr/kinesis-crr/pkg/awsregion"
)

// Region is one Region's URLs.
type Region struct {
	Kinesis  string `json:"kinesis"`
	DynamoDB string `json:"dynamodb"`
	// Lambda serves the Lambda Invoke API for the Region's functions
	// (kds-crr-failover). Empty when nothing serves it.
	Lambda string `json:"lambda,omitempty"`
	// From[other] are the URLs of this Region's services for callers in
	// Region other, where they differ (the local world slows them down).
	From map[string]Service `json:"from,omitempty"`
}

// Service is a Region's Kinesis and DynamoDB URLs for one caller.
type Service struct {
	Kinesis  string `json:"kinesis"`
	DynamoDB string `json:"dynamodb"`
}

// File maps a Region name to its URLs.
type File map[string]Region

// Regions returns the file's Region names, sorted.
func (f File) Regions() []string { return slices.Sorted(maps.Keys(f)) }

// Validate reports every Region name that is not one and every URL that is
// missing or not absolute.
func (f File) Validate() error {
	if len(f) == 0 {
		return errors.New("no Regions, want an object such as {\"us-east-1\": {\"kinesis\": \"http://127.0.0.1:4567\", …}}")
	}
	var errs []error
	for _, name := range f.Regions() {
		r := f[name]
		if !awsregion.Valid(name) {
			errs = append(errs, fmt.Errorf("%q is not a Region name", name))
		}
		for _, u := range []struct{ key, url string }{{"kinesis", r.Kinesis}, {"dynamodb", r.DynamoDB}} {
			if err := checkURL(u.url); err != nil {
				errs = append(errs, fmt.Errorf("%s.%s: %w", name, u.key, err))
			}
		}
		if r.Lambda != "" {
			if err := checkURL(r.Lambda); err != nil {
				errs = append(errs, fmt.Errorf("%s.lambda: %w", name, err))
			}
		}
	}
	return errors.Join(errs...)
}

func checkURL(s string) error {
	if s == "" {
		return errors.New("missing")
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL", s)
	}
	return nil
}

// Load reads and validates the file at path.
func Load(path string) (File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("endpoints file: %w", err)
	}
	var f File
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("endpoints file %s: not a JSON object of Regions: %w", path, err)
	}
	if err := f.Validate(); err != nil {
		return nil, fmt.Errorf("endpoints file %s: %w", path, err)
	}
	return f, nil
}

// Write writes f to path, readable by its owner only.
func Write(path string, f File) error {
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("encode endpoints: %w", err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("endpoints file: %w", err)
	}
	return nil
}

// Has reports whether f has Region name.
func (f File) Has(name string) bool {
	_, ok := f[name]
	return ok
}
