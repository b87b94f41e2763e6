//===- LinalgBuilder.h - small helpers for building linalg on tensors -*- C++ -*-===//
//
// Shared by the passes that lower tessel ops to linalg: linalg.generic from
// per-operand lists of loop indices, tensor.empty/fill from extents given as
// Values (static extents are folded to attributes), and constants.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_PASSES_LINALGBUILDER_H
#define TESSEL_PASSES_LINALGBUILDER_H

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/Builders.h"

namespace tessel {

class LinalgBuilder {
public:
  using Body = llvm::function_ref<mlir::Value(mlir::OpBuilder &, mlir::Location, mlir::ValueRange)>;

  LinalgBuilder(mlir::OpBuilder &b, mlir::Location loc) : b(b), loc(loc) {}

  /// A linalg.generic over `numLoops` loops. `inputDims[k]` lists, for each
  /// dimension of input k, the loop that indexes it; `initDims` likewise for
  /// the output. `body` gets the input elements and the output element.
  mlir::Value generic(int64_t numLoops, mlir::ValueRange inputs,
                      llvm::ArrayRef<llvm::SmallVector<int64_t>> inputDims, mlir::Value init,
                      llvm::ArrayRef<int64_t> initDims,
                      llvm::ArrayRef<mlir::utils::IteratorType> iterators, Body body);

  mlir::RankedTensorType type(llvm::ArrayRef<mlir::Value> dims, mlir::Type elem);
  mlir::Value empty(llvm::ArrayRef<mlir::Value> dims, mlir::Type elem);
  mlir::Value fill(llvm::ArrayRef<mlir::Value> dims, mlir::Value value);
  /// Extent `d` of `x`: a constant when static, tensor.dim otherwise.
  mlir::Value dim(mlir::Value x, int64_t d);
  llvm::SmallVector<mlir::Value> dims(mlir::Value x);
  mlir::Value index(int64_t v);
  mlir::Value f32(double v);
  /// Constants as attributes: static extents must not be passed as values.
  mlir::OpFoldResult ofr(mlir::Value v);

  mlir::OpBuilder &b;
  mlir::Location loc;
};

} // namespace tessel

#endif // TESSEL_PASSES_LINALGBUILDER_H
