//===- WeightStore.cpp ----------------------------------------------------===//
#include "frontends/WeightStore.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tessel::frontends {

int64_t WeightTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

std::vector<float> WeightTensor::toF32() const {
  std::vector<float> out(numel());
  dequantizeRow(type, data, out.data(), numel());
  return out;
}

absl::StatusOr<WeightTensor> WeightTensor::rows(int64_t begin, int64_t count,
                                                std::string newName) const {
  if (shape.empty() || begin < 0 || count < 0 || begin + count > shape[0])
    return absl::InvalidArgumentError(absl::StrCat(source, ": tensor '", name, "': rows [", begin,
                                                   ", ", begin + count, ") out of range"));
  WeightTensor t = *this;
  uint64_t rowBytes = bytes / shape[0];
  t.name = std::move(newName);
  t.shape[0] = count;
  t.data = data + begin * rowBytes;
  t.bytes = count * rowBytes;
  return t;
}

absl::StatusOr<const WeightTensor *> WeightStore::get(const std::string &name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end())
    return absl::NotFoundError(absl::StrCat(source, ": missing tensor '", name, "'"));
  return &it->second;
}

absl::StatusOr<const WeightTensor *> WeightStore::get(const std::string &name,
                                                      const std::vector<int64_t> &shape) const {
  auto t = get(name);
  if (!t.ok())
    return t;
  if ((*t)->shape != shape)
    return absl::InvalidArgumentError(absl::StrCat(
        (*t)->source, ": tensor '", name, "' has shape [", absl::StrJoin((*t)->shape, ", "),
        "] but the model's config implies [", absl::StrJoin(shape, ", "), "]"));
  return t;
}

} // namespace tessel::frontends
