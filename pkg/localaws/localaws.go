// Package localaws starts the local AWS emulators (kinesalite for Kinesis,
// dynalite for DynamoDB) on loopback, on free ports, and builds aws-sdk-go-v2
// clients pointed at them. Integration tests, the end-to-end tests and the
// local demo use it; the Lambda functions never do.
package localaws

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
)

// AccountID is the account of every local ARN, the one the emulators put
// in theirs.
const AccountID = "000000000000"

// HowToInstall is the hint every "emulator missing" error carries.
const HowToInstall = "run `npm ci` at the repository root (scripts/test.sh and scripts/demo.sh do it for you); Node.js 20 or later must be on PATH"

// Emulators is a running set of emulators: one Kinesis endpoint per
// simulated Region and one DynamoDB endpoint standing for the global tables.
type Emulators struct {
	Kinesis  []string `json:"kinesis"`
	DynamoDB string   `json:"dynamodb"`
	// DynamoDBs are all the DynamoDB emulators StartN started, DynamoDB
	// first; pkg/localworld gives each Region its own replica.
	DynamoDBs []string `json:"dynamodbs"`

	cmd   *exec.Cmd
	stdin io.WriteCloser
	once  sync.Once
	done  chan error
}

// Start launches scripts/emulators.js with kinesisCount Kinesis emulators and
// one DynamoDB emulator, and waits until they listen. Close stops them.
func Start(ctx context.Context, kinesisCount int) (*Emulators, error) {
	return StartN(ctx, kinesisCount, 1)
}

// StartN is Start with dynamodbCount (1 to 8) separate DynamoDB emulators,
// for a world where each Region has its own replica of the global tables.
func StartN(ctx context.Context, kinesisCount, dynamodbCount int) (*Emulators, error) {
	if dynamodbCount < 1 || dynamodbCount > 8 {
		return nil, fmt.Errorf("start emulators: dynamodbCount must be 1..8, got %d", dynamodbCount)
	}
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("start emulators: node not found: %s", HowToInstall)
	}
	for _, pkg := range []string{"kinesalite", "dynalite"} {
		if _, err := os.Stat(filepath.Join(root, "node_modules", pkg, "package.json")); err != nil {
			return nil, fmt.Errorf("start emulators: npm package %s is not installed: %s", pkg, HowToInstall)
		}
	}

	// Not exec.CommandContext: ctx bounds the start-up only; the emulators
	// live until Close.
	cmd := exec.Command(node, filepath.Join(root, "scripts", "emulators.js"), fmt.Sprint(kinesisCount), fmt.Sprint(dynamodbCount))
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("start emulators: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("start emulators: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start emulators: %w", err)
	}
	e := &Emulators{cmd: cmd, stdin: stdin, done: make(chan error, 1)}

	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil {
			ready <- fmt.Errorf("read emulator endpoints: %w", err)
			return
		}
		err = json.Unmarshal([]byte(line), e)
		if err == nil && (len(e.DynamoDBs) != dynamodbCount || len(e.Kinesis) != kinesisCount) {
			err = fmt.Errorf("got %d kinesis and %d dynamodb endpoints, want %d and %d: is scripts/emulators.js current?",
				len(e.Kinesis), len(e.DynamoDBs), kinesisCount, dynamodbCount)
		}
		ready <- err
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() { e.done <- cmd.Wait() }()

	timeout := time.NewTimer(30 * time.Second)
	defer timeout.Stop()
	select {
	case err := <-ready:
		if err != nil {
			e.Close()
			return nil, fmt.Errorf("start emulators: %w", err)
		}
		return e, nil
	case <-timeout.C:
		e.Close()
		return nil, errors.New("start emulators: no endpoints after 30s")
	case <-ctx.Done():
		e.Close()
		return nil, fmt.Errorf("start emulators: %w", ctx.Err())
	}
}

// Close stops the emulators and waits for them to exit.
func (e *Emulators) Close() {
	e.once.Do(func() {
		_ = e.stdin.Close()
		select {
		case <-e.done:
		case <-time.After(5 * time.Second):
			_ = e.cmd.Process.Kill()
			<-e.done
		}
	})
}

// RepoRoot finds the repository root (the directory holding go.mod and
// scripts/emulators.js) from the working directory upwards.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repository root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "scripts", "emulators.js")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find repository root: no scripts/emulators.js above the working directory")
		}
		dir = parent
	}
}

// Credentials are the static, fake credentials the emulators accept.
var Credentials = credentials.NewStaticCredentialsProvider("AKIDLOCAL", "local-secret", "")

// Config returns an aws.Config for region with fake credentials, suitable for
// clients that then get a BaseEndpoint.
func Config(region string) aws.Config {
	return aws.Config{Region: region, Credentials: Credentials}
}

// KinesisClient returns a Kinesis client for region at endpoint.
func KinesisClient(region, endpoint string, optFns ...func(*kinesis.Options)) *kinesis.Client {
	return kinesis.NewFromConfig(Config(region), append([]func(*kinesis.Options){func(o *kinesis.Options) {
		o.BaseEndpoint = aws.String(endpoint)
	}}, optFns...)...)
}

// DynamoDBClient returns a DynamoDB client for region at endpoint.
func DynamoDBClient(region, endpoint string, optFns ...func(*dynamodb.Options)) *dynamodb.Client {
	return dynamodb.NewFromConfig(Config(region), append([]func(*dynamodb.Options){func(o *dynamodb.Options) {
		o.BaseEndpoint = aws.String(endpoint)
	}}, optFns...)...)
}
