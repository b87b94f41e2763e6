#!/usr/bin/env bash
# Builds llama.cpp's own llama-bench against the prebuilt libraries of the
# pinned node-llama-cpp (tests/llamacpp/node_modules): same llama.cpp as the
# rest of the repo's llama.cpp checks, nothing downloaded.
#
#   bench/build_llama_bench.sh [OUT_DIR]        (default build/bench-models/llama-bench)
#
# The source is node-llama-cpp's git bundle (llama/gitRelease.bundle, llama.cpp
# v0.5.0) with node-llama-cpp's own patches applied, i.e. the source of the
# prebuilt binaries. Only tools/llama-bench/{llama-bench,main}.cpp are compiled;
# they link the prebuilt libllama-common, libllama, libggml and libggml-base
# (rpath), and ggml_backend_load_all() picks the best libggml-cpu-*.so for this
# CPU from the executable's directory, where symbolic links to the prebuilt
# ones are made (libggml-cpu-zen4.so on this machine, as in node-llama-cpp).
#
# One change to the source: llama-bench's -ctk/-ctv accept f32 (upstream
# llama-bench only lists f16, bf16 and the quantized types), so that its KV
# cache can be f32 like Tessel's. Prints the path of the binary.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-$ROOT/build/bench-models/llama-bench}"
NLC="$ROOT/tests/llamacpp/node_modules/node-llama-cpp"
BINS="$ROOT/tests/llamacpp/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64"
[[ -f "$NLC/llama/gitRelease.bundle" && -d "$BINS" ]] ||
  { echo "build_llama_bench: no node-llama-cpp in tests/llamacpp/node_modules (npm ci --prefix tests/llamacpp)" >&2; exit 2; }
CXX="${CXX:-g++}"
command -v "$CXX" >/dev/null || { echo "build_llama_bench: no C++ compiler ($CXX)" >&2; exit 2; }

BIN="$OUT/llama-bench"
STAMP="$OUT/source.stamp"
want="$(sha256sum "$NLC/llama/gitRelease.bundle" "$NLC"/llama/patches/*.diff 2>/dev/null | sha256sum | cut -c1-16)"
if [[ -x "$BIN" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
  echo "$BIN"
  exit 0
fi

mkdir -p "$OUT"
SRC="$OUT/src"
rm -rf "$SRC"
git clone -q "$NLC/llama/gitRelease.bundle" "$SRC" 2>/dev/null
for p in "$NLC"/llama/patches/*.diff; do
  [[ -f "$p" ]] && git -C "$SRC" apply "$p"
done
LB="$SRC/tools/llama-bench/llama-bench.cpp"
grep -q 'static ggml_type ggml_type_from_name(const std::string & s) {' "$LB" ||
  { echo "build_llama_bench: $LB changed: ggml_type_from_name not found" >&2; exit 1; }
sed -i 's|static ggml_type ggml_type_from_name(const std::string & s) {|&\n    if (s == "f32") { return GGML_TYPE_F32; }|' "$LB"

"$CXX" -O2 -DNDEBUG -std=c++17 -I"$SRC/common" -I"$SRC/include" -I"$SRC/ggml/include" \
  -I"$SRC/tools/llama-bench" -I"$SRC/vendor" \
  "$LB" "$SRC/tools/llama-bench/main.cpp" -o "$BIN.tmp" \
  -L"$BINS" -l:libllama-common.so -l:libllama.v0.5.0.so -l:libggml.v0.5.0.so -l:libggml-base.so \
  -Wl,-rpath,"$BINS" -pthread
mv "$BIN.tmp" "$BIN"
for so in "$BINS"/libggml-cpu-*.so; do
  ln -sf "$so" "$OUT/$(basename "$so")"
done
rm -rf "$SRC" # 100 MB of source; the binary is all that is needed
echo "$want" >"$STAMP"
echo "$BIN"
