#!/usr/bin/env bash
# Installs the pinned Node tooling (CDK CLI, kinesalite, dynalite) from
# package-lock.json, once per lockfile change.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v npm >/dev/null 2>&1; then
  echo "npm-install: npm not found; install Node.js 20 or later (Debian: apt-get install nodejs npm)" >&2
  exit 1
fi

stamp=node_modules/.kinesis-crr-lock
if [[ ! -f $stamp ]] || ! cmp -s package-lock.json "$stamp"; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi

# The CDK CLI ships Go templates that do not compile; a go.mod here makes
# node_modules its own module, so `go vet ./...` and `go test ./...` skip it.
printf 'module example.invalid/node_modules\n' > node_modules/go.mod
