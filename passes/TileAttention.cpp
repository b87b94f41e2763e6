//===- TileAttention.cpp - FlashAttention tiling with online softmax ------===//
//
// See TesselTileAttention in Passes.td. The loop itself (the online softmax
// over K/V tiles) is built by FlashAttentionBuilder, which
// tessel-split-kv-attention shares.
//
//===----------------------------------------------------------------------===//
#include "dialect/TesselOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "passes/FlashAttentionBuilder.h"
#include "passes/Passes.h"

namespace tessel {
#define GEN_PASS_DEF_TESSELTILEATTENTION
#include "passes/Passes.h.inc"
} // namespace tessel

using namespace mlir;

namespace tessel {
namespace {

// One loop over every key, starting from the sinks (if any).
Value tileAttention(AttentionOp op, int64_t tile) {
  OpBuilder b(op);
  FlashAttentionBuilder fa(op, b, tile);
  Value q5 = fa.groupedQuery();
  SoftmaxState init = fa.initialState();
  SoftmaxState last = fa.tileLoop(q5, fa.linalg().index(0), fa.keyLen(), init);
  return fa.finish(last.l, last.acc);
}

struct TileAttentionPass : impl::TesselTileAttentionBase<TileAttentionPass> {
  using TesselTileAttentionBase::TesselTileAttentionBase;

  void runOnOperation() override {
    if (kvTileSize <= 0) {
      getOperation().emitError() << "kv-tile-size must be positive, got "
                                 << static_cast<int64_t>(kvTileSize);
      return signalPassFailure();
    }
    SmallVector<AttentionOp> ops;
    getOperation().walk([&](AttentionOp op) { ops.push_back(op); });
    for (AttentionOp op : ops) {
      Value out = tileAttention(op, kvTileSize);
      op.replaceAllUsesWith(out);
      op.erase();
    }
  }
};

} // namespace
} // namespace tessel
