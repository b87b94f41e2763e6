//===- Emit.h - print a model at any stage of a pipeline ---------*- C++ -*-===//
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

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "codegen/Pipeline.h"

namespace tessel::codegen {

/// IR printing while the pipeline runs (`tessel compile --print_ir_*`,
/// --dump_ir_dir). Passes are named by their argument (tessel-lower-mla).
struct IrPrintOptions {
  bool afterAll = false;     // every pass's result, to stderr
  std::string before, after; // one pass: its input / its result, to stderr
  std::string dumpDir;       // one file per pass, NN-<pass>.mlir, in order
  bool any() const { return afterAll || !before.empty() || !after.empty() || !dumpDir.empty(); }
};

struct EmitOptions {
  IrPrintOptions print;
  /// A builtin.module(...) pipeline run instead of the CPU pipeline (after
  /// tessel-weights-to-arguments). For llvm, ir and asm it must end in the
  /// LLVM dialect; for the other MLIR stages its result is printed.
  std::string passPipeline;
  /// Set: the CUDA pipeline (codegen::gpuPipeline) instead of the CPU one;
  /// its stages are gpuEmitStages(), `ptx` among them.
  std::optional<GpuOptions> cuda;
};

/// The stage names accepted by emitStage, in pipeline order.
const std::vector<std::string> &emitStages();

/// The same for the CUDA pipeline: tessel, its stages, then
///   ptx  every kernel module's PTX (what gpu-module-to-binary embedded),
///        each after a `// gpu.module @NAME` line; ptxas accepts it
///   ir, asm  the host code, as for the CPU
const std::vector<std::string> &gpuEmitStages();

/// Lowers `mlirText` to `stage` and returns it as text.
absl::StatusOr<std::string> emitStage(std::string_view mlirText, std::string_view sourceName,
                                      const std::string &stage, const CpuOptions &options = {},
                                      const EmitOptions &emit = {});

} // namespace tessel::codegen

#endif // TESSEL_CODEGEN_EMIT_H
