#!/usr/bin/env bash
# Does `tessel perplexity` give llama.cpp's perplexity on the same text?
#
#   tests/llamacpp/check_perplexity.sh [path/to/tessel]     (default: build/bin/tessel)
#
# On ../shared/models/stories260K/stories260K.gguf and tests/data/perplexity.txt
# with windows of 128 tokens (the GGUF's context_length):
#  1. perplexity_llamacpp.mjs: llama-perplexity's windowing and scoring over
#     llama.cpp's own tokenizer and logits (node-llama-cpp 3.22.1, CPU, 2
#     threads, f32 KV cache): the reference;
#  2. `tessel tokenize --bos` of the text (less its trailing newline, as
#     llama.cpp's -f reads it) must give llama.cpp's token ids;
#  3. `tessel perplexity MODEL --file TEXT --ctx 128` must print a final
#     PPL within 0.5% of llama.cpp's.
# It also says how far the live llama.cpp number is from the one committed in
# perplexity_reference.json (which tests/unit/QualityTest.cpp checks tessel
# against without Node.js).
# Exit status: 0 agree, 1 disagree or failure, 77 (ctest "skipped") without
# Node.js >= 20 and npm, the linux-x64 prebuilt llama.cpp, or the model file.
#
# Environment: STORIES260K_DIR=DIR reads the model from DIR; PERPLEXITY_TEXT=F
# and PERPLEXITY_CTX=N score another text or window (the committed number is
# then not compared); LLAMACPP_OUT_DIR=DIR keeps the outputs.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
TESSEL="${1:-$ROOT/build/bin/tessel}"
MODEL_DIR="${STORIES260K_DIR:-$ROOT/../shared/models/stories260K}"
TEXT="${PERPLEXITY_TEXT:-$ROOT/tests/data/perplexity.txt}"
CTX="${PERPLEXITY_CTX:-128}"
TOLERANCE=0.005

[[ -x "$TESSEL" ]] || { echo "FAIL: no tessel binary at $TESSEL (build it, or pass its path)"; exit 1; }
source "$HERE/llamacpp_env.sh"
GGUF="$MODEL_DIR/stories260K.gguf"
[[ -f "$GGUF" ]] || skip "no $GGUF (STORIES260K_DIR=DIR)"
[[ -f "$TEXT" ]] || die "no text file $TEXT"

if [[ -n "${LLAMACPP_OUT_DIR:-}" ]]; then
  WORK="$LLAMACPP_OUT_DIR"
  mkdir -p "$WORK" || die "cannot create $WORK"
else
  WORK="$(mktemp -d "${TMPDIR:-/tmp}/tessel-perplexity.XXXXXX")" || die "mktemp failed"
  trap 'rm -rf "$WORK"' EXIT
fi

echo "llama.cpp via node-llama-cpp $NLC_VERSION (CPU, 2 threads, f32 KV cache); tessel: $TESSEL"
echo "model: $GGUF; text: $TEXT; windows of $CTX tokens"
node "$HERE/perplexity_llamacpp.mjs" "$GGUF" --file "$TEXT" --ctx "$CTX" >"$WORK/llamacpp.json" 2>"$WORK/llamacpp.err" ||
  die "llama.cpp: $(cat "$WORK/llamacpp.err")"
json() { node -e 'const d = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
                  const r = eval(process.argv[2]); console.log(Array.isArray(r) ? r.join(" ") : r);' "$1" "$2"; }
ref_ppl=$(json "$WORK/llamacpp.json" d.ppl)
echo "llama.cpp: PPL = $ref_ppl +/- $(json "$WORK/llamacpp.json" d.ppl_uncertainty)" \
     "($(json "$WORK/llamacpp.json" d.n_tokens) tokens, $(json "$WORK/llamacpp.json" d.n_chunk) windows," \
     "$(json "$WORK/llamacpp.json" d.scored) scored)"

failed=0
# The same tokens (llama.cpp's -f drops one trailing newline; so does tessel perplexity).
node -e 'const fs = require("fs"); let t = fs.readFileSync(process.argv[1], "utf8");
         if (t.endsWith("\n")) t = t.slice(0, -1); fs.writeFileSync(process.argv[2], t);' "$TEXT" "$WORK/text.txt"
"$TESSEL" tokenize "$GGUF" --file "$WORK/text.txt" --bos >"$WORK/tessel-tokens.txt" 2>&1 ||
  die "tessel tokenize: $(cat "$WORK/tessel-tokens.txt")"
if [[ "$(cat "$WORK/tessel-tokens.txt")" != "$(json "$WORK/llamacpp.json" d.tokens)" ]]; then
  echo "FAIL: tessel tokenize gives other ids than llama.cpp (kept in ${LLAMACPP_OUT_DIR:-a temporary directory})"
  failed=1
else
  echo "tokens: identical to llama.cpp's"
fi

"$TESSEL" perplexity "$GGUF" --file "$TEXT" --ctx "$CTX" >"$WORK/tessel.out" 2>"$WORK/tessel.err" ||
  die "tessel perplexity: $(cat "$WORK/tessel.err")"
got=$(sed -n 's/^Final estimate: PPL = \([0-9.]*\) +\/- .*/\1/p' "$WORK/tessel.out")
[[ -n "$got" ]] || die "tessel perplexity printed no final estimate: $(cat "$WORK/tessel.out" "$WORK/tessel.err")"
echo "tessel:    $(grep '^Final estimate' "$WORK/tessel.out")"

verdict=$(node -e 'const [got, want, tol] = process.argv.slice(1).map(Number);
  const rel = Math.abs(got / want - 1);
  console.log(`${rel <= tol ? "ok" : "FAIL"} ${(100 * rel).toFixed(4)}`);' "$got" "$ref_ppl" "$TOLERANCE")
read -r status rel <<<"$verdict"
if [[ "$status" == ok ]]; then
  echo "tessel's PPL is within $rel% of llama.cpp's (tolerance 0.5%)"
else
  echo "FAIL: tessel's PPL $got is $rel% from llama.cpp's $ref_ppl (tolerance 0.5%)"
  failed=1
fi

if [[ -z "${PERPLEXITY_TEXT:-}${PERPLEXITY_CTX:-}" ]]; then
  committed=$(json "$HERE/perplexity_reference.json" d.ppl)
  echo "committed reference (perplexity_reference.json): PPL = $committed;" \
       "live llama.cpp differs by $(node -e 'console.log((100 * Math.abs(process.argv[1] / process.argv[2] - 1)).toFixed(4))' "$ref_ppl" "$committed")%"
fi
exit $failed
