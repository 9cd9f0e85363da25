#!/usr/bin/env bash
# Issue 16 table: FP / RTN / AWQ --autoawq-compat / AWQ default (and ablations) perplexity on five
# models at every group size the model takes, as markdown on stdout.
#  - tiny-llama-7m(-outliers): calibrate on wikitext2-valid, PPL on wikitext2-test (held out).
#  - llama2.c models (stories260K, aidreams260K, babyllama-tok105): converted with `awqx convert`;
#    calibration and evaluation text are sampled from the FP model itself with `awqx generate`
#    (temperature 1, empty prompt = BOS), calibration seeds 1..CALN, evaluation seeds
#    10001..10000+EVALN: disjoint samples.
# Usage: tools/awq_table.sh [OUTDIR]
# env: MODELS, AWQX (build-awq/awqx), THREADS (2), WINDOWS (40: tiny-llama PPL windows of 256),
#      SAMPLES (16: tiny-llama calibration samples of <= 256 tokens), CALN (32), EVALN (32),
#      ABLATE (models that also get --validate and --validate --sequential-inputs columns;
#      default the llama2.c ones, "all" for every model, "" for none)
set -euo pipefail
cd "$(dirname "$0")/.."
AWQX=${AWQX:-build-awq/awqx}
OUT=${1:-/tmp/awqx_table}
MODELS=${MODELS:-"tiny-llama-7m tiny-llama-7m-outliers stories260K aidreams260K babyllama-tok105"}
THREADS=${THREADS:-2}; WINDOWS=${WINDOWS:-40}; SAMPLES=${SAMPLES:-16}
CALN=${CALN:-32}; EVALN=${EVALN:-32}; ABLATE=${ABLATE-"stories260K aidreams260K babyllama-tok105"}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}  # spinning OpenMP threads collapse on a shared 2-core box
SH=../shared
mkdir -p "$OUT"

# name -> "hf-folder calib-file test-file ctx seqlen groups extra-quantize-args"
setup() {
  local m=$1
  case $m in
    tiny-llama-7m*)
      echo "$SH/models/$m $SH/data/wikitext2-valid.txt $SH/data/wikitext2-test.txt 256 256 32,64,128 -" ;;
    stories260K|aidreams260K|babyllama-tok105)
      local bin tok ctx new groups extra=-
      case $m in
        stories260K) bin=stories260K.bin tok=tok512.bin ctx=256 new=200 ;;
        aidreams260K) bin=aidreams260K.bin tok=tok512.bin ctx=128 new=100 ;;  # its seq_len is 128
        babyllama-tok105) bin=model5000.bin tok=tok105.bin ctx=256 new=200 ;;
      esac
      local hf=$OUT/$m-hf
      [ -f "$hf/config.json" ] || $AWQX convert --llama2c "$SH/models/$m/$bin" --tokenizer "$SH/models/$m/$tok" --out "$hf" >/dev/null
      sample "$hf" "$OUT/$m-calib.txt" 1 "$CALN" "$new"
      sample "$hf" "$OUT/$m-eval.txt" 10001 "$EVALN" "$new"
      # dim 64 / hidden 172 (= 4·43): gate/up have 172 outputs (not a multiple of 8, which the
      # AutoAWQ packing needs) and down_proj 172 inputs (no group size divides it), so the MLP stays
      # FP and only attention is quantized, at g32/g64; babyllama (dim 128, hidden 352 = 11·32)
      # takes g32 on every linear.
      if [ "$m" = babyllama-tok105 ]; then groups=32; else groups=32,64; extra=--modules-to-not-convert=mlp; fi
      echo "$hf $OUT/$m-calib.txt $OUT/$m-eval.txt $ctx $ctx $groups $extra" ;;
  esac
}

# Samples N stories (seeds S..S+N-1) from the FP model, one paragraph each (blank-line separated).
sample() {
  local hf=$1 file=$2 s0=$3 n=$4 new=$5
  [ -s "$file" ] && return
  : >"$file.part"
  for ((s = s0; s < s0 + n; ++s)); do
    $AWQX generate --model "$hf" --prompt "" --temperature 1 --seed "$s" --max-new-tokens "$new" --threads 1 2>/dev/null |
      tr '\n' ' ' | sed 's/<unk>/ /g; s/  */ /g; s/^ //; s/ $//' >>"$file.part"
    printf '\n\n' >>"$file.part"
  done
  mv "$file.part" "$file"
}

