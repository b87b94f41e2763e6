//===- Emit.cpp - print a model at any stage of a pipeline ----------------===//
#include "codegen/Emit.h"

#include "absl/strings/str_join.h"

#include "codegen/Jit.h"
#include "codegen/Lowering.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"

namespace tessel::codegen {

using namespace mlir;

const std::vector<std::string> &emitStages() {
  static const std::vector<std::string> kStages = [] {
    std::vector<std::string> names = {"tessel"};
    for (const PipelineStage &s : cpuPipeline())
      names.push_back(s.name);
    names.push_back("ir");
    names.push_back("asm");
    return names;
  }();
  return kStages;
}

const std::vector<std::string> &gpuEmitStages() {
  static const std::vector<std::string> kStages = [] {
    std::vector<std::string> names = {"tessel"};
    for (const PipelineStage &s : gpuPipeline()) {
      names.push_back(s.name);
      if (s.name == "nvvm")
        names.push_back("ptx");
    }
    names.push_back("ir");
    names.push_back("asm");
    return names;
  }();
  return kStages;
}

namespace {

// The PTX gpu-module-to-binary{format=isa} put in each gpu.binary.
absl::StatusOr<std::string> printPtx(ModuleOp module) {
  std::string text;
  module.walk([&](gpu::BinaryOp binary) {
    for (Attribute object : binary.getObjects()) {
      auto o = cast<gpu::ObjectAttr>(object);
      if (o.getFormat() != gpu::CompilationTarget::Assembly)
        continue;
      text += "// gpu.module @" + binary.getSymName().str() + "\n";
      text += o.getObject().getValue().str();
      if (!text.empty() && text.back() == '\0')
        text.pop_back();
      if (!text.empty() && text.back() != '\n')
        text += '\n';
    }
  });
  if (text.empty())
    return absl::InternalError("the nvvm stage produced no PTX (no gpu.binary in PTX form)");
  return text;
}

std::string print(ModuleOp module) {
  std::string text;
  llvm::raw_string_ostream os(text);
  module.print(os);
  return text;
}

} // namespace

absl::StatusOr<std::string> emitStage(std::string_view mlirText, std::string_view sourceName,
                                      const std::string &stage, const CpuOptions &options,
                                      const EmitOptions &emit) {
  const auto &stages = emit.cuda ? gpuEmitStages() : emitStages();
  const std::vector<PipelineStage> pipeline =
      emit.cuda ? gpuPipeline(*emit.cuda) : cpuPipeline(options);
  if (std::find(stages.begin(), stages.end(), stage) == stages.end())
    return absl::InvalidArgumentError("unknown stage '" + stage +
                                      "'; stages: " + absl::StrJoin(stages, ", "));
  if (!emit.passPipeline.empty() && stage == "tessel")
    return absl::InvalidArgumentError(
        "--pass_pipeline runs after the tessel stage: choose another --emit stage");
  MLIRContext context;
  prepareContext(context);
  IrPrintState printState{emit.print};
  IrPrintState *printing = emit.print.any() ? &printState : nullptr;
  if (printing) // ordered output, and the dump instrumentation is not thread safe
    context.disableMultithreading();
  DiagnosticCollector diagnostics(context);
  std::string name(sourceName);
  auto module = parseModule(context, mlirText, name, diagnostics);
  if (!module.ok())
    return module.status();
  auto run = [&](const std::string &pipeline) {
    return runPipeline(**module, pipeline, name, diagnostics, printing);
  };
  if (stage == "tessel")
    return print(**module);
  // Weights become arguments (as the JIT does), then the CPU pipeline runs
  // stage by stage up to the one asked for.
  if (auto st = run("builtin.module(tessel-weights-to-arguments)"); !st.ok())
    return st;
  if (!emit.passPipeline.empty()) {
    if (auto st = run(emit.passPipeline); !st.ok())
      return st;
    if (stage == "ptx")
      return printPtx(**module);
    if (stage != "llvm" && stage != "ir" && stage != "asm")
      return print(**module);
    // Translation needs the LLVM dialect throughout.
    Operation *foreign = nullptr;
    (**module).walk([&](Operation *op) {
      if (op == (**module).getOperation() ||
          (op->getDialect() && op->getDialect()->getNamespace() == "llvm"))
        return WalkResult::advance();
      foreign = op;
      return WalkResult::interrupt();
    });
    if (foreign)
      return absl::InvalidArgumentError(
          "--pass_pipeline must lower to the LLVM dialect for --emit=" + stage +
          ", but its result still has '" + foreign->getName().getStringRef().str() +
          "' ops; end it with the llvm stage's passes: " + pipeline.back().passes);
    if (stage == "llvm")
      return print(**module);
  } else {
    for (const PipelineStage &s : pipeline) {
      if (auto st = run(s.passes); !st.ok())
        return st;
      if (s.name == stage)
        return print(**module);
      if (s.name == "nvvm" && stage == "ptx")
        return printPtx(**module);
    }
  }

  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule = translateModuleToLLVMIR(**module, llvmContext, name);
  if (!llvmModule)
    return absl::InternalError("translating " + name + " to LLVM IR failed:\n" +
                               diagnostics.text());
  auto builder = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!builder)
    return absl::InternalError("cannot describe the host CPU: " + toString(builder.takeError()));
  auto machine = builder->createTargetMachine();
  if (!machine)
    return absl::InternalError("no target machine for the host: " + toString(machine.takeError()));
  llvmModule->setDataLayout((*machine)->createDataLayout());
  llvmModule->setTargetTriple((*machine)->getTargetTriple());
  std::string text;
  llvm::raw_string_ostream os(text);
  if (stage == "ir") {
    llvmModule->print(os, nullptr);
    return text;
  }
  llvm::SmallVector<char, 0> buffer;
  llvm::raw_svector_ostream out(buffer);
  llvm::legacy::PassManager pm;
  if ((*machine)->addPassesToEmitFile(pm, out, nullptr, llvm::CodeGenFileType::AssemblyFile))
    return absl::InternalError("the host target cannot emit assembly");
  pm.run(*llvmModule);
  return std::string(buffer.begin(), buffer.end());
}

} // namespace tessel::codegen
