#!/usr/bin/env bash
# The local two-Region demo: replication from us-east-1 to us-east-2 on
# emulators, a failover to us-east-2 and a failback, then a check of every
# record (nothing lost, every key in order, no loop). Exits non-zero if the
# check fails. Works on a fresh clone with Go and Node.js (npm) on PATH.
#
#   scripts/demo.sh [--quick] [--rate N] [--duration D] [--shards N] [--keys N] [--cache-ttl D]
#
# docs/local.md explains the output.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v go >/dev/null 2>&1; then
  echo "demo: go not found; install Go (see go.mod for the version)" >&2
  exit 1
fi
# kinesalite and dynalite, pinned by package-lock.json; Go fetches its own
# modules on the build below.
scripts/npm-install.sh

tmp=$(mktemp -d)
# The demo stops its emulators itself, also on Ctrl-C (and they exit when
# its pipe closes); this only removes the build.
trap 'rm -rf "$tmp"' EXIT

go build -o "$tmp/localdemo" ./scripts/localdemo
# In the foreground, so that Ctrl-C reaches the demo, which stops cleanly.
"$tmp/localdemo" "$@"
