#!/usr/bin/env bash
# `tessel compile MODEL --device cuda --emit=ptx` for sm_80 and sm_90: every
# kernel module's PTX is accepted by CUDA's ptxas for its architecture, and
# the attention ran as the FlashAttention / split-KV kernels, not as loops.
# Usage: check_cuda_ptx.sh TESSEL MODEL PTXAS
set -euo pipefail
tessel=$1 model=$2 ptxas=$3
fail() { echo "FAIL: $*" >&2; exit 1; }
[[ -x $ptxas ]] || fail "no ptxas at $ptxas (CUDA 13 is expected at /usr/local/cuda)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for arch in sm_80 sm_90; do
  "$tessel" compile "$model" --device cuda --gpu_arch "$arch" --emit=ptx -o "$work/$arch.ptx" ||
    fail "tessel compile --emit=ptx for $arch failed"
  # One file per `// gpu.module @NAME` section.
  awk -v dir="$work/$arch" 'BEGIN { system("mkdir -p " dir) }
       /^\/\/ gpu.module @/ { n++; name = substr($3, 2); file = dir "/" n "-" name ".ptx"; next }
       { print > file }' "$work/$arch.ptx"
  modules=0 kernels=0
  for f in "$work/$arch"/*.ptx; do
    grep -q "^\.target $arch" "$f" || fail "$(basename "$f") does not target $arch"
    "$ptxas" -arch="$arch" "$f" -o "$work/out.cubin" 2>"$work/err" ||
      fail "ptxas -arch=$arch rejected $(basename "$f"): $(head -5 "$work/err")"
    modules=$((modules + 1))
    kernels=$((kernels + $(grep -c "^\.visible \.entry\|^\.entry" "$f")))
  done
  ((modules > 0)) || fail "no PTX modules for $arch"
  # The model's attention (causal, GQA) must be the dedicated kernels.
  grep -q "flash_attention" "$work/$arch.ptx" || fail "no flash_attention kernel in the $arch PTX"
  grep -q "shared" "$work/$arch.ptx" || fail "no shared-memory tiles in the $arch PTX"
  echo "ptxas $arch: $modules modules, $kernels kernels ok"
done
