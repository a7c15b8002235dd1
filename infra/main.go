// Command infra is the kinesis-crr CDK app: `cdk deploy --all` deploys the
// global tables and both Regions (see the README, "Deploy").
package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/kinesis-crr/kinesis-crr/infra/stacks"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "kinesis-crr infra:", err)
		os.Exit(1)
	}
}

func run() error {
	defer jsii.Close()
	app := awscdk.NewApp(nil)
	settings, err := stacks.ParseSettings(func(key string) any {
		return app.Node().TryGetContext(jsii.String(key))
	})
	if err != nil {
		return err
	}
	if settings.Account == "" {
		settings.Account = os.Getenv("CDK_DEFAULT_ACCOUNT")
	}
	code := stacks.Code{ReplicatorDir: "dist/replicator", FailoverDir: "dist/failover"}
	if _, err := stacks.NewDeployment(app, settings, code); err != nil {
		return err
	}
	stacks.CheckCompliance(app)
	app.Synth(nil)
	return nil
}
