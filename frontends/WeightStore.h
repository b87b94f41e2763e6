//===- WeightStore.h - named weights in their native form -------*- C++ -*-===//
//
// Whatever the file format, a loaded model's weights end up here under
// canonical (GGUF-style) names such as "blk.0.attn_q.weight", with shapes in
// PyTorch order ([out, in] for matrices). Data stays where the reader put it
// (usually an mmap); `owner` keeps that alive.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_FRONTENDS_WEIGHTSTORE_H
#define TESSEL_FRONTENDS_WEIGHTSTORE_H

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "frontends/WeightTypes.h"

namespace tessel::frontends {

struct WeightTensor {
  std::string name;
  WeightType type = WeightType::F32;
  std::vector<int64_t> shape; // outermost first
  const uint8_t *data = nullptr;
  uint64_t bytes = 0;
  std::shared_ptr<const void> owner;
  std::string source; // file it came from, for messages

  int64_t numel() const;
  /// The values as f32 (a copy; quantized types are dequantized).
  std::vector<float> toF32() const;
  /// Rows [begin, begin + count) of the outermost dimension, zero-copy.
  absl::StatusOr<WeightTensor> rows(int64_t begin, int64_t count, std::string newName) const;
};

class WeightStore {
public:
  void add(WeightTensor t) { tensors_[t.name] = std::move(t); }
  bool contains(const std::string &name) const { return tensors_.count(name) != 0; }
  /// The tensor, or an error naming it and the model file.
  absl::StatusOr<const WeightTensor *> get(const std::string &name) const;
  /// Like get, and checks the shape: errors name the tensor, both shapes and the file.
  absl::StatusOr<const WeightTensor *> get(const std::string &name,
                                           const std::vector<int64_t> &shape) const;
  const std::map<std::string, WeightTensor> &all() const { return tensors_; }
  /// Keeps an owned buffer alive for tensors that point into it.
  void keepAlive(std::shared_ptr<const void> p) { buffers_.push_back(std::move(p)); }
  std::string source; // the model file or directory

private:
  std::map<std::string, WeightTensor> tensors_;
  std::vector<std::shared_ptr<const void>> buffers_;
};

} // namespace tessel::frontends

#endif // TESSEL_FRONTENDS_WEIGHTSTORE_H
