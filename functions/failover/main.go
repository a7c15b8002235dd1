// Command failover is the failover Lambda: invoked in the Region to activate,
// it switches the active Region of the streams and reports where producers
// resume. The payload and the report are in docs/cli.md; the runbooks in docs/operations.md.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/kinesis-crr/kinesis-crr/pkg/failover"
)

func main() {
	h, err := failover.NewFromEnv(context.Background(), os.Getenv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "failover cold start: %v\n", err)
		os.Exit(1)
	}
	lambda.StartHandlerFunc(h.Handle)
}
