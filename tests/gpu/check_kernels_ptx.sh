#!/usr/bin/env bash
# The kernels a GPU kernel pass writes are valid PTX for sm_80 and sm_90:
# run the pass on its input, check that the result bufferizes
# (one-shot-bufferize + the deallocation pipeline, as the GPU pipeline runs
# them), lower the gpu.module to PTX (convert-gpu-to-nvvm,
# nvvm-attach-target, gpu-module-to-binary{format=isa}) and assemble it with
# ptxas for each architecture. Prints one line per architecture ("ptxas
# sm_80: 13 kernels ok") and each kernel's registers, shared memory and
# spills. KERNELS picks the pass and its input:
#   attention  tessel-attention-to-gpu on tests/gpu/attention_kernels.mlir
#              (FlashAttention, split-KV decode and combine; head dims 64..256)
#   mma        tessel-linear-to-gpu-mma on tests/gpu/mma_kernels.mlir (bf16
#              weights at production shapes with the fused forms: RMSNorm
#              prologue, gated FFN, RoPE epilogue; f16 kernels through the
#              pass's extra-kernels option); every kernel must use mma.sync
#              m16n8k16 (bf16 or f16 in, f32 accumulators)
#
#   check_kernels_ptx.sh TESSEL_OPT SOURCE_DIR attention|mma
#
# PTXAS (default /usr/local/cuda/bin/ptxas) and MLIR_OPT (default
# /usr/lib/llvm-22/bin/mlir-opt: used for the PTX serialisation only when
# TESSEL_OPT cannot translate to LLVM IR) may be overridden. Exits 77
# (skipped) without ptxas.
set -euo pipefail

tessel_opt=$(realpath "$1")
src=$(realpath "$2")
ptxas=${PTXAS:-/usr/local/cuda/bin/ptxas}
mlir_opt=${MLIR_OPT:-/usr/lib/llvm-22/bin/mlir-opt}
case "${3:-}" in
  attention)
    input=$src/tests/gpu/attention_kernels.mlir
    pass=tessel-attention-to-gpu
    # What the pass must leave no trace of.
    replaced="tessel\.attention"
    ;;
  mma)
    input=$src/tests/gpu/mma_kernels.mlir
    # f16 weights: no storage format reaches them yet, so the pass is asked
    # for the kernels directly (both layouts each).
    pass="tessel-linear-to-gpu-mma{extra-kernels=f16_n2048_k768_bias,f16_n8192_k2048,f16_n64_k64_residual,f16_n5632_k2048_glu_silu,f16_n2048_k2048_rope_h_d64_r64}"
    # No linear, FFN (nor their dequantize), norm or RoPE: all folded in.
    replaced="tessel\.linear\|tessel\.dequantize\|tessel\.ffn\|tessel\.rms_norm\|tessel\.rope"
    ;;
  *)
    echo "usage: check_kernels_ptx.sh TESSEL_OPT SOURCE_DIR attention|mma" >&2
    exit 2
    ;;
