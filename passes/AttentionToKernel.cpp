//===- AttentionToKernel.cpp - tessel.attention -> the Highway kernel -----===//
//
// See TesselAttentionToKernel in Passes.td.
//
//===----------------------------------------------------------------------===//
#include "dialect/TesselOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "passes/KernelCalls.h"
#include "passes/Passes.h"

namespace tessel {
#define GEN_PASS_DEF_TESSELATTENTIONTOKERNEL
#include "passes/Passes.h.inc"
} // namespace tessel

using namespace mlir;

namespace tessel {
namespace {

struct AttentionToKernelPass : impl::TesselAttentionToKernelBase<AttentionToKernelPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<AttentionOp> ops;
    // Masks and sinks stay with tessel-tile-attention (the kernel ABI does
    // not take them yet).
    module.walk([&](AttentionOp op) {
      if (!op.getMask() && !op.getSinks())
        ops.push_back(op);
    });
    for (AttentionOp op : ops) {
      KernelCallBuilder k(module, op);
      Value q = op.getQuery(), key = op.getKey(), v = op.getValue();
      SmallVector<OpFoldResult> outDims = {k.dimOf(q, 0), k.dimOf(q, 1), k.dimOf(q, 2),
                                           k.dimOf(v, 3)};
      SmallVector<Value> scalars = {
          k.i64Constant(static_cast<int64_t>(op.getNumHeads())),
          k.i64Constant(static_cast<int64_t>(op.getNumKvHeads())),
          k.i64Constant(op.getCausal() ? 1 : 0),
          k.i64Constant(op.getWindow() ? static_cast<int64_t>(*op.getWindow()) : 0),
          // 0 asks the kernel for its default, 1/sqrt(head_dim).
          k.f32Constant(op.getScale() ? op.getScale()->convertToDouble() : 0.0)};
      Value out = k.call("tessel_attention_f32", {q, key, v}, outDims, scalars);
      if (out.getType() != op.getType())
        out = tensor::CastOp::create(k.b, k.loc, op.getType(), out);
      op.getResult().replaceAllUsesWith(out);
      op.erase();
    }
  }
};

} // namespace
} // namespace tessel
