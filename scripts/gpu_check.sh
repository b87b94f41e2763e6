#!/usr/bin/env bash
# Everything that needs an NVIDIA GPU, in one run: the checks CI (which has
# no GPU) cannot do, and the GPU benchmark.
#
#   scripts/gpu_check.sh [--tessel PATH] [--build-dir DIR] [--only LIST] [--no-bench]
#                        [--allow-missing-torch] [--out DIR]
#
# Without a usable GPU it prints one line, `SKIPPED: no CUDA GPU (<why>)`,
# and exits 0: when nvidia-smi is missing or fails, or when `tessel eval
# --device cuda` reports that the driver cannot be loaded or finds no GPU.
# Otherwise it builds tessel if needed (ninja, incremental) and runs, printing
# PASS or FAIL per check and a summary, exiting 1 if any check failed:
#
#   kernels  every examples/*.mlir and generated attention modules (MHA, GQA,
#            MQA; causal, not causal, sliding window; prefill, a 7-query chunk
#            and decode with 1 query; head_dim 64, 128 and 256; normal(0, 1)
#            inputs from bench/gpu/make_attention_mlir.py --npy_inputs):
#            `tessel eval --compiled --compare` on the CPU and `--device cuda`
#            on the same inputs, each against the reference evaluator, and the
#            CUDA results against the CPU-compiled ones (tolerance $TOL, 1e-4);
#   model    `tessel run` on stories260K (../shared) on the CPU and on CUDA:
#            the same greedy text for -n 32 (llama.cpp's continuation), the
#            same token ids for -n 100, for two prompts; and the same greedy
#            ids on every random-weight family of examples/models/. (Logits
#            are not compared directly: `tessel logits` has no --device, its
#            Evaluator compiles for the CPU only; identical greedy ids over
#            100 steps of a trained model are the end-to-end check.);
#   torch    bench/gpu/torch_parity.py: the CUDA attention kernels against
#            PyTorch's scaled_dot_product_attention (float64) on the same
#            inputs; needs a python3 with torch and CUDA (a FAIL without one,
#            unless --allow-missing-torch makes it a SKIP);
#   bench    bench/gpu/attention_bench.py: attention at 1k/4k/16k x head_dim
#            64/128 against PyTorch SDPA (bf16 and f32), decode tok/s of a
#            Llama-3.2-1B-shaped model; rewrites the "GPU: attention and
#            decode" section of bench/RESULTS.md. --no-bench leaves it out.
#
# What the CUDA backend reports it does not do yet (an op "not lowered to
# linalg yet"; anything "not supported with --device cuda", e.g. a rolling
# sliding-window cache)
# is a SKIP that names it, listed in the summary, not a FAIL.
#
# --only kernels,model,torch,bench picks sections (e.g. to stay under a time
# limit per command). Logs and files go to --out (default BUILD_DIR/gpu-check).
#
# Environment:
#   NVIDIA_SMI   the nvidia-smi to ask (default: nvidia-smi on PATH)
#   GPU_ARCH     --gpu_arch for tessel (default: the GPU's compute capability,
#                at most sm_90, the newest PTX ISA 8.0 covers)
#   PYTHON       a python3 with torch (default: the first of python3 and
#                /usr/bin/python3 whose torch sees a CUDA device)
#   TOL          the kernels' tolerance (default 1e-4)
#   TESSEL_SHARED_DIR  models (default <repo>/../shared)
#   TESSEL_CUDA_DRIVER is passed on to tessel (runtime/cuda/README.md).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="$ROOT/build"
TESSEL=""
ONLY="kernels,model,torch,bench"
BENCH=1
ALLOW_NO_TORCH=0
OUT=""
while (($#)); do
  case "$1" in
  --tessel) TESSEL="$2"; shift 2 ;;
  --build-dir) BUILD_DIR="$2"; shift 2 ;;
  --only) ONLY="$2"; shift 2 ;;
  --no-bench) BENCH=0; shift ;;
  --allow-missing-torch) ALLOW_NO_TORCH=1; shift ;;
  --out) OUT="$2"; shift 2 ;;
  -h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) echo "gpu_check: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
