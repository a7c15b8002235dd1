#!/usr/bin/env bash
# The local two-Region demo, on the modelled world (pkg/localworld): two
# Regions, each with its own Kinesis and its own DynamoDB replica of the
# tables, the replicas joined by delayed last-writer-wins replication,
# cross-Region calls slowed by a round trip. A CDC task writes into the
# active Region; the failover function moves it to us-east-2 and back as the
# runbook says; then every record of both streams is checked (nothing lost,
# every key in order, no loop, every resume point safe). Exits non-zero if
# the check fails. Works on a fresh clone with Go and Node.js (npm) on PATH.
#
#   scripts/demo.sh [--quick] [--rate N] [--duration D] [--shards N] [--keys N]
#                   [--cache-ttl D] [--gt-delay D] [--rtt D] [--mode rewind|drain]
#                   [--impair REGION[:DURATION]] [--keep [--endpoints FILE]]
#
# --keep: after the check, writes both Regions' endpoints to a file (the
# format of pkg/endpoints, which `kdscrr --endpoints FILE` reads: per Region
# its Kinesis, DynamoDB and the failover function's Lambda Invoke URL),
# prints its path and keeps both Regions running until Ctrl-C.
# docs/local.md explains the flags and the output.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v go >/dev/null 2>&1; then
  echo "demo: go not found; install Go (see go.mod for the version)" >&2
  exit 1
fi

tmp=$(mktemp -d)
# The demo stops its emulators itself, also on Ctrl-C (and they exit when
# its pipe closes); this only removes the build.
trap 'rm -rf "$tmp"' EXIT

go build -o "$tmp/localdemo" ./scripts/localdemo

# Bad flags are refused here, before anything is installed or started.
status=0
"$tmp/localdemo" --check-flags "$@" || status=$?
case $status in
  0) ;;
  10) exit 0 ;; # --help: the usage is printed
  *) exit "$status" ;;
esac

# kinesalite and dynalite, pinned by package-lock.json.
scripts/npm-install.sh

# In the foreground, so that Ctrl-C reaches the demo, which stops cleanly.
"$tmp/localdemo" "$@"
