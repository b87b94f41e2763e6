//===- Lowering.cpp - shared MLIR plumbing for codegen --------------------===//
#include "codegen/Lowering.h"

#include "dialect/TesselDialect.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "passes/Passes.h"
#include "llvm/Support/TargetSelect.h"

namespace tessel::codegen {

using namespace mlir;

void prepareContext(MLIRContext &context) {
  static bool initialized = [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    llvm::InitializeNativeTargetAsmParser();
    registerAllPasses();
    registerTesselPasses();
    return true;
  }();
  (void)initialized;
  DialectRegistry registry;
  registerAllDialects(registry);
  registerAllExtensions(registry);
  registerAllToLLVMIRTranslations(registry);
  registry.insert<TesselDialect>();
  context.appendDialectRegistry(registry);
  context.loadAllAvailableDialects();
}

DiagnosticCollector::DiagnosticCollector(MLIRContext &context)
    : handler_(&context, [this](Diagnostic &d) {
        std::string loc;
        llvm::raw_string_ostream os(loc);
        d.getLocation().print(os);
        text_ += loc + ": " + d.str() + "\n";
        return success();
      }) {}

absl::StatusOr<OwningOpRef<ModuleOp>> parseModule(MLIRContext &context, std::string_view text,
                                                  const std::string &name,
                                                  const DiagnosticCollector &diagnostics) {
  OwningOpRef<ModuleOp> module =
      parseSourceString<ModuleOp>(llvm::StringRef(text.data(), text.size()), &context, name);
  if (!module)
    return absl::InvalidArgumentError("cannot parse " + name + ":\n" + diagnostics.text());
  return module;
}

absl::Status runPipeline(ModuleOp module, const std::string &pipeline, const std::string &name,
                         const DiagnosticCollector &diagnostics) {
  PassManager pm(module.getContext());
  // The textual pipeline is anchored on builtin.module, like --pass-pipeline;
  // the pass manager already is, so parse what is inside the anchor.
  std::string inner = pipeline;
  const std::string anchor = "builtin.module(";
  if (inner.rfind(anchor, 0) == 0 && inner.back() == ')')
    inner = inner.substr(anchor.size(), inner.size() - anchor.size() - 1);
  if (failed(parsePassPipeline(inner, pm)))
    return absl::InvalidArgumentError("bad pass pipeline: " + pipeline + "\n" + diagnostics.text());
  if (failed(pm.run(module)))
    return absl::InternalError("lowering " + name + " failed:\n" + diagnostics.text());
  return absl::OkStatus();
}

} // namespace tessel::codegen
