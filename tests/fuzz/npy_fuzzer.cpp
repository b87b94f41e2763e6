//===- npy_fuzzer.cpp - NumPy .npy arrays (tessel eval --inputs) ----------===//
//
// Input: the bytes of a .npy file. parseNpy must answer with one line
// naming the source, or an array whose data matches its shape and type, and
// which serializeNpy writes back to bytes that parse to the same array.
//
//===----------------------------------------------------------------------===//
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "FuzzCommon.h"
#include "support/Npy.h"

using namespace tessel::support;
using namespace tessel::fuzz;

namespace {

NpyArray array(NpyType type, std::vector<int64_t> shape) {
  NpyArray a;
  a.type = type;
  a.shape = std::move(shape);
  int64_t n = a.numel();
  for (int64_t i = 0; i < n; ++i) {
    if (type == NpyType::F32)
      a.f32.push_back(0.25f * static_cast<float>(i) - 1.0f);
    else
      a.i64.push_back(type == NpyType::Bool ? i % 2 : i - 3);
  }
  return a;
}

void writeSeeds(const std::string &dir) {
  const std::pair<const char *, NpyArray> seeds[] = {
      {"f32.npy", array(NpyType::F32, {2, 3})},      {"i64.npy", array(NpyType::I64, {4})},
      {"bool.npy", array(NpyType::Bool, {1, 2, 2})}, {"scalar.npy", array(NpyType::F32, {})},
      {"empty.npy", array(NpyType::I64, {0, 5})},
  };
  for (const auto &[name, a] : seeds) {
    auto bytes = serializeNpy(a);
    FUZZ_CHECK(bytes.ok(), "seed %s", name);
    writeSeed(dir, name, *bytes);
  }
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  writeSeedsAndExitInSeedMode(writeSeeds);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const std::string source = "input.npy";
  auto a = parseNpy(std::string_view(reinterpret_cast<const char *>(data), size), source);
  if (!a.ok()) {
    checkError(a.status(), source);
    return 0;
  }
  FUZZ_CHECK(a->shape.size() <= kNpyMaxRank, "rank %zu", a->shape.size());
  uint64_t n = 1;
  for (int64_t d : a->shape) {
    FUZZ_CHECK(d >= 0, "negative dimension");
    n *= static_cast<uint64_t>(d);
  }
  const bool f32 = a->type == NpyType::F32;
  FUZZ_CHECK((f32 ? a->f32.size() : a->i64.size()) == n, "elements do not match the shape");
  FUZZ_CHECK((f32 ? a->i64.size() : a->f32.size()) == 0, "data in the wrong vector");
  const uint64_t width = f32 ? 4 : a->type == NpyType::I64 ? 8 : 1;
  FUZZ_CHECK(n * width <= size, "more data than the input holds");
  if (a->type == NpyType::Bool)
    for (int64_t v : a->i64)
      FUZZ_CHECK(v == 0 || v == 1, "a bool that is not 0 or 1");
  // What was accepted writes back and reads again as the same array (NaN
  // payloads included: compared as bytes).
  auto bytes = serializeNpy(*a);
  FUZZ_CHECK(bytes.ok(), "an accepted array does not serialize: %s", msgOf(bytes.status()).c_str());
  auto back = parseNpy(*bytes, source);
  FUZZ_CHECK(back.ok(), "serialized bytes do not parse: %s", msgOf(back.status()).c_str());
  FUZZ_CHECK(
      back->type == a->type && back->shape == a->shape && back->i64 == a->i64 &&
          back->f32.size() == a->f32.size() &&
          (a->f32.empty() || std::memcmp(back->f32.data(), a->f32.data(), a->f32.size() * 4) == 0),
      "the round trip changed the array");
  return 0;
}
