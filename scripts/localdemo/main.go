// Command localdemo runs kinesis-crr's two-Region story on one machine:
// replication, failover and failback on emulators, then a check of every
// record. scripts/demo.sh builds and runs it; docs/local.md explains it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/kinesis-crr/kinesis-crr/scripts/localdemo/demo"
)

func main() {
	os.Exit(run())
}

func run() int {
	quick := flag.Bool("quick", false, "the whole story in under two minutes")
	rate := flag.Int("rate", 0, "records per second from the producer (default 200, quick 100)")
	duration := flag.Duration("duration", 0, "total production time, split into three phases (default 3m, quick 45s)")
	shards := flag.Int("shards", 0, "shards per stream (default 4)")
	keys := flag.Int("keys", 0, "distinct partition keys (default 200)")
	ttl := flag.Duration("cache-ttl", -1, "the replicators' ACTIVE_REGION_CACHE_TTL (default 5s, the product's default)")
	flag.Parse()

	opts := demo.DefaultOptions
	if *quick {
		opts = demo.QuickOptions
	}
	if *rate > 0 {
		opts.Rate = *rate
	}
	if *duration > 0 {
		opts.Duration = *duration
	}
	if *shards > 0 {
		opts.Shards = *shards
	}
	if *keys > 0 {
		opts.Keys = *keys
	}
	if *ttl >= 0 {
		opts.CacheTTL = *ttl
	}

	logFile, err := os.CreateTemp("", "kinesis-crr-demo-*.log")
	if err != nil {
		fmt.Fprintln(os.Stderr, "localdemo:", err)
		return 1
	}
	defer logFile.Close()
	opts.Out = os.Stdout
	opts.Log = logFile
	fmt.Printf("Handler logs go to %s\n", logFile.Name())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	summary, err := demo.Run(ctx, opts)
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(os.Stderr, "localdemo: interrupted; emulators and pollers stopped")
			return 130
		}
		fmt.Fprintln(os.Stderr, "localdemo:", err)
		return 1
	}
	if err := summary.Write(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "localdemo:", err)
		return 1
	}
	if !summary.OK() {
		return 2
	}
	return 0
}
