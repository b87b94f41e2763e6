//===- Safetensors.h - safetensors reader and writer ------------*- C++ -*-===//
//
// The format (huggingface/safetensors):
//
//   [8 bytes]  N, the header length, unsigned 64-bit little-endian
//   [N bytes]  a JSON object, UTF-8, starting with '{', optionally padded at
//              the end with spaces:
//                { "__metadata__": { "key": "value", ... },            (optional)
//                  "name": { "dtype": "F32", "shape": [2, 3],
//                            "data_offsets": [begin, end] }, ... }
//   [rest]     the byte buffer; data_offsets are relative to its start.
//              Tensors are little-endian, row-major, and together cover the
//              buffer exactly (no overlaps, no holes, nothing after the last).
//
// The reader maps the file once and hands out tensors that point into the
// map (zero-copy). Every length, offset, dtype and shape is checked before
// use; anything wrong is one error naming the file and the tensor or field.
// Tensors of any dtype are kept in the table (`entries()`) so a caller can
// inspect them; only F32/F16/BF16 become weights (`tensors()`), and asking for
// another dtype as a weight says so ("dtype I64 is not supported for weights").
//
// A sharded model is `model.safetensors.index.json`
// ({"metadata": {...}, "weight_map": {tensor: shard file}}) plus the shards it
// names, in the same directory. `SafetensorsModel` opens either form and
// cross-checks the index against the shards.
//
// The writer produces files the reference implementation reads: header
// padded to a multiple of 8, tensors laid out contiguously by descending
// element size (so each is aligned to its element size), and
// "__metadata__": {"format": "pt"} unless the caller sets "format" itself
// (transformers refuses shards whose metadata lacks it).
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_FRONTENDS_SAFETENSORS_H
#define TESSEL_FRONTENDS_SAFETENSORS_H

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "frontends/WeightStore.h"
#include "frontends/WeightTypes.h"

namespace tessel::frontends {

/// Largest header the reader accepts (the reference implementation's limit).
inline constexpr uint64_t kSafetensorsMaxHeaderBytes = 100'000'000;

/// Bits per element of a safetensors dtype ("F32" -> 32, "F4" -> 4), or 0 if
/// the name is not a safetensors dtype.
int safetensorsDtypeBits(const std::string &dtype);
/// "F32"/"F16"/"BF16" -> the weight type; any other dtype is an error
/// ("dtype I64 is not supported for weights"), the caller adds file and tensor.
absl::StatusOr<WeightType> weightTypeFromSafetensorsDtype(const std::string &dtype);
/// F32/F16/BF16 -> "F32"/"F16"/"BF16"; quantized types have no safetensors dtype.
absl::StatusOr<std::string> safetensorsDtypeFromWeightType(WeightType type);

/// One tensor of a safetensors header, whatever its dtype.
struct SafetensorsEntry {
  std::string name;
  std::string dtype;          // as written in the file: "F32", "I64", "F8_E4M3", ...
  std::vector<int64_t> shape; // outermost first
  uint64_t begin = 0;         // data_offsets, relative to the byte buffer
  uint64_t end = 0;
  const uint8_t *data = nullptr; // inside the file's mapping
  uint64_t bytes() const { return end - begin; }
};

/// One .safetensors file.
class SafetensorsFile {
public:
  /// Maps and parses `path`; any problem is an error naming the file.
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> open(const std::string &path);
  /// Parses an in-memory image (fuzzing, tests). `owner` keeps `data` alive
  /// and is shared by every tensor; `name` is used in errors.
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> parse(std::shared_ptr<const void> owner,
                                                                const uint8_t *data, uint64_t size,
                                                                const std::string &name);

  const std::string &path() const { return path_; }
  /// "__metadata__" (empty if the file has none).
  const std::map<std::string, std::string> &metadata() const { return metadata_; }
  /// Every tensor, in byte-buffer order.
  const std::vector<SafetensorsEntry> &entries() const { return entries_; }
  /// The entry called `name`, or nullptr.
  const SafetensorsEntry *find(const std::string &name) const;
  /// The tensors with a weight dtype (F32, F16, BF16), in byte-buffer order,
  /// pointing into the mapping.
  const std::vector<WeightTensor> &tensors() const { return tensors_; }
  /// `name` as a weight; errors name the file and the tensor (missing, or a
  /// dtype that is not a weight type).
  absl::StatusOr<WeightTensor> weight(const std::string &name) const;
  /// Adds tensors() to `store`; a name already in `store` is an error naming
  /// both files. Entries with non-weight dtypes are left out (see entries()).
  absl::Status addTo(WeightStore &store) const;
  /// Offset of the byte buffer in the file (8 + header length).
  uint64_t dataOffset() const { return dataOffset_; }

private:
  SafetensorsFile() = default;
  absl::Status parseAll(const uint8_t *data, uint64_t size);

