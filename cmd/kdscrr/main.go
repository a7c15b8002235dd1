// Command kdscrr operates kinesis-crr: status, failover, lag and verify,
// against AWS or a local deployment. pkg/operator is the whole of it.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/kinesis-crr/kinesis-crr/pkg/operator"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	dir, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, "kdscrr:", err)
		os.Exit(operator.ExitError)
	}
	status := operator.Main(ctx, os.Args[1:], operator.Env{
		Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Dir: dir,
	})
	stop()
	os.Exit(status)
}
