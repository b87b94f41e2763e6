//===- JitTest.cpp - compiled code vs the PyTorch goldens -----------------===//
//
// The golden cases the reference evaluator is checked against, compiled by
// the CPU pipeline (tessel passes -> bufferization -> loops -> LLVM -> ORC
// JIT) and run: for the ops the pipeline lowers so far (einsum).
//
//===----------------------------------------------------------------------===//
#include <filesystem>
#include <fstream>

#include "codegen/Jit.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace tessel {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

const fs::path kGoldenDir = fs::path(TESSEL_SOURCE_DIR) / "tests" / "golden" / "data";

ref::Tensor fromJson(const json &j) {
  ref::Tensor t;
  t.shape = j.at("shape").get<std::vector<int64_t>>();
  if (j.at("dtype") == "f32") {
    t.f = j.at("data").get<std::vector<float>>();
  } else {
    t.dtype = ref::DType::I64;
    t.i = j.at("data").get<std::vector<int64_t>>();
  }
  return t;
}

std::vector<std::string> casesOf(const std::string &family) {
  std::vector<std::string> names;
  for (const auto &e : fs::directory_iterator(kGoldenDir)) {
    std::ifstream in(e.path());
    if (json::parse(in).at("family") == family) names.push_back(e.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

class JitGoldenTest : public ::testing::TestWithParam<std::string> {};

// Accumulation is f32 in compiled code (f64 in the goldens); contractions
// here are at most 16 long, so 1e-5 relative + 1e-5 absolute is ample.
TEST_P(JitGoldenTest, CompiledEinsumMatchesPyTorch) {
  std::ifstream in(kGoldenDir / (GetParam() + ".json"));
  json c = json::parse(in);
  auto jit = codegen::JitModule::compile(c.at("mlir").get<std::string>(), GetParam());
  ASSERT_TRUE(jit.ok()) << jit.status();
  std::vector<ref::Tensor> inputs;
  for (const json &a : c.at("inputs")) inputs.push_back(fromJson(a));
  auto out = (*jit)->run("main", inputs);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), c.at("outputs").size());
  for (size_t r = 0; r < out->size(); ++r) {
    ref::Tensor want = fromJson(c.at("outputs")[r]);
    ASSERT_EQ((*out)[r].shape, want.shape);
    for (size_t i = 0; i < want.f.size(); ++i)
      ASSERT_NEAR((*out)[r].f[i], want.f[i], 1e-5 + 1e-5 * std::abs(want.f[i])) << "at " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Einsum, JitGoldenTest, ::testing::ValuesIn(casesOf("einsum")),
                         [](const auto &info) { return info.param; });

TEST(Jit, DynamicShapesAndErrors) {
  auto jit = codegen::JitModule::compile(R"mlir(
func.func @t(%a: tensor<?x3xf32>) -> tensor<3x?xf32> {
  %s = tessel.einsum "ij->ji" %a : (tensor<?x3xf32>) -> tensor<3x?xf32>
  return %s : tensor<3x?xf32>
})mlir", "dyn.mlir");
  ASSERT_TRUE(jit.ok()) << jit.status();
  ref::Tensor a = ref::Tensor::zerosF32({2, 3});
  a.f = {1, 2, 3, 4, 5, 6};
  auto out = (*jit)->run("t", {a});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)[0].shape, (std::vector<int64_t>{3, 2}));
  EXPECT_EQ((*out)[0].f, (std::vector<float>{1, 4, 2, 5, 3, 6}));
  EXPECT_FALSE((*jit)->run("t", {}).ok());
  EXPECT_FALSE((*jit)->run("nope", {a}).ok());
  auto bad = codegen::JitModule::compile("func.func @f(", "bad.mlir");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("bad.mlir"), std::string_view::npos);
}

}  // namespace
}  // namespace tessel
