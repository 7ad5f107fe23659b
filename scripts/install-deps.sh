#!/usr/bin/env bash
# Installs every Debian 12 package that building, testing and running berth needs.
# Idempotent: packages already present are left as they are. Run as root.
set -euo pipefail

packages=(
  # toolchain and build
  build-essential cmake ninja-build ccache pkg-config git bazel-bootstrap
  clang-14 libclang-rt-14-dev clang-format
  # gRPC / protobuf (generated API code) and abseil
  protobuf-compiler protobuf-compiler-grpc libprotobuf-dev libgrpc++-dev libgrpc-dev libabsl-dev
  # libraries used by the services
  libnats-dev librocksdb-dev prometheus-cpp-dev libcurl4-openssl-dev libssl-dev
  libarchive-dev zlib1g-dev libdeflate-dev libisal-dev libzstd-dev
  nlohmann-json3-dev libtomlplusplus-dev libcli11-dev libspdlog-dev libfmt-dev libsystemd-dev
  libgtest-dev libgmock-dev
  # real peers used by tests, the demo and the benchmarks
  nats-server docker-registry containerd runc crun busybox-static openssl apache2-utils
  iproute2 util-linux e2fsprogs procps psmisc curl python3
  # fault tests (tests/fault): the fsync order of a content commit
  strace
  # deploy checks (tests/deploy): systemd-analyze verify on the units, shellcheck on scripts
  systemd shellcheck
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -q
"${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"

# The Debian units of the servers we start ourselves must not grab the default ports
# on machines where systemd runs; without systemd (containers, CI) nothing was started.
echo "install-deps: done"
