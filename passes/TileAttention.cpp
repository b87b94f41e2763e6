//===- TileAttention.cpp - FlashAttention tiling with online softmax ------===//
//
// See TesselTileAttention in Passes.td. Index names used below:
//   b batch, i query row, j key within a tile, kv K/V head, g query head
//   within its group (h = kv * group + g), d head dim, e value dim.
// Every linalg.generic lists its loops in the order given in its comment.
//
//===----------------------------------------------------------------------===//
#include <limits>

#include "dialect/TesselOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "passes/LinalgBuilder.h"
#include "passes/Passes.h"

namespace tessel {
#define GEN_PASS_DEF_TESSELTILEATTENTION
#include "passes/Passes.h.inc"
} // namespace tessel

using namespace mlir;

namespace tessel {
namespace {

using utils::IteratorType;
constexpr IteratorType P = IteratorType::parallel, R = IteratorType::reduction;

class AttentionTiler {
public:
  AttentionTiler(AttentionOp op, int64_t tile)
      : op(op), b(op), loc(op.getLoc()), lb(b, loc), tile(tile) {}

  Value build() {
    Value q = op.getQuery(), k = op.getKey(), v = op.getValue();
    auto qType = cast<RankedTensorType>(q.getType());
    int64_t heads = static_cast<int64_t>(op.getNumHeads());
    kvHeads = static_cast<int64_t>(op.getNumKvHeads());
    group = heads / kvHeads;
    headDim = qType.getDimSize(3);
    valueDim = cast<RankedTensorType>(v.getType()).getDimSize(3);
    batch = lb.dim(q, 0);
    qLen = lb.dim(q, 1);
    kvLen = lb.dim(k, 1);
    f32 = b.getF32Type();
    double scale = op.getScale() ? op.getScale()->convertToDouble()
                                 : 1.0 / std::sqrt(static_cast<double>(headDim));
    scaleValue = lb.f32(scale);
    negInf = lb.f32(-std::numeric_limits<double>::infinity());
    zero = lb.f32(0.0);

    // [b, i, kv, g, d]: the grouped view of the query (no data moves).
    Value q5 = tensor::ExpandShapeOp::create(
        b, loc, lb.type({batch, qLen, lb.index(kvHeads), lb.index(group), lb.index(headDim)}, f32),
        q, SmallVector<ReassociationIndices>{{0}, {1}, {2, 3}, {4}},
        SmallVector<OpFoldResult>{lb.ofr(batch), lb.ofr(qLen), b.getIndexAttr(kvHeads),
                                  b.getIndexAttr(group), b.getIndexAttr(headDim)});

    // Running state: m, l [b, kv, g, i]; acc [b, i, kv, g, e].
    SmallVector<Value> rowShape = {batch, lb.index(kvHeads), lb.index(group), qLen};
    Value m0, l0;
    if (Value sinks = op.getSinks()) {
      // A sink is one extra logit per head: start the softmax with it.
      Value sinks2 =
          tensor::ExpandShapeOp::create(b, loc, RankedTensorType::get({kvHeads, group}, f32), sinks,
                                        SmallVector<ReassociationIndices>{{0, 1}});
      m0 = lb.generic(4, {sinks2}, {{1, 2}}, lb.empty(rowShape, f32), {0, 1, 2, 3}, {P, P, P, P},
                      [&](OpBuilder &nb, Location nl, ValueRange a) { return a[0]; });
      l0 = lb.fill(rowShape, lb.f32(1.0));
    } else {
      m0 = lb.fill(rowShape, negInf);
      l0 = lb.fill(rowShape, zero);
    }
    SmallVector<Value> accShape = {batch, qLen, lb.index(kvHeads), lb.index(group),
                                   lb.index(valueDim)};
    Value acc0 = lb.fill(accShape, zero);

    Value c0 = lb.index(0), step = lb.index(tile);
    auto loop =
        scf::ForOp::create(b, loc, c0, kvLen, step, ValueRange{m0, l0, acc0},
                           [&](OpBuilder &lb, Location ll, Value t, ValueRange state) {
                             OpBuilder::InsertionGuard guard(b);
                             b.setInsertionPoint(lb.getInsertionBlock(), lb.getInsertionPoint());
                             SmallVector<Value> next = step_(q5, t, state[0], state[1], state[2]);
                             scf::YieldOp::create(b, ll, next);
                           });

    // out[b, i, kv, g, e] = acc / l (a row that saw no key has l = 0: zeros).
    Value l = loop.getResult(1), acc = loop.getResult(2);
    Value out5 = lb.generic(
        5, {acc, l}, {{0, 1, 2, 3, 4}, {0, 2, 3, 1}}, lb.empty(accShape, f32), {0, 1, 2, 3, 4},
        {P, P, P, P, P}, [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
          Value isZero = arith::CmpFOp::create(nb, nl, arith::CmpFPredicate::OEQ, a[1], zero);
          Value quotient = arith::DivFOp::create(nb, nl, a[0], a[1]);
          return arith::SelectOp::create(nb, nl, isZero, zero, quotient);
        });
    return tensor::CollapseShapeOp::create(
        b, loc, op.getType(), out5, SmallVector<ReassociationIndices>{{0}, {1}, {2, 3}, {4}});
  }

private:
  // One K/V tile starting at key `t`: returns the new (m, l, acc).
  SmallVector<Value> step_(Value q5, Value t, Value m, Value l, Value acc) {
    Value n =
        arith::MinSIOp::create(b, loc, lb.index(tile), arith::SubIOp::create(b, loc, kvLen, t));
    Value kt = slice(op.getKey(), t, n, headDim);
    Value vt = slice(op.getValue(), t, n, valueDim);
    SmallVector<Value> scoreShape = {batch, lb.index(kvHeads), lb.index(group), qLen, n};

    // s[b, kv, g, i, j] = sum_d q5[b, i, kv, g, d] * k[b, t + j, kv, d]   (b kv g i j d)
    Value raw = lb.generic(6, {q5, kt}, {{0, 3, 1, 2, 5}, {0, 4, 1, 5}}, lb.fill(scoreShape, zero),
                           {0, 1, 2, 3, 4}, {P, P, P, P, P, R},
                           [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                             Value prod = arith::MulFOp::create(nb, nl, a[0], a[1]);
                             return arith::AddFOp::create(nb, nl, a[2], prod);
                           });

    // Scale, then -inf where the key is not visible.              (b kv g i j)
    SmallVector<Value> ins = {raw};
    SmallVector<SmallVector<int64_t>> maps = {{0, 1, 2, 3, 4}};
    Value mask = op.getMask();
    if (mask) {
      auto maskType = cast<RankedTensorType>(mask.getType());
      if (maskType.getRank() == 2) {
        ins.push_back(tensor::ExtractSliceOp::create(
            b, loc, mask, SmallVector<OpFoldResult>{b.getIndexAttr(0), lb.ofr(t)},
            SmallVector<OpFoldResult>{lb.ofr(batch), lb.ofr(n)},
            SmallVector<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(1)}));
        maps.push_back({0, 4});
      } else {
        ins.push_back(tensor::ExtractSliceOp::create(
            b, loc, mask,
            SmallVector<OpFoldResult>{b.getIndexAttr(0), b.getIndexAttr(0), lb.ofr(t)},
            SmallVector<OpFoldResult>{lb.ofr(batch), lb.ofr(qLen), lb.ofr(n)},
            SmallVector<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(1), b.getIndexAttr(1)}));
        maps.push_back({0, 3, 4});
      }
    }
    Value offset = arith::SubIOp::create(b, loc, kvLen, qLen); // queries are the newest keys
    bool causal = op.getCausal();
    std::optional<uint64_t> window = op.getWindow();
    Value s = lb.generic(
        5, ins, maps, lb.empty(scoreShape, f32), {0, 1, 2, 3, 4}, {P, P, P, P, P},
        [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
          Value scaled = arith::MulFOp::create(nb, nl, a[0], scaleValue);
          Value visible = arith::ConstantOp::create(nb, nl, nb.getBoolAttr(true));
          Value i = linalg::IndexOp::create(nb, nl, 3);
          Value j = arith::AddIOp::create(nb, nl, linalg::IndexOp::create(nb, nl, 4), t);
          Value pos = arith::AddIOp::create(nb, nl, i, offset);
          if (causal)
            visible = arith::AndIOp::create(
                nb, nl, visible, arith::CmpIOp::create(nb, nl, arith::CmpIPredicate::sle, j, pos));
          if (window) {
            Value w = arith::ConstantIndexOp::create(nb, nl, static_cast<int64_t>(*window));
            Value age = arith::SubIOp::create(nb, nl, pos, j);
            visible = arith::AndIOp::create(
                nb, nl, visible, arith::CmpIOp::create(nb, nl, arith::CmpIPredicate::slt, age, w));
          }
          if (mask)
            visible = arith::AndIOp::create(nb, nl, visible, a[1]);
          return arith::SelectOp::create(nb, nl, visible, scaled, negInf);
        });

