#!/usr/bin/env bash
# Synthesizes the CDK app offline with the pinned CDK CLI and checks that the
# five stacks are listed and their templates written. No AWS credentials or
# network are needed: the account comes from context.
#
#   scripts/synth-test.sh [extra cdk arguments, e.g. -c parkStandby=true]
set -euo pipefail
cd "$(dirname "$0")/.."

export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20
export CDK_DISABLE_CLI_TELEMETRY=true
# Never reach for credentials or instance metadata: the synth must not need them.
export AWS_EC2_METADATA_DISABLED=true

bash scripts/npm-install.sh
cdk=node_modules/.bin/cdk
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

ctx=(-c account=123456789012 "$@")
want=(KdsCrr-Global KdsCrr-Streams-us-east-1 KdsCrr-Streams-us-east-2 KdsCrr-us-east-1 KdsCrr-us-east-2)

start=$(date +%s.%N)
"$cdk" synth --quiet --no-notices --output "$out/cdk.out" "${ctx[@]}" >"$out/synth.log" 2>&1 || {
  cat "$out/synth.log" >&2
  echo "synth-test: cdk synth failed" >&2
  exit 1
}
synth_end=$(date +%s.%N)

for stack in "${want[@]}"; do
  tpl="$out/cdk.out/$stack.template.json"
  if [[ ! -s $tpl ]]; then
    echo "synth-test: $tpl missing" >&2
    exit 1
  fi
done

# The second run finds the Go build cached and the binaries built: the warm time.
list_start=$(date +%s.%N)
listed=$("$cdk" list --no-notices --output "$out/cdk.out" "${ctx[@]}" 2>"$out/list.log") || {
  cat "$out/list.log" >&2
  echo "synth-test: cdk list failed" >&2
  exit 1
}
list_end=$(date +%s.%N)

got=$(printf '%s\n' "$listed" | awk '{print $1}' | sort | tr '\n' ' ')
expected=$(printf '%s\n' "${want[@]}" | sort | tr '\n' ' ')
if [[ $got != "$expected" ]]; then
  echo "synth-test: cdk list gave [$got], want [$expected]" >&2
  exit 1
fi

printf 'synth-test: ok: %s\n' "$expected"
printf 'synth-test: cdk synth %.1fs (build step included), cdk list %.1fs\n' \
  "$(echo "$synth_end - $start" | bc)" "$(echo "$list_end - $list_start" | bc)"
