// Command replicator is the replicator Lambda: it reads its stream through an
// event source mapping and writes every record to the same stream in the
// other Region. The environment contract is in docs/reference.md.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/kinesis-crr/kinesis-crr/pkg/replicator"
)

func main() {
	h, err := replicator.NewFromEnv(context.Background(), os.Getenv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "replicator cold start: %v\n", err)
		os.Exit(1)
	}
	lambda.StartHandlerFunc(h.Handle)
}
