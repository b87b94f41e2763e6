//===- Einsum.h - parse and check einsum equations --------------*- C++ -*-===//
//
// Shared by the einsum verifier, the reference evaluator and the two
// lowerings (tessel-lower-einsum, tessel-lower-to-kernels), so that all agree
// on what an equation means.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_DIALECT_EINSUM_H
#define TESSEL_DIALECT_EINSUM_H

#include <climits>
#include <cstdint>
#include <string>
#include <vector>

namespace tessel {

/// Marks an extent that is not known until run time; equal to
/// mlir::ShapedType::kDynamic, kept here so this file needs no MLIR header.
constexpr int64_t kEinsumDynamic = INT64_MIN;

/// A parsed explicit einsum equation such as "bqhd,bkhd->bhqk".
struct EinsumEquation {
  std::vector<std::string> inputs; // one label string per input term
  std::string output;
};

/// Parses `text`; on failure returns false and sets `error` to a sentence
/// that says what is wrong with the equation.
bool parseEinsumEquation(const std::string &text, EinsumEquation &eq, std::string &error);

/// Checks the equation against the operand shapes (kDynamic = unknown) and
/// computes the result shape. On failure returns false and sets `error`.
bool inferEinsumShape(const EinsumEquation &eq,
                      const std::vector<std::vector<int64_t>> &inputShapes,
                      std::vector<int64_t> &resultShape, std::string &error);

/// The labels of a two-operand contraction by role: `batch` (in both
/// inputs and the output), `m` (first input and output only), `k` (both
/// inputs, summed), `n` (second input and output only); batch, m and k in
/// the first input's order, n in the second's.
struct ContractionLabels {
  std::string batch, m, k, n;
};

/// Splits a two-operand equation's labels by role; false when it is not a
/// plain contraction (not two inputs, or a label summed inside one input).
/// Shared by tessel-lower-einsum (batch_matmul) and tessel-lower-to-kernels
/// (the batched GEMM kernel).
bool classifyContraction(const EinsumEquation &eq, ContractionLabels &labels);

} // namespace tessel

#endif // TESSEL_DIALECT_EINSUM_H
