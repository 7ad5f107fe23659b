#!/usr/bin/env bash
# replicas.sh: content Read throughput with 1 vs 3 content instances (the primary alone, then
# the primary and two read replicas), under parallel readers, through the gateway — which
# spreads Info/List/Read/Status/ListStatuses round robin over every instance.
#
#   bench/content/replicas.sh [--dir /var/tmp] [--readers 1,4,16] [--seconds 10]
#                             [--blobs 8] [--size-mib 32]
#
# For each configuration: deploy/berth-up (BERTH_SERVICES=content, BERTH_CONTENT_REPLICAS=0
# or 2) on a fresh root under --dir, then build/bin/content_read_bench against the gateway
# socket, then berth-up stop. Prints one table per configuration and a side-by-side summary.
#
# Not a test: timings are the point. Build first (ninja -C build berth-content berth-gateway
# content_read_bench), run on an idle machine. On a machine with few cores the gateway and
# the instances compete for the same CPUs, so replicas mostly show what they cost rather
# than what they bring; the figures mean most with cores to spare (see the report it prints:
# nproc and load average are part of it).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly SCRIPT_DIR
readonly REPO=${SCRIPT_DIR%/*/*}
readonly BIN=${BERTH_BIN:-$REPO/build/bin}

dir=/var/tmp
readers=1,4,16
seconds=10
blobs=8
size_mib=32
while [[ $# -gt 0 ]]; do
  case $1 in
    --dir) dir=${2:?}; shift 2 ;;
    --readers) readers=${2:?}; shift 2 ;;
    --seconds) seconds=${2:?}; shift 2 ;;
    --blobs) blobs=${2:?}; shift 2 ;;
    --size-mib) size_mib=${2:?}; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "replicas.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

for b in berth-content berth-gateway content_read_bench; do
  [[ -x $BIN/$b ]] || { echo "replicas.sh: $BIN/$b is not built" >&2; exit 1; }
done

root=""
cleanup() {
  if [[ -n $root ]]; then
    "$REPO/deploy/berth-up" stop "$root" >/dev/null 2>&1 || true
    rm -rf "$root" "$root.up.log"
  fi
}
trap cleanup EXIT

echo "content Read throughput: $blobs blobs of $size_mib MiB, readers $readers, ${seconds}s each"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"

declare -A result
for instances in 1 3; do
  root=$(mktemp -d "$dir/berth-replicas-bench.XXXXXX")
  echo
  echo "== $instances content instance(s) ($((instances - 1)) read replicas), root $root"
  BERTH_BIN=$BIN BERTH_SERVICES=content BERTH_CONTENT_REPLICAS=$((instances - 1)) \
    "$REPO/deploy/berth-up" start "$root" >"$root.up.log" 2>&1 ||
    { cat "$root.up.log" >&2; exit 1; }
  out=$("$BIN/content_read_bench" --address "unix://$root/berth.sock" --blobs "$blobs" \
    --size-mib "$size_mib" --readers "$readers" --seconds "$seconds")
  echo "$out"
  while read -r n mbps _; do
    [[ $n =~ ^[0-9]+$ ]] && result[$instances,$n]=$mbps
  done <<<"$out"
  "$REPO/deploy/berth-up" stop "$root" >/dev/null
  rm -rf "$root" "$root.up.log"
  root=""
done

echo
printf '%-8s %14s %14s %8s\n' readers "1 inst MB/s" "3 inst MB/s" ratio
IFS=, read -r -a counts <<<"$readers"
for n in "${counts[@]}"; do
  one=${result[1,$n]:-0}
  three=${result[3,$n]:-0}
  printf '%-8s %14s %14s %8s\n' "$n" "$one" "$three" \
    "$(awk -v a="$one" -v b="$three" 'BEGIN { if (a > 0) printf "%.2f", b / a; else print "-" }')"
done
