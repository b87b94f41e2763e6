//===- Tensor.cpp ---------------------------------------------------------===//
#include "reference/Tensor.h"

namespace tessel::ref {

std::string dtypeName(DType t) {
  switch (t) {
  case DType::F32:
    return "f32";
  case DType::I64:
    return "i64";
  case DType::I1:
    return "i1";
  case DType::I8:
    return "i8";
  }
  return "?";
}

TokenInputs tokenInputs(const int32_t *tokens, int64_t count, int64_t firstPosition) {
  TokenInputs in{Tensor::zerosI64({1, count}), Tensor::zerosI64({1, count})};
  for (int64_t i = 0; i < count; ++i) {
    in.ids.i[i] = tokens[i];
    in.positions.i[i] = firstPosition + i;
  }
  return in;
}

int64_t numElements(const std::vector<int64_t> &shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

std::string shapeString(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

Tensor Tensor::zerosF32(std::vector<int64_t> shape) {
  Tensor t;
  t.dtype = DType::F32;
  t.f.assign(numElements(shape), 0.0f);
  t.shape = std::move(shape);
  return t;
}

Tensor Tensor::zerosI64(std::vector<int64_t> shape, DType dtype) {
  Tensor t;
  t.dtype = dtype;
  t.i.assign(numElements(shape), 0);
  t.shape = std::move(shape);
  return t;
}

Tensor Tensor::scalarI64(int64_t value) {
  Tensor t = zerosI64({});
  t.i[0] = value;
  return t;
}

int64_t Tensor::numel() const { return numElements(shape); }

std::string Tensor::describe() const { return dtypeName(dtype) + shapeString(shape); }

} // namespace tessel::ref
