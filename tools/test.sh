#!/usr/bin/env bash
# The test command (README command 2; .ci/run calls it):
#   1. release build (g++) + every unit/integration test (ctest), Python tests included
#   2. one clang ASan+UBSan build that holds both the test suite and the libFuzzer targets
#      (AWQX_FUZZ=ON), then the whole test suite under the sanitizers; built without MPI, so it
#      also checks the "built without MPI" path (the release tree runs the mpirun tests)
#   3. every libFuzzer target from that same tree for FUZZ_SECONDS (default 30) each, seeded
#      from tests/fuzz/corpus
# Two full builds, not three (the sanitizer and fuzz trees used to be separate); ccache shares
# objects with earlier runs. Prints each stage's wall time at the end, also when a stage fails.
# Exits non-zero on any failure. Needs ../shared beside the project root (tests fail without it).
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-2}
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
CC_SAN=${CC_FUZZ:-clang-14}
CXX_SAN=${CXX_FUZZ:-clang++-14}
command -v "$CXX_SAN" >/dev/null || { CC_SAN=clang; CXX_SAN=clang++; }

stages=()
stage_start=$(date +%s)
stage_name=""
begin() {  # begin NAME: closes the previous stage's timer and starts the next
  local now; now=$(date +%s)
  [ -n "$stage_name" ] && stages+=("$(printf '%-44s %5ds' "$stage_name" $((now - stage_start)))")
  stage_name=$1; stage_start=$now
  echo "== $1"
}
summary() {
  local rc=$? now; now=$(date +%s)
  [ -n "$stage_name" ] && stages+=("$(printf '%-44s %5ds%s' "$stage_name" $((now - stage_start)) \
    "$([ $rc -ne 0 ] && echo '  FAILED')")")
  echo "== stage wall times"
  printf '%s\n' "${stages[@]}"
  printf '%-44s %5ds\n' "total" $((now - run_start))
}
run_start=$(date +%s)
trap summary EXIT

begin "deps"
bash tools/deps.sh
[ -d ../shared ] || { echo "error: ../shared is missing (test models and data sit beside the project root)" >&2; exit 1; }

begin "[1/3] release build (g++)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DAWQX_WERROR=ON >/dev/null
cmake --build build -j"$JOBS"
begin "[1/3] release tests"
ctest --test-dir build --output-on-failure -j"$JOBS" --timeout 900

begin "[2/3] ASan+UBSan+fuzz build (clang)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAWQX_SANITIZE=ON -DAWQX_FUZZ=ON \
  -DAWQX_BUILD_BENCH=OFF -DAWQX_PYTHON=OFF -DAWQX_SHARED=OFF -DAWQX_MPI=OFF -DAWQX_WERROR=ON -DCMAKE_C_COMPILER="$CC_SAN" \
  -DCMAKE_CXX_COMPILER="$CXX_SAN" >/dev/null
cmake --build build-asan -j"$JOBS"
begin "[2/3] ASan+UBSan tests"
# detect_leaks: LeakSanitizer needs ptrace-free environments; keep it on where it works.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
AWQX_SANITIZER_BUILD=1 ctest --test-dir build-asan --output-on-failure -j"$JOBS" --timeout 1800

begin "[3/3] fuzzing (${FUZZ_SECONDS}s per target)"
FUZZ_BUILD_DIR=build-asan bash tools/fuzz.sh "$FUZZ_SECONDS"
echo "all tests passed"
