#!/usr/bin/env bash
# Measures the replicator at the target's limits on the local world: the
# real handler behind a local event source mapping, a target whose shards
# throttle at Kinesis's limits, a round trip between the Regions (72 ms by
# default), and the scenarios drain, steady50/80/95, hotkey and chaos.
# Prints one table row per scenario (--json for JSON); exits 1 if any record
# was lost or reordered. Flags go to the Go command: --help lists them.
#   bash scripts/bench.sh                       # defaults, a few minutes
#   bash scripts/bench.sh --quick               # correctness only, seconds
#   bash scripts/bench.sh --scenarios drain --records 30000 --shards 1
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in go node; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "bench.sh: $tool not found: Go 1.26 and Node.js 20 are required" >&2
    exit 1
  fi
done
# Installs once per lockfile change, as demo.sh and test.sh do.
bash scripts/npm-install.sh
exec go run ./scripts/bench "$@"
