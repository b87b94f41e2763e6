//===- Emit.h - print a model at any stage of the CPU pipeline --*- C++ -*-===//
//
// `tessel compile --emit=STAGE` runs the CPU pipeline up to STAGE and prints
// the result, so every lowering step can be inspected (and, for the MLIR
// stages, piped back into tessel-opt):
//   tessel   the model as built from its file
//   tiled    attention tiled (FlashAttention loops), einsum lowered
//   linalg   linear layers and gated FFNs as kernel calls, every other
//            dense op in linalg on tensors
//   kernel   bufferized: loops around the kernel calls, KV caches in place
//   llvm     the LLVM dialect, ready for translation
//   ir       LLVM IR (textual .ll)
//   asm      native assembly for this host
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_CODEGEN_EMIT_H
#define TESSEL_CODEGEN_EMIT_H

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "codegen/Pipeline.h"

namespace tessel::codegen {

/// The stage names accepted by emitStage, in pipeline order.
const std::vector<std::string> &emitStages();

/// Lowers `mlirText` to `stage` and returns it as text.
absl::StatusOr<std::string> emitStage(std::string_view mlirText, std::string_view sourceName,
                                      const std::string &stage, const CpuOptions &options = {});

} // namespace tessel::codegen

#endif // TESSEL_CODEGEN_EMIT_H
