#!/usr/bin/env bash
# Invokes the kinesis-crr failover function and prints its report.
#
#   scripts/failover.sh --to us-east-2 --reason "us-east-1 impaired"   # fail over
#   scripts/failover.sh --to us-east-2 --dry-run                       # what would happen
#   scripts/failover.sh --status --region us-east-2                    # read-only report
#   scripts/failover.sh --to us-east-1 --expected-epoch 2              # fenced failback
#   scripts/failover.sh --local http://127.0.0.1:9101 --status         # Lambda RIE (local demo)
#
# The call goes to the failover function of the Region being activated (--to),
# unless --region says otherwise: the other Region may be the impaired one.
# Exit status: 0 when every stream is switched, already active or as asked;
# 1 on a bad flag or a failed invocation; 3 when a stream reports staleEpoch,
# conflict or failed (the report says why).
set -euo pipefail

usage() {
  cat <<'EOF'
usage: scripts/failover.sh (--to REGION | --status | --init --to REGION --streams a,b) [options]

  --to REGION           Region to activate (failover, the default action; init)
  --status              read-only report of every stream (or of --streams)
  --init                create config items for --streams with --to active, where none exists
  --streams a,b         streams to act on (default: every stream of the config table)
  --dry-run             compute the full report, write nothing
  --reason TEXT         recorded in each stream's history (the audit trail)
  --requested-by NAME   recorded in the history (default: $USER)
  --expected-epoch N    fence: switch only streams still at epoch N
  --park-previous       also set the previous Region's replicator to reserved concurrency 0
  --mode rewind|drain   what happens to the old Region's backlog (default rewind: producers resend from resumeFrom)
  --force               switch even if the previous switch has not settled (it then starts when that one has)
  --ignore-shards S:ID,…  leave shard ID of stream S out of its resume point (idle or closed shards)
  --function NAME       failover function name (default kds-crr-failover)
  --region REGION       Region to invoke in (default: --to; for --status, the AWS CLI's default)
  --local URL           POST the payload to a Lambda Runtime Interface Emulator instead of calling aws
  --out FILE            also keep the raw report in FILE
  -h, --help            this text
EOF
}

die() {
  echo "failover.sh: $*" >&2
  echo "run scripts/failover.sh --help for the flags" >&2
  exit 1
}

need_value() {
  [[ $# -ge 2 && -n $2 && $2 != --* ]] || die "$1 needs a value"
}

region_re='^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$'
stream_re='^[A-Za-z0-9_.-]{1,128}$'
shard_re='^shardId-[0-9]{12}$'

action=failover
to="" streams="" dry_run=false reason="" requested_by="${USER:-}" expected_epoch=""
park_previous=false ignore_shards="" function_name=kds-crr-failover region="" local_url="" out=""
mode="" force=false

while [[ $# -gt 0 ]]; do
  case $1 in
    --to) need_value "$@"; to=$2; shift 2 ;;
    --status) action=status; shift ;;
    --init) action=init; shift ;;
    --streams) need_value "$@"; streams=$2; shift 2 ;;
    --dry-run) dry_run=true; shift ;;
    --reason) need_value "$@"; reason=$2; shift 2 ;;
    --requested-by) need_value "$@"; requested_by=$2; shift 2 ;;
    --expected-epoch) need_value "$@"; expected_epoch=$2; shift 2 ;;
    --park-previous) park_previous=true; shift ;;
    --mode) need_value "$@"; mode=$2; shift 2 ;;
    --force) force=true; shift ;;
    --ignore-shards) need_value "$@"; ignore_shards=$2; shift 2 ;;
    --function) need_value "$@"; function_name=$2; shift 2 ;;
    --region) need_value "$@"; region=$2; shift 2 ;;
    --local) need_value "$@"; local_url=$2; shift 2 ;;
    --out) need_value "$@"; out=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument '$1'" ;;
  esac
done

