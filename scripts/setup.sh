#!/usr/bin/env bash
# Installs what Tessel needs from Debian bookworm (idempotent), builds it,
# and runs the main job on a built-in example. Run as root from the repo:
#   ./scripts/setup.sh            install + build + run the default job
#   ./scripts/setup.sh --no-run   install + build only (used by scripts/test.sh)
# Environment: BUILD_DIR (default build), BUILD_TYPE (Release), SANITIZE=1
# for an AddressSanitizer + UBSan build.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${BUILD_DIR:-build}
BUILD_TYPE=${BUILD_TYPE:-Release}
SANITIZE=${SANITIZE:-0}

# MLIR/LLVM 22 come from bookworm-security; lit needs python3.
PACKAGES=(cmake ninja-build g++ python3
          libmlir-22-dev mlir-22-tools llvm-22-dev llvm-22-tools lld-22
          libhwy-dev libabsl-dev libgtest-dev nlohmann-json3-dev libpcre2-dev
          clang libclang-rt-14-dev  # tests/fuzz: clang++ + libFuzzer/ASan runtimes
          libcairo2-dev fonts-dejavu-core)  # tessel run --attention_map: PNG/SVG and their label font

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

sanitize=OFF
[[ "$SANITIZE" == 1 ]] && sanitize=ON
cmake -G Ninja -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="$BUILD_TYPE" -DTESSEL_SANITIZE="$sanitize" >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)"

if [[ "${1:-}" != "--no-run" ]]; then
  # The main job: a LLaMA-shaped model (GQA, RoPE, SwiGLU) with random
  # weights from examples/models/tiny-llama.json, compiled through the CPU
  # pipeline and run with a KV cache; the last line on stderr gives
  # tokens/s. Its compile cache lives in the build directory, not in ~.
  TESSEL_CACHE_DIR="$BUILD_DIR/cache" \
    "$BUILD_DIR/bin/tessel" run examples/models/tiny-llama.json --prompt_ids "1 15 27 3" -n 32 \
      --print_token_ids
fi
