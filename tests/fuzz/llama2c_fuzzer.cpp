//===- llama2c_fuzzer.cpp - llama2.c checkpoints ---------------------------===//
//
// Input: a llama2.c .bin (7 int32 header fields, then f32 arrays). The
// loader only reads files, so the input is written to a scratch file first.
// loadLlama2c must answer with an error naming the file, or weights that all
// lie inside the file's mapping and match the config it reports.
//
//===----------------------------------------------------------------------===//
#include <cstdint>
#include <cstdlib>

#include "FuzzCommon.h"
#include "frontends/Llama2c.h"
#include "frontends/MappedFile.h"
#include "frontends/ModelLoader.h"

using namespace tessel::frontends;
using namespace tessel::fuzz;

namespace {

// Header + the f32 payload it implies (classifier shared when vocab > 0).
std::string checkpoint(int32_t dim, int32_t hidden, int32_t layers, int32_t heads, int32_t kvHeads,
                       int32_t vocab, int32_t seq) {
  int64_t d = dim, f = hidden, L = layers, hd = dim / heads, kv = kvHeads * hd;
  int64_t v = vocab < 0 ? -int64_t(vocab) : vocab;
  int64_t floats = v * d + L * (2 * d + 2 * d * d + 2 * kv * d + 3 * f * d) + d + seq * hd +
                   (vocab < 0 ? v * d : 0);
  int32_t h[7] = {dim, hidden, layers, heads, kvHeads, vocab, seq};
  std::string out(reinterpret_cast<const char *>(h), 28);
  for (int64_t i = 0; i < floats; ++i) {
    float x = 0.125f * static_cast<float>(i % 11) - 0.5f;
    out.append(reinterpret_cast<const char *>(&x), 4);
  }
  return out;
}

void writeSeeds(const std::string &dir) {
  writeSeed(dir, "tied.bin", checkpoint(8, 16, 1, 2, 1, 16, 4));
  writeSeed(dir, "untied.bin", checkpoint(8, 12, 2, 4, 2, -8, 2));
  writeSeed(dir, "mha.bin", checkpoint(4, 4, 1, 1, 1, 4, 1));
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  writeSeedsAndExitInSeedMode(writeSeeds);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string path = scratchFile("model.bin", data, size);
  auto m = loadLlama2c(path);
  if (!m.ok()) {
    checkError(m.status(), path);
    return 0;
  }
  FUZZ_CHECK(m->config.validate(path).ok(), "accepted config does not validate");
  if (auto st = checkWeights(m->config, m->weights); !st.ok())
    FUZZ_CHECK(false, "accepted weights fail checkWeights: %s", msgOf(st).c_str());
  for (const auto &[name, t] : m->weights.all()) {
    auto mapped = std::static_pointer_cast<const MappedFile>(t.owner);
    FUZZ_CHECK(mapped && t.data >= mapped->data() && t.bytes <= mapped->size() &&
                   t.data - mapped->data() <= static_cast<ptrdiff_t>(mapped->size() - t.bytes),
               "tensor '%s' lies outside the file", name.c_str());
    FUZZ_CHECK(t.bytes == static_cast<uint64_t>(t.numel()) * 4, "tensor '%s' bytes", name.c_str());
  }
  return 0;
}
