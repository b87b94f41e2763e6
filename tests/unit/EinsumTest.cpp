//===- EinsumTest.cpp - einsum equation parsing and shape inference -------===//
#include "dialect/Einsum.h"
#include "gtest/gtest.h"

namespace tessel {
namespace {

std::string parseError(const std::string &text) {
  EinsumEquation eq;
  std::string error;
  EXPECT_FALSE(parseEinsumEquation(text, eq, error)) << text;
  return error;
}

TEST(Einsum, ParsesAttentionEquations) {
  EinsumEquation eq;
  std::string error;
  ASSERT_TRUE(parseEinsumEquation("bqhd, bkhd -> bhqk", eq, error)) << error;
  EXPECT_EQ(eq.inputs, (std::vector<std::string>{"bqhd", "bkhd"}));
  EXPECT_EQ(eq.output, "bhqk");
  std::vector<int64_t> shape;
  ASSERT_TRUE(inferEinsumShape(eq, {{2, 3, 4, 8}, {2, 5, 4, 8}}, shape, error)) << error;
  EXPECT_EQ(shape, (std::vector<int64_t>{2, 4, 3, 5}));
}

TEST(Einsum, ScalarOutputAndDynamicExtents) {
  EinsumEquation eq;
  std::string error;
  ASSERT_TRUE(parseEinsumEquation("i,i->", eq, error));
  std::vector<int64_t> shape;
  ASSERT_TRUE(inferEinsumShape(eq, {{kEinsumDynamic}, {4}}, shape, error)) << error;
  EXPECT_TRUE(shape.empty());
  ASSERT_TRUE(parseEinsumEquation("ij->ji", eq, error));
  ASSERT_TRUE(inferEinsumShape(eq, {{kEinsumDynamic, 3}}, shape, error));
  EXPECT_EQ(shape, (std::vector<int64_t>{3, kEinsumDynamic}));
}

TEST(Einsum, RejectsWhatItDoesNotSupport) {
  EXPECT_NE(parseError("ij,jk").find("must be explicit"), std::string::npos);
  EXPECT_NE(parseError("...ij->ij").find("ellipsis"), std::string::npos);
  EXPECT_NE(parseError("ii->i").find("repeats"), std::string::npos);
  EXPECT_NE(parseError("ij->k").find("does not appear"), std::string::npos);
  EXPECT_NE(parseError("i1->i").find("invalid character"), std::string::npos);
}

TEST(Einsum, ShapeErrorsNameTheOperand) {
  EinsumEquation eq;
  std::string error;
  ASSERT_TRUE(parseEinsumEquation("ij,jk->ik", eq, error));
  std::vector<int64_t> shape;
  EXPECT_FALSE(inferEinsumShape(eq, {{2, 3}}, shape, error));
  EXPECT_NE(error.find("2 input terms but 1 operands"), std::string::npos) << error;
  EXPECT_FALSE(inferEinsumShape(eq, {{2, 3}, {4, 5}}, shape, error));
  EXPECT_NE(error.find("label 'j' has extent 3"), std::string::npos) << error;
  EXPECT_FALSE(inferEinsumShape(eq, {{2, 3, 1}, {3, 5}}, shape, error));
  EXPECT_NE(error.find("has rank 3"), std::string::npos) << error;
}

} // namespace
} // namespace tessel