case $action in
  failover|init)
    [[ -n $to ]] || die "--to REGION is required (the Region to activate), or use --status"
    [[ $to =~ $region_re ]] || die "--to '$to' is not an AWS Region name such as us-east-2"
    ;;
  status)
    [[ -z $to ]] || die "--status takes no --to (use --region to pick where to invoke)"
    ;;
esac
if [[ $action != failover ]]; then
  [[ -z $expected_epoch ]] || die "--expected-epoch only applies to a failover"
  [[ $park_previous == false ]] || die "--park-previous only applies to a failover"
  [[ -z $mode ]] || die "--mode only applies to a failover"
  [[ $force == false ]] || die "--force only applies to a failover"
fi
if [[ -n $mode && $mode != rewind && $mode != drain ]]; then
  die "--mode '$mode' is not rewind or drain"
fi
if [[ $action == init && -z $streams ]]; then
  die "--init needs --streams"
fi
if [[ -n $expected_epoch && ! $expected_epoch =~ ^[1-9][0-9]{0,17}$ ]]; then
  die "--expected-epoch '$expected_epoch' is not an epoch (a whole number from 1)"
fi
if [[ -n $region && ! $region =~ $region_re ]]; then
  die "--region '$region' is not an AWS Region name such as us-east-2"
fi
if [[ -n $local_url && ! $local_url =~ ^https?://[^/]+ ]]; then
  die "--local '$local_url' is not an http:// URL of a Lambda Runtime Interface Emulator"
fi

# json_string prints $1 as a JSON string literal.
json_string() {
  local s=$1 out="" c i code
  for ((i = 0; i < ${#s}; i++)); do
    c=${s:i:1}
    case $c in
      '"') out+='\"' ;;
      '\') out+='\\' ;;
      $'\n') out+='\n' ;;
      $'\r') out+='\r' ;;
      $'\t') out+='\t' ;;
      *)
        printf -v code '%d' "'$c"
        if ((code >= 0 && code < 32)); then
          printf -v c '\\u%04x' "$code"
        fi
        out+=$c
        ;;
    esac
  done
  printf '"%s"' "$out"
}

fields=()
[[ $action == failover ]] || fields+=("\"action\":$(json_string "$action")")
[[ -z $to ]] || fields+=("\"targetRegion\":$(json_string "$to")")
if [[ -n $streams ]]; then
  list=()
  IFS=, read -r -a names <<<"$streams"
  for name in "${names[@]}"; do
    [[ $name =~ $stream_re ]] || die "--streams: '$name' is not a Kinesis stream name"
    list+=("$(json_string "$name")")
  done
  fields+=("\"streams\":[$(IFS=,; echo "${list[*]}")]")
