// Command failover is the failover Lambda: invoked in the Region to activate,
// it switches the active Region of the streams and reports where producers
// resume. Payloads and the report are in DESIGN.md and the README ("Failover and failback").
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
