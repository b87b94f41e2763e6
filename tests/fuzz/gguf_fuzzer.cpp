//===- gguf_fuzzer.cpp - GGUF reader, config and weight checks -------------===//
//
// Input: a GGUF image. GgufFile::parse must answer with one error naming the
// file, or hand out metadata every getter can read and tensors that lie
// inside the input with byte counts matching their shapes and types. What
// parses then goes through configFromGguf and checkWeights (what loadModel
// does), and through loadModel itself from a file (tied embeddings, GPT-2
// q/k/v split), whose tensors must lie inside the file's mapping.
//
//===----------------------------------------------------------------------===//
#include <cstdint>
#include <cstdlib>

#include "FuzzCommon.h"
#include "FuzzSeeds.h"
#include "frontends/Gguf.h"
#include "frontends/MappedFile.h"
#include "frontends/ModelConfig.h"
#include "frontends/ModelLoader.h"
#include "frontends/ModelWriter.h"

using namespace tessel::frontends;
using namespace tessel::fuzz;

namespace {

const char kName[] = "fuzz.gguf";

std::vector<uint8_t> f32Bytes(const std::vector<float> &v) {
  std::vector<uint8_t> out(v.size() * 4);
  std::memcpy(out.data(), v.data(), out.size());
  return out;
}

std::vector<uint8_t> typed(WeightType t, int64_t n) {
  std::vector<float> v(n);
  for (int64_t i = 0; i < n; ++i)
    v[i] = 0.25f * static_cast<float>(i % 9) - 1.0f;
  std::vector<uint8_t> out(storageBytes(t, n).value());
  quantizeRow(t, v.data(), out.data(), n);
  return out;
}

void writeSeeds(const std::string &dir) {
  // Every metadata value type the writer has, every weight type, 1-4 dims.
  GgufWriter w;
  w.addString("general.architecture", "llama");
  w.addString("general.name", "fuzz-seed");
  w.addU32("general.alignment", 32);
  w.addU32("llama.block_count", 1);
  w.addI32("llama.context_length", 16);
  w.addF32("llama.rope.freq_base", 10000.f);
  w.addBool("llama.flag", true);
  w.addStrings("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "a", "b"});
  w.addF32s("tokenizer.ggml.scores", {0, 0, 0, -1, -2});
  w.addI32s("tokenizer.ggml.token_type", {2, 3, 3, 1, 1});
  w.addTensor("f32.weight", WeightType::F32, {2, 4}, typed(WeightType::F32, 8));
  w.addTensor("f16.weight", WeightType::F16, {3}, typed(WeightType::F16, 3));
  w.addTensor("bf16.weight", WeightType::BF16, {1, 2, 2}, typed(WeightType::BF16, 4));
  w.addTensor("q8_0.weight", WeightType::Q8_0, {2, 32}, typed(WeightType::Q8_0, 64));
  w.addTensor("q4_0.weight", WeightType::Q4_0, {1, 1, 1, 32}, typed(WeightType::Q4_0, 32));
  std::string p = scratchDir() + "/seed.gguf";
  if (!w.write(p).ok())
    std::exit(1);
  std::string bytes;
  readFile(p, bytes);
  writeSeed(dir, "types.gguf", bytes);

  // One small model per supported architecture (tensors f16 to stay small).
  for (const auto &[name, c] : exampleConfigs(32)) {
    WeightStore ws = randomWeights(c, 1, WeightType::F16, name);
    std::string mp = scratchDir() + "/" + name + ".gguf";
    if (!writeGgufModel(c, ws, mp).ok())
      continue;
    if (readFile(mp, bytes))
      writeSeed(dir, name + ".gguf", bytes);
  }
}

void checkTensors(const GgufFile &f, const uint8_t *data, size_t size) {
  for (const WeightTensor &t : f.tensors()) {
    FUZZ_CHECK(t.data >= data && t.bytes <= size &&
                   t.data - data <= static_cast<ptrdiff_t>(size - t.bytes),
               "tensor '%s' lies outside the input", t.name.c_str());
    FUZZ_CHECK(!t.shape.empty() && t.shape.size() <= 4, "tensor '%s' has %zu dims", t.name.c_str(),
               t.shape.size());
    auto bytes = storageBytes(t.type, static_cast<uint64_t>(t.numel()));
    FUZZ_CHECK(bytes.ok() && *bytes == t.bytes, "tensor '%s': byte count does not match its shape",
               t.name.c_str());
    if (t.numel() <= (1 << 16))
      (void)t.toF32();
  }
}

void checkGetters(const GgufFile &f) {
  for (const auto &[key, v] : f.metadata()) {
    // Each getter either returns the value or an error naming file and key.
    auto s = f.getString(key);
    if (!s.ok())
      checkError(s.status(), key);
    auto i = f.getInt(key);
    if (!i.ok())
      checkError(i.status(), key);
    auto d = f.getFloat(key);
    if (!d.ok())
      checkError(d.status(), key);
    auto b = f.getBool(key);
    if (!b.ok())
      checkError(b.status(), key);
    auto ss = f.getStrings(key);
    if (!ss.ok())
      checkError(ss.status(), key);
    auto is = f.getInts(key);
    if (!is.ok())
      checkError(is.status(), key);
    auto fs = f.getFloats(key);
    if (!fs.ok())
      checkError(fs.status(), key);
  }
  auto missing = f.getInt("no.such.key");
  checkError(missing.status(), "no.such.key");
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  writeSeedsAndExitInSeedMode(writeSeeds);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  auto f = GgufFile::parse(nullptr, data, size, kName);
  if (!f.ok()) {
    checkError(f.status(), kName);
    return 0;
  }
  checkTensors(**f, data, size);
  checkGetters(**f);

  auto config = configFromGguf(**f);
  if (!config.ok()) {
    checkError(config.status(), kName);
    return 0;
  }
  WeightStore store;
  store.source = kName;
  (*f)->addTo(store);
  if (auto st = checkWeights(*config, store); !st.ok())
    checkError(st, kName);

  // The whole loader, from a file.
  std::string path = scratchFile("model.gguf", data, size);
  auto m = loadModel(path);
  if (!m.ok()) {
    checkError(m.status(), path);
    return 0;
  }
  // Tensors that share the file's mapping (all of them but any the loader
  // computes) must lie inside it.
  if (m->gguf->tensors().empty())
    return 0;
  const std::shared_ptr<const void> &owner = m->gguf->tensors()[0].owner;
  auto mapped = std::static_pointer_cast<const MappedFile>(owner); // GgufFile::open maps
  for (const auto &[name, t] : m->weights.all()) {
    if (t.owner != owner)
      continue;
    FUZZ_CHECK(t.data >= mapped->data() && t.bytes <= mapped->size() &&
                   t.data - mapped->data() <= static_cast<ptrdiff_t>(mapped->size() - t.bytes),
               "loaded tensor '%s' lies outside the file", name.c_str());
  }
  return 0;
}
