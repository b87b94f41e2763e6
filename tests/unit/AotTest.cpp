//===- AotTest.cpp - ahead-of-time packages and the compile cache ---------===//
//
// A model compiled ahead of time (shared library + manifest) and loaded back
// computes what the JIT computes: the same logits, bit for bit, through
// prefill and several decode steps. The compile cache misses once, then
// hits. Damaged packages (bad JSON, missing fields or library, another CPU,
// another Tessel build, another model or context) fail with one message
// saying what is wrong.
//
//===----------------------------------------------------------------------===//
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "ScratchDirTest.h"
#include "codegen/Aot.h"
#include "codegen/Jit.h"
#include "frontends/ModelLoader.h"
#include "nlohmann/json.hpp"
#include "runtime/Session.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/TestPaths.h"

namespace tessel {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using ::testing::HasSubstr;

const fs::path kTinyLlama = fs::path(TESSEL_SOURCE_DIR) / "examples" / "models" / "tiny-llama.json";
const fs::path kTinyMistral =
    fs::path(TESSEL_SOURCE_DIR) / "examples" / "models" / "tiny-mistral.json";
using testing::kStories;

frontends::LoadedModel load(const fs::path &path) {
  auto m = frontends::loadModel(path.string());
  EXPECT_TRUE(m.ok()) << m.status();
  return std::move(*m);
}

std::unique_ptr<runtime::Session> session(const fs::path &model,
                                          const runtime::SessionOptions &options = {}) {
  auto s = runtime::Session::create(load(model), options);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? std::move(*s) : nullptr;
}

// Prefill `prompt`, then decode `steps` greedy tokens; every step's logits.
std::vector<std::vector<float>> generate(runtime::Session &s, const std::vector<int32_t> &prompt,
                                         int steps) {
  std::vector<std::vector<float>> all;
  auto logits = s.append(prompt);
  for (int i = 0; logits.ok(); ++i) {
    all.push_back(*logits);
    if (i == steps)
      break;
    int32_t next =
        static_cast<int32_t>(std::max_element(logits->begin(), logits->end()) - logits->begin());
    logits = s.append({next});
  }
  EXPECT_TRUE(logits.ok()) << logits.status();
  return all;
}

// Bit for bit: both paths lower with the same function, run the same -O3
// and generate code for the same CPU, features and codegen level; only the
// relocation model differs, which moves no arithmetic.
void expectSameLogits(const std::vector<std::vector<float>> &got,
                      const std::vector<std::vector<float>> &want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t step = 0; step < want.size(); ++step) {
    ASSERT_EQ(got[step].size(), want[step].size());
    for (size_t i = 0; i < want[step].size(); ++i)
      ASSERT_EQ(got[step][i], want[step][i]) << "step " << step << ", logit " << i;
  }
}

std::string readText(const fs::path &p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class AotTest : public ScratchDirTest {
protected:
  // Compiles tiny-llama into DIR (once per test) and returns DIR.
  std::string compileTinyLlama(const runtime::SessionOptions &options = {}) {
    std::string dir = path("tiny.aot");
    auto st = runtime::Session::compileAot(load(kTinyLlama), options, dir);
    EXPECT_TRUE(st.ok()) << st;
    return dir;
  }

  // Edits DIR's manifest.
  void editManifest(const std::string &dir, const std::function<void(json &)> &edit) {
    fs::path p = fs::path(dir) / codegen::kManifestFile;
    json j = json::parse(readText(p));
    edit(j);
    std::ofstream(p) << j.dump(2);
  }

  // The error Session::create reports for DIR (and the model), or "".
  std::string openError(const std::string &dir, const fs::path &model = kTinyLlama,
                        int64_t context = 0) {
    runtime::SessionOptions options;
    options.aotDir = dir;
    options.context = context;
    auto s = runtime::Session::create(load(model), options);
    return s.ok() ? "" : std::string(s.status().message());
  }
};

TEST_F(AotTest, PackageRunsLikeTheJit) {
  for (const fs::path &model : {kTinyLlama, kStories}) {
    SCOPED_TRACE(model.string());
    std::string dir = path(model.stem().string());
    ASSERT_TRUE(runtime::Session::compileAot(load(model), {}, dir).ok());
    EXPECT_TRUE(fs::exists(fs::path(dir) / "model.so"));
    runtime::SessionOptions aot;
    aot.aotDir = dir;
    auto fromPackage = session(model, aot);
    auto jit = session(model);
    ASSERT_TRUE(fromPackage && jit);
    EXPECT_EQ(fromPackage->codeOrigin(), "AOT: " + dir);
    EXPECT_EQ(jit->codeOrigin(), "JIT");
    EXPECT_EQ(fromPackage->context(), jit->context());
    std::vector<int32_t> prompt = {1, 15, 27, 3, 99};
    expectSameLogits(generate(*fromPackage, prompt, 6), generate(*jit, prompt, 6));
    // And again from the start: the caches are overwritten, not appended to.
    fromPackage->reset();
    jit->reset();
    expectSameLogits(generate(*fromPackage, {1, 7}, 2), generate(*jit, {1, 7}, 2));
  }
}

TEST_F(AotTest, ManifestDescribesThePackage) {
  runtime::SessionOptions options;
  options.context = 48;
  std::string dir = compileTinyLlama(options);
  auto manifest = codegen::readAotManifest(dir);
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  EXPECT_EQ(manifest->library, "model.so");
  EXPECT_EQ(manifest->target.name, codegen::hostCpu().name);
  EXPECT_EQ(manifest->tesselBuild, codegen::tesselBuildId());
  EXPECT_EQ(manifest->pipeline, codegen::pipelineText(codegen::cpuPipeline()));
  ASSERT_EQ(manifest->functions.count("step"), 1u);
  const codegen::FunctionSignature &step = manifest->functions.at("step");
  EXPECT_FALSE(step.weights.empty());
  EXPECT_EQ(step.weights[0], "token_embd.weight");
  EXPECT_EQ(step.results.size(), 1u); // the caches are updated in place
  json model = json::parse(manifest->metadataJson);
  EXPECT_EQ(model["context"], 48);
  EXPECT_EQ(model["entry"], "step");
  EXPECT_EQ(fs::path(model["path"].get<std::string>()),
            fs::absolute(kTinyLlama).lexically_normal());
  auto where = runtime::Session::aotModelPath(dir);
  ASSERT_TRUE(where.ok()) << where.status();
  EXPECT_EQ(fs::path(*where), fs::absolute(kTinyLlama).lexically_normal());
  // The package's context is the session's unless asked otherwise.
  runtime::SessionOptions open;
  open.aotDir = dir;
  auto s = session(kTinyLlama, open);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->context(), 48);
}

