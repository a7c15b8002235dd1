package operator

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/kinesis-crr/kinesis-crr/pkg/awsregion"
)

// RegionsEnv names the environment variable that gives the deployment's
// Regions, like --regions.
const RegionsEnv = "KDSCRR_REGIONS"

// deployment is the two Regions kinesis-crr is deployed in, and where that
// was learnt (for messages).
type deployment struct {
	regions []string
	from    string
}

// allows refuses a Region outside the deployment, naming the allowed ones
// and the flag that asked for it.
func (d deployment) allows(flagName, region string) error {
	if slices.Contains(d.regions, region) {
		return nil
	}
	if !awsregion.Valid(region) {
		return fmt.Errorf("--%s %q: not a Region name; the deployment's Regions are %s (from %s)", flagName, region, strings.Join(d.regions, ", "), d.from)
	}
	return fmt.Errorf("--%s %s: not a Region of the deployment, which is %s (from %s)", flagName, region, strings.Join(d.regions, ", "), d.from)
}

// other is the deployment's Region that is not region.
func (d deployment) other(region string) string {
	if d.regions[0] == region {
		return d.regions[1]
	}
	return d.regions[0]
}

// parseRegions reads a comma-separated pair of Region names.
func parseRegions(s, from string) (deployment, error) {
	var regions []string
	for r := range strings.SplitSeq(s, ",") {
		if r = strings.TrimSpace(r); r != "" {
			regions = append(regions, r)
		}
	}
	if len(regions) != 2 || regions[0] == regions[1] {
		return deployment{}, fmt.Errorf("%s %q: want the deployment's two Regions, such as us-east-1,us-east-2", from, s)
	}
	for _, r := range regions {
		if !awsregion.Valid(r) {
			return deployment{}, fmt.Errorf("%s: %q is not a Region name", from, r)
		}
	}
	return deployment{regions: regions, from: from}, nil
}

// errNoDeployment says how to name the deployment's Regions.
var errNoDeployment = errors.New("the deployment's Regions are unknown: pass --regions us-east-1,us-east-2 (or set " + RegionsEnv +
	", or pass --endpoints FILE, or run kdscrr in the directory of the deployment's cdk.json)")

// cdkRegions reads primaryRegion and secondaryRegion from a cdk.json's
// context; found is false when the file does not exist.
func cdkRegions(path string) (d deployment, found bool, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return deployment{}, false, nil
	}
	if err != nil {
		return deployment{}, true, fmt.Errorf("read %s: %w", path, err)
	}
	var doc struct {
		Context struct {
			Primary   string `json:"primaryRegion"`
			Secondary string `json:"secondaryRegion"`
		} `json:"context"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return deployment{}, true, fmt.Errorf("%s is not JSON: %w", path, err)
	}
	if doc.Context.Primary == "" || doc.Context.Secondary == "" {
		return deployment{}, true, fmt.Errorf("%s: context has no primaryRegion and secondaryRegion", path)
	}
	d, err = parseRegions(doc.Context.Primary+","+doc.Context.Secondary, path+" (context primaryRegion, secondaryRegion)")
	return d, true, err
}
