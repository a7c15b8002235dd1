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

# The CDK CLI ships Go templates that do not compile. package.json's
# postinstall writes node_modules/go.mod, which makes node_modules a module
# of its own that `go vet ./...` and `go test ./...` skip, also after a
# plain `npm ci`; this stops here if that ever breaks.
if [[ ! -f node_modules/go.mod ]]; then
  echo "npm-install: node_modules/go.mod is missing (package.json's postinstall writes it); go vet ./... would walk into the CDK CLI's Go templates" >&2
  exit 1
fi