    // m_new[b, kv, g, i] = max(m, max_j s)                          (b kv g i j)
    Value mNew = lb.generic(5, {s}, {{0, 1, 2, 3, 4}}, m, {0, 1, 2, 3}, {P, P, P, P, R},
                            [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                              return arith::MaximumFOp::create(nb, nl, a[0], a[1]);
                            });
    // p = exp(s - m_new), 0 where s = -inf                          (b kv g i j)
    Value p =
        lb.generic(5, {s, mNew}, {{0, 1, 2, 3, 4}, {0, 1, 2, 3}}, lb.empty(scoreShape, f32),
                   {0, 1, 2, 3, 4}, {P, P, P, P, P}, [&](OpBuilder &nb, Location nl, ValueRange a) {
                     return expOrZero(nb, nl, a[0], a[1]);
                   });
    // alpha = exp(m - m_new), 0 while m is still -inf               (b kv g i)
    SmallVector<Value> rowShape = {batch, lb.index(kvHeads), lb.index(group), qLen};
    Value alpha =
        lb.generic(4, {m, mNew}, {{0, 1, 2, 3}, {0, 1, 2, 3}}, lb.empty(rowShape, f32),
                   {0, 1, 2, 3}, {P, P, P, P}, [&](OpBuilder &nb, Location nl, ValueRange a) {
                     return expOrZero(nb, nl, a[0], a[1]);
                   });
    // l_new = alpha * l + sum_j p                                   (b kv g i j)
    Value lScaled = lb.generic(4, {alpha, l}, {{0, 1, 2, 3}, {0, 1, 2, 3}}, lb.empty(rowShape, f32),
                               {0, 1, 2, 3}, {P, P, P, P},
                               [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                                 return arith::MulFOp::create(nb, nl, a[0], a[1]);
                               });
    Value lNew = lb.generic(5, {p}, {{0, 1, 2, 3, 4}}, lScaled, {0, 1, 2, 3}, {P, P, P, P, R},
                            [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                              return arith::AddFOp::create(nb, nl, a[1], a[0]);
                            });
    // acc_new[b, i, kv, g, e] = alpha * acc + sum_j p * v[b, t + j, kv, e]
    SmallVector<Value> accShape = {batch, qLen, lb.index(kvHeads), lb.index(group),
                                   lb.index(valueDim)};
    Value accScaled = lb.generic(5, {acc, alpha}, {{0, 1, 2, 3, 4}, {0, 2, 3, 1}},
                                 lb.empty(accShape, f32), {0, 1, 2, 3, 4}, {P, P, P, P, P},
                                 [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                                   return arith::MulFOp::create(nb, nl, a[0], a[1]);
                                 });
    //                                                          (b i kv g e j)
    Value accNew =
        lb.generic(6, {p, vt}, {{0, 2, 3, 1, 5}, {0, 5, 2, 4}}, accScaled, {0, 1, 2, 3, 4},
                   {P, P, P, P, P, R}, [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                     Value prod = arith::MulFOp::create(nb, nl, a[0], a[1]);
                     return arith::AddFOp::create(nb, nl, a[2], prod);
                   });
    return {mNew, lNew, accNew};
  }

