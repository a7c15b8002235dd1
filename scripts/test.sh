#!/usr/bin/env bash
# Runs every test of kinesis-crr: installs what the tests need (pinned npm
# packages, Go modules), checks formatting and vet, runs the unit,
# integration and end-to-end tests under the race detector (the tests start
# the Kinesis and DynamoDB emulators themselves, on free loopback ports, and
# stop them), the CDK tests and an offline synth, every benchmark once, and the
# quick local demo. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20
export CDK_DISABLE_CLI_TELEMETRY=true

for tool in go node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "test.sh: $tool not found: Go 1.26 and Node.js 20 (with npm) are required" >&2
    exit 1
  fi
done

# The race detector needs cgo, so a C compiler.
if [[ $(go env CGO_ENABLED) != 1 ]]; then
  echo "test.sh: the race detector needs cgo and a C compiler: install gcc (Debian: apt-get install gcc)" >&2
  exit 1
fi

step() { printf '\n=== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }

step "install pinned npm packages and Go modules"
bash scripts/npm-install.sh
go mod download

step "gofmt and go vet"
# gofmt's own errors (a file that does not parse) stop the run too.
unformatted=$(gofmt -l cmd functions infra pkg scripts tests)
if [[ -n $unformatted ]]; then
  echo "gofmt: these files need formatting:" >&2
  echo "$unformatted" >&2
  exit 1
fi
go vet ./...

step "build the operator CLI"
# The README's set-up builds it the same way; tests/cli builds its own.
go build -o /dev/null ./cmd/kdscrr

step "unit, integration and end-to-end tests (race detector)"
# The CDK app is tested on its own below: it starts no goroutines of ours and
# the race detector would only slow jsii down.
go test -race -count=1 -timeout 20m $(go list ./... | grep -v '/infra')

step "CDK app tests"
go test -count=1 -timeout 20m ./infra/...

step "benchmarks, once each (figures: see the README)"
go test -run '^$' -bench . -benchtime 1x -count=1 ./pkg/...

step "offline cdk synth and cdk list"
bash scripts/synth-test.sh

step "quick local demo"
bash scripts/demo.sh --quick

step "all tests passed"
