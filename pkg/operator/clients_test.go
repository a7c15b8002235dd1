package operator

import (
	"context"
	"path/filepath"
	"testing"
)

// A command that reads many shards asks for a Region's clients many
// times: they share one configuration, and so one credential cache, per
// Region (with an assumed role or SSO, each new cache would resolve its
// credentials again).
func TestAWSLoadsEachRegionsConfigurationOnce(t *testing.T) {
	none := filepath.Join(t.TempDir(), "none")
	t.Setenv("AWS_CONFIG_FILE", none)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", none)
	a := &AWS{}
	ctx := context.Background()
	east1, err := a.config(ctx, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	again, err := a.config(ctx, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	east2, err := a.config(ctx, "us-east-2")
	if err != nil {
		t.Fatal(err)
	}
	if east1.Credentials == nil || east1.Credentials != again.Credentials {
		t.Errorf("two uses of us-east-1 got credential providers %p and %p, want one", east1.Credentials, again.Credentials)
	}
	if east1.Region != "us-east-1" || east2.Region != "us-east-2" || east2.Credentials == east1.Credentials {
		t.Errorf("got Regions %q and %q with shared credentials %t, want each Region its own", east1.Region, east2.Region, east2.Credentials == east1.Credentials)
	}
}