esac
pass_name=${pass%%\{*}
if [ ! -x "$ptxas" ]; then
  echo "SKIP: no ptxas at $ptxas (set PTXAS)"
  exit 77
fi
# gpu-module-to-binary finds libdevice through the CUDA installation.
export PATH=$(dirname "$ptxas"):$PATH
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# 1. The pass: nothing it replaces left, kernels in one gpu.module.
"$tessel_opt" "$input" --pass-pipeline="builtin.module($pass)" -o "$work/gpu.mlir" 2>"$work/err" ||
  { cat "$work/err" >&2; fail "$pass_name failed on $input"; }
if grep -q "$replaced" "$work/gpu.mlir"; then
  fail "ops matching '$replaced' left after $pass_name"
fi
kernels=$(grep -c "gpu.func @" "$work/gpu.mlir" || true)
echo "$pass_name: $kernels kernels"

# 2. The host side bufferizes like the GPU pipeline's. (In the same run as
# the pass: it registers what gpu.launch_func does to memory, which the
# deallocation pipeline needs.)
"$tessel_opt" "$input" -o /dev/null 2>"$work/err" \
  --pass-pipeline="builtin.module($pass,one-shot-bufferize{bufferize-function-boundaries=1 function-boundary-type-conversion=identity-layout-map},buffer-deallocation-pipeline)" ||
  { cat "$work/err" >&2; fail "the rewritten functions do not bufferize"; }
echo "bufferize: ok"

# 3. PTX per architecture, assembled by ptxas. +ptx80 is PTX ISA 8.0: what
# sm_90 needs, and more than mma.sync m16n8k16 bf16 (sm_80) does.
to_ptx() { # CHIP OUT
  local pipeline="builtin.module(gpu.module(convert-scf-to-cf,convert-gpu-to-nvvm,canonicalize,cse,reconcile-unrealized-casts),nvvm-attach-target{chip=$1 features=+ptx80},gpu-module-to-binary{format=isa})"
  if "$tessel_opt" "$work/gpu.mlir" --pass-pipeline="$pipeline" -o "$2" 2>"$work/err"; then
    return 0
  fi
  # The IR after the pass has no tessel ops: upstream mlir-opt can finish.
  echo "note: tessel-opt could not serialise to PTX ($(head -n 1 "$work/err")); using $mlir_opt"
  "$mlir_opt" "$work/gpu.mlir" --pass-pipeline="$pipeline" -o "$2" 2>"$work/err" ||
    { cat "$work/err" >&2; fail "lowering the kernels to PTX for $1 failed"; }
}

# The PTX is the gpu.binary's `assembly` string, with MLIR's escapes (\0A, \22, \\).
extract_ptx() { # IN OUT
  python3 - "$1" "$2" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
found = re.findall(r'assembly = "((?:[^"\\]|\\.)*)"', text)
if len(found) != 1:
    sys.exit(f"expected one gpu.binary assembly, found {len(found)}")
s, out, i = found[0], bytearray(), 0
while i < len(s):
    if s[i] == '\\':
        if s[i + 1] in '\\"':
            out.append(ord(s[i + 1])); i += 2
        else:
            out.append(int(s[i + 1:i + 3], 16)); i += 3
    else:
        out += s[i].encode(); i += 1
open(sys.argv[2], 'wb').write(bytes(out))
PY
}

for arch in sm_80 sm_90; do
  to_ptx "$arch" "$work/$arch.mlir"
  extract_ptx "$work/$arch.mlir" "$work/$arch.ptx" || fail "no PTX in the gpu.binary for $arch"
  entries=$(grep -c "^\.visible \.entry" "$work/$arch.ptx" || true)
  [ "$entries" = "$kernels" ] || fail "$arch: $entries PTX entries for $kernels kernels"
  # Every GEMM entry runs the tensor cores, with the weight's element type.
  [ "$3" = mma ] && missing=$(awk '
    /^\.visible \.entry/ { if (name != "" && !ok) print name; match($0, /entry [a-z0-9_]+/); name = substr($0, RSTART + 6, RLENGTH - 6); ok = 0 }
    /mma\.sync\.aligned\.m16n8k16\.row\.col\.f32\.bf16\.bf16\.f32/ { if (name ~ /_bf16_/) ok = 1 }
    /mma\.sync\.aligned\.m16n8k16\.row\.col\.f32\.f16\.f16\.f32/ { if (name ~ /_f16_/) ok = 1 }
    END { if (name != "" && !ok) print name }' "$work/$arch.ptx")
  [ "$3" != mma ] || [ -z "$missing" ] || fail "$arch: no mma.sync m16n8k16 of the weight's type in: $missing"
  if ! "$ptxas" -arch="$arch" -v "$work/$arch.ptx" -o "$work/$arch.cubin" 2>"$work/ptxas.log"; then
    cat "$work/ptxas.log" >&2
    fail "ptxas -arch=$arch rejected the PTX"
  fi
  echo "ptxas $arch: $entries kernels ok"
  # One line per kernel: registers, shared memory, spills.
  awk -v arch="$arch" '
    /Compiling entry function/ { match($0, /'"'"'[^'"'"']*'"'"'/); name = substr($0, RSTART + 1, RLENGTH - 2) }
    /spill stores/ { spills = $5 + $9 }
    /Used [0-9]+ registers/ {
      smem = "0"; if (match($0, /[0-9]+ bytes smem/)) smem = substr($0, RSTART, RLENGTH - 11)
      match($0, /Used [0-9]+ registers/); regs = substr($0, RSTART + 5, RLENGTH - 15)
      printf "  %s %-50s %3d registers %6d bytes smem %s\n", arch, name, regs, smem,
             (spills > 0 ? "WARNING: " spills " bytes spilled" : "no spills")
    }' "$work/ptxas.log"
done
