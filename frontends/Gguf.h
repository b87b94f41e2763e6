//===- Gguf.h - GGUF v2/v3 reader and writer --------------------*- C++ -*-===//
//
// The reader maps the file, parses the metadata and tensor table with every
// count, length and offset bounds-checked, and hands out tensors that point
// into the map (zero-copy, native type). The writer is used by
// `tessel mkmodel` to produce files llama.cpp loads.
//
// GGUF lists a tensor's dims fastest-first (ne[0] = row length); Tessel
// shapes are outermost-first, so the reader reverses them.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_FRONTENDS_GGUF_H
#define TESSEL_FRONTENDS_GGUF_H

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "frontends/MappedFile.h"
#include "frontends/WeightStore.h"

namespace tessel::frontends {

enum class GgufType : uint32_t {
  U8 = 0,
  I8 = 1,
  U16 = 2,
  I16 = 3,
  U32 = 4,
  I32 = 5,
  F32 = 6,
  Bool = 7,
  String = 8,
  Array = 9,
  U64 = 10,
  I64 = 11,
  F64 = 12,
};

/// One metadata value. Scalars fill one of i/f/b/s; arrays fill the vector
/// that matches their element type (strings, integers or floats).
struct GgufValue {
  GgufType type = GgufType::U32;
  GgufType elemType = GgufType::U32; // arrays only
  int64_t i = 0;
  double f = 0;
  bool b = false;
  std::string s;
  std::vector<std::string> strings;
  std::vector<int64_t> ints;
  std::vector<double> floats;
};

class GgufFile {
public:
  /// Parses `path`; any structural problem is an error naming the file.
  static absl::StatusOr<std::unique_ptr<GgufFile>> open(const std::string &path);
  /// Parses an in-memory image (fuzzing, tests); `name` is used in errors.
  static absl::StatusOr<std::unique_ptr<GgufFile>> parse(std::shared_ptr<const void> owner,
                                                         const uint8_t *data, uint64_t size,
                                                         const std::string &name);

  uint32_t version() const { return version_; }
  const std::string &path() const { return path_; }
  const std::map<std::string, GgufValue> &metadata() const { return metadata_; }
  bool has(const std::string &key) const { return metadata_.count(key) != 0; }

  /// Typed access; errors name the file, the key and the expected type.
  absl::StatusOr<std::string> getString(const std::string &key) const;
  absl::StatusOr<int64_t> getInt(const std::string &key) const;
  absl::StatusOr<double> getFloat(const std::string &key) const;
  absl::StatusOr<bool> getBool(const std::string &key) const;
  absl::StatusOr<const std::vector<std::string> *> getStrings(const std::string &key) const;
  absl::StatusOr<const std::vector<int64_t> *> getInts(const std::string &key) const;
  absl::StatusOr<const std::vector<double> *> getFloats(const std::string &key) const;
  int64_t getIntOr(const std::string &key, int64_t fallback) const;
  double getFloatOr(const std::string &key, double fallback) const;

  /// Tensors in file order, pointing into the mapped file.
  const std::vector<WeightTensor> &tensors() const { return tensors_; }
  /// Adds every tensor to `store` under its GGUF name.
  void addTo(WeightStore &store) const;

private:
  GgufFile() = default;
  absl::Status parseAll(const uint8_t *data, uint64_t size);
  absl::StatusOr<const GgufValue *> find(const std::string &key, const char *expected) const;

  std::string path_;
  std::shared_ptr<const void> owner_;
  uint32_t version_ = 0;
  std::map<std::string, GgufValue> metadata_;
  std::vector<WeightTensor> tensors_;
};

/// Builds a GGUF v3 file in memory and writes it out.
class GgufWriter {
public:
  void addString(const std::string &key, const std::string &v);
  void addU32(const std::string &key, uint32_t v);
  void addI32(const std::string &key, int32_t v);
  void addF32(const std::string &key, float v);
  void addBool(const std::string &key, bool v);
  void addStrings(const std::string &key, const std::vector<std::string> &v);
  void addF32s(const std::string &key, const std::vector<float> &v);
  void addI32s(const std::string &key, const std::vector<int32_t> &v);
  /// Copies a value read by GgufFile, keeping its type (and element type).
  void addValue(const std::string &key, const GgufValue &v);
  /// `shape` outermost-first; `data` already in `type`'s layout.
  void addTensor(const std::string &name, WeightType type, const std::vector<int64_t> &shape,
                 std::vector<uint8_t> data);
  absl::Status write(const std::string &path) const;

private:
  struct Tensor {
    std::string name;
    WeightType type;
    std::vector<int64_t> shape;
    std::vector<uint8_t> data;
  };
  std::vector<uint8_t> kv_; // serialized key/value pairs
  uint64_t kvCount_ = 0;
  std::vector<Tensor> tensors_;
};

} // namespace tessel::frontends

#endif // TESSEL_FRONTENDS_GGUF_H
