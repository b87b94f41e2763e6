#!/usr/bin/env bash
# `tessel run MODEL` twice with a fresh compile cache: the first run compiles
# and saves the code ("cache miss, saved to"), the second loads it ("cache
# hit"); both print the model's greedy continuation.
# Usage: check_compile_cache.sh TESSEL MODEL CACHE_DIR EXPECTED_PREFIX
set -euo pipefail
tessel=$1 model=$2 cache=$3 expected=$4
rm -rf "$cache"
export TESSEL_CACHE_DIR=$cache
unset TESSEL_CACHE
run() { "$tessel" run "$model" --prompt "Once upon a time" -n 30 --temp 0 2>"$cache.stderr"; }
for want in "cache miss, saved to $cache/" "cache hit: $cache/"; do
  out=$(run) || { cat "$cache.stderr"; exit 1; }
  cat "$cache.stderr"
  echo "$out"
  if [[ "$out" != "$expected"* ]]; then
    echo "FAIL: expected the continuation to start with: $expected" >&2
    exit 1
  fi
  if ! grep -qF "($want" "$cache.stderr"; then
    echo "FAIL: expected '$want' in the statistics" >&2
    exit 1
  fi
done
rm -f "$cache.stderr"
echo "PASS: compiled once, then loaded from $cache"
