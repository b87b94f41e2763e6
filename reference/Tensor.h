//===- Tensor.h - host tensors for the reference evaluator ------*- C++ -*-===//
//
// A deliberately plain tensor: a shape and a flat row-major buffer. The
// reference evaluator trades speed for obviousness; it is the oracle every
// compiled path is checked against, so it must be easy to read and trust.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_REFERENCE_TENSOR_H
#define TESSEL_REFERENCE_TENSOR_H

#include <cstdint>
#include <string>
#include <vector>

namespace tessel::ref {

/// Element types the reference handles. Integers of any width are held as
/// int64 (ids, positions, scalars); i1 masks as 0/1.
/// I8 is raw bytes: stored (quantized) weights the runtime hands to compiled
/// code without a Tensor (codegen::BufferRef); the evaluator never sees it.
enum class DType { F32, I64, I1, I8 };

std::string dtypeName(DType t);

struct Tensor {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::vector<float> f;   // data when dtype == F32
  std::vector<int64_t> i; // data when dtype == I64 or I1

  static Tensor zerosF32(std::vector<int64_t> shape);
  static Tensor zerosI64(std::vector<int64_t> shape, DType dtype = DType::I64);
  static Tensor scalarI64(int64_t value);

  int64_t numel() const;
  int64_t rank() const { return static_cast<int64_t>(shape.size()); }
  int64_t dim(int64_t d) const { return shape[d < 0 ? shape.size() + d : d]; }
  /// "f32[2, 3]"
  std::string describe() const;
};

/// Product of the dims; 1 for a scalar.
/// What every model entry point takes first: token ids and their absolute
/// positions, both i64 [1, count], positions counting from `firstPosition`.
struct TokenInputs {
  Tensor ids, positions;
};
TokenInputs tokenInputs(const int32_t *tokens, int64_t count, int64_t firstPosition = 0);

int64_t numElements(const std::vector<int64_t> &shape);
std::string shapeString(const std::vector<int64_t> &shape);

} // namespace tessel::ref

#endif // TESSEL_REFERENCE_TENSOR_H