TEST_F(AotTest, CompileCacheMissesThenHits) {
  runtime::SessionOptions cached;
  cached.cacheDir = path("cache");
  auto first = session(kTinyLlama, cached);
  ASSERT_TRUE(first);
  EXPECT_THAT(first->codeOrigin(), HasSubstr("cache miss, saved to " + cached.cacheDir));
  EXPECT_EQ(first->cacheNote(), "");
  auto second = session(kTinyLlama, cached);
  ASSERT_TRUE(second);
  EXPECT_THAT(second->codeOrigin(), HasSubstr("cache hit: " + cached.cacheDir));
  auto jit = session(kTinyLlama);
  std::vector<int32_t> prompt = {1, 2, 3};
  auto want = generate(*jit, prompt, 3);
  expectSameLogits(generate(*first, prompt, 3), want);
  expectSameLogits(generate(*second, prompt, 3), want);

  // Options that change the code change the key.
  runtime::SessionOptions shorter = cached;
  shorter.context = 16;
  auto third = session(kTinyLlama, shorter);
  ASSERT_TRUE(third);
  EXPECT_THAT(third->codeOrigin(), HasSubstr("cache miss"));
  int entries = 0;
  for (const auto &e : fs::directory_iterator(cached.cacheDir))
    entries += e.path().filename().string()[0] != '.';
  EXPECT_EQ(entries, 2);

  // A damaged entry is replaced, with a note saying so.
  std::string entry = second->codeOrigin().substr(std::string("cache hit: ").size());
  std::ofstream(fs::path(entry) / "manifest.json") << "{";
  auto repaired = session(kTinyLlama, cached);
  ASSERT_TRUE(repaired);
  EXPECT_THAT(repaired->codeOrigin(), HasSubstr("cache miss"));
  EXPECT_THAT(repaired->cacheNote(), HasSubstr("not valid JSON"));
  auto again = session(kTinyLlama, cached);
  ASSERT_TRUE(again);
  EXPECT_THAT(again->codeOrigin(), HasSubstr("cache hit"));
}

TEST_F(AotTest, CacheThatCannotBeWrittenFallsBackToTheJit) {
  std::string file = writeBytes("not-a-directory", "x");
  runtime::SessionOptions cached;
  cached.cacheDir = file;
  auto s = session(kTinyLlama, cached);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->codeOrigin(), "JIT");
  EXPECT_THAT(s->cacheNote(), HasSubstr("cannot write to " + file));
}

