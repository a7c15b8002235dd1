package checkpoint

import (
	"context"
	"os"
	"regexp"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/kinesis-crr/kinesis-crr/pkg/localaws"
)

// The emulators start on the first integration test that needs them, so the
// unit tests run without them; a missing emulator fails that test.
var (
	emulatorOnce sync.Once
	emulators    *localaws.Emulators
	emulatorErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if emulators != nil {
		emulators.Close()
	}
	os.Exit(code)
}

var unsafeTableChars = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)

// newCheckpointTable creates a checkpoint table of its own for the test on
// dynalite.
func newCheckpointTable(t *testing.T) (*dynamodb.Client, string) {
	t.Helper()
	emulatorOnce.Do(func() { emulators, emulatorErr = localaws.Start(context.Background(), 0) })
	if emulatorErr != nil {
		t.Fatal(emulatorErr)
	}
	client := localaws.DynamoDBClient("us-east-1", emulators.DynamoDB)
	name := unsafeTableChars.ReplaceAllString(t.Name(), "-")
	if len(name) > 200 {
		name = name[:200]
	}
	if err := localaws.CreateTables(context.Background(), client, name+".checkpoint", name+".config"); err != nil {
		t.Fatal(err)
	}
	return client, name + ".checkpoint"
}
