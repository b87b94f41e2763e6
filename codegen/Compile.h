//===- Compile.h - the lowering JIT and AOT share (internal) ----*- C++ -*-===//
//
// Included only by codegen's .cpp files (it pulls in MLIR and LLVM). The JIT
// and the AOT writer lower with the same function and generate code for the
// same CPU with the same options, so a model compiled ahead of time computes
// exactly what the JIT computes.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_CODEGEN_COMPILE_H
#define TESSEL_CODEGEN_COMPILE_H

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "codegen/Jit.h"
#include "codegen/Lowering.h"
#include "llvm/Target/TargetMachine.h"

namespace tessel::codegen {

/// A compile's progress bar counts one unit per top-level pass of the
/// lowering (about 30), then these for LLVM's steps: translation to LLVM IR,
/// the -O3 pipeline, machine code (and, for AOT, linking). On stories260K
/// the lowering takes 0.1 s, -O3 0.1 s and machine code 0.3 s (AOT) to 0.9 s
/// (JIT), so machine code gets most of the bar.
inline constexpr int64_t kTranslateUnits = 2, kOptimizeUnits = 15, kMachineCodeUnits = 75;

/// Parses `text`, binds weights as arguments and runs `pipeline` stage by
/// stage down to the LLVM dialect. `signatures` receives every public
/// function as the compiled code takes it; each gets a C interface.
/// `progress` gets its total (the lowering's passes + the LLVM steps' units)
/// and advances through the lowering; the caller advances the LLVM steps.
absl::StatusOr<mlir::OwningOpRef<mlir::ModuleOp>>
lowerToLlvmDialect(mlir::MLIRContext &context, std::string_view text, const std::string &name,
                   const std::vector<PipelineStage> &pipeline,
                   const DiagnosticCollector &diagnostics, Signatures &signatures,
                   support::ProgressBar *progress = nullptr);

/// A target machine for this CPU (its name and every feature it has), with
/// LLVM's most aggressive code generation. `sharedLibrary` selects
/// position-independent code with the small code model; otherwise the JIT's
/// defaults apply (static relocations, large code model).
absl::StatusOr<std::unique_ptr<llvm::TargetMachine>> hostTargetMachine(bool sharedLibrary);

/// What every compiled module goes through before code generation: LLVM's
/// -O3 pipeline (the JIT's transformer).
std::function<llvm::Error(llvm::Module *)> llvmOptimizer();

/// The symbol a shared library exports for entry point `function`: its C
/// interface with the arguments packed into one `void **` (what MLIR's
/// ExecutionEngine calls `_mlir_` + name, so both are called alike).
inline std::string packedEntryName(const std::string &function) {
  return "_mlir__mlir_ciface_" + function;
}

/// A shared library calls the kernels (KernelAbi.h) through pointers it
/// exports under this prefix + the kernel's symbol; the loader fills them.
/// So the library needs nothing from the process that loads it but libc and
/// libm, whether or not that process exports its own symbols.
inline constexpr char kImportPrefix[] = "__tessel_import_";

} // namespace tessel::codegen

#endif // TESSEL_CODEGEN_COMPILE_H
