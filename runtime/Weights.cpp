//===- Weights.cpp --------------------------------------------------------===//
#include "runtime/Weights.h"

namespace tessel::runtime {

absl::StatusOr<std::vector<ref::Tensor>> weightsAsF32(const frontends::WeightStore &weights,
                                                      const std::vector<std::string> &names) {
  std::vector<ref::Tensor> out;
  out.reserve(names.size());
  for (const std::string &name : names) {
    auto w = weights.get(name);
    if (!w.ok())
      return w.status();
    ref::Tensor t = ref::Tensor::zerosF32((*w)->shape);
    t.f = (*w)->toF32();
    out.push_back(std::move(t));
  }
  return out;
}

} // namespace tessel::runtime