fi
[[ $dry_run == false ]] || fields+=('"dryRun":true')
[[ -z $reason ]] || fields+=("\"reason\":$(json_string "$reason")")
[[ -z $requested_by || $action == status ]] || fields+=("\"requestedBy\":$(json_string "$requested_by")")
[[ -z $expected_epoch ]] || fields+=("\"expectedEpoch\":$expected_epoch")
[[ $park_previous == false ]] || fields+=('"parkPrevious":true')
[[ -z $mode ]] || fields+=("\"mode\":\"$mode\"")
[[ $force == false ]] || fields+=('"force":true')
if [[ -n $ignore_shards ]]; then
  # Grouped by stream without associative arrays, which macOS's bash 3.2 lacks.
  IFS=, read -r -a pairs <<<"$ignore_shards"
  ignored_streams=()
  for pair in "${pairs[@]}"; do
    [[ $pair == *:* ]] || die "--ignore-shards: '$pair' is not STREAM:SHARD_ID"
    s=${pair%%:*} id=${pair#*:}
    [[ $s =~ $stream_re ]] || die "--ignore-shards: '$s' is not a Kinesis stream name"
    [[ $id =~ $shard_re ]] || die "--ignore-shards: '$id' is not a shard id such as shardId-000000000001"
    [[ " ${ignored_streams[*]-} " == *" $s "* ]] || ignored_streams+=("$s")
  done
  entries=()
  for s in "${ignored_streams[@]}"; do
    ids=()
    for pair in "${pairs[@]}"; do
      [[ ${pair%%:*} != "$s" ]] || ids+=("$(json_string "${pair#*:}")")
    done
    entries+=("$(json_string "$s"):[$(IFS=,; echo "${ids[*]}")]")
  done
  fields+=("\"ignoreShards\":{$(IFS=,; echo "${entries[*]}")}")
fi
payload="{$(IFS=,; echo "${fields[*]}")}"

response=$(mktemp)
trap 'rm -f "$response"' EXIT

if [[ -n $local_url ]]; then
  url=$local_url
  [[ $url == */2015-03-31/functions/* ]] || url="${url%/}/2015-03-31/functions/function/invocations"
  echo "invoking $url with $payload" >&2
  curl --silent --show-error --fail-with-body --max-time 120 -X POST -H 'Content-Type: application/json' \
    --data "$payload" -o "$response" "$url" || die "the local invocation failed (is the emulator running at $local_url?)"
  function_error=""
  if grep -q '"errorMessage"' "$response" && ! grep -q '"streams"' "$response"; then
    function_error=Unhandled
  fi
else
  command -v aws >/dev/null 2>&1 || die "the aws CLI is not installed (or use --local URL)"
  invoke_region=${region:-$to}
  region_args=()
  [[ -z $invoke_region ]] || region_args=(--region "$invoke_region")
  echo "invoking $function_name${invoke_region:+ in $invoke_region} with $payload" >&2
  # --output json: the FunctionError check below reads JSON, whatever output
  # format the user's CLI profile sets. The read timeout outlasts the
  # function's 5-minute timeout (a call waits for a hanging old Region).
  meta=$(aws lambda invoke --function-name "$function_name" "${region_args[@]}" --output json --cli-read-timeout 330 \
    --cli-binary-format raw-in-base64-out --payload "$payload" "$response") ||
    die "aws lambda invoke failed (see above)"
  function_error=$(sed -n 's/.*"FunctionError": *"\([^"]*\)".*/\1/p' <<<"$meta")
fi

[[ -z $out ]] || cp "$response" "$out"

pretty() {
  if command -v jq >/dev/null 2>&1; then
    jq . "$1"
  elif command -v python3 >/dev/null 2>&1; then
    python3 -m json.tool "$1"
  else
    cat "$1"
    echo
  fi
}

if [[ -n $function_error ]]; then
  echo "failover function error ($function_error): nothing was changed unless the report below says so" >&2
  pretty "$response" >&2
  exit 1
fi

pretty "$response"

summary_jq='
  "",
  "active Region: \(.activeRegion // "-")   previous: \(.previousRegion // "-")   dry run: \(.dryRun)",
  (.streams[] | "  \(.streamName): \(.status), active in \(.activeRegion) at epoch \(.epoch), resume from \(.resumeFrom // "- (none: see warnings)")\(if .resumeFromUnverified then " (UNVERIFIED: shards not listed)" else "" end)"),
  "log-stream start (minimum over streams): \(.logStreamStart // "-")",
  (if (.warnings | length) > 0 then "warnings:", (.warnings[] | "  ! \(.)") else empty end)'
unsettled_jq='[.streams[] | select(.status == "staleEpoch" or .status == "conflict" or .status == "failed")] | length'
if command -v jq >/dev/null 2>&1; then
  jq -r "$summary_jq" "$response"
  unsettled=$(jq -r "$unsettled_jq" "$response")
elif command -v python3 >/dev/null 2>&1; then
  unsettled=$(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
bad = [s for s in r["streams"] if s["status"] in ("staleEpoch", "conflict", "failed")]
print(len(bad))' "$response")
else
  unsettled=0
fi
if [[ $unsettled != 0 ]]; then
  echo "$unsettled stream(s) were not switched (staleEpoch, conflict or failed): read the warnings, check --status, and retry if still wanted" >&2
  exit 3
fi
