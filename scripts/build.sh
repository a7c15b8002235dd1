#!/usr/bin/env bash
# Builds the Lambda binaries: <out>/replicator/bootstrap and
# <out>/failover/bootstrap, static, for provided.al2023.
#
#   scripts/build.sh [-o OUTDIR] [-a ARCH]
#
# OUTDIR defaults to dist (or $DIST_DIR), ARCH to arm64 (or $GOARCH); the
# local mode builds amd64 to run under the runtime interface emulator.
set -euo pipefail
cd "$(dirname "$0")/.."

out=${DIST_DIR:-dist}
arch=${GOARCH:-arm64}
while getopts "o:a:h" opt; do
  case $opt in
    o) out=$OPTARG ;;
    a) arch=$OPTARG ;;
    h) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "usage: $0 [-o OUTDIR] [-a ARCH]" >&2; exit 2 ;;
  esac
done

for fn in replicator failover; do
  mkdir -p "$out/$fn"
  CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -tags lambda.norpc -trimpath -ldflags='-s -w' \
    -o "$out/$fn/bootstrap" "./functions/$fn"
done
echo "built $out/replicator/bootstrap and $out/failover/bootstrap (linux/$arch)" >&2
