#!/usr/bin/env bash
# A command line tessel cannot run gets one line on stderr that names the
# argument, flag or file and says what to do, and a non-zero exit:
#
#   check_usage_errors.sh TESSEL REPO
set -uo pipefail

tessel=$(realpath "$1")
cd "$2" || exit 1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
model=examples/models/tiny-llama.json
failures=0

# expect EXIT REGEX ARGS...: `tessel ARGS` exits EXIT with one line of
# stderr matching REGEX (grep -E).
expect() {
  local code=$1 regex=$2
  shift 2
  "$tessel" "$@" >"$work/out" 2>"$work/err" </dev/null
  local rc=$?
  local lines
  lines=$(wc -l <"$work/err")
  if [ "$rc" != "$code" ] || [ "$lines" != 1 ] || ! grep -qE -- "$regex" "$work/err"; then
    echo "FAIL: tessel $* exited $rc (expected $code) with $lines lines of stderr:" >&2
    cat "$work/err" >&2
    echo "  expected one line matching: $regex" >&2
    failures=$((failures + 1))
  else
    echo "ok: tessel $*: $(cat "$work/err")"
  fi
}

expect 2 "tessel run: expected one MODEL or DIR, got none \(run 'tessel run --help'\)" run
expect 2 "got 2: '$model' 'upon'; quote a value that has spaces" run "$model" --prompt Once upon
expect 2 "tessel run: unknown flag --promt; did you mean --prompt\? \(run 'tessel run --help'" \
  run "$model" --promt hi
expect 2 "tessel run: -n abc: expected an integer" run "$model" -n abc --prompt_ids 1
expect 2 "tessel run: --temp=hot: expected a number" run "$model" --temp=hot --prompt_ids 1
expect 2 "tessel run: --prompt needs a value" run "$model" --prompt
expect 2 "tessel run: --text is not a flag of run \(run 'tessel run --help'" run "$model" --text hi
expect 2 "tessel: unknown flag --bogus.* \(run 'tessel --help'" --bogus
expect 2 "tessel: unknown command 'bogus'; the commands are run, compile" bogus
expect 1 "tessel run: missing\.gguf: no such file or directory" \
  run missing.gguf --prompt_ids 1 --print_token_ids
expect 1 "$model is a model description and has no tokenizer.*tessel mkmodel $model -o model\.gguf.*--prompt_ids" \
  run "$model" --prompt hi
expect 1 "tessel logits: $model is a model description.*\(--ids_file FILE\)" \
  logits "$model" --text hi --summary
expect 1 "tessel run: --attention=fast: expected kernel or loops" \
  run "$model" --attention=fast --prompt_ids 1 --print_token_ids
expect 1 "tessel run: --activations=int4: expected auto, q8_0, bf16 or f32" \
  run "$model" --activations=int4 --prompt_ids 1 --print_token_ids
expect 2 "tessel compile: --emit=bogus: choose lib or a stage: tessel, tiled" \
  compile "$model" --emit=bogus
expect 2 "tessel tokenize: .*exactly one of --text, --file, --decode \(run 'tessel tokenize --help'\)" \
  tokenize "$model"
expect 2 "tessel mkmodel: expected DESCRIPTION.json and -o OUT.*run 'tessel mkmodel --help'" \
  mkmodel "$model"
expect 2 "tessel perplexity: expected MODEL and --file TEXT.*run 'tessel perplexity --help'" \
  perplexity "$model"
expect 2 "tessel eval: expected one FILE.mlir, got none \(run 'tessel eval --help'\)" eval

# No command at all: the overview, on stderr, and exit 2.
"$tessel" >"$work/out" 2>"$work/err"
rc=$?
if [ "$rc" != 2 ] || ! grep -q "tessel help COMMAND" "$work/err"; then
  echo "FAIL: plain 'tessel' exited $rc; expected 2 and the overview on stderr" >&2
  failures=$((failures + 1))
fi

[ "$failures" = 0 ] || {
  echo "$failures failures" >&2
  exit 1
}
echo "ok: every usage error is one line"
