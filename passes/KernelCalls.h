//===- KernelCalls.h - building calls of the Highway kernels ----*- C++ -*-===//
//
// Shared by the passes that replace tessel ops with calls of the micro-
// kernels (tessel-lower-to-kernels, tessel-attention-to-kernel). A call
// takes its tensor operands as memrefs of any layout
// (`bufferization.to_buffer read_only`: the tensor's own buffer, no copy),
// writes a fresh 64-byte aligned buffer that becomes the result
// (`bufferization.to_tensor restrict writable`), and goes to a private
// `llvm.emit_c_interface` declaration added to the module once; the
// definitions live in codegen/KernelAbi.cpp.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_PASSES_KERNELCALLS_H
#define TESSEL_PASSES_KERNELCALLS_H

#include "dialect/TesselOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

namespace tessel {

class KernelCallBuilder {
public:
  KernelCallBuilder(mlir::ModuleOp module, mlir::Operation *op)
      : module(module), b(op), loc(op->getLoc()), ctx(op->getContext()) {}

  /// [d0, ..., dn-1, k] -> [d0 * ... * dn-1, k] (rank 1 becomes [1, k]).
  mlir::Value asMatrix(mlir::Value x);
  /// Back from [m, n] to `like`'s leading extents with `n` last.
  mlir::Value fromMatrix(mlir::Value m, mlir::Value like, mlir::RankedTensorType resultType);
  /// Every dim of `x` in one: [d0, ..., dn-1] -> [d0 * ... * dn-1].
  mlir::Value flatten(mlir::Value x);
  mlir::OpFoldResult dimOf(mlir::Value x, int64_t d);
  mlir::Value f32Constant(double v);
  mlir::Value i64Constant(int64_t v);

  /// The buffer `x` lives in, read-only, cast to the ABI type (any
  /// extents, strides and offset).
  mlir::Value readBuffer(mlir::Value x);

  /// Calls `name(inputs..., out, scalars...)` where `out` is a new
  /// [outDims] f32 buffer, and returns `out` as a tensor.
  mlir::Value call(llvm::StringRef name, mlir::ValueRange inputs,
                   llvm::ArrayRef<mlir::OpFoldResult> outDims, mlir::ValueRange scalars = {});

  mlir::ModuleOp module;
  mlir::OpBuilder b;
  mlir::Location loc;
  mlir::MLIRContext *ctx;

private:
  void declare(llvm::StringRef name, mlir::TypeRange types);
};

} // namespace tessel

#endif // TESSEL_PASSES_KERNELCALLS_H
