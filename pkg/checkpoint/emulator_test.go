package checkpoint

import (
	"context"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/kinesis-crr/kinesis-crr/pkg/localaws"
)

// The emulators start on the first integration test that needs them, so the
// unit tests run without them; a missing emulator fails that test.
var emulators = localaws.Shared{}

func TestMain(m *testing.M) {
	code := m.Run()
	emulators.Close()
	os.Exit(code)
}

// newCheckpointTable creates a checkpoint table of its own for the test on
// dynalite.
func newCheckpointTable(t *testing.T) (*dynamodb.Client, string) {
	t.Helper()
	client := localaws.DynamoDBClient("us-east-1", emulators.Get(t).DynamoDB)
	name := localaws.UniqueName(t.Name())
	if err := localaws.CreateTables(context.Background(), client, name+".checkpoint", name+".config"); err != nil {
		t.Fatal(err)
	}
	return client, name + ".checkpoint"
}