  Value expOrZero(OpBuilder &nb, Location nl, Value x, Value max) {
    Value isNegInf = arith::CmpFOp::create(nb, nl, arith::CmpFPredicate::OEQ, x, negInf);
    Value e = math::ExpOp::create(nb, nl, arith::SubFOp::create(nb, nl, x, max));
    return arith::SelectOp::create(nb, nl, isNegInf, zero, e);
  }

  Value slice(Value x, Value t, Value n, int64_t lastDim) {
    return tensor::ExtractSliceOp::create(
        b, loc, x,
        SmallVector<OpFoldResult>{b.getIndexAttr(0), lb.ofr(t), b.getIndexAttr(0),
                                  b.getIndexAttr(0)},
        SmallVector<OpFoldResult>{lb.ofr(batch), lb.ofr(n), b.getIndexAttr(kvHeads),
                                  b.getIndexAttr(lastDim)},
        SmallVector<OpFoldResult>(4, b.getIndexAttr(1)));
  }

  AttentionOp op;
  OpBuilder b;
  Location loc;
  LinalgBuilder lb;
  int64_t tile, kvHeads = 1, group = 1, headDim = 0, valueDim = 0;
  Value batch, qLen, kvLen, scaleValue, negInf, zero;
  Type f32;
};

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
      Value out = AttentionTiler(op, kvTileSize).build();
      op.replaceAllUsesWith(out);
      op.erase();
    }
  }
};

} // namespace
} // namespace tessel
