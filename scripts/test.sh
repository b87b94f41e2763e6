#!/usr/bin/env bash
# Builds (installing Debian packages if missing) and runs the whole test
# suite: lit/FileCheck IR tests and GoogleTest suites, through ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --no-run
# Sanitizer builds link instrumented code against Debian's uninstrumented
# libMLIR: LLVM's inline allocator poisons memory the library then writes
# legitimately, so user poisoning checks must be off (ASan still checks
# every access of Tessel's own code).
if [[ "${SANITIZE:-0}" == 1 ]]; then
  export ASAN_OPTIONS="allow_user_poisoning=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
fi
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j "$(nproc)"
