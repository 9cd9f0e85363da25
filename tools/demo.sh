#!/usr/bin/env bash
# README command 1: FP (bf16) vs int4 speed on a synthetic Llama-2-7B-shaped model, offline.
# Makes two random-weight models of the real Llama-2-7B layer shapes (fewer layers so it runs in
# a minute or two on 2 cores), benches both, prints tokens/s and the int4 speed-up, cleans up.
# Usage: tools/demo.sh    env: LAYERS (2), THREADS (physical cores), PROMPT (128), GEN (16), REPEATS (3)
set -euo pipefail
cd "$(dirname "$0")/.."
AWQX=${AWQX:-build/awqx}
[ -x "$AWQX" ] || { echo "demo: $AWQX not found; build first (cmake -S . -B build && cmake --build build -j2)" >&2; exit 1; }
LAYERS=${LAYERS:-2}; PROMPT=${PROMPT:-128}; GEN=${GEN:-16}; REPEATS=${REPEATS:-3}
THREADS_FLAG=(); [ -n "${THREADS:-}" ] && THREADS_FLAG=(--threads "$THREADS")
TMP=$(mktemp -d "${TMPDIR:-/tmp}/awqx-demo.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

echo "== making synthetic llama2-7b-shaped models ($LAYERS layers, random weights) in $TMP"
"$AWQX" make-model --shape llama2-7b --layers "$LAYERS" --out "$TMP/bf16" 2>/dev/null
"$AWQX" make-model --shape llama2-7b --layers "$LAYERS" --quantized --group-size 128 --out "$TMP/int4" 2>/dev/null
bench() {  # name -> summary on stdout (also kept in $TMP/name.txt), JSON in $TMP/name.json
  "$AWQX" bench --model "$TMP/$1" --prompt-tokens "$PROMPT" --gen-tokens "$GEN" --repeats "$REPEATS" --warmup 1 \
    "${THREADS_FLAG[@]}" --json "$TMP/$1.json" 2>/dev/null | tee "$TMP/$1.txt"
}
echo; echo "== bf16"; bench bf16
echo; echo "== int4 (AWQ GEMM, g128)"; bench int4
# Summary lines look like "decode     12.34 tok/s median (...)".
med() { awk -v k="$2" '$1 == k { print $2; exit }' "$TMP/$1.txt"; }
echo
awk -v bd="$(med bf16 decode)" -v id="$(med int4 decode)" -v bp="$(med bf16 prefill)" -v ip="$(med int4 prefill)" 'BEGIN {
  printf "decode  tok/s: bf16 %s, int4 %s -> int4 speed-up x%.2f\n", bd, id, id / bd
  printf "prefill tok/s: bf16 %s, int4 %s -> int4/bf16 x%.2f\n", bp, ip, ip / bp }'
echo
echo "Real models: build/awqx bench --model /path/to/hf-or-autoawq-folder (any Llama/Mistral/Qwen2"
echo "safetensors folder), or quantize one first: build/awqx quantize --model HF_DIR --out AWQ_DIR."
echo "Full-size synthetic: build/awqx make-model --shape llama2-7b --out /tmp/l7 [--quantized] (13.5 GB bf16)."
