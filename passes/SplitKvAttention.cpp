//===- SplitKvAttention.cpp - split-KV (flash-decoding) attention ---------===//
//
// See TesselSplitKvAttention in Passes.td. Each split runs the same
// online-softmax tile loop as tessel-tile-attention (FlashAttentionBuilder)
// over its own range of keys, from an empty state; the splits' states are
// then merged like two steps of the online softmax are:
//   M = max(sink, max_s m_s),  w_s = exp(m_s - M)  (0 where m_s = -inf),
//   L = exp(sink - M) + sum_s w_s l_s,  out = (sum_s w_s acc_s) / L.
// Sinks enter once, in the combine; a split that saw no key has m_s = -inf
// and weight 0, so it adds nothing and never computes -inf - -inf.
//
// Index names as in FlashAttentionBuilder.h, plus s for the split. Every
// linalg.generic lists its loops in the order given in its comment.
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
#define GEN_PASS_DEF_TESSELSPLITKVATTENTION
#include "passes/Passes.h.inc"
} // namespace tessel

using namespace mlir;

namespace tessel {
namespace {

using utils::IteratorType;
constexpr IteratorType P = IteratorType::parallel, R = IteratorType::reduction;

class SplitKvLowering {
public:
  SplitKvLowering(AttentionOp op, OpBuilder &b, int64_t numSplits, int64_t tile)
      : op(op), b(b), loc(op.getLoc()), fa(op, b, tile), lb(fa.linalg()), numSplits(numSplits) {}

  Value build() {
    Value q5 = fa.groupedQuery();
    SoftmaxState parts = partialStates(q5);
    return combine(parts);
  }

private:
  // An scf.forall over the splits; split s runs the tile loop over its keys
  // and writes its state into row s of [S, ...] tensors.
  SoftmaxState partialStates(Value q5) {
    Value kvLen = fa.keyLen(), tile = lb.index(fa.tileSize());
    // Keys older than the window of the oldest query are seen by no query:
    // leaving them out gives every split useful work in windowed decode.
    Value lo = lb.index(0);
    if (std::optional<uint64_t> window = op.getWindow()) {
      Value oldestPos = arith::SubIOp::create(b, loc, kvLen, fa.queryLen());
      Value first =
          arith::SubIOp::create(b, loc, oldestPos, lb.index(static_cast<int64_t>(*window) - 1));
      lo = arith::MaxSIOp::create(b, loc, first, lb.index(0));
    }
    // Each split gets a whole number of tiles, so only the context's last
    // tile can be partial (as in the plain loop), and a short context uses
    // fewer splits rather than tiny ones. Splits past the end get empty
    // ranges and keep the empty state.
    Value span = arith::SubIOp::create(b, loc, kvLen, lo);
    Value perSplit = arith::CeilDivSIOp::create(b, loc, span, lb.index(numSplits));
    Value chunk =
        arith::MulIOp::create(b, loc, arith::CeilDivSIOp::create(b, loc, perSplit, tile), tile);

    SmallVector<Value> rows = splitShape(fa.rowShape()), accs = splitShape(fa.accShape());
    Type f32 = b.getF32Type();
    // With no body builder, the body gets its terminator (an empty
    // scf.forall.in_parallel) and is filled in below.
    auto forall = scf::ForallOp::create(
        b, loc, ArrayRef<OpFoldResult>{b.getIndexAttr(numSplits)},
        ValueRange{lb.empty(rows, f32), lb.empty(rows, f32), lb.empty(accs, f32)}, std::nullopt);

    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPoint(forall.getTerminator());
      Value s = forall.getInductionVar(0);
      Value start = arith::AddIOp::create(b, loc, lo, arith::MulIOp::create(b, loc, s, chunk));
      Value begin = arith::MinSIOp::create(b, loc, start, kvLen);
      Value end =
          arith::MinSIOp::create(b, loc, arith::AddIOp::create(b, loc, begin, chunk), kvLen);

      // The split's state lives in its row of the outputs from the start,
      // so bufferization can run the whole loop in place.
      ValueRange outs = forall.getRegionIterArgs();
      SmallVector<Value> rowDims = fa.rowShape(), accDims = fa.accShape();
      SoftmaxState init = fa.emptyState(rowOf(outs[0], s, rowDims), rowOf(outs[1], s, rowDims),
                                        rowOf(outs[2], s, accDims));
      SoftmaxState last = fa.tileLoop(q5, begin, end, init);

      b.setInsertionPointToStart(forall.getTerminator().getBody());
      insertRow(last.m, outs[0], s, rowDims);
      insertRow(last.l, outs[1], s, rowDims);
      insertRow(last.acc, outs[2], s, accDims);
    }
    return {forall.getResult(0), forall.getResult(1), forall.getResult(2)};
  }

