#!/usr/bin/env bash
# The progress bars of long compiles and loads (support/Progress.h):
#
#   check_progress.sh TESSEL MODEL
#
#   - TESSEL_PROGRESS=1: stderr has the compile and weight-loading bars
#     reaching 100%, each erased before the statistics line; stdout is clean;
#   - stderr not a terminal (as under ctest) or TESSEL_PROGRESS=0: no bar;
#   - on a terminal (util-linux `script`, when installed): the bar shows once
#     the compile has taken 0.3 s, and the statistics line starts clean.
set -uo pipefail

tessel=$1
model=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
run=(run "$model" --no_cache --prompt "Once upon a time" -n 4 --temp 0)
bar='\[#{30}\] 100% [0-9.]+ s'

TESSEL_PROGRESS=1 "$tessel" "${run[@]}" >"$work/out" 2>"$work/err" ||
  fail "TESSEL_PROGRESS=1 tessel ${run[*]} exited $?: $(cat "$work/err")"
grep -aqP "\rcompiling $bar" "$work/err" || fail "no compile bar reaching 100%: $(cat -A "$work/err")"
grep -aqP "\rloading weights $bar" "$work/err" ||
  fail "no weight-loading bar reaching 100%: $(cat -A "$work/err")"
grep -aqP '\r +\rload [0-9.]+ s, compile' "$work/err" ||
  fail "the statistics line does not start on an erased line: $(cat -A "$work/err")"
if grep -aq $'\r' "$work/out"; then fail "progress on stdout: $(cat -A "$work/out")"; fi
echo "ok: TESSEL_PROGRESS=1 draws the compile and weight bars to 100% and erases them"

for setting in unset 0; do
  if [ "$setting" = unset ]; then
    env -u TESSEL_PROGRESS "$tessel" "${run[@]}" >"$work/out" 2>"$work/err"
  else
    TESSEL_PROGRESS=0 "$tessel" "${run[@]}" >"$work/out" 2>"$work/err"
  fi || fail "tessel ${run[*]} (TESSEL_PROGRESS $setting) exited $?: $(cat "$work/err")"
  if grep -aq $'\r' "$work/err" || grep -aq 'compiling \[' "$work/err"; then
    fail "a progress bar with stderr not a terminal and TESSEL_PROGRESS $setting: $(cat -A "$work/err")"
  fi
done
echo "ok: no bar when stderr is not a terminal, nor with TESSEL_PROGRESS=0"

if ! command -v script >/dev/null; then
  echo "skipped the terminal check: no util-linux 'script'"
  exit 0
fi
command=$(printf '%q ' env -u TESSEL_PROGRESS TERM=xterm "$tessel" "${run[@]}")
script -qec "$command" /dev/null </dev/null >"$work/tty" 2>&1 ||
  fail "on a terminal, tessel ${run[*]} exited $?: $(cat -A "$work/tty")"
compile=$(grep -aoP 'compile \K[0-9.]+(?= s)' "$work/tty" | head -n 1)
[ -n "$compile" ] || fail "no statistics on the terminal: $(cat -A "$work/tty")"
if grep -aq 'compiling \[' "$work/tty"; then
  # The last frame is erased ("\r", spaces, "\r") before anything else is printed.
  python3 -c '
import re, sys
tty = open(sys.argv[1], "rb").read().decode("utf-8", "replace")
last = tty.rfind("compiling [")
sys.exit(0 if re.match(r"compiling \[[#.]{30}\] +[0-9]+% [0-9.]+ s\r +\r", tty[last:]) else 1)
' "$work/tty" || fail "on a terminal the bar is not erased before what follows: $(cat -A "$work/tty")"
  echo "ok: on a terminal the compile bar shows ($compile s) and is erased"
elif [ "$(echo "$compile >= 0.8" | bc)" = 1 ]; then
  fail "a $compile s compile on a terminal drew no bar: $(cat -A "$work/tty")"
else
  echo "ok: on a terminal a $compile s compile drew no bar (it shows after 0.3 s)"
fi
