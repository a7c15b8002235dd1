package activeregion

// Exported for the contract suite, which runs in package activeregion_test
// because activeregiontest imports this package.
var (
	NewConfigTable = newConfigTable
	RawItem        = rawItem
)
