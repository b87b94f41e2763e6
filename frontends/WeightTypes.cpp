//===- WeightTypes.cpp ----------------------------------------------------===//
#include "frontends/WeightTypes.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace tessel::frontends {
namespace {

// Q8_0: one f16 scale + 32 int8; Q4_0: one f16 scale + 32 4-bit values
// (stored offset by 8; byte j holds value j in its low nibble and value
// j + 16 in its high nibble).
constexpr int64_t kQBlock = 32;

const WeightTypeInfo kTypes[] = {
    {WeightType::F32, "f32", 1, 4},
    {WeightType::F16, "f16", 1, 2},
    {WeightType::BF16, "bf16", 1, 2},
    {WeightType::Q8_0, "q8_0", kQBlock, 2 + kQBlock},
    {WeightType::Q4_0, "q4_0", kQBlock, 2 + kQBlock / 2},
};

uint16_t load16(const uint8_t *p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
void store16(uint8_t *p, uint16_t v) { std::memcpy(p, &v, 2); }

} // namespace

absl::StatusOr<WeightTypeInfo> weightTypeInfo(uint32_t ggmlType) {
  for (const auto &t : kTypes)
    if (static_cast<uint32_t>(t.type) == ggmlType)
      return t;
  return absl::UnimplementedError(absl::StrCat(
      "weight type ", ggmlType, " is not supported; supported: f32, f16, bf16, q8_0, q4_0"));
}

const WeightTypeInfo &weightTypeInfo(WeightType type) {
  for (const auto &t : kTypes)
    if (t.type == type)
      return t;
  return kTypes[0];
}

absl::StatusOr<WeightType> parseWeightType(const std::string &name) {
  for (const auto &t : kTypes)
    if (name == t.name)
      return t.type;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown weight type '", name, "'; expected f32, f16, bf16, q8_0 or q4_0"));
}

absl::StatusOr<uint64_t> storageBytes(WeightType type, uint64_t elems) {
  const auto &info = weightTypeInfo(type);
  if (elems % info.blockElems != 0)
    return absl::InvalidArgumentError(absl::StrCat(elems, " values do not fill whole ", info.name,
                                                   " blocks of ", info.blockElems));
  return elems / info.blockElems * info.blockBytes;
}

float halfToFloat(uint16_t h) {
  uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else { // subnormal: renormalise
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400) == 0);
      bits = sign | static_cast<uint32_t>(127 - 15 - e) << 23 | (mant & 0x3ff) << 13;
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | mant << 13;
  } else {
    bits = sign | (exp + 127 - 15) << 23 | mant << 13;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t floatToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u)
    return sign | 0x7c00u | (absx > 0x7f800000u ? 0x200u : 0);
  if (absx >= 0x477ff000u)
    return sign | 0x7c00u;  // rounds past the largest half
  if (absx < 0x38800000u) { // half subnormal or zero
    float a;
    std::memcpy(&a, &absx, 4);
    return sign | static_cast<uint16_t>(std::nearbyint(a * 16777216.0f)); // a / 2^-24
  }
  // Normal: round the 13 dropped mantissa bits to nearest even.
  uint32_t rounded = absx + 0xfffu + ((absx >> 13) & 1u);
  return sign | static_cast<uint16_t>((rounded - (112u << 23)) >> 13);
}

float bf16ToFloat(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t floatToBf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u)
    return static_cast<uint16_t>((x >> 16) | 0x40); // NaN
  return static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

void dequantizeRow(WeightType type, const uint8_t *src, float *dst, int64_t n) {
  if (n <= 0)
    return; // empty tensors may have null buffers
  switch (type) {
  case WeightType::F32:
    std::memcpy(dst, src, n * 4);
    return;
  case WeightType::F16:
    for (int64_t i = 0; i < n; ++i)
      dst[i] = halfToFloat(load16(src + 2 * i));
    return;
  case WeightType::BF16:
    for (int64_t i = 0; i < n; ++i)
      dst[i] = bf16ToFloat(load16(src + 2 * i));
    return;
  case WeightType::Q8_0:
    for (int64_t b = 0; b < n / kQBlock; ++b) {
      const uint8_t *blk = src + b * (2 + kQBlock);
      float d = halfToFloat(load16(blk));
      for (int64_t j = 0; j < kQBlock; ++j)
        dst[b * kQBlock + j] = d * static_cast<int8_t>(blk[2 + j]);
    }
    return;
  case WeightType::Q4_0:
    for (int64_t b = 0; b < n / kQBlock; ++b) {
      const uint8_t *blk = src + b * (2 + kQBlock / 2);
      float d = halfToFloat(load16(blk));
      for (int64_t j = 0; j < kQBlock / 2; ++j) {
        dst[b * kQBlock + j] = d * ((blk[2 + j] & 0x0f) - 8);
        dst[b * kQBlock + j + kQBlock / 2] = d * ((blk[2 + j] >> 4) - 8);
      }
    }
    return;
  }
}

void quantizeRow(WeightType type, const float *src, uint8_t *dst, int64_t n) {
  if (n <= 0)
    return;
  switch (type) {
  case WeightType::F32:
    std::memcpy(dst, src, n * 4);
    return;
  case WeightType::F16:
    for (int64_t i = 0; i < n; ++i)
      store16(dst + 2 * i, floatToHalf(src[i]));
    return;
  case WeightType::BF16:
    for (int64_t i = 0; i < n; ++i)
      store16(dst + 2 * i, floatToBf16(src[i]));
    return;
  case WeightType::Q8_0:
    for (int64_t b = 0; b < n / kQBlock; ++b) {
      const float *x = src + b * kQBlock;
      uint8_t *blk = dst + b * (2 + kQBlock);
      float amax = 0;
      for (int64_t j = 0; j < kQBlock; ++j)
        amax = std::max(amax, std::fabs(x[j]));
      float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
      store16(blk, floatToHalf(d));
      for (int64_t j = 0; j < kQBlock; ++j)
        blk[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(std::nearbyint(x[j] * id)));
    }
    return;
  case WeightType::Q4_0:
    for (int64_t b = 0; b < n / kQBlock; ++b) {
      const float *x = src + b * kQBlock;
      uint8_t *blk = dst + b * (2 + kQBlock / 2);
      // The value of largest magnitude maps to -8, so its sign picks d's.
      float amax = 0, signedMax = 0;
      for (int64_t j = 0; j < kQBlock; ++j)
        if (std::fabs(x[j]) > amax)
          amax = std::fabs(x[j]), signedMax = x[j];
      float d = signedMax / -8.0f, id = d ? 1.0f / d : 0.0f;
      store16(blk, floatToHalf(d));
      for (int64_t j = 0; j < kQBlock / 2; ++j) {
        auto q = [&](float v) {
          return static_cast<uint8_t>(std::min(15.0f, std::floor(v * id + 8.5f)));
        };
        blk[2 + j] = q(x[j]) | q(x[j + kQBlock / 2]) << 4;
      }
    }
    return;
  }
}

} // namespace tessel::frontends
