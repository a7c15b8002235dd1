package checkpointtest

import "testing"

func TestInMemoryStoreKeepsTheContract(t *testing.T) {
	RunStoreContract(t, InMemory)
}
