//===- Lowering.cpp - shared MLIR plumbing for codegen --------------------===//
#include "codegen/Lowering.h"

#include "dialect/TesselDialect.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassInstrumentation.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "passes/GpuKernelBuilder.h"
#include "passes/Passes.h"
#include "support/Progress.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"

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
  tessel::registerGpuLaunchMemoryEffects(registry); // see tessel-attention-to-gpu
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

namespace {

/// Writes each pass's result to DIR/NN-<pass>.mlir, NN counting passes in the
/// order they first finish; a pass nested on functions appends each
/// function it ran on to its one file. Requires single-threaded execution.
class DumpToDirectory : public PassInstrumentation {
public:
  explicit DumpToDirectory(IrPrintState &state) : state_(state) {}

  void runAfterPass(Pass *pass, Operation *op) override {
    llvm::StringRef arg = pass->getArgument();
    if (arg.empty()) // pass-manager adaptors (func.func(...))
      return;
    auto [it, inserted] = files_.try_emplace(pass, std::string());
    if (inserted) {
      char number[16];
      std::snprintf(number, sizeof number, "%02d-", state_.nextFile++);
      llvm::SmallString<256> path(state_.options.dumpDir);
      llvm::sys::path::append(path, std::string(number) + arg.str() + ".mlir");
      it->second = std::string(path);
    }
    std::error_code ec;
    llvm::raw_fd_ostream os(it->second, ec,
                            inserted ? llvm::sys::fs::OF_None : llvm::sys::fs::OF_Append);
    if (ec) {
      llvm::errs() << "cannot write " << it->second << ": " << ec.message() << "\n";
      return;
    }
    os << "// -----// IR Dump After " << pass->getName() << " (" << arg << ")";
    if (auto sym = op->getAttrOfType<StringAttr>(SymbolTable::getSymbolAttrName()))
      os << " ('" << op->getName() << "' @" << sym.getValue() << ")";
    os << " //----- //\n";
    op->print(os);
    os << "\n";
  }

private:
  IrPrintState &state_;
  llvm::DenseMap<Pass *, std::string> files_;
};

/// Advances a progress bar as each top-level pass (one running on the
/// module itself, a func.func(...) adaptor included) finishes. Nested passes
/// run once per function, possibly on other threads: they are not counted.
class CountTopLevelPasses : public PassInstrumentation {
public:
  CountTopLevelPasses(support::ProgressBar &progress, Operation *root)
      : progress_(progress), root_(root) {}
  void runAfterPass(Pass *, Operation *op) override {
    if (op == root_)
      progress_.advance();
  }

private:
  support::ProgressBar &progress_;
  Operation *root_;
};

// The textual pipeline is anchored on builtin.module, like --pass-pipeline;
// a pass manager already is, so what is parsed is what is inside the anchor.
std::string insideModuleAnchor(const std::string &pipeline) {
  const std::string anchor = "builtin.module(";
  if (pipeline.rfind(anchor, 0) == 0 && pipeline.back() == ')')
    return pipeline.substr(anchor.size(), pipeline.size() - anchor.size() - 1);
  return pipeline;
}

} // namespace

int64_t countTopLevelPasses(const std::string &pipeline) {
  OpPassManager pm(ModuleOp::getOperationName());
  std::string ignored;
  llvm::raw_string_ostream errors(ignored);
  if (failed(parsePassPipeline(insideModuleAnchor(pipeline), pm, errors)))
    return 0;
  return static_cast<int64_t>(pm.size());
}

absl::Status runPipeline(ModuleOp module, const std::string &pipeline, const std::string &name,
                         const DiagnosticCollector &diagnostics, IrPrintState *print,
                         support::ProgressBar *progress) {
  PassManager pm(module.getContext());
  if (failed(parsePassPipeline(insideModuleAnchor(pipeline), pm)))
    return absl::InvalidArgumentError("bad pass pipeline: " + pipeline + "\n" + diagnostics.text());
  if (progress)
    pm.addInstrumentation(std::make_unique<CountTopLevelPasses>(*progress, module.getOperation()));
  if (print) {
    const IrPrintOptions &o = print->options;
    auto named = [](const std::string &want) {
      return [want](Pass *pass, Operation *) {
        return !want.empty() && (pass->getArgument() == want || pass->getName() == want);
      };
    };
    if (o.afterAll || !o.before.empty() || !o.after.empty()) {
      std::function<bool(Pass *, Operation *)> after = named(o.after);
      if (o.afterAll)
        after = [](Pass *, Operation *) { return true; };
      // As mlir-opt's --mlir-print-ir-*: the op each pass ran on, to stderr.
      pm.enableIRPrinting(named(o.before), after, /*printModuleScope=*/false,
                          /*printAfterOnlyOnChange=*/false, /*printAfterOnlyOnFailure=*/false,
                          llvm::errs());
    }
    if (!o.dumpDir.empty()) {
      if (std::error_code ec = llvm::sys::fs::create_directories(o.dumpDir))
        return absl::InvalidArgumentError("cannot create " + o.dumpDir + ": " + ec.message());
      pm.addInstrumentation(std::make_unique<DumpToDirectory>(*print));
    }
  }
  if (failed(pm.run(module)))
    return absl::InternalError("lowering " + name + " failed:\n" + diagnostics.text());
  return absl::OkStatus();
}

} // namespace tessel::codegen
