package activeregiontest

import "testing"

func TestInMemoryStoreKeepsTheContract(t *testing.T) {
	RunStoreContract(t, InMemory)
}
