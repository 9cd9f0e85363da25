#!/usr/bin/env bash
# Installs awqx's build and test dependencies from Debian 12 packages (no other downloads).
# Idempotent: installs only what is missing. Needs root (or sudo).
set -euo pipefail
PKGS=(g++ cmake make pkg-config git libomp-dev libdnnl-dev libhwloc-dev nlohmann-json3-dev libfmt-dev
      libcli11-dev libsentencepiece-dev libpcre2-dev libzstd-dev zstd libgtest-dev libgmock-dev
      libbenchmark-dev ccache clang-14 libclang-rt-14-dev gnuplot-nox python3 python3-numpy)
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "installing: ${missing[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