ppl() {  # dir test ctx
  local w=0
  case $1 in *tiny-llama*) w=$WINDOWS ;; esac
  local r
  r=$($AWQX ppl --model "$1" --data "$2" --ctx "$3" --max-windows "$w" --threads "$THREADS" 2>&1 | sed -n 's/^ppl = //p')
  # A bf16 FP model needs oneDNN's bf16 matmul (AVX512-BF16); without it, the reference row loop.
  [ -n "$r" ] || r=$($AWQX ppl --model "$1" --data "$2" --ctx "$3" --max-windows "$w" --threads "$THREADS" --backend ref 2>&1 | sed -n 's/^ppl = //p')
  echo "$r"
}

quant() {  # tag model calib seqlen args... -> prints quantize seconds; output in $OUT/$tag
  local tag=$1 model=$2 calib=$3 seqlen=$4 n=$SAMPLES; shift 4
  case $tag in *tiny-llama*) ;; *) n=$CALN ;; esac
  $AWQX quantize --model "$model" --out "$OUT/$tag" --overwrite --no-resume --threads "$THREADS" \
    --calib "$calib" --max-calib-samples "$n" --max-calib-seq-len "$seqlen" "$@" >"$OUT/$tag.log" 2>&1
  sed -n 's/.* in \([0-9.]*\) s (layers.*/\1/p' "$OUT/$tag.log"
}

gap() { awk -v f="$1" -v r="$2" -v a="$3" 'BEGIN{ if (r-f > 0) printf "%.0f %%", 100*(r-a)/(r-f); else print "n/a" }'; }

hdr="| model | group | FP | RTN | AWQ --autoawq-compat | AWQ default | gap closed compat / default | quantize s compat / default |"
sep="|---|---|---|---|---|---|---|---|"
if [ -n "$ABLATE" ]; then
  hdr="$hdr --validate | --validate --sequential-inputs |"
  sep="$sep---|---|"
fi
echo "$hdr"; echo "$sep"
for m in $MODELS; do
  read -r hf calib test ctx seqlen groups extra < <(setup "$m")
  [ "$extra" = - ] && extra=""
  fp=$(ppl "$hf" "$test" "$ctx")
  for g in ${groups//,/ }; do
    args=(--group-size "$g" $extra)
    quant "$m-g$g-rtn" "$hf" "$calib" "$seqlen" --method rtn "${args[@]}" >/dev/null
    rtn=$(ppl "$OUT/$m-g$g-rtn" "$test" "$ctx")
    ct=$(quant "$m-g$g-compat" "$hf" "$calib" "$seqlen" --autoawq-compat "${args[@]}")
    cp=$(ppl "$OUT/$m-g$g-compat" "$test" "$ctx")
    dt=$(quant "$m-g$g-default" "$hf" "$calib" "$seqlen" "${args[@]}")
    dp=$(ppl "$OUT/$m-g$g-default" "$test" "$ctx")
    row="| $m | g$g${extra:+ (MLP FP)} | $fp | $rtn | $cp | $dp | $(gap "$fp" "$rtn" "$cp") / $(gap "$fp" "$rtn" "$dp") | $ct / $dt |"
    if [ "$ABLATE" = all ] || [[ " $ABLATE " == *" $m "* ]]; then
      for v in "validate:--validate" "seq:--validate --sequential-inputs"; do
        quant "$m-g$g-${v%%:*}" "$hf" "$calib" "$seqlen" ${v#*:} "${args[@]}" >/dev/null
        row="$row $(ppl "$OUT/$m-g$g-${v%%:*}" "$test" "$ctx") |"
      done
    elif [ -n "$ABLATE" ]; then
      row="$row | |"
    fi
    echo "$row"
  done
done
echo
echo "w4 zero point; calibration: tiny Llamas at most $SAMPLES wikitext2-valid samples, llama2.c models $CALN stories; blocks of the model's context (256; 128 for aidreams260K);"
echo "PPL: awqx ppl --ctx 256 (128 for aidreams260K), tiny Llamas on the first $WINDOWS windows of wikitext2-test,"
echo "llama2.c models on all of $EVALN sampled stories (seeds 10001..); calibration stories: seeds 1..$CALN; threads $THREADS."
echo "gap closed = (RTN - AWQ) / (RTN - FP)."
