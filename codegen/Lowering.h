//===- Lowering.h - shared MLIR plumbing for codegen (internal) -*- C++ -*-===//
//
// Included only by codegen's .cpp files: it pulls in MLIR headers.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_CODEGEN_LOWERING_H
#define TESSEL_CODEGEN_LOWERING_H

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "codegen/Emit.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OwningOpRef.h"

namespace tessel::support {
class ProgressBar;
} // namespace tessel::support

namespace tessel::codegen {

/// Registers every dialect, extension, pass and LLVM translation codegen
/// needs, and loads them into `context`.
void prepareContext(mlir::MLIRContext &context);

/// Collects diagnostics ("loc: message" lines) while alive.
class DiagnosticCollector {
public:
  explicit DiagnosticCollector(mlir::MLIRContext &context);
  const std::string &text() const { return text_; }

private:
  std::string text_;
  mlir::ScopedDiagnosticHandler handler_;
};

absl::StatusOr<mlir::OwningOpRef<mlir::ModuleOp>>
parseModule(mlir::MLIRContext &context, std::string_view text, const std::string &name,
            const DiagnosticCollector &diagnostics);

/// Where IR printing stands across several runPipeline calls (dump files
/// are numbered across them).
struct IrPrintState {
  IrPrintOptions options;
  int nextFile = 1;
};

/// Runs a textual pipeline anchored on builtin.module (as --pass-pipeline);
/// with `print`, IR is printed as its options ask (the caller disables
/// multithreading on the context so that the output is ordered). `progress`
/// advances by one for each top-level pass that finishes.
absl::Status runPipeline(mlir::ModuleOp module, const std::string &pipeline,
                         const std::string &name, const DiagnosticCollector &diagnostics,
                         IrPrintState *print = nullptr, support::ProgressBar *progress = nullptr);

/// How many top-level passes `pipeline` (builtin.module(...)) holds: what
/// runPipeline advances a progress bar by (0 if it does not parse).
int64_t countTopLevelPasses(const std::string &pipeline);

} // namespace tessel::codegen

#endif // TESSEL_CODEGEN_LOWERING_H
