#!/usr/bin/env bash
# Installs awqx's build and test dependencies from Debian 12 packages (no other downloads).
# Idempotent: installs only what is missing. Needs root (or sudo).
set -euo pipefail
PKGS=(g++ cmake make pkg-config git libomp-dev libdnnl-dev libhwloc-dev nlohmann-json3-dev libfmt-dev
      libcli11-dev libsentencepiece-dev libpcre2-dev libzstd-dev zstd libgtest-dev libgmock-dev
      libbenchmark-dev ccache clang-14 libclang-rt-14-dev gnuplot-nox python3 python3-numpy
      libcpp-httplib-dev curl python3-pybind11 python3-pytest python3-setuptools python3-dev python3-pip
      libopenmpi-dev openmpi-bin)
# Node.js + npm run the OpenAI-client tests; machines that already have a Node (not Debian's) keep it.
command -v npm >/dev/null 2>&1 || PKGS+=(nodejs npm)
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "installing: ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# The OpenAI Node SDK for tests/serve (version pinned by its package-lock.json), from the npm registry.
node_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/serve/node"
if [ -f "$node_dir/package-lock.json" ] && [ ! -d "$node_dir/node_modules/openai" ]; then
  (cd "$node_dir" && npm ci --no-audit --no-fund >/dev/null)
fi
