package localaws

import (
	"context"
	"fmt"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// Shared starts the emulators on the first test that needs them and keeps
// them for the rest of the test binary, so a package's unit tests run
// without them. TestMain calls Close after m.Run.
type Shared struct {
	// Kinesis is how many Kinesis emulators (Regions) to start.
	Kinesis int

	once sync.Once
	emu  *Emulators
	err  error
}

// Get returns the running emulators, starting them on the first call; a
// missing emulator fails the test with the message that says how to get it.
func (s *Shared) Get(t testing.TB) *Emulators {
	t.Helper()
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		s.emu, s.err = Start(ctx, s.Kinesis)
	})
	if s.err != nil {
		t.Fatal(s.err)
	}
	return s.emu
}

// Close stops the emulators if they were started.
func (s *Shared) Close() {
	if s.emu != nil {
		s.emu.Close()
	}
}

var (
	unsafeNameChars = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)
	nameSeq         struct {
		sync.Mutex
		n int
	}
)

// UniqueName turns a test name into a table or stream name that is valid,
// at most 120 characters, and unique in this process, so reruns (-count) and
// parallel tests can share one emulator.
func UniqueName(testName string) string {
	nameSeq.Lock()
	nameSeq.n++
	n := nameSeq.n
	nameSeq.Unlock()
	safe := unsafeNameChars.ReplaceAllString(testName, "-")
	if len(safe) > 100 {
		safe = safe[:100]
	}
	return fmt.Sprintf("%s-%d", safe, n)
}

// Tables creates, on the shared DynamoDB emulator, a checkpoint table and a
// config table of the test's own, and returns a client and their names.
func (s *Shared) Tables(t testing.TB) (client *dynamodb.Client, checkpointTable, configTable string) {
	t.Helper()
	client = DynamoDBClient("us-east-1", s.Get(t).DynamoDB)
	name := UniqueName(t.Name())
	checkpointTable, configTable = name+".checkpoint", name+".config"
	if err := CreateTables(context.Background(), client, checkpointTable, configTable); err != nil {
		t.Fatal(err)
	}
	return client, checkpointTable, configTable
}
