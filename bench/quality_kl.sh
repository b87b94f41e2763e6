#!/usr/bin/env bash
# How far do quantized weights move a model's predictions? KL divergence,
# top-1 agreement and perplexity of each weight type against f32, on a
# random-weight model of stories15M's shape (bench/models/stories15M-shape.json:
# dim 288, 6 layers, 6 heads, vocab 32000, context 256) and the committed
# text tests/data/perplexity.txt.
#
#   bench/quality_kl.sh                      # q8_0 q4_0 bf16 f16, windows of 256
#   DTYPES="q8_0" CTX=128 bench/quality_kl.sh
#   KEEP=/tmp/kl bench/quality_kl.sh         # keep the GGUFs, logits and outputs
#
# For the f32 model and each type T:
#   tessel mkmodel DESC --dtype T --seed 15 --vocab_from VOCAB -o T.gguf   (same seed: same
#     weights, then quantized; the loader dequantizes them to f32 for compiled code)
#   tessel perplexity f32.gguf --file TEXT --ctx CTX --save-logits f32.logits
#   tessel perplexity T.gguf --kl-base f32.logits --file TEXT
# and prints one Markdown table row per type (two for q8_0, q4_0 and bf16:
# with their default rounded activations, q8_0 or bf16, and with
# --activations f32). The tokenizer is llama.cpp's
# LLaMA SPM vocabulary (32000 tokens) from ../shared/tokenizers (VOCAB=FILE for
# another GGUF with 32000 tokens); random weights need one to read text.
# Environment: TESSEL (default build/bin/tessel), DTYPES, CTX, SEED (15), VOCAB, TEXT, KEEP.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TESSEL="${TESSEL:-$ROOT/build/bin/tessel}"
DESC="$ROOT/bench/models/stories15M-shape.json"
VOCAB="${VOCAB:-$ROOT/../shared/tokenizers/ggml-vocab-llama-spm.gguf}"
TEXT="${TEXT:-$ROOT/tests/data/perplexity.txt}"
DTYPES="${DTYPES:-q8_0 q4_0 bf16 f16}"
CTX="${CTX:-256}"
SEED="${SEED:-15}" # the description's
[[ -x "$TESSEL" ]] || { echo "no tessel at $TESSEL (build it, or set TESSEL)" >&2; exit 2; }
[[ -f "$VOCAB" ]] || { echo "no vocabulary $VOCAB (set VOCAB to a 32000-token GGUF)" >&2; exit 2; }
if [[ -n "${KEEP:-}" ]]; then
  WORK="$KEEP"
  mkdir -p "$WORK"
else
  WORK="$(mktemp -d "${TMPDIR:-/tmp}/tessel-quality-kl.XXXXXX")"
  trap 'rm -rf "$WORK"' EXIT
fi
export TESSEL_CACHE=0 # JIT: nothing written to the user's cache

for t in f32 $DTYPES; do
  # --seed explicitly: `mkmodel --dtype T` without it draws seed 0, not the description's.
  "$TESSEL" mkmodel "$DESC" --dtype "$t" --seed "$SEED" --vocab_from "$VOCAB" -o "$WORK/$t.gguf" \
    >/dev/null 2>&1 ||
    { echo "tessel mkmodel --dtype $t failed" >&2; exit 1; }
done
start=$(date +%s.%N)
"$TESSEL" perplexity "$WORK/f32.gguf" --file "$TEXT" --ctx "$CTX" --save-logits "$WORK/f32.logits" \
  >"$WORK/f32.out" 2>"$WORK/f32.err"
echo "f32: $(grep '^Final estimate' "$WORK/f32.out")"
sed -n 's/^tessel perplexity: [^:]*: /  /p' "$WORK/f32.err" | head -1
echo "  logits file: $(stat -c %s "$WORK/f32.logits") bytes"
echo
echo "| weights | PPL | PPL - PPL(f32) | mean KLD | median KLD | 99% KLD | max KLD | same top-1 |"
echo "|---|---|---|---|---|---|---|---|"
# q8_0, q4_0 and bf16 run twice: with their default activations (inputs of
# their layers rounded to q8_0, or to bf16, as llama.cpp does) and with
# --activations f32.
for t in $DTYPES; do
  modes="default"
  [[ "$t" == q8_0 || "$t" == q4_0 || "$t" == bf16 ]] && modes="default f32"
  for m in $modes; do
    flags=() label="$t"
    if [[ "$m" == f32 ]]; then
      flags=(--activations f32) label="$t, f32 activations"
    elif [[ "$t" == q8_0 || "$t" == q4_0 ]]; then
      label="$t, q8_0 activations"
    elif [[ "$t" == bf16 ]]; then
      label="$t, bf16 activations"
    fi
    "$TESSEL" perplexity "$WORK/$t.gguf" --kl-base "$WORK/f32.logits" --file "$TEXT" "${flags[@]}" \
      >"$WORK/$t-$m.out" 2>"$WORK/$t-$m.err"
    field() { sed -n "s/^$1 *\(.*\)$/\1/p" "$WORK/$t-$m.out" | head -1; }
    echo "| $label | $(field 'Mean PPL(Q) *:') | $(field 'Mean PPL(Q)-PPL(base):') |" \
         "$(field 'Mean    KLD:') | $(field 'Median  KLD:') | $(field '99.0%   KLD:') |" \
         "$(field 'Maximum KLD:') | $(field 'Same top-1:') |"
  done
done
echo
printf '%s: %.1f s of perplexity runs; outputs in %s\n' "f32 $DTYPES" \
  "$(echo "$(date +%s.%N) - $start" | bc)" "${KEEP:-a temporary directory (KEEP=DIR keeps them)}"
