#!/usr/bin/env bash
# Builds every libFuzzer target (tests/fuzz/*_fuzz.cpp) with clang 14 + ASan/UBSan and runs each
# for SECONDS (default 30), seeded from tests/fuzz/corpus/<target>/. Fails on any crash, leak or
# timeout (libFuzzer exits non-zero on each; UBSan is built with -fno-sanitize-recover and also
# halts via UBSAN_OPTIONS, and a log with a sanitizer report counts as a failure regardless).
# The whole campaign's executions per target are printed (stat::number_of_executed_units). New
# inputs go to <tree>/corpus/<target>/ (the seed corpus is never modified).
# The tree is FUZZ_BUILD_DIR (default build-fuzz); one already configured with AWQX_FUZZ=ON (the
# test command's build-asan, which also holds the sanitizer tests) is reused as it is.
#   tools/fuzz.sh [seconds] [target...]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER=${1:-30}
shift || true
JOBS=${JOBS:-2}
CC=${CC_FUZZ:-clang-14}
CXX=${CXX_FUZZ:-clang++-14}
command -v "$CXX" >/dev/null || { CC=clang; CXX=clang++; }
B=${FUZZ_BUILD_DIR:-build-fuzz}
if ! grep -q '^AWQX_FUZZ:BOOL=ON' "$B/CMakeCache.txt" 2>/dev/null; then
  cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAWQX_FUZZ=ON -DAWQX_BUILD_TESTS=OFF \
    -DAWQX_BUILD_BENCH=OFF -DAWQX_PYTHON=OFF -DAWQX_SHARED=OFF -DCMAKE_C_COMPILER="$CC" -DCMAKE_CXX_COMPILER="$CXX" >/dev/null
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in tests/fuzz/*_fuzz.cpp; do [ -e "$f" ] && targets+=("$(basename "$f" .cpp)"); done
fi
[ ${#targets[@]} -gt 0 ] || { echo "no fuzz targets"; exit 0; }
cmake --build "$B" -j"$JOBS" --target "${targets[@]}"
fail=0
for t in "${targets[@]}"; do
  seeds="tests/fuzz/corpus/${t%_fuzz}"
  work="$B/corpus/${t%_fuzz}"
  mkdir -p "$work"
  args=("$work")
  [ -d "$seeds" ] && args+=("$seeds")
  dict="tests/fuzz/${t%_fuzz}.dict"
  [ -f "$dict" ] && args+=("-dict=$dict")
  log="$B/$t.log"
  if ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 "$B/$t" -max_total_time="$SECONDS_PER" -timeout=10 -rss_limit_mb=2048 \
       -max_len=65536 -print_final_stats=1 -artifact_prefix="$B/$t-" "${args[@]}" >"$log" 2>&1 &&
     ! grep -qE 'runtime error:|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)' "$log"; then
    execs=$(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    echo "fuzz $t: ok, $execs executions in ${SECONDS_PER}s ($((${execs/\?/0} / SECONDS_PER)) exec/s)"
  else
    echo "fuzz $t: FAILED (see $log)"; tail -40 "$log"; fail=1
  fi
done
exit $fail
