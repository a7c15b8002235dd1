package checkpoint

// Exported for the contract suite, which runs in package checkpoint_test
// because checkpointtest imports this package.
var NewCheckpointTable = newCheckpointTable
