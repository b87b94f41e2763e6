//===- InterpreterTest.cpp - running tessel IR on host tensors ------------===//
#include <cmath>
#include <filesystem>

#include "reference/Interpreter.h"
#include "gtest/gtest.h"

namespace tessel::ref {
namespace {

namespace fs = std::filesystem;

constexpr char kSoftmaxOfSum[] = R"mlir(
func.func @main(%a: tensor<2x3xf32>, %b: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %s = tessel.residual_add %a, %b : tensor<2x3xf32>
  %p = tessel.softmax %s {axis = -1 : i64} : tensor<2x3xf32>
  return %p : tensor<2x3xf32>
}
)mlir";

Tensor filled(std::vector<int64_t> shape, float value) {
  Tensor t = Tensor::zerosF32(std::move(shape));
  for (float &v : t.f)
    v = value;
  return t;
}

TEST(Interpreter, RunsAChainOfOps) {
  auto program = ReferenceProgram::parse(kSoftmaxOfSum, "chain.mlir");
  ASSERT_TRUE(program.ok()) << program.status();
  auto out = (*program)->run({filled({2, 3}, 1), filled({2, 3}, 2)});
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), 1u);
  for (float v : (*out)[0].f)
    EXPECT_NEAR(v, 1.0 / 3, 1e-7);
}

TEST(Interpreter, ParseErrorsNameTheSource) {
  auto program = ReferenceProgram::parse("func.func @main( {", "broken.mlir");
  ASSERT_FALSE(program.ok());
  EXPECT_NE(program.status().message().find("broken.mlir"), std::string_view::npos)
      << program.status();
}

TEST(Interpreter, VerifierErrorsAreReported) {
  auto program = ReferenceProgram::parse(R"mlir(
func.func @main(%a: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %p = tessel.softmax %a {axis = 5 : i64} : tensor<2x3xf32>
  return %p : tensor<2x3xf32>
})mlir",
                                         "axis.mlir");
  ASSERT_FALSE(program.ok());
  EXPECT_NE(program.status().message().find("axis 5 is out of range"), std::string_view::npos)
      << program.status();
}

TEST(Interpreter, ArgumentsAreCheckedAgainstTheSignature) {
  auto program = ReferenceProgram::parse(kSoftmaxOfSum, "chain.mlir");
  ASSERT_TRUE(program.ok());
  auto tooFew = (*program)->run({filled({2, 3}, 1)});
  ASSERT_FALSE(tooFew.ok());
  EXPECT_NE(tooFew.status().message().find("takes 2 arguments, got 1"), std::string_view::npos);
  auto wrongShape = (*program)->run({filled({2, 3}, 1), filled({3, 2}, 1)});
  ASSERT_FALSE(wrongShape.ok());
  EXPECT_NE(wrongShape.status().message().find("argument 1 is f32[3, 2]"), std::string_view::npos)
      << wrongShape.status();
  auto missing = (*program)->run({}, "nope");
  EXPECT_FALSE(missing.ok());
}

TEST(Interpreter, RunTimeErrorsPointAtTheOp) {
  auto program = ReferenceProgram::parse(R"mlir(
func.func @main(%t: tensor<4x2xf32>, %ids: tensor<1x2xi64>) -> tensor<1x2x2xf32> {
  %e = tessel.embedding %t[%ids] : tensor<4x2xf32>, tensor<1x2xi64> -> tensor<1x2x2xf32> loc("model.gguf":3:7)
  return %e : tensor<1x2x2xf32>
})mlir",
                                         "ids.mlir");
  ASSERT_TRUE(program.ok()) << program.status();
  Tensor ids = Tensor::zerosI64({1, 2});
  ids.i = {1, 7};
  auto out = (*program)->run({filled({4, 2}, 0), ids});
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("model.gguf"), std::string_view::npos) << out.status();
  EXPECT_NE(out.status().message().find("token id 7"), std::string_view::npos) << out.status();
}

TEST(Interpreter, UnsupportedOpsAreRefused) {
  auto program = ReferenceProgram::parse(R"mlir(
func.func @main(%a: tensor<2xf32>) -> tensor<2xf32> {
  %s = arith.addf %a, %a : tensor<2xf32>
  return %s : tensor<2xf32>
})mlir",
                                         "addf.mlir");
  ASSERT_TRUE(program.ok()) << program.status();
  auto out = (*program)->run({filled({2}, 1)});
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("does not implement this op"), std::string_view::npos);
}

// Every example in examples/ runs end to end on generated inputs and gives
// finite results: the examples are documentation that must not rot.
TEST(Interpreter, EveryExampleRuns) {
  int ran = 0;
  for (const auto &entry : fs::directory_iterator(fs::path(TESSEL_SOURCE_DIR) / "examples")) {
    if (entry.path().extension() != ".mlir")
      continue;
    SCOPED_TRACE(entry.path().string());
    auto program = ReferenceProgram::load(entry.path().string());
    ASSERT_TRUE(program.ok()) << program.status();
    auto specs = (*program)->arguments();
    ASSERT_TRUE(specs.ok()) << specs.status();
    std::vector<Tensor> inputs;
    for (const ArgumentSpec &spec : *specs) {
      std::vector<int64_t> shape = spec.shape;
      for (int64_t &d : shape)
        d = d < 0 ? 1 : d;
      if (spec.dtype == DType::F32) {
        Tensor t = Tensor::zerosF32(shape);
        for (int64_t i = 0; i < t.numel(); ++i)
          t.f[i] = 0.1f * std::sin(0.7f * i);
        inputs.push_back(t);
      } else {
        Tensor t = Tensor::zerosI64(shape, spec.dtype);
        for (int64_t i = 0; i < t.numel(); ++i)
          t.i[i] = spec.dtype == DType::I1 ? 1 : (shape.empty() ? 0 : i % shape.back());
        inputs.push_back(t);
      }
    }
    auto out = (*program)->run(inputs);
    ASSERT_TRUE(out.ok()) << out.status();
    for (const Tensor &t : *out)
      for (float v : t.f)
        ASSERT_TRUE(std::isfinite(v));
    ++ran;
  }
  EXPECT_GE(ran, 1);
}

} // namespace
} // namespace tessel::ref