OUT="${OUT:-$BUILD_DIR/gpu-check}"
TOL="${TOL:-1e-4}"
SHARED="${TESSEL_SHARED_DIR:-$ROOT/../shared}"
STDLIB_PY="$(command -v python3 || echo /usr/bin/python3)"

skip() {
  echo "SKIPPED: no CUDA GPU ($*)"
  exit 0
}
last_line() { grep -v '^[[:space:]]*$' "$1" 2>/dev/null | tail -1 | cut -c1-400; }

# --- is there a GPU? -------------------------------------------------------------
SMI="${NVIDIA_SMI:-nvidia-smi}"
command -v "$SMI" >/dev/null 2>&1 || skip "$SMI not found"
if ! gpus=$("$SMI" -L 2>&1); then
  skip "$SMI -L failed: $(printf '%s\n' "$gpus" | head -1)"
fi
if [ -z "${GPU_ARCH:-}" ]; then
  cap=$("$SMI" --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')
  if [[ "$cap" =~ ^[0-9]+$ ]] && ((cap >= 50)); then
    GPU_ARCH="sm_$((cap > 90 ? 90 : cap))"
  else
    GPU_ARCH=sm_80
  fi
fi

# --- tessel ------------------------------------------------------------------------
mkdir -p "$OUT"
if [ -z "$TESSEL" ]; then
  TESSEL="$BUILD_DIR/bin/tessel"
  if [ -f "$BUILD_DIR/build.ninja" ] || [ ! -x "$TESSEL" ]; then
    echo "gpu_check: building tessel in $BUILD_DIR (log: $OUT/build.log)"
    if ! { [ -f "$BUILD_DIR/CMakeCache.txt" ] ||
      cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release; } >"$OUT/build.log" 2>&1 ||
      ! cmake --build "$BUILD_DIR" --target tessel tessel-opt >>"$OUT/build.log" 2>&1; then
      tail -20 "$OUT/build.log"
      echo "FAIL build: see $OUT/build.log (scripts/setup.sh installs the toolchain)"
      exit 1
    fi
  fi
fi
TESSEL="$(cd "$(dirname "$TESSEL")" && pwd)/$(basename "$TESSEL")"
[ -x "$TESSEL" ] || { echo "FAIL build: no tessel at $TESSEL"; exit 1; }

# Can tessel use the GPU? A missing driver or no device is a skip, any
# other failure of this tiny attention a failure.
"$STDLIB_PY" "$ROOT/bench/gpu/make_attention_mlir.py" --seq 8 --heads 2 --head_dim 64 --causal \
  -o "$OUT/probe.mlir" || { echo "FAIL probe: make_attention_mlir.py"; exit 1; }
if ! "$TESSEL" eval "$OUT/probe.mlir" --device cuda --gpu_arch "$GPU_ARCH" --reps 0 \
  >"$OUT/probe.out" 2>"$OUT/probe.err"; then
  if grep -qE "CUDA: (cannot load the NVIDIA driver library|cuInit failed|the driver found no GPU)" \
    "$OUT/probe.err"; then
    skip "$(head -1 "$OUT/probe.err")"
  fi
  echo "FAIL probe: tessel eval --device cuda on a tiny attention: $(last_line "$OUT/probe.err")"
  exit 1
fi
echo "gpu_check: ${gpus:+$(printf '%s\n' "$gpus" | head -1); }$(head -1 "$OUT/probe.out" | sed 's/.*compiled for //'); --gpu_arch $GPU_ARCH"
echo "gpu_check: tessel $TESSEL; logs in $OUT"

# --- bookkeeping -----------------------------------------------------------------
passed=0
failed=()
skipped=()
record() { # STATUS NAME DETAIL
  echo "$1 $2: $3"
  case "$1" in
  PASS) passed=$((passed + 1)) ;;
  SKIP) skipped+=("$2") ;;
  *) failed+=("$2") ;;
  esac
}
wants() { [[ ",$ONLY," == *",$1,"* ]]; }
section_start() { echo; echo "== $1"; SECTION_T0=$SECONDS; }
section_end() { echo "   ($((SECONDS - SECTION_T0)) s)"; }
last_match() { grep -E "$1" "$2" 2>/dev/null | tail -1; }
# What the CUDA backend does not do yet (an error that says so): a SKIP that
# names it, not a FAIL.
UNSUPPORTED='is not lowered to linalg yet|not supported with --device cuda'
unsupported() { grep -qE "$UNSUPPORTED" "$1" 2>/dev/null; }
# The number after '=' in tessel eval's "max |compiled - reference| = X (tolerance T): ok".
diff_of() { last_match 'max \|compiled - reference\|' "$1" | sed -E 's/.*= ([^ ]+) \(.*/\1/'; }