TEST_F(AotTest, DamagedPackagesFailClearly) {
  std::string dir = compileTinyLlama();
  std::string manifestText = readText(fs::path(dir) / "manifest.json");
  auto restore = [&] { std::ofstream(fs::path(dir) / "manifest.json") << manifestText; };
  ASSERT_EQ(openError(dir), "");

  std::ofstream(fs::path(dir) / "manifest.json") << "{\"format\": ";
  EXPECT_THAT(openError(dir), HasSubstr("manifest.json is not valid JSON"));

  restore();
  editManifest(dir, [](json &j) { j.erase("functions"); });
  EXPECT_THAT(openError(dir), HasSubstr("no field manifest.functions"));

  restore();
  editManifest(dir, [](json &j) { j["functions"]["step"]["args"][0]["dtype"] = "f16"; });
  EXPECT_THAT(openError(dir), HasSubstr("manifest.functions.step.args[0].dtype is 'f16'"));

  restore();
  editManifest(dir, [](json &j) { j["library"] = "../elsewhere.so"; });
  EXPECT_THAT(openError(dir), HasSubstr("manifest.library must name a file in"));

  restore();
  editManifest(dir, [](json &j) { j["format_version"] = 99; });
  EXPECT_THAT(openError(dir), HasSubstr("format version 99"));

  restore();
  editManifest(dir, [](json &j) {
    j["target"]["cpu"] = "future-cpu";
    j["target"]["features"].push_back("zz-teleport");
    j["target"]["features"].push_back("zz-warp");
  });
  EXPECT_THAT(openError(dir),
              HasSubstr("was compiled for a future-cpu CPU; this " + codegen::hostCpu().name +
                        " CPU lacks zz-teleport, zz-warp"));

  restore();
  editManifest(dir, [](json &j) { j["tessel_build"] = "0123"; });
  EXPECT_THAT(openError(dir), HasSubstr("compiled by another build of Tessel (0123"));

  restore();
  editManifest(dir, [](json &j) { j["imports"].push_back("_mlir_ciface_tessel_teleport_f32"); });
  EXPECT_THAT(openError(dir),
              HasSubstr("calls _mlir_ciface_tessel_teleport_f32, which this build"));

  restore();
  // Another model, and another context, than the one compiled.
  EXPECT_THAT(openError(dir, kTinyMistral), HasSubstr("the IR differs"));
  EXPECT_THAT(openError(dir, kTinyLlama, 16),
              HasSubstr("was compiled for a context of 512 tokens, not 16"));

  fs::remove(fs::path(dir) / "model.so");
  EXPECT_THAT(openError(dir), HasSubstr("model.so is missing"));

  fs::remove(fs::path(dir) / "manifest.json");
  EXPECT_THAT(openError(dir), HasSubstr("has no manifest.json"));
  EXPECT_THAT(openError(path("nowhere")), HasSubstr("is not a directory"));
}

TEST_F(AotTest, PackageFindsAModelShippedInside) {
  // A package moved with its model: the recorded path is gone, the copy in
  // the directory is used.
  fs::path model = path("moved-llama.json");
  fs::copy_file(kTinyLlama, model);
  std::string dir = path("pkg");
  ASSERT_TRUE(runtime::Session::compileAot(load(model), {}, dir).ok());
  fs::rename(model, fs::path(dir) / "moved-llama.json");
  auto where = runtime::Session::aotModelPath(dir);
  ASSERT_TRUE(where.ok()) << where.status();
  EXPECT_EQ(fs::path(*where), fs::path(dir) / "moved-llama.json");
  fs::remove(fs::path(dir) / "moved-llama.json");
  where = runtime::Session::aotModelPath(dir);
  ASSERT_FALSE(where.ok());
  EXPECT_THAT(std::string(where.status().message()), HasSubstr("which is gone"));
}

TEST_F(AotTest, ModuleLevelRoundTrip) {
  // Any module, not just models: dynamic shapes cross the library's C
  // interface as they cross the JIT's; the caller's metadata is kept.
  const char *kModule = R"mlir(
func.func @t(%a: tensor<?x3xf32>) -> tensor<3x?xf32> {
  %s = tessel.einsum "ij->ji" %a : (tensor<?x3xf32>) -> tensor<3x?xf32>
  return %s : tensor<3x?xf32>
})mlir";
  std::string dir = path("einsum");
  auto written = codegen::compileAot(kModule, "t.mlir", dir, R"({"note": "hi"})");
  ASSERT_TRUE(written.ok()) << written.status();
  auto manifest = codegen::readAotManifest(dir);
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  EXPECT_EQ(manifest->key, codegen::aotKey(kModule, codegen::cpuPipeline()));
  EXPECT_EQ(json::parse(manifest->metadataJson)["note"], "hi");
  auto module = codegen::loadAot(dir, *manifest);
  ASSERT_TRUE(module.ok()) << module.status();
  ref::Tensor a = ref::Tensor::zerosF32({2, 3});
  a.f = {1, 2, 3, 4, 5, 6};
  auto out = (*module)->run("t", {a});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)[0].shape, (std::vector<int64_t>{3, 2}));
  EXPECT_EQ((*out)[0].f, (std::vector<float>{1, 4, 2, 5, 3, 6}));
  EXPECT_FALSE((*module)->run("nope", {a}).ok());

  auto bad = codegen::compileAot("func.func @f(", "bad.mlir", path("bad"));
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("bad.mlir"));
}

} // namespace
} // namespace tessel
