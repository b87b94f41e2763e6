//===- Npy.h - NumPy .npy arrays: read and write ----------------*- C++ -*-===//
//
// The .npy format (numpy.lib.format), versions 1.0 to 3.0, for the element
// types Tessel's tensors have: little-endian float32 ('<f4'), int64 ('<i8')
// and bool ('|b1', one byte each), C order only. It is how `tessel eval
// --inputs/--outputs` exchanges tensors with a script (numpy.save and
// numpy.load read and write these files as they are).
//
// The reader is a parser of untrusted bytes: every length is checked
// against the input before it is used, the header dict is parsed (not
// evaluated) and must hold exactly 'descr', 'fortran_order' and 'shape',
// and the data must be exactly as long as the shape says. Each error is one
// line naming the source and the field (tests/fuzz/npy_fuzzer.cpp).
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_SUPPORT_NPY_H
#define TESSEL_SUPPORT_NPY_H

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tessel::support {

enum class NpyType { F32, I64, Bool };

/// "float32", "int64", "bool".
const char *npyTypeName(NpyType type);

/// A C-order array: `f32` holds the elements of an F32 array, `i64` those
/// of an I64 or Bool array (bools as 0/1). A rank-0 shape is a scalar.
struct NpyArray {
  NpyType type = NpyType::F32;
  std::vector<int64_t> shape;
  std::vector<float> f32;
  std::vector<int64_t> i64;

  int64_t numel() const;
};

/// The largest rank and file header the reader accepts (numpy writes far
/// smaller ones).
constexpr size_t kNpyMaxRank = 32;
constexpr size_t kNpyMaxHeaderBytes = 1 << 20;

/// Parses a whole .npy file's bytes; `source` names it in errors.
absl::StatusOr<NpyArray> parseNpy(std::string_view bytes, std::string_view source);

/// Reads and parses the file at `path`.
absl::StatusOr<NpyArray> readNpy(const std::string &path);

/// The .npy (version 1.0) bytes of `array`, whose data must match its
/// shape; numpy.load reads them.
absl::StatusOr<std::string> serializeNpy(const NpyArray &array);

/// Writes serializeNpy(array) to `path`.
absl::Status writeNpy(const std::string &path, const NpyArray &array);

} // namespace tessel::support

#endif // TESSEL_SUPPORT_NPY_H
