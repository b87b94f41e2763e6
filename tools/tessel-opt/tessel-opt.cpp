//===- tessel-opt.cpp - the project's mlir-opt ----------------------------===//
//
// Every upstream dialect and pass plus the tessel dialect, so any stage of
// the pipeline can be parsed, verified, transformed and printed, the GPU
// stages' PTX serialisation included.
//
//===----------------------------------------------------------------------===//
#include "dialect/TesselDialect.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "passes/GpuKernelBuilder.h"
#include "passes/Passes.h"

int main(int argc, char **argv) {
  mlir::registerAllPasses();
  tessel::registerTesselPasses();
  mlir::DialectRegistry registry;
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  // gpu-module-to-binary translates each gpu.module to LLVM IR (then PTX),
  // so the GPU stages replay here only with the translations registered.
  mlir::registerAllToLLVMIRTranslations(registry);
  // IR replayed after tessel-attention-to-gpu has launches the deallocation
  // pipeline must know the memory effects of.
  tessel::registerGpuLaunchMemoryEffects(registry);
  registry.insert<tessel::TesselDialect>();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "Tessel optimizer driver\n", registry));
}