# check_kernel NAME FILE [INPUT_DIR]: CPU-compiled and CUDA code against the
# reference evaluator and against each other, on the same inputs.
check_kernel() {
  local name=$1 file=$2 inputs=${3:-} d="$OUT/kernels/$1"
  rm -rf "$d" && mkdir -p "$d"
  local in=()
  [ -n "$inputs" ] && in=(--inputs "$inputs")
  "$TESSEL" eval "$file" --compiled --compare --tolerance "$TOL" "${in[@]}" --outputs "$d/cpu" \
    --values 0 --reps 0 >"$d/cpu.log" 2>&1
  local cpu_rc=$?
  # The CUDA run reads the inputs the CPU run used (and wrote), when it got that far.
  [ -f "$d/cpu/arg0.npy" ] && in=(--inputs "$d/cpu")
  "$TESSEL" eval "$file" --device cuda --gpu_arch "$GPU_ARCH" --compiled --compare \
    --tolerance "$TOL" "${in[@]}" --outputs "$d/cuda" --values 0 --reps 0 >"$d/cuda.log" 2>&1
  local cuda_rc=$?
  local cross="not compared" cross_rc=1
  if [ -f "$d/cuda/result0.npy" ] && [ -f "$d/cpu/result0.npy" ]; then
    cross=$("$STDLIB_PY" "$ROOT/bench/gpu/npyio.py" compare "$d/cuda" "$d/cpu" "$TOL" 2>&1 |
      sed -E 's/^max \|[^|]*\| = ([^ ]+).*/\1/')
    "$STDLIB_PY" "$ROOT/bench/gpu/npyio.py" compare "$d/cuda" "$d/cpu" "$TOL" >/dev/null 2>&1
    cross_rc=$?
  fi
  local detail
  detail="cpu-compiled vs reference $(diff_of "$d/cpu.log"), cuda vs reference $(diff_of "$d/cuda.log"), cuda vs cpu-compiled $cross (tolerance $TOL)"
  if ((cpu_rc == 0 && cuda_rc == 0 && cross_rc == 0)); then
    record PASS "kernels/$name" "$detail"
  elif ((cpu_rc == 0)) && unsupported "$d/cuda.log"; then
    record SKIP "kernels/$name" "unsupported on CUDA: $(last_line "$d/cuda.log") (cpu-compiled vs reference $(diff_of "$d/cpu.log"))"
  else
    ((cpu_rc == 0)) || detail+="; cpu: $(last_line "$d/cpu.log")"
    ((cuda_rc == 0)) || detail+="; cuda: $(last_line "$d/cuda.log")"
    record FAIL "kernels/$name" "$detail (logs: $d)"
  fi
}

