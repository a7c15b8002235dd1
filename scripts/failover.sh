#!/usr/bin/env bash
# The old operator path, kept as a thin wrapper of kdscrr (cmd/kdscrr), the
# operator CLI: it builds kdscrr from this checkout and runs
# `kdscrr failover …` or `kdscrr status …` with the same flags. Use kdscrr
# directly (go build ./cmd/kdscrr): it needs no aws CLI, jq or python3.
#
#   scripts/failover.sh --to us-east-2 --reason "us-east-1 impaired"   # kdscrr failover --to us-east-2 --reason …
#   scripts/failover.sh --to us-east-2 --dry-run                       # kdscrr failover --to us-east-2 --dry-run
#   scripts/failover.sh --status --region us-east-2                    # kdscrr status --region us-east-2
#   scripts/failover.sh --to us-east-1 --expected-epoch 2              # kdscrr failover --to us-east-1 --expected-epoch 2
#   scripts/failover.sh --status --endpoints FILE                      # a local deployment (scripts/demo.sh --keep)
#
# Exit status is kdscrr's: 0 when every stream is where it was asked to be;
# 1 on a bad flag or a failed call; 3 when a stream reports staleEpoch,
# conflict or failed (the report says why).
set -euo pipefail

usage() {
  cat <<'EOF'
usage: scripts/failover.sh (--to REGION | --status) [options]
       (a wrapper of kdscrr: prefer `kdscrr failover …` and `kdscrr status …`)

  --to REGION           Region to activate: kdscrr failover --to REGION, which
                        invokes the failover function in REGION
  --status              read-only report: kdscrr status (every Region of the
                        deployment, or --region REGION's alone)
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
  --region REGION       with --status only: the Region whose failover function answers
  --endpoints FILE      a local deployment's endpoints file instead of AWS (scripts/demo.sh --keep writes it)
  --regions R1,R2       the deployment's two Regions (default KDSCRR_REGIONS, the
                        endpoints file, or cdk.json: the working directory's, else this checkout's)
  --output table|json   table (default) or json (for scripts; `--output json > FILE` keeps the report)
  --profile NAME        the AWS profile to use (default the standard credential chain)
  -h, --help            this text

Gone with the move to kdscrr: --init (the deploy seeds the config), --local URL
(use --endpoints FILE), --out FILE (use --output json > FILE), and --region
with --to (a failover is invoked in the Region it activates).
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

action="" to="" region="" deployment_given=false
# common: flags both kdscrr commands take; only_failover: those of kdscrr
# failover alone, refused with --status rather than passed on to fail there.
common=() only_failover=() failover_flag=""

while [[ $# -gt 0 ]]; do
  case $1 in
    --to) need_value "$@"; to=$2; shift 2 ;;
    --status) action=status; shift ;;
    --endpoints|--regions)
      need_value "$@"; common+=("$1" "$2"); deployment_given=true; shift 2 ;;
    --streams|--function|--output|--profile)
      need_value "$@"; common+=("$1" "$2"); shift 2 ;;
    --reason|--requested-by|--expected-epoch|--mode|--ignore-shards)
      need_value "$@"; only_failover+=("$1" "$2"); failover_flag=${failover_flag:-$1}; shift 2 ;;
    --dry-run|--park-previous|--force)
      only_failover+=("$1"); failover_flag=${failover_flag:-$1}; shift ;;
    --region) need_value "$@"; region=$2; shift 2 ;;
    --init)
      die "--init is gone: the deploy seeds every stream's config (each Region stack runs the failover function's init action at every deploy, creating only missing items); for a stream added outside the deploy, invoke the failover function with {\"action\":\"init\",\"targetRegion\":\"REGION\",\"streams\":[\"NAME\"]}" ;;
    --local)
      die "--local is gone: kdscrr reaches a local deployment through its endpoints file, --endpoints FILE (scripts/demo.sh --keep writes it)" ;;
    --out)
      die "--out is gone: use --output json > FILE to keep the report" ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument '$1'" ;;
  esac
done

if [[ $action == status ]]; then
  [[ -z $to ]] || die "--status takes no --to (use --region to pick the Region that answers)"
  [[ -z $failover_flag ]] || die "$failover_flag only applies to a failover, not to --status"
  args=(status)
  [[ -z $region ]] || args+=(--region "$region")
  args+=(${common[@]+"${common[@]}"})
else
  [[ -n $to ]] || die "--to REGION is required (the Region to activate), or use --status"
  # The failover function refuses to activate a Region other than its own
  # (pkg/failover): the switch must land in the target Region's replica.
  [[ -z $region ]] || die "--region does not go with --to: kdscrr invokes the failover function in the Region it activates (--to $to); drop --region"
  args=(failover --to "$to" ${only_failover[@]+"${only_failover[@]}"} ${common[@]+"${common[@]}"})
fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
command -v go >/dev/null 2>&1 || die "go is needed to build kdscrr from $root (or build it elsewhere: go build ./cmd/kdscrr)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/kinesis-crr"
mkdir -p "$cache" || die "cannot create $cache for the kdscrr binary"
bin="$cache/kdscrr"
# Built on every run, so the binary is this checkout's (the build cache makes
# that quick), into a name of this run's own and then renamed: a concurrent
# run never executes a half-written file.
tmp="$cache/kdscrr.$$.tmp"
trap 'rm -f "$tmp"' EXIT
(cd "$root" && go build -o "$tmp" ./cmd/kdscrr) || die "building kdscrr (go build ./cmd/kdscrr in $root) failed (see above)"
mv -f "$tmp" "$bin"
trap - EXIT

# kdscrr reads the deployment's Regions from --regions, KDSCRR_REGIONS, the
# endpoints file or ./cdk.json. The old script needed no Regions and ran from
# anywhere; when none of those is given, this checkout's cdk.json (the one
# `cdk deploy` used) names them.
dir=$PWD
if [[ ! -e cdk.json && -z ${KDSCRR_REGIONS:-} && $deployment_given == false ]]; then
  dir=$root
fi

shown=kdscrr
for a in "${args[@]}"; do
  if [[ $a =~ ^[A-Za-z0-9_./:,=@+-]+$ ]]; then shown+=" $a"; else shown+=" $(printf '%q' "$a")"; fi
done
echo "failover.sh: kdscrr is the operator tool now; running: $shown" >&2
cd "$dir"
exec "$bin" "${args[@]}"