  std::string path_;
  std::shared_ptr<const void> owner_;
  uint64_t dataOffset_ = 0;
  std::map<std::string, std::string> metadata_;
  std::vector<SafetensorsEntry> entries_;
  std::map<std::string, size_t> byName_; // name -> index in entries_
  std::vector<WeightTensor> tensors_;
};

/// A whole model: one .safetensors file, or an index json and its shards.
class SafetensorsModel {
public:
  /// `pathOrDir` is a .safetensors file, an index json, or a directory holding
  /// model.safetensors, model.safetensors.index.json, or exactly one of
  /// *.safetensors.index.json / *.safetensors. Shards are cross-checked with
  /// the index: a missing shard, a tensor missing from the shard the index
  /// names, or a tensor present in two shards is an error.
  static absl::StatusOr<std::unique_ptr<SafetensorsModel>> open(const std::string &pathOrDir);

  /// The .safetensors file or the index json that was opened.
  const std::string &source() const { return source_; }
  bool sharded() const { return sharded_; }
  /// The files, in shard order (one when not sharded).
  const std::vector<std::unique_ptr<SafetensorsFile>> &files() const { return files_; }
  /// The index's "weight_map" (empty when not sharded).
  const std::map<std::string, std::string> &weightMap() const { return weightMap_; }
  /// The file holding `name`, or nullptr.
  const SafetensorsFile *fileOf(const std::string &name) const;
  /// `name` as a weight; errors name the tensor and the file (or the model
  /// when it is in no file).
  absl::StatusOr<WeightTensor> weight(const std::string &name) const;
  /// Adds every weight-dtype tensor of every file to `store`.
  absl::Status addTo(WeightStore &store) const;

private:
  SafetensorsModel() = default;
  absl::Status openIndex(const std::string &indexPath);

  std::string source_;
  bool sharded_ = false;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, std::string> weightMap_;
  std::map<std::string, size_t> fileOf_; // tensor -> index in files_
};

/// A model directory or file: "model.safetensors", or the index json + shards,
/// or a directory containing either. The store's `source` is the file opened
/// (the .safetensors file or the index json).
absl::StatusOr<WeightStore> loadSafetensors(const std::string &pathOrDir);

/// Builds safetensors files. Tensors are kept in memory until write().
class SafetensorsWriter {
public:
  /// `type` is F32, F16 or BF16; `data` is little-endian in that type and must
  /// hold exactly product(shape) values. Problems are reported by write().
  void addTensor(const std::string &name, WeightType type, const std::vector<int64_t> &shape,
                 std::vector<uint8_t> data);
  /// Converts `values` (product(shape) of them) to `type` (F32, F16, BF16).
  void addTensorFromF32(const std::string &name, WeightType type, const std::vector<int64_t> &shape,
                        const std::vector<float> &values);
  void setMetadata(const std::string &key, const std::string &value);

  /// Writes dir/model.safetensors, or if maxShardBytes > 0 and the tensors
  /// hold more bytes than that, dir/model-0000i-of-0000N.safetensors +
  /// model.safetensors.index.json (tensors in the order added, a new shard
  /// whenever the next tensor would overflow the current one; a tensor larger
  /// than maxShardBytes gets a shard to itself). Creates `dir` if needed and
  /// removes a stale model.safetensors / index json of the other layout, so
  /// loadSafetensors(dir) always reads what was just written. Files are
  /// written under a temporary name and renamed into place.
  absl::Status write(const std::string &dir, uint64_t maxShardBytes = 0) const;

  /// The bytes of one .safetensors file holding every added tensor (what
  /// write(dir) puts in model.safetensors); for tests and fuzz seeds.
  absl::StatusOr<std::vector<uint8_t>> serialize() const;

private:
  struct Tensor {
    std::string name;
    WeightType type;
    std::vector<int64_t> shape;
    std::vector<uint8_t> data;
  };
  absl::Status validate() const;
  /// Orders `tensors` as they will lie in the byte buffer and builds the
  /// padded header that describes them.
  absl::StatusOr<std::string> layout(std::vector<const Tensor *> &tensors) const;
  absl::Status writeFile(const std::string &path, std::vector<const Tensor *> tensors) const;

  std::vector<Tensor> tensors_;
  std::map<std::string, std::string> metadata_;
  std::vector<std::string> errors_; // from addTensor, reported by write()
};

} // namespace tessel::frontends

#endif // TESSEL_FRONTENDS_SAFETENSORS_H
