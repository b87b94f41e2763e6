//===- GpuEmitter.h - small builders for GPU kernel bodies ------*- C++ -*-===//
//
// Shared by the kernel builders of tessel-attention-to-gpu
// (GpuKernelBuilder.cpp) and tessel-linear-to-gpu-mma (GpuMmaBuilder.cpp),
// which derive their own emitters from it. Include it from .cpp files only.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_PASSES_GPUEMITTER_H
#define TESSEL_PASSES_GPUEMITTER_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"

namespace tessel {

// Everything is created at `b`'s insertion point. No call in a kernel
// builder passes two arguments that both create ops: C++ leaves the order
// of their evaluation open, and the IR (and its lit test) must not depend
// on the compiler.
class GpuEmitter {
public:
  GpuEmitter(mlir::OpBuilder &b, mlir::Location loc) : b(b), loc(loc) {}

  mlir::Value idx(int64_t v) { return mlir::arith::ConstantIndexOp::create(b, loc, v); }
  mlir::Value f32(double v) {
    return mlir::arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v));
  }

  // Index arithmetic; a constant operand of 0 or 1 creates nothing.
  mlir::Value add(mlir::Value x, mlir::Value y) {
    return mlir::arith::AddIOp::create(b, loc, x, y);
  }
  mlir::Value add(mlir::Value x, int64_t y) { return y == 0 ? x : add(x, idx(y)); }
  mlir::Value sub(mlir::Value x, mlir::Value y) {
    return mlir::arith::SubIOp::create(b, loc, x, y);
  }
  mlir::Value sub(mlir::Value x, int64_t y) { return y == 0 ? x : sub(x, idx(y)); }
  mlir::Value mul(mlir::Value x, mlir::Value y) {
    return mlir::arith::MulIOp::create(b, loc, x, y);
  }
  mlir::Value mul(mlir::Value x, int64_t y) { return y == 1 ? x : mul(x, idx(y)); }
  mlir::Value divu(mlir::Value x, mlir::Value y) {
    return mlir::arith::DivUIOp::create(b, loc, x, y);
  }
  mlir::Value divu(mlir::Value x, int64_t y) { return y == 1 ? x : divu(x, idx(y)); }
  mlir::Value remu(mlir::Value x, mlir::Value y) {
    return mlir::arith::RemUIOp::create(b, loc, x, y);
  }
  mlir::Value remu(mlir::Value x, int64_t y) { return y == 1 ? idx(0) : remu(x, idx(y)); }
  mlir::Value min(mlir::Value x, mlir::Value y) {
    return mlir::arith::MinSIOp::create(b, loc, x, y);
  }
  mlir::Value max(mlir::Value x, mlir::Value y) {
    return mlir::arith::MaxSIOp::create(b, loc, x, y);
  }
  mlir::Value cmp(mlir::arith::CmpIPredicate p, mlir::Value x, mlir::Value y) {
    return mlir::arith::CmpIOp::create(b, loc, p, x, y);
  }
  mlir::Value lt(mlir::Value x, mlir::Value y) {
    return cmp(mlir::arith::CmpIPredicate::slt, x, y);
  }
  mlir::Value select(mlir::Value c, mlir::Value x, mlir::Value y) {
    return mlir::arith::SelectOp::create(b, loc, c, x, y);
  }

  mlir::Value addf(mlir::Value x, mlir::Value y) {
    return mlir::arith::AddFOp::create(b, loc, x, y);
  }
  mlir::Value mulf(mlir::Value x, mlir::Value y) {
    return mlir::arith::MulFOp::create(b, loc, x, y);
  }
  mlir::Value fma(mlir::Value x, mlir::Value y, mlir::Value acc) {
    return mlir::math::FmaOp::create(b, loc, x, y, acc);
  }

  /// Extent `d` of memref `m`: a constant when static.
  mlir::Value dim(mlir::Value m, int64_t d) {
    auto t = mlir::cast<mlir::MemRefType>(m.getType());
    if (!t.isDynamicDim(d))
      return idx(t.getDimSize(d));
    return mlir::memref::DimOp::create(b, loc, m, d);
  }
  mlir::Value load(mlir::Value m, mlir::ValueRange at) {
    return mlir::memref::LoadOp::create(b, loc, m, at);
  }
  void store(mlir::Value x, mlir::Value m, mlir::ValueRange at) {
    mlir::memref::StoreOp::create(b, loc, x, m, at);
  }

  mlir::Value threadId() { return mlir::gpu::ThreadIdOp::create(b, loc, mlir::gpu::Dimension::x); }
  mlir::Value blockId(mlir::gpu::Dimension d) { return mlir::gpu::BlockIdOp::create(b, loc, d); }
  void barrier() { mlir::gpu::BarrierOp::create(b, loc); }

  /// scf.if without else, its body built by `body` at `b`.
  void ifThen(mlir::Value cond, llvm::function_ref<void()> body) {
    auto op = mlir::scf::IfOp::create(b, loc, cond, /*withElseRegion=*/false);
    mlir::OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(op.thenBlock()->getTerminator());
    body();
  }

  mlir::OpBuilder &b;
  mlir::Location loc;
};

} // namespace tessel

#endif // TESSEL_PASSES_GPUEMITTER_H
