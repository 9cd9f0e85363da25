#!/usr/bin/env bash
# Wall time of `awqx quantize` on 1 process and on N MPI ranks (one thread each by default), the
# parallel efficiency, and a byte comparison of the outputs (issue 15; README "Past one machine").
#   tools/mpi_scaling.sh [MODEL_DIR] [RANKS=2] [SAMPLES=120] [SEQLEN=512] [THREADS=1]
# Default model: a Llama-2-7B-shaped 2-layer stack made here with `awqx make-model`.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-/tmp/awqx-m7b-2layers}
RANKS=${2:-2}
SAMPLES=${3:-120}
SEQLEN=${4:-512}
THREADS=${5:-1}
B=build/awqx
[ -x "$B" ] || { echo "error: build/awqx is missing (build first)" >&2; exit 1; }
[ -d "$MODEL" ] || $B make-model --shape llama2-7b --layers 2 --out "$MODEL"
[ "$(id -u)" = 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
A=(--model "$MODEL" --calib ../shared/data/wikitext2-valid.txt --max-calib-samples "$SAMPLES"
   --max-calib-seq-len "$SEQLEN" --threads "$THREADS")
t0=$(date +%s.%N)
$B quantize "${A[@]}" --out "$OUT/n1" | grep -E "quantized|RSS"
t1=$(date +%s.%N)
mpirun -np "$RANKS" $B quantize "${A[@]}" --out "$OUT/n$RANKS" | grep -E "quantized|RSS"
t2=$(date +%s.%N)
python3 - "$t0" "$t1" "$t2" "$RANKS" <<'PY'
import sys
t0, t1, t2, n = map(float, sys.argv[1:])
a, b = t1 - t0, t2 - t1
print(f"N=1 {a:.1f} s, N={int(n)} {b:.1f} s: speed-up {a / b:.2f}x, parallel efficiency {100 * a / (n * b):.0f} %")
PY
diff -rq -x README.md "$OUT/n1" "$OUT/n$RANKS" && echo "outputs identical (model card aside)"
