#!/usr/bin/env bash
# bench/snapshot/run.sh [WORKDIR]: berth-snapshot's layer application and Prepare+Commit
# figures, side by side with GNU tar on identical fresh filesystems. Needs root (loop mounts).
#
#   1. generates a layer-shaped tree (snapshot_bench gen: $FILES files, mostly small) on a
#      scratch ext4 and packs it with `tar -czf` (GNU tar + gzip -6, as image builders do);
#   2. $RUNS times, each on its own fresh loop-mounted ext4 (reference/benchmarking.md: never
#      compare /tmp with /var/tmp): `tar -xzf` of the layer; berth's pull sequence for it
#      (Prepare + Diff.Apply + Commit on the overlayfs snapshotter, in-process over a
#      LocalStore); the same without the reader thread;
#   3. Prepare+Commit on an empty parent: in-process, and through a running berth-snapshot
#      over gRPC;
#   4. prints every run and the medians.
#
# Environment: BERTH_BIN (default build/bin), RUNS (3), FILES (16000), IMG_SIZE (8G).
set -euo pipefail
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=${SCRIPT_DIR%/bench/snapshot}
BIN=${BERTH_BIN:-$REPO/build/bin}
WORK=${1:-/var/tmp/berth-snapshot-bench}
RUNS=${RUNS:-3}
FILES=${FILES:-16000}
IMG_SIZE=${IMG_SIZE:-8G}
BENCH=$BIN/snapshot_bench
[[ $(id -u) -eq 0 ]] || { echo "run.sh: needs root (loop mounts)" >&2; exit 1; }
[[ -x $BENCH ]] || { echo "run.sh: $BENCH not built (ninja -C build snapshot_bench)" >&2; exit 1; }
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
MOUNTS=()
SERVER_PID=""

cleanup() {
  [[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  local m
  for m in "${MOUNTS[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
  rm -f "$WORK"/*.img
}
trap cleanup EXIT

# fresh_fs NAME: a new ext4 on a loop device, mounted on $WORK/NAME.
fresh_fs() {
  local name=$1 img=$WORK/$1.img mnt=$WORK/$1
  if mountpoint -q "$mnt"; then umount "$mnt"; fi
  rm -f "$img"
  truncate -s "$IMG_SIZE" "$img"
  mkfs.ext4 -q -F "$img"
  mkdir -p "$mnt"
  mount -o loop "$img" "$mnt"
  MOUNTS+=("$mnt")
}

drop_fs() {
  umount "$WORK/$1"
  rm -f "$WORK/$1.img"
}

now() { date +%s.%N; }
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
field() { sed -n "s/.*[[:space:]]$1=\([^[:space:]]*\).*/\1/p"; }

echo "== layer"
fresh_fs gen
"$BENCH" gen --out "$WORK/gen/tree" --files "$FILES"
(cd "$WORK/gen/tree" && tar -czf "$WORK/layer.tar.gz" .)
gzip -dc "$WORK/layer.tar.gz" >"$WORK/layer.tar"
drop_fs gen
ls -l "$WORK/layer.tar.gz" "$WORK/layer.tar" | awk '{ print "  " $5 " bytes  " $9 }'
t0=$(now); gzip -dc "$WORK/layer.tar.gz" >/dev/null; t1=$(now)
echo "  gzip -dc alone: $(echo "$t1 - $t0" | bc) s"

declare -a TAR BERTH NOPF
for run in $(seq "$RUNS"); do
  echo "== run $run"
  fresh_fs tar
  mkdir "$WORK/tar/x"
  sync
  t0=$(now); tar -xzf "$WORK/layer.tar.gz" -C "$WORK/tar/x"; t1=$(now)
  TAR+=("$(echo "$t1 - $t0" | bc)")
  echo "  tar -xzf                      ${TAR[-1]} s"
  drop_fs tar

  fresh_fs berth
  sync
  line=$("$BENCH" apply --root "$WORK/berth/root" --layer "$WORK/layer.tar.gz")
  BERTH+=("$(echo "$line" | field seconds)")
  echo "  berth prepare+apply+commit    ${BERTH[-1]} s   ($line)"
  drop_fs berth

  fresh_fs berth
  sync
  line=$("$BENCH" apply --root "$WORK/berth/root" --layer "$WORK/layer.tar.gz" --no-prefetch)
  NOPF+=("$(echo "$line" | field seconds)")
  echo "  berth, no reader thread       ${NOPF[-1]} s"
  drop_fs berth
done

echo "== prepare+commit, empty parent"
fresh_fs pc
"$BENCH" prepcommit --root "$WORK/pc/inproc" --n 300
mkdir -p "$WORK/pc/svc"
cat >"$WORK/pc/config.toml" <<TOML
[snapshot]
address = "unix://$WORK/pc/snapshot.sock"
root = "$WORK/pc/svc"
content_address = "unix://$WORK/pc/content.sock"
nats_url = ""
TOML
"$BIN/berth-snapshot" --config "$WORK/pc/config.toml" --ready-file "$WORK/pc/ready" \
  >"$WORK/pc/snapshot.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 200); do [[ -s $WORK/pc/ready ]] && break; sleep 0.05; done
"$BENCH" prepcommit-grpc --address "unix://$WORK/pc/snapshot.sock" --n 300
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
drop_fs pc

echo "== medians over $RUNS runs (fresh ext4 on loop for each system and run)"
tar_m=$(printf '%s\n' "${TAR[@]}" | median)
berth_m=$(printf '%s\n' "${BERTH[@]}" | median)
nopf_m=$(printf '%s\n' "${NOPF[@]}" | median)
gz=$(stat -c %s "$WORK/layer.tar.gz"); raw=$(stat -c %s "$WORK/layer.tar")
echo "  tar -xzf          $tar_m s  $(echo "scale=1; $gz / $tar_m / 1000000" | bc) MB/s gzip  $(echo "scale=1; $raw / $tar_m / 1000000" | bc) MB/s tar"
echo "  berth apply       $berth_m s  $(echo "scale=1; $gz / $berth_m / 1000000" | bc) MB/s gzip  $(echo "scale=1; $raw / $berth_m / 1000000" | bc) MB/s tar"
echo "  berth, no thread  $nopf_m s"
echo "  berth / tar       $(echo "scale=2; $berth_m / $tar_m" | bc)"
rm -f "$WORK/layer.tar"