  // The merge of the splits' states, then acc / l as in tessel-tile-attention.
  Value combine(SoftmaxState parts) {
    Type f32 = b.getF32Type();
    SmallVector<Value> rowDims = fa.rowShape();
    Value sinks = fa.sinkRows(); // [b, kv, g, i], or null

    // M[b, kv, g, i] = max(sink, max_s m_s)                        (b kv g i s)
    Value mInit = sinks ? sinks : lb.fill(rowDims, fa.negInfinity());
    Value mMax = lb.generic(5, {parts.m}, {{4, 0, 1, 2, 3}}, mInit, {0, 1, 2, 3}, {P, P, P, P, R},
                            [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                              return arith::MaximumFOp::create(nb, nl, a[0], a[1]);
                            });
    // w[s, b, kv, g, i] = exp(m_s - M), 0 for a split that saw no key
    //                                                              (s b kv g i)
    Value w = lb.generic(
        5, {parts.m, mMax}, {{0, 1, 2, 3, 4}, {1, 2, 3, 4}}, lb.empty(splitShape(rowDims), f32),
        {0, 1, 2, 3, 4}, {P, P, P, P, P},
        [&](OpBuilder &nb, Location nl, ValueRange a) { return fa.expOrZero(nb, nl, a[0], a[1]); });
    // L[b, kv, g, i] = exp(sink - M) + sum_s w_s l_s: the sink counted once.
    //                                                  (b kv g i), then (b kv g i s)
    Value lInit = lb.fill(rowDims, fa.zeroF32());
    if (sinks)
      lInit = lb.generic(4, {sinks, mMax}, {{0, 1, 2, 3}, {0, 1, 2, 3}}, lInit, {0, 1, 2, 3},
                         {P, P, P, P}, [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                           return math::ExpOp::create(nb, nl,
                                                      arith::SubFOp::create(nb, nl, a[0], a[1]));
                         });
    Value l = lb.generic(5, {w, parts.l}, {{4, 0, 1, 2, 3}, {4, 0, 1, 2, 3}}, lInit, {0, 1, 2, 3},
                         {P, P, P, P, R}, [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                           Value prod = arith::MulFOp::create(nb, nl, a[0], a[1]);
                           return arith::AddFOp::create(nb, nl, a[2], prod);
                         });
    // acc[b, i, kv, g, e] = sum_s w_s acc_s                      (b i kv g e s)
    Value acc =
        lb.generic(6, {w, parts.acc}, {{5, 0, 2, 3, 1}, {5, 0, 1, 2, 3, 4}},
                   lb.fill(fa.accShape(), fa.zeroF32()), {0, 1, 2, 3, 4}, {P, P, P, P, P, R},
                   [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                     Value prod = arith::MulFOp::create(nb, nl, a[0], a[1]);
                     return arith::AddFOp::create(nb, nl, a[2], prod);
                   });
    return fa.finish(l, acc);
  }

  // [S, dims...]
  SmallVector<Value> splitShape(ArrayRef<Value> dims) {
    SmallVector<Value> shape = {lb.index(numSplits)};
    shape.append(dims.begin(), dims.end());
    return shape;
  }

