//===- ModelToIR.h - ModelConfig -> tessel IR -------------------*- C++ -*-===//
//
// Builds the model's forward function in the tessel dialect:
//
//   func.func @forward(%tokens: tensor<1x?xi64>, %positions: tensor<1x?xi64>)
//       -> tensor<1x?xVOCABxf32>
//
// evaluating a whole sequence at once (teacher-forced prefill) and returning
// the logits at every position. Weights are `tessel.weight` ops named as in
// GGUF, so the IR does not depend on the file format; every op's location
// names the model file and the layer/tensor it comes from.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_FRONTENDS_MODELTOIR_H
#define TESSEL_FRONTENDS_MODELTOIR_H

#include <string>

#include "absl/status/statusor.h"
#include "frontends/ModelConfig.h"

namespace mlir {
class MLIRContext;
class ModuleOp;
template <typename OpTy> class OwningOpRef;
} // namespace mlir

namespace tessel::frontends {

/// Loads the dialects the model IR uses into `context`.
void loadModelDialects(mlir::MLIRContext &context);

/// Builds and verifies the module; `source` names the model file in locations.
absl::StatusOr<mlir::OwningOpRef<mlir::ModuleOp>>
buildModelModule(mlir::MLIRContext &context, const ModelConfig &config, const std::string &source);

/// The module as text (`debugInfo` prints the locations too).
absl::StatusOr<std::string> modelToMlir(const ModelConfig &config, const std::string &source,
                                        bool debugInfo = false);

} // namespace tessel::frontends

#endif // TESSEL_FRONTENDS_MODELTOIR_H
