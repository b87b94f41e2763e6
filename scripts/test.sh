#!/usr/bin/env bash
# Builds (installing Debian packages if missing) and runs the whole test
# suite: lit/FileCheck IR tests and GoogleTest suites, through ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --no-run
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j "$(nproc)"
