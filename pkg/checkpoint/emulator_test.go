package checkpoint

import (
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
	client, table, _ := emulators.Tables(t)
	return client, table
}
