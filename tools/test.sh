#!/usr/bin/env bash
# The test command (README command 2; .ci/run calls it):
#   1. release build + every unit/integration test (ctest)
#   2. ASan+UBSan build of the whole test suite
#   3. every libFuzzer target for FUZZ_SECONDS (default 30) each, seeded from tests/fuzz/corpus
# Exits non-zero on any failure. Needs ../shared beside the project root (tests fail without it).
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-2}
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
bash tools/deps.sh
[ -d ../shared ] || { echo "error: ../shared is missing (test models and data sit beside the project root)" >&2; exit 1; }

echo "== [1/3] release build + tests"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DAWQX_WERROR=ON >/dev/null
cmake --build build -j"$JOBS"
ctest --test-dir build --output-on-failure -j"$JOBS" --timeout 900

echo "== [2/3] ASan+UBSan build + tests"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAWQX_SANITIZE=ON -DAWQX_BUILD_BENCH=OFF >/dev/null
cmake --build build-asan -j"$JOBS"
# detect_leaks: LeakSanitizer needs ptrace-free environments; keep it on where it works.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
AWQX_SANITIZER_BUILD=1 ctest --test-dir build-asan --output-on-failure -j"$JOBS" --timeout 1800

echo "== [3/3] fuzzing (${FUZZ_SECONDS}s per target)"
bash tools/fuzz.sh "$FUZZ_SECONDS"
echo "all tests passed"
