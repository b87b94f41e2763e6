//===- safetensors_fuzzer.cpp - safetensors reader and the HF loader -------===//
//
// Input: a .safetensors image. SafetensorsFile::parse must answer with an
// error naming the file, or entries that lie inside the input, weights that
// can be read, and a store they can be added to. What parses is then loaded
// as model.safetensors of a Hugging Face directory beside each example
// architecture's config.json (loadModel: renaming, GPT-2's transposed and
// fused tensors, per-expert stacking), which must not crash either.
//
//===----------------------------------------------------------------------===//
#include <cstdint>
#include <cstdlib>
#include <filesystem>

#include "FuzzCommon.h"
#include "FuzzSeeds.h"
#include "frontends/ModelLoader.h"
#include "frontends/ModelWriter.h"
#include "frontends/Safetensors.h"

using namespace tessel::frontends;
using namespace tessel::fuzz;
namespace fs = std::filesystem;

namespace {

const char kName[] = "fuzz.safetensors";

// scratch/hf-<example>/config.json for each example architecture; with
// `seeds`, their model.safetensors are copied there as seeds too.
std::vector<std::string> &hfDirs() {
  static std::vector<std::string> dirs;
  return dirs;
}

void prepare(const std::string &seeds) {
  for (const auto &[name, c] : exampleConfigs(16)) {
    std::string dir = scratchDir() + "/hf-" + name;
    WeightStore ws = randomWeights(c, 1, WeightType::F32, name);
    if (!writeHfModel(c, ws, dir).ok())
      continue;
    std::string bytes;
    if (!seeds.empty() && readFile(dir + "/model.safetensors", bytes))
      writeSeed(seeds, name + ".safetensors", bytes);
    hfDirs().push_back(dir);
  }
  if (seeds.empty())
    return;

  // Every weight dtype, a scalar, an empty tensor, metadata.
  SafetensorsWriter w;
  w.addTensorFromF32("a.f32", WeightType::F32, {2, 3}, {1, 2, 3, 4, 5, 6});
  w.addTensorFromF32("b.f16", WeightType::F16, {3}, {0.5f, -1, 2});
  w.addTensorFromF32("c.bf16", WeightType::BF16, {1, 1, 2}, {3, 4});
  w.addTensorFromF32("scalar", WeightType::F32, {}, {7});
  w.addTensorFromF32("empty", WeightType::F32, {0, 4}, {});
  w.setMetadata("format", "pt");
  auto bytes = w.serialize();
  if (bytes.ok())
    writeSeed(seeds, "types.safetensors", *bytes);

  // Non-weight dtypes (kept as entries, refused as weights).
  std::string header =
      R"({"__metadata__":{"k":"v"},"ids":{"dtype":"I64","shape":[2],"data_offsets":[0,16]},)"
      R"("mask":{"dtype":"BOOL","shape":[4],"data_offsets":[16,20]},)"
      R"("f8":{"dtype":"F8_E4M3","shape":[2,2],"data_offsets":[20,24]}})";
  while (header.size() % 8)
    header += ' ';
  std::string image(8, '\0');
  uint64_t n = header.size();
  std::memcpy(image.data(), &n, 8);
  image += header + std::string(24, '\x01');
  writeSeed(seeds, "dtypes.safetensors", image);
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  std::string seeds = seedDir();
  prepare(seeds);
  if (!seeds.empty())
    std::exit(0);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  auto f = SafetensorsFile::parse(nullptr, data, size, kName);
  if (!f.ok()) {
    checkError(f.status(), kName);
    return 0;
  }
  const SafetensorsFile &file = **f;
  FUZZ_CHECK(file.dataOffset() <= size, "data offset past the end");
  for (const SafetensorsEntry &e : file.entries()) {
    FUZZ_CHECK(e.begin <= e.end && e.end <= size - file.dataOffset(),
               "entry '%s' lies outside the input", e.name.c_str());
    FUZZ_CHECK(e.data == data + file.dataOffset() + e.begin, "entry '%s' data pointer",
               e.name.c_str());
    FUZZ_CHECK(file.find(e.name) == &e, "find('%s')", e.name.c_str());
    auto w = file.weight(e.name);
    if (!w.ok()) {
      checkError(w.status(), kName);
      continue;
    }
    auto bytes = storageBytes(w->type, static_cast<uint64_t>(w->numel()));
    FUZZ_CHECK(bytes.ok() && *bytes == w->bytes, "weight '%s': bytes do not match the shape",
               e.name.c_str());
    if (w->numel() <= (1 << 16))
      (void)w->toF32();
  }
  for (const WeightTensor &t : file.tensors())
    FUZZ_CHECK(t.data >= data && t.data + t.bytes <= data + size, "tensor '%s' outside the input",
               t.name.c_str());
  WeightStore store;
  if (auto st = file.addTo(store); !st.ok())
    checkError(st, kName);

  // As the weights of a Hugging Face model directory.
  for (const std::string &dir : hfDirs()) {
    scratchFile(fs::path(dir).filename().string() + "/model.safetensors", data, size);
    auto m = loadModel(dir);
    if (!m.ok()) {
      checkError(m.status(), dir);
      continue;
    }
    for (const auto &[name, t] : m->weights.all())
      if (t.numel() <= (1 << 16))
        (void)t.toF32();
  }
  return 0;
}