# --- a. kernels ------------------------------------------------------------------
if wants kernels; then
  section_start "kernels: compiled CPU and CUDA code against the reference evaluator and each other"
  for f in "$ROOT"/examples/*.mlir; do
    check_kernel "$(basename "$f" .mlir)" "$f"
  done
  # name: make_attention_mlir.py arguments
  attention_cases=(
    "mha-causal-b2-d64:--batch 2 --seq 256 --heads 8 --head_dim 64 --causal"
    "gqa-causal-d128:--seq 384 --heads 8 --kv_heads 2 --head_dim 128 --causal"
    "mqa-causal-d64:--seq 200 --heads 4 --kv_heads 1 --head_dim 64 --causal"
    "gqa-causal-d256:--seq 128 --heads 4 --kv_heads 2 --head_dim 256 --causal"
    "gqa-full-d128:--seq 130 --heads 4 --kv_heads 2 --head_dim 128"
    "mha-window100-d64:--seq 512 --heads 4 --head_dim 64 --causal --window 100"
    "gqa-window64-d128:--seq 300 --heads 8 --kv_heads 4 --head_dim 128 --causal --window 64"
    "gqa-chunk7-d64:--seq 700 --q_len 7 --heads 8 --kv_heads 2 --head_dim 64 --causal"
    "gqa-decode-d128:--seq 1000 --q_len 1 --heads 8 --kv_heads 2 --head_dim 128 --causal"
    "mqa-decode-d64:--seq 4097 --q_len 1 --heads 8 --kv_heads 1 --head_dim 64 --causal"
    "mha-decode-window256-d64:--seq 2000 --q_len 1 --heads 4 --head_dim 64 --causal --window 256"
    "mha-decode-full-b2-d128:--batch 2 --seq 513 --q_len 1 --heads 4 --head_dim 128"
    "gqa-decode-d256:--seq 600 --q_len 1 --heads 4 --kv_heads 2 --head_dim 256 --causal"
  )
  for case in "${attention_cases[@]}"; do
    name=${case%%:*}
    g="$OUT/generated/$name"
    mkdir -p "$g"
    # shellcheck disable=SC2086 # the arguments are words on purpose
    if "$STDLIB_PY" "$ROOT/bench/gpu/make_attention_mlir.py" ${case#*:} -o "$g/attention.mlir" \
      --npy_inputs "$g/inputs" --seed 7 >"$g/make.log" 2>&1; then
      check_kernel "attention-$name" "$g/attention.mlir" "$g/inputs"
    else
      record FAIL "kernels/attention-$name" "make_attention_mlir.py: $(tail -1 "$g/make.log")"
    fi
  done
  section_end
fi

# --- b. a whole model ------------------------------------------------------------
if wants model; then
  section_start "model: greedy generation on CUDA against the CPU"
  d="$OUT/model"
  mkdir -p "$d"
  stories="$SHARED/models/stories260K/stories260K.gguf"
  # same_output NAME ARGS...: `tessel run ARGS` prints the same on the CPU and on CUDA.
  same_output() {
    local name=$1
    shift
    "$TESSEL" run "$@" --no_cache >"$d/$name.cpu" 2>"$d/$name.cpu.err"
    local cpu_rc=$?
    "$TESSEL" run "$@" --no_cache --device cuda --gpu_arch "$GPU_ARCH" >"$d/$name.cuda" 2>"$d/$name.cuda.err"
    local cuda_rc=$?
    local speed
    speed=$(grep -oE "decode [0-9]+ tokens: [0-9.]+ tok/s" "$d/$name.cuda.err" | head -1)
    if ((cpu_rc == 0 && cuda_rc != 0)) && unsupported "$d/$name.cuda.err"; then
      record SKIP "model/$name" "unsupported on CUDA: $(last_line "$d/$name.cuda.err")"
    elif ((cpu_rc != 0 || cuda_rc != 0)); then
      record FAIL "model/$name" "exit cpu $cpu_rc, cuda $cuda_rc: $(last_line "$d/$name.cpu.err") / $(last_line "$d/$name.cuda.err")"
    elif cmp -s "$d/$name.cpu" "$d/$name.cuda"; then
      record PASS "model/$name" "identical ($(wc -w <"$d/$name.cuda") words; cuda ${speed:-?})"
    else
      record FAIL "model/$name" "differs: cpu '$(head -c 120 "$d/$name.cpu")' cuda '$(head -c 120 "$d/$name.cuda")'"
    fi
  }
  if [ -f "$stories" ]; then
    same_output stories260K-text "$stories" --prompt "Once upon a time" -n 32 --temp 0
    if grep -q "^, there was a little girl named Lily" "$d/stories260K-text.cuda"; then
      record PASS "model/stories260K-story" "CUDA continues as llama.cpp: $(head -c 60 "$d/stories260K-text.cuda")..."
    else
      record FAIL "model/stories260K-story" "CUDA text: '$(head -c 80 "$d/stories260K-text.cuda")'"
    fi
    same_output stories260K-ids-once "$stories" --prompt "Once upon a time" -n 100 --temp 0 --print_token_ids
    same_output stories260K-ids-lily "$stories" --prompt "Lily and Ben" -n 100 --temp 0 --print_token_ids
  else
    record FAIL "model/stories260K" "$stories not found (set TESSEL_SHARED_DIR)"
  fi
  # --context 256: the sliding-window models' caches then do not roll
  # (rolling caches are CPU-only so far), and the same context on both sides.
  for m in "$ROOT"/examples/models/*.json; do
    same_output "$(basename "$m" .json)-ids" "$m" --prompt_ids "1 15 27 3" -n 16 --print_token_ids \
      --context 256
  done
  section_end
fi

# --- c. PyTorch ----------------------------------------------------------------------
find_torch_python() {
  local p
  for p in ${PYTHON:-} python3 /usr/bin/python3; do
    command -v "$p" >/dev/null 2>&1 || continue
    if "$p" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" >/dev/null 2>&1; then
      echo "$p"
      return 0
    fi
  done
  return 1
}
torch_missing() { # NAME
  local why="no python3 whose torch sees a CUDA device (tried: ${PYTHON:-} python3 /usr/bin/python3; set PYTHON)"
  if ((ALLOW_NO_TORCH)); then record SKIP "$1" "$why"; else record FAIL "$1" "$why"; fi
}
if wants torch; then
  section_start "torch: CUDA attention kernels against PyTorch SDPA"
  if TORCH_PY=$(find_torch_python); then
    "$TORCH_PY" "$ROOT/bench/gpu/torch_parity.py" --tessel "$TESSEL" --gpu_arch "$GPU_ARCH" \
      --work "$OUT/torch" --json "$OUT/torch/parity.json" >"$OUT/torch.log" 2>&1
    rc=$?
    grep -vE '^(PASS|FAIL) ' "$OUT/torch.log" | sed 's/^/   /'
    while IFS= read -r line; do
      status=${line%% *}
      rest=${line#* }
      record "$status" "${rest%%: *}" "${rest#*: }"
    done < <(grep -E '^(PASS|FAIL) ' "$OUT/torch.log")
    ((rc == 2)) && record FAIL torch/parity "torch_parity.py could not run: $(tail -1 "$OUT/torch.log")"
  else
    torch_missing torch/parity
  fi
  section_end
fi

# --- d. the benchmark ------------------------------------------------------------
if wants bench && ((BENCH)); then
  section_start "bench: attention against PyTorch SDPA, decode tok/s (bench/RESULTS.md)"
  if TORCH_PY=$(find_torch_python); then
    "$TORCH_PY" "$ROOT/bench/gpu/attention_bench.py" --tessel "$TESSEL" --gpu_arch "$GPU_ARCH" \
      --work "$OUT/bench" >"$OUT/bench.log" 2>&1
    rc=$?
    sed -n '/gpu_bench:start/,/gpu_bench:end/p' "$OUT/bench.log" | sed 's/^/   /'
    if ((rc == 0)); then
      record PASS bench/attention-and-decode "bench/RESULTS.md updated (log: $OUT/bench.log)"
    else
      record FAIL bench/attention-and-decode "exit $rc: $(grep -E 'error|cannot run' "$OUT/bench.log" | tail -1) (log: $OUT/bench.log)"
    fi
  else
    torch_missing bench/attention-and-decode
  fi
  section_end
fi

echo
summary="gpu_check: $passed passed, ${#failed[@]} failed"
((${#skipped[@]})) && summary+=", ${#skipped[@]} skipped (${skipped[*]})"
echo "$summary"
if ((${#failed[@]})); then
  printf '  FAILED: %s\n' "${failed[@]}"
  exit 1
fi
exit 0
