//===- FlashAttentionBuilder.cpp ------------------------------------------===//
//
// Every linalg.generic lists its loops in the order given in its comment
// (index names in FlashAttentionBuilder.h).
//
//===----------------------------------------------------------------------===//
#include "passes/FlashAttentionBuilder.h"

#include <cmath>
#include <limits>

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;

namespace tessel {

using utils::IteratorType;
static constexpr IteratorType P = IteratorType::parallel, R = IteratorType::reduction;

FlashAttentionBuilder::FlashAttentionBuilder(AttentionOp op, OpBuilder &b, int64_t kvTileSize)
    : op(op), b(b), loc(op.getLoc()), lb(b, loc), tile(kvTileSize) {
  Value q = op.getQuery(), k = op.getKey(), v = op.getValue();
  auto qType = cast<RankedTensorType>(q.getType());
  int64_t heads = static_cast<int64_t>(op.getNumHeads());
  kvHeads = static_cast<int64_t>(op.getNumKvHeads());
  group = heads / kvHeads;
  headDim = qType.getDimSize(3);
  valueDim = cast<RankedTensorType>(v.getType()).getDimSize(3);
  batch_ = lb.dim(q, 0);
  qLen = lb.dim(q, 1);
  kvLen = lb.dim(k, 1);
  f32 = b.getF32Type();
  double scale = op.getScale() ? op.getScale()->convertToDouble()
                               : 1.0 / std::sqrt(static_cast<double>(headDim));
  scaleValue = lb.f32(scale);
  negInf = lb.f32(-std::numeric_limits<double>::infinity());
  zero = lb.f32(0.0);
}

SmallVector<Value> FlashAttentionBuilder::rowShape() {
  return {batch_, lb.index(kvHeads), lb.index(group), qLen};
}

SmallVector<Value> FlashAttentionBuilder::accShape() {
  return {batch_, qLen, lb.index(kvHeads), lb.index(group), lb.index(valueDim)};
}

Value FlashAttentionBuilder::groupedQuery() {
  return tensor::ExpandShapeOp::create(
      b, loc, lb.type({batch_, qLen, lb.index(kvHeads), lb.index(group), lb.index(headDim)}, f32),
      op.getQuery(), SmallVector<ReassociationIndices>{{0}, {1}, {2, 3}, {4}},
      SmallVector<OpFoldResult>{lb.ofr(batch_), lb.ofr(qLen), b.getIndexAttr(kvHeads),
                                b.getIndexAttr(group), b.getIndexAttr(headDim)});
}

Value FlashAttentionBuilder::sinkRows() {
  Value sinks = op.getSinks();
  if (!sinks)
    return {};
  Value sinks2 = tensor::ExpandShapeOp::create(b, loc, RankedTensorType::get({kvHeads, group}, f32),
                                               sinks, SmallVector<ReassociationIndices>{{0, 1}});
  // rows[b, kv, g, i] = sink[kv, g]                               (b kv g i)
  return lb.generic(4, {sinks2}, {{1, 2}}, lb.empty(rowShape(), f32), {0, 1, 2, 3}, {P, P, P, P},
                    [&](OpBuilder &nb, Location nl, ValueRange a) { return a[0]; });
}

SoftmaxState FlashAttentionBuilder::emptyState() {
  return {lb.fill(rowShape(), negInf), lb.fill(rowShape(), zero), lb.fill(accShape(), zero)};
}

SoftmaxState FlashAttentionBuilder::emptyState(Value mInit, Value lInit, Value accInit) {
  auto fill = [&](Value value, Value dest) {
    return linalg::FillOp::create(b, loc, value, dest).getResult(0);
  };
  return {fill(negInf, mInit), fill(zero, lInit), fill(zero, accInit)};
}

SoftmaxState FlashAttentionBuilder::initialState() {
  Value m0 = sinkRows();
  if (!m0)
    return emptyState();
  return {m0, lb.fill(rowShape(), lb.f32(1.0)), lb.fill(accShape(), zero)};
}

SoftmaxState FlashAttentionBuilder::tileLoop(Value q5, Value begin, Value end, SoftmaxState init) {
  auto loop = scf::ForOp::create(
      b, loc, begin, end, lb.index(tile), ValueRange{init.m, init.l, init.acc},
      [&](OpBuilder &bodyBuilder, Location bodyLoc, Value t, ValueRange state) {
        // Build the body with `b` (and so `lb`) at the body's insertion point.
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPoint(bodyBuilder.getInsertionBlock(), bodyBuilder.getInsertionPoint());
        SoftmaxState next = tileStep(q5, t, end, {state[0], state[1], state[2]});
        scf::YieldOp::create(b, bodyLoc, ValueRange{next.m, next.l, next.acc});
      });
  return {loop.getResult(0), loop.getResult(1), loop.getResult(2)};
}

Value FlashAttentionBuilder::finish(Value l, Value acc) {
  // out[b, i, kv, g, e] = acc / l (a row that saw no key has l = 0: zeros).
  SmallVector<Value> shape = accShape();
  Value out5 = lb.generic(
      5, {acc, l}, {{0, 1, 2, 3, 4}, {0, 2, 3, 1}}, lb.empty(shape, f32), {0, 1, 2, 3, 4},
      {P, P, P, P, P}, [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
        Value isZero = arith::CmpFOp::create(nb, nl, arith::CmpFPredicate::OEQ, a[1], zero);
        Value quotient = arith::DivFOp::create(nb, nl, a[0], a[1]);
        return arith::SelectOp::create(nb, nl, isZero, zero, quotient);
      });
  return tensor::CollapseShapeOp::create(b, loc, op.getType(), out5,
                                         SmallVector<ReassociationIndices>{{0}, {1}, {2, 3}, {4}});
}

// One K/V tile starting at key `t` (and ending before `end`): the new state.
SoftmaxState FlashAttentionBuilder::tileStep(Value q5, Value t, Value end, SoftmaxState state) {
  Value m = state.m, l = state.l, acc = state.acc;
  Value n = arith::MinSIOp::create(b, loc, lb.index(tile), arith::SubIOp::create(b, loc, end, t));
  Value kt = slice(op.getKey(), t, n, headDim);
  Value vt = slice(op.getValue(), t, n, valueDim);
  SmallVector<Value> scoreShape = {batch_, lb.index(kvHeads), lb.index(group), qLen, n};

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
          SmallVector<OpFoldResult>{lb.ofr(batch_), lb.ofr(n)},
          SmallVector<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(1)}));
      maps.push_back({0, 4});
    } else {
      ins.push_back(tensor::ExtractSliceOp::create(
          b, loc, mask, SmallVector<OpFoldResult>{b.getIndexAttr(0), b.getIndexAttr(0), lb.ofr(t)},
          SmallVector<OpFoldResult>{lb.ofr(batch_), lb.ofr(qLen), lb.ofr(n)},
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
  SmallVector<Value> rows = rowShape();
  Value alpha = lb.generic(
      4, {m, mNew}, {{0, 1, 2, 3}, {0, 1, 2, 3}}, lb.empty(rows, f32), {0, 1, 2, 3}, {P, P, P, P},
      [&](OpBuilder &nb, Location nl, ValueRange a) { return expOrZero(nb, nl, a[0], a[1]); });
  // l_new = alpha * l + sum_j p                                   (b kv g i j)
  Value lScaled =
      lb.generic(4, {alpha, l}, {{0, 1, 2, 3}, {0, 1, 2, 3}}, lb.empty(rows, f32), {0, 1, 2, 3},
                 {P, P, P, P}, [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                   return arith::MulFOp::create(nb, nl, a[0], a[1]);
                 });
  Value lNew = lb.generic(5, {p}, {{0, 1, 2, 3, 4}}, lScaled, {0, 1, 2, 3}, {P, P, P, P, R},
                          [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                            return arith::AddFOp::create(nb, nl, a[1], a[0]);
                          });
  // acc_new[b, i, kv, g, e] = alpha * acc + sum_j p * v[b, t + j, kv, e]
  SmallVector<Value> accDims = accShape();
  Value accScaled = lb.generic(5, {acc, alpha}, {{0, 1, 2, 3, 4}, {0, 2, 3, 1}},
                               lb.empty(accDims, f32), {0, 1, 2, 3, 4}, {P, P, P, P, P},
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

Value FlashAttentionBuilder::expOrZero(OpBuilder &nb, Location nl, Value x, Value max) {
  Value isNegInf = arith::CmpFOp::create(nb, nl, arith::CmpFPredicate::OEQ, x, negInf);
  Value e = math::ExpOp::create(nb, nl, arith::SubFOp::create(nb, nl, x, max));
  return arith::SelectOp::create(nb, nl, isNegInf, zero, e);
}

Value FlashAttentionBuilder::slice(Value x, Value t, Value n, int64_t lastDim) {
  return tensor::ExtractSliceOp::create(
      b, loc, x,
      SmallVector<OpFoldResult>{b.getIndexAttr(0), lb.ofr(t), b.getIndexAttr(0), b.getIndexAttr(0)},
      SmallVector<OpFoldResult>{lb.ofr(batch_), lb.ofr(n), b.getIndexAttr(kvHeads),
                                b.getIndexAttr(lastDim)},
      SmallVector<OpFoldResult>(4, b.getIndexAttr(1)));
}

} // namespace tessel
