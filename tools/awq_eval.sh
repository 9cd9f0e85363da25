#!/usr/bin/env bash
# AWQ vs RTN vs FP perplexity on the shared tiny models (issue 5 "Must show"), as a markdown table.
# Calibrates on wikitext2-valid (never the test file); PPL on wikitext2-test via `awqx ppl --ctx 256`.
# Usage: tools/awq_eval.sh [OUTDIR]   env: MODELS, SAMPLES (128), SEQLEN (256), WINDOWS (0 = all), THREADS (2)
set -euo pipefail
cd "$(dirname "$0")/.."
AWQX=build/awqx
OUT=${1:-/tmp/awqx_eval}
MODELS=${MODELS:-"tiny-llama-7m tiny-llama-7m-outliers"}
SAMPLES=${SAMPLES:-128}; SEQLEN=${SEQLEN:-256}; WINDOWS=${WINDOWS:-0}; THREADS=${THREADS:-2}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}  # spinning OpenMP threads collapse on a shared 2-core box
CALIB=../shared/data/wikitext2-valid.txt TEST=../shared/data/wikitext2-test.txt
mkdir -p "$OUT"
ppl() { $AWQX ppl --model "$1" --data "$TEST" --ctx 256 --max-windows "$WINDOWS" --threads "$THREADS" 2>&1 | sed -n 's/^ppl = //p'; }
quant() {  # name model extra-args... -> prints "seconds peakMiB"
  local name=$1 model=$2; shift 2
  local log="$OUT/$name.log"
  $AWQX quantize --model "$model" --out "$OUT/$name" --overwrite --no-resume --threads "$THREADS" \
    --calib "$CALIB" --max-calib-samples "$SAMPLES" --max-calib-seq-len "$SEQLEN" "$@" >"$log" 2>&1
  local s r
  s=$(sed -n 's/.* in \([0-9.]*\) s (layers.*/\1/p' "$log"); r=$(sed -n 's/^peak RSS \([0-9.]*\) MiB/\1/p' "$log")
  echo "$s $r"
}
echo "| model | config | PPL | quantize s | peak RSS MiB | gap closed |"
echo "|---|---|---|---|---|---|"
for m in $MODELS; do
  M=../shared/models/$m
  fp=$(ppl "$M"); echo "| $m | FP | $fp | | | |"
  for cfg in "g128:--group-size 128" "g64:--group-size 64" "g32:--group-size 32" "g128-nozp:--group-size 128 --no-zero-point"; do
    tag=${cfg%%:*}; args=${cfg#*:}
    read -r rs rr < <(quant "$m-rtn-$tag" "$M" --method rtn $args); rp=$(ppl "$OUT/$m-rtn-$tag")
    read -r as ar < <(quant "$m-awq-$tag" "$M" --method awq $args); ap=$(ppl "$OUT/$m-awq-$tag")
    gap=$(awk -v f="$fp" -v r="$rp" -v a="$ap" 'BEGIN{ if (r-f > 0) printf "%.0f%%", 100*(r-a)/(r-f); else print "n/a" }')
    echo "| $m | RTN w4 $tag | $rp | $rs | $rr | |"
    echo "| $m | AWQ w4 $tag | $ap | $as | $ar | $gap |"
  done
done
echo
echo "calibration: $SAMPLES samples x $SEQLEN tokens max from wikitext2-valid; ppl windows: ${WINDOWS} (0 = all) of 256 tokens; threads $THREADS"
