//===- Weights.h - a model's weights as compiled code takes them -*- C++ -*-===//
//
// Compiled entry points take their weights as trailing f32 arguments in the
// order JitModule::weightNames gives. Quantized and half-precision files
// (q8_0, q4_0, bf16, f16) are dequantized once, here, at load.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_RUNTIME_WEIGHTS_H
#define TESSEL_RUNTIME_WEIGHTS_H

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "frontends/WeightStore.h"
#include "reference/Tensor.h"

namespace tessel::runtime {

/// The named weights as f32 tensors, in order; an error names a missing one.
absl::StatusOr<std::vector<ref::Tensor>> weightsAsF32(const frontends::WeightStore &weights,
                                                      const std::vector<std::string> &names);

} // namespace tessel::runtime

#endif // TESSEL_RUNTIME_WEIGHTS_H
