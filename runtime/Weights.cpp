//===- Weights.cpp --------------------------------------------------------===//
#include "runtime/Weights.h"

#include "support/Progress.h"

namespace tessel::runtime {

absl::StatusOr<std::vector<ref::Tensor>> weightsAsF32(const frontends::WeightStore &weights,
                                                      const std::vector<std::string> &names) {
  // Dequantizing (and copying from the mapped file) is what takes the time
  // for a large model: the bar counts elements.
  std::vector<const frontends::WeightTensor *> tensors;
  tensors.reserve(names.size());
  int64_t elements = 0;
  for (const std::string &name : names) {
    auto w = weights.get(name);
    if (!w.ok())
      return w.status();
    tensors.push_back(*w);
    elements += (*w)->numel();
  }
  support::ProgressBar progress("loading weights", elements);
  std::vector<ref::Tensor> out;
  out.reserve(names.size());
  for (const frontends::WeightTensor *w : tensors) {
    ref::Tensor t = ref::Tensor::zerosF32(w->shape);
    t.f = w->toF32();
    out.push_back(std::move(t));
    progress.advance(w->numel());
  }
  progress.finish();
  return out;
}

} // namespace tessel::runtime
