//===- WeightTypes.h - weight element types and (de)quantisation -*- C++ -*-===//
//
// The numeric ids are GGML's, so a GGUF tensor's type maps directly. Weights
// are kept in these native forms; `dequantizeRow` turns any supported type
// into f32 (the reference evaluator and tests use it; kernels work on the
// native blocks).
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_FRONTENDS_WEIGHTTYPES_H
#define TESSEL_FRONTENDS_WEIGHTTYPES_H

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace tessel::frontends {

enum class WeightType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q8_0 = 8,
  BF16 = 30,
};

/// Layout of one type: `blockElems` values are stored in `blockBytes`.
struct WeightTypeInfo {
  WeightType type;
  const char *name; // "f32", "q8_0", ...
  int64_t blockElems;
  int64_t blockBytes;
};

/// The info for a GGML type id, or an error listing the supported types.
absl::StatusOr<WeightTypeInfo> weightTypeInfo(uint32_t ggmlType);
const WeightTypeInfo &weightTypeInfo(WeightType type);
/// "f32", "f16", "bf16", "q8_0", "q4_0" -> type.
absl::StatusOr<WeightType> parseWeightType(const std::string &name);

/// Bytes for `elems` values; fails unless `elems` fills whole blocks.
absl::StatusOr<uint64_t> storageBytes(WeightType type, uint64_t elems);

/// `n` values of `type` at `src` -> f32. `n` must fill whole blocks.
void dequantizeRow(WeightType type, const uint8_t *src, float *dst, int64_t n);
/// f32 -> `type` (round to nearest; q8_0/q4_0 as llama.cpp's reference does).
void quantizeRow(WeightType type, const float *src, uint8_t *dst, int64_t n);

float halfToFloat(uint16_t h);
uint16_t floatToHalf(float f);
float bf16ToFloat(uint16_t h);
uint16_t floatToBf16(float f);

} // namespace tessel::frontends

#endif // TESSEL_FRONTENDS_WEIGHTTYPES_H