  // Row s of `all` ([S, dims...]) as a tensor of `dims`, and back.
  Value rowOf(Value all, Value s, ArrayRef<Value> dims) {
    auto [offsets, sizes, strides] = rowSlice(s, dims);
    return tensor::ExtractSliceOp::create(b, loc, lb.type(dims, b.getF32Type()), all, offsets,
                                          sizes, strides);
  }
  void insertRow(Value row, Value all, Value s, ArrayRef<Value> dims) {
    auto [offsets, sizes, strides] = rowSlice(s, dims);
    tensor::ParallelInsertSliceOp::create(b, loc, row, all, offsets, sizes, strides);
  }
  std::tuple<SmallVector<OpFoldResult>, SmallVector<OpFoldResult>, SmallVector<OpFoldResult>>
  rowSlice(Value s, ArrayRef<Value> dims) {
    SmallVector<OpFoldResult> offsets = {s}, sizes = {b.getIndexAttr(1)};
    for (Value d : dims) {
      offsets.push_back(b.getIndexAttr(0));
      sizes.push_back(lb.ofr(d));
    }
    return {offsets, sizes, SmallVector<OpFoldResult>(dims.size() + 1, b.getIndexAttr(1))};
  }

  AttentionOp op;
  OpBuilder &b;
  Location loc;
  FlashAttentionBuilder fa;
  LinalgBuilder &lb;
  int64_t numSplits;
};

struct SplitKvAttentionPass : impl::TesselSplitKvAttentionBase<SplitKvAttentionPass> {
  using TesselSplitKvAttentionBase::TesselSplitKvAttentionBase;

  void runOnOperation() override {
    if (numSplits < 1 || kvTileSize < 1 || maxQueryLen < -1) {
      getOperation().emitError()
          << "tessel-split-kv-attention needs num-splits >= 1, kv-tile-size >= 1 and "
             "max-query-len >= -1, got "
          << static_cast<int64_t>(numSplits) << ", " << static_cast<int64_t>(kvTileSize) << " and "
          << static_cast<int64_t>(maxQueryLen);
      return signalPassFailure();
    }
    // One split is the plain loop: tessel-tile-attention's job.
    if (numSplits == 1)
      return;
    SmallVector<AttentionOp> ops;
    getOperation().walk([&](AttentionOp op) { ops.push_back(op); });
    for (AttentionOp op : ops)
      rewrite(op);
  }

  void rewrite(AttentionOp op) {
    int64_t qLen = cast<RankedTensorType>(op.getQuery().getType()).getDimSize(1);
    int64_t kvLen = cast<RankedTensorType>(op.getKey().getType()).getDimSize(1);
    // A context known to fit in one tile has nothing to split.
    if (!ShapedType::isDynamic(kvLen) && kvLen <= kvTileSize)
      return;
    bool unlimited = maxQueryLen < 0;
    if (!unlimited && !ShapedType::isDynamic(qLen) && qLen > maxQueryLen)
      return;

    OpBuilder b(op);
    Value out;
    if (unlimited || !ShapedType::isDynamic(qLen)) {
      out = SplitKvLowering(op, b, numSplits, kvTileSize).build();
    } else {
      // q_len is only known at run time (one @step serves prefill chunks
      // and decode): choose the split path or the plain op when it runs.
      // The plain op is left for tessel-tile-attention.
      Location loc = op.getLoc();
      Value qLenValue = tensor::DimOp::create(b, loc, op.getQuery(), 1);
      Value isShort = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sle, qLenValue,
                                            arith::ConstantIndexOp::create(b, loc, maxQueryLen));
      auto ifOp = scf::IfOp::create(b, loc, TypeRange{op.getType()}, isShort,
                                    /*withElseRegion=*/true);
      b.setInsertionPointToStart(ifOp.thenBlock());
      Value split = SplitKvLowering(op, b, numSplits, kvTileSize).build();
      scf::YieldOp::create(b, loc, split);
      b.setInsertionPointToStart(ifOp.elseBlock());
      Operation *plain = b.clone(*op);
      scf::YieldOp::create(b, loc, plain->getResult(0));
      out = ifOp.getResult(0);
    }
    op.replaceAllUsesWith(out);
    op.erase();
  }
};

} // namespace
} // namespace tessel
