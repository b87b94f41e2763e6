//===- LowerToLinalg.cpp - tessel dense ops -> linalg on tensors ----------===//
//
// See TesselLowerToLinalg in Passes.td. Each lowering mirrors the reference
// semantics in reference/Ops.cpp; the JIT tests compare the two.
//
//===----------------------------------------------------------------------===//
#include <cmath>
#include <limits>
#include <optional>

#include "dialect/TesselOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "passes/LinalgBuilder.h"
#include "passes/Passes.h"
#include "llvm/ADT/TypeSwitch.h"

namespace tessel {
#define GEN_PASS_DEF_TESSELLOWERTOLINALG
#include "passes/Passes.h.inc"
} // namespace tessel

using namespace mlir;

namespace tessel {
namespace {

using utils::IteratorType;

SmallVector<int64_t> iota(int64_t n, int64_t from = 0) {
  SmallVector<int64_t> v;
  for (int64_t i = 0; i < n; ++i)
    v.push_back(from + i);
  return v;
}
SmallVector<IteratorType> parallel(int64_t n) {
  return SmallVector<IteratorType>(n, IteratorType::parallel);
}

class OpLowering {
public:
  explicit OpLowering(Operation *op) : b(op), loc(op->getLoc()), lb(b, loc), f32(b.getF32Type()) {}

  // y[..., n] = residual[..., n] + bias[n] + sum_k x[..., k] w[n, k]
  Value linear(Value x, Value w, Value bias, Value residual = Value()) {
    SmallVector<Value> outDims = lb.dims(x);
    int64_t r = outDims.size();
    outDims.back() = lb.dim(w, 0);
    // The accumulator starts from whatever is added to the product.
    Value init;
    if (bias && residual)
      init = lb.generic(r, {residual, bias}, {iota(r), {r - 1}}, lb.empty(outDims, f32), iota(r),
                        parallel(r), [](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                          return arith::AddFOp::create(nb, nl, a[0], a[1]);
                        });
    else if (bias)
      init = lb.generic(r, {bias}, {{r - 1}}, lb.empty(outDims, f32), iota(r), parallel(r),
                        [](OpBuilder &, Location, ValueRange a) { return a[0]; });
    else if (residual)
      init = residual;
    else
      init = lb.fill(outDims, lb.f32(0.0));
    SmallVector<int64_t> xDims = iota(r - 1);
    xDims.push_back(r);
    SmallVector<IteratorType> its = parallel(r);
    its.push_back(IteratorType::reduction);
    return lb.generic(r + 1, {x, w}, {xDims, {r - 1, r}}, init, iota(r), its,
                      [](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                        return arith::AddFOp::create(nb, nl, a[2],
                                                     arith::MulFOp::create(nb, nl, a[0], a[1]));
                      });
  }

  // The last dimension's extent as f32 (the divisor of a mean).
  Value lastExtentF32(Value x) {
    return arith::UIToFPOp::create(
        b, loc, f32, arith::IndexCastUIOp::create(b, loc, b.getI64Type(), lb.dims(x).back()));
  }

  // sum over the last dim of body(x): [...] -> rows.
  Value rowSum(Value x, ValueRange extra, ArrayRef<SmallVector<int64_t>> extraDims,
               function_ref<Value(OpBuilder &, Location, ValueRange)> term) {
    SmallVector<Value> d = lb.dims(x);
    int64_t r = d.size();
    SmallVector<Value> rows(d.begin(), d.end() - 1);
    SmallVector<Value> ins = {x};
    ins.append(extra.begin(), extra.end());
    SmallVector<SmallVector<int64_t>> maps = {iota(r)};
    maps.append(extraDims.begin(), extraDims.end());
    SmallVector<IteratorType> its = parallel(r - 1);
    its.push_back(IteratorType::reduction);
    return lb.generic(r, ins, maps, lb.fill(rows, lb.f32(0.0)), iota(r - 1), its,
                      [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                        return arith::AddFOp::create(nb, nl, a.back(), term(nb, nl, a));
                      });
  }

  Value rmsNorm(RMSNormOp op) {
    Value x = op.getInput();
    int64_t r = cast<RankedTensorType>(x.getType()).getRank();
    Value ss = rowSum(x, {}, {}, [](OpBuilder &nb, Location nl, ValueRange a) -> Value {
      return arith::MulFOp::create(nb, nl, a[0], a[0]);
    });
    Value n = lastExtentF32(x), eps = lb.f32(op.getEpsilon().convertToDouble());
    Value offset = lb.f32(op.getUnitOffset() ? 1.0 : 0.0), one = lb.f32(1.0);
    return lb.generic(
        r, {x, ss, op.getWeight()}, {iota(r), iota(r - 1), {r - 1}}, lb.empty(lb.dims(x), f32),
        iota(r), parallel(r), [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
          Value mean = arith::DivFOp::create(nb, nl, a[1], n);
          Value root = math::SqrtOp::create(nb, nl, arith::AddFOp::create(nb, nl, mean, eps));
          Value inv = arith::DivFOp::create(nb, nl, one, root);
          Value w = arith::AddFOp::create(nb, nl, a[2], offset);
          return arith::MulFOp::create(nb, nl, arith::MulFOp::create(nb, nl, a[0], inv), w);
        });
  }

  Value layerNorm(LayerNormOp op) {
    Value x = op.getInput();
    int64_t r = cast<RankedTensorType>(x.getType()).getRank();
    Value n = lastExtentF32(x), eps = lb.f32(op.getEpsilon().convertToDouble()), one = lb.f32(1.0);
    Value sum = rowSum(x, {}, {}, [](OpBuilder &, Location, ValueRange a) { return a[0]; });
    SmallVector<Value> xDims = lb.dims(x);
    SmallVector<Value> rows(xDims.begin(), xDims.end() - 1);
    Value mean =
        lb.generic(r - 1, {sum}, {iota(r - 1)}, lb.empty(rows, f32), iota(r - 1), parallel(r - 1),
                   [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                     return arith::DivFOp::create(nb, nl, a[0], n);
                   });
    Value var =
        rowSum(x, {mean}, {iota(r - 1)}, [](OpBuilder &nb, Location nl, ValueRange a) -> Value {
          Value c = arith::SubFOp::create(nb, nl, a[0], a[1]);
          return arith::MulFOp::create(nb, nl, c, c);
        });
    SmallVector<Value> ins = {x, mean, var, op.getWeight()};
    SmallVector<SmallVector<int64_t>> maps = {iota(r), iota(r - 1), iota(r - 1), {r - 1}};
    if (op.getBias()) {
      ins.push_back(op.getBias());
      maps.push_back({r - 1});
    }
    bool hasBias = static_cast<bool>(op.getBias());
    return lb.generic(
        r, ins, maps, lb.empty(lb.dims(x), f32), iota(r), parallel(r),
        [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
          Value centered = arith::SubFOp::create(nb, nl, a[0], a[1]);
          Value v = arith::AddFOp::create(nb, nl, arith::DivFOp::create(nb, nl, a[2], n), eps);
          Value inv = arith::DivFOp::create(nb, nl, one, math::SqrtOp::create(nb, nl, v));
          Value y =
              arith::MulFOp::create(nb, nl, arith::MulFOp::create(nb, nl, centered, inv), a[3]);
          return hasBias ? arith::AddFOp::create(nb, nl, y, a[4]).getResult() : y;
        });
  }

  Value rope(RopeOp op) {
    Value x = op.getInput(), positions = op.getPositions(), ff = op.getFreqFactors();
    auto type = cast<RankedTensorType>(x.getType());
    int64_t headDim = type.getDimSize(3);
    int64_t rot = op.getRotaryDim() ? static_cast<int64_t>(*op.getRotaryDim()) : headDim;
    int64_t half = rot / 2;
    bool interleaved = op.getLayout() == RopeLayout::interleaved;
    double theta = op.getTheta().convertToDouble(),
           scaling = op.getLinearScaling().convertToDouble();
    Type f64 = b.getF64Type();
    return lb.generic(
        4, {x, positions}, {iota(4), {0, 1}}, lb.empty(lb.dims(x), f32), iota(4), parallel(4),
        [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
          auto cIdx = [&](int64_t v) {
            return arith::ConstantIndexOp::create(nb, nl, v).getResult();
          };
          auto cF64 = [&](double v) {
            return arith::ConstantOp::create(nb, nl, nb.getF64FloatAttr(v)).getResult();
          };
          Value d = linalg::IndexOp::create(nb, nl, 3);
          Value rotated = arith::CmpIOp::create(nb, nl, arith::CmpIPredicate::ult, d, cIdx(rot));
          Value isFirst, pair, partner;
          if (interleaved) {
            Value rem = arith::RemUIOp::create(nb, nl, d, cIdx(2));
            isFirst = arith::CmpIOp::create(nb, nl, arith::CmpIPredicate::eq, rem, cIdx(0));
            pair = arith::DivUIOp::create(nb, nl, d, cIdx(2));
            partner =
                arith::SelectOp::create(nb, nl, isFirst, arith::AddIOp::create(nb, nl, d, cIdx(1)),
                                        arith::SubIOp::create(nb, nl, d, cIdx(1)));
          } else {
            isFirst = arith::CmpIOp::create(nb, nl, arith::CmpIPredicate::ult, d, cIdx(half));
            pair = arith::SelectOp::create(nb, nl, isFirst, d,
                                           arith::SubIOp::create(nb, nl, d, cIdx(half)));
            partner = arith::SelectOp::create(nb, nl, isFirst,
                                              arith::AddIOp::create(nb, nl, d, cIdx(half)),
                                              arith::SubIOp::create(nb, nl, d, cIdx(half)));
          }
          // Past rotary_dim nothing turns; keep the indices in range anyway.
          partner = arith::SelectOp::create(nb, nl, rotated, partner, d);
          pair = arith::SelectOp::create(nb, nl, rotated, pair, cIdx(0));
          Value other = tensor::ExtractOp::create(
              nb, nl, x,
              ValueRange{linalg::IndexOp::create(nb, nl, 0), linalg::IndexOp::create(nb, nl, 1),
                         linalg::IndexOp::create(nb, nl, 2), partner});
          // angle = pos / scaling * theta^(-2 pair / rot) [/ freq_factors[pair]], in f64.
          Value pos = arith::SIToFPOp::create(nb, nl, f64, a[1]);
          Value pairF = arith::UIToFPOp::create(
              nb, nl, f64, arith::IndexCastUIOp::create(nb, nl, nb.getI64Type(), pair));
          Value exponent = arith::MulFOp::create(nb, nl, pairF, cF64(-2.0 * std::log(theta) / rot));
          Value inv = math::ExpOp::create(nb, nl, exponent);
          if (ff) {
            Value ffValue = tensor::ExtractOp::create(nb, nl, ff, ValueRange{pair});
            Value factor = arith::ExtFOp::create(nb, nl, f64, ffValue);
            inv = arith::DivFOp::create(nb, nl, inv, factor);
          }
          Value angle =
              arith::MulFOp::create(nb, nl, arith::DivFOp::create(nb, nl, pos, cF64(scaling)), inv);
          Value c = math::CosOp::create(nb, nl, angle), s = math::SinOp::create(nb, nl, angle);
          Value self = arith::ExtFOp::create(nb, nl, f64, a[0]);
          Value otherF = arith::ExtFOp::create(nb, nl, f64, other);
          Value selfC = arith::MulFOp::create(nb, nl, self, c);
          Value otherS = arith::MulFOp::create(nb, nl, otherF, s);
          Value y =
              arith::SelectOp::create(nb, nl, isFirst, arith::SubFOp::create(nb, nl, selfC, otherS),
                                      arith::AddFOp::create(nb, nl, selfC, otherS));
          Value y32 = arith::TruncFOp::create(nb, nl, f32, y);
          return arith::SelectOp::create(nb, nl, rotated, y32, a[0]);
        });
  }

  Value activate(OpBuilder &nb, Location nl, Activation act, bool tanhApprox, Value x) {
    auto c = [&](double v) {
      return arith::ConstantOp::create(nb, nl, nb.getF32FloatAttr(v)).getResult();
    };
    switch (act) {
    case Activation::relu:
      return arith::MaximumFOp::create(nb, nl, x, c(0.0));
    case Activation::silu:
    case Activation::swiglu: {
      Value e = math::ExpOp::create(nb, nl, arith::NegFOp::create(nb, nl, x));
      return arith::DivFOp::create(nb, nl, x, arith::AddFOp::create(nb, nl, c(1.0), e));
    }
    case Activation::gelu:
    case Activation::geglu: {
      Value inner;
      if (tanhApprox) {
        Value x3 = arith::MulFOp::create(nb, nl, x, arith::MulFOp::create(nb, nl, x, x));
        Value u = arith::AddFOp::create(nb, nl, x, arith::MulFOp::create(nb, nl, x3, c(0.044715)));
        inner =
            math::TanhOp::create(nb, nl, arith::MulFOp::create(nb, nl, u, c(0.7978845608028654)));
      } else {
        inner =
            math::ErfOp::create(nb, nl, arith::MulFOp::create(nb, nl, x, c(0.7071067811865476)));
      }
      Value half = arith::MulFOp::create(nb, nl, x, c(0.5));
      return arith::MulFOp::create(nb, nl, half, arith::AddFOp::create(nb, nl, c(1.0), inner));
    }
    }
    return x;
  }

  // act(gate) * up, or act(up) without a gate, elementwise.
  Value activated(Value up, Value gate, Activation act, bool tanhApprox) {
    int64_t r = cast<RankedTensorType>(up.getType()).getRank();
    if (gate)
      return lb.generic(r, {gate, up}, {iota(r), iota(r)}, lb.empty(lb.dims(up), f32), iota(r),
                        parallel(r), [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                          return arith::MulFOp::create(
                              nb, nl, activate(nb, nl, act, tanhApprox, a[0]), a[1]);
                        });
    return lb.generic(r, {up}, {iota(r)}, lb.empty(lb.dims(up), f32), iota(r), parallel(r),
                      [&](OpBuilder &nb, Location nl, ValueRange a) {
                        return activate(nb, nl, act, tanhApprox, a[0]);
                      });
  }

  Value ffn(FFNOp op) {
    Value up = linear(op.getInput(), op.getWUp(), op.getBUp());
    Value gate;
    if (Value gateW = op.getWGate())
      gate = linear(op.getInput(), gateW, Value());
    Value hidden = activated(up, gate, op.getActivation(), op.getTanhApprox());
    return linear(hidden, op.getWDown(), op.getBDown(), op.getResidual());
  }

  // Tokens flattened to [T, dim]. The router's scores pick each token's
  // top_k experts in top_k rounds of an (max, argmax) reduction over E that
  // skips the experts earlier rounds took; only those experts' weights are
  // read (tensor.extract at the chosen expert), as in reference/Ops.cpp moe.
  Value moe(MoEOp op) {
    Value x = op.getInput();
    auto xType = cast<RankedTensorType>(x.getType());
    int64_t r = xType.getRank();
    if (r < 2)
      return Value();
    SmallVector<Value> xDims = lb.dims(x);
    Value flat = x;
    if (r > 2) {
      SmallVector<ReassociationIndices> re = {iota(r - 1), {r - 1}};
      flat = tensor::CollapseShapeOp::create(b, loc, x, re);
    }
    Value tokens = lb.dim(flat, 0), dimV = lb.dim(flat, 1);
    Value experts = lb.dim(op.getRouter(), 0);
    int64_t topK = static_cast<int64_t>(op.getTopK());
    Activation act = op.getActivation();
    bool tanhApprox = op.getTanhApprox();
    ValueRange ew = op.getExperts();
    bool gated = ew.size() == 3; // (up, gate, down) or (up, down)
    Value wUp = ew[0], wGate = gated ? ew[1] : Value(), wDown = ew.back();
    Value hidden = lb.dim(wUp, 1);
    auto add = [](OpBuilder &nb, Location nl, Value acc, Value v) -> Value {
      return arith::AddFOp::create(nb, nl, acc, v);
    };
    auto mul = [](OpBuilder &nb, Location nl, Value p, Value q) -> Value {
      return arith::MulFOp::create(nb, nl, p, q);
    };
    SmallVector<IteratorType> rowReduce = {IteratorType::parallel, IteratorType::reduction};

    // 1. scores [T, E].
    Value logits = linear(flat, op.getRouter(), Value());
    Value scores;
    if (op.getScoring() == MoeScoring::softmax) {
      Value negInf = lb.f32(-std::numeric_limits<double>::infinity());
      Value max = lb.generic(2, {logits}, {{0, 1}}, lb.fill({tokens}, negInf), {0}, rowReduce,
                             [](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                               return arith::MaximumFOp::create(nb, nl, a[0], a[1]);
                             });
      auto expShifted = [](OpBuilder &nb, Location nl, Value v, Value m) -> Value {
        return math::ExpOp::create(nb, nl, arith::SubFOp::create(nb, nl, v, m));
      };
      Value sum = lb.generic(2, {logits, max}, {{0, 1}, {0}}, lb.fill({tokens}, lb.f32(0.0)), {0},
                             rowReduce, [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                               return add(nb, nl, a[2], expShifted(nb, nl, a[0], a[1]));
                             });
      scores =
          lb.generic(2, {logits, max, sum}, {{0, 1}, {0}, {0}}, lb.empty({tokens, experts}, f32),
                     {0, 1}, parallel(2), [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                       return arith::DivFOp::create(nb, nl, expShifted(nb, nl, a[0], a[1]), a[2]);
                     });
    } else {
      Value one = lb.f32(1.0);
      scores = lb.generic(2, {logits}, {{0, 1}}, lb.empty({tokens, experts}, f32), {0, 1},
                          parallel(2), [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                            Value e =
                                math::ExpOp::create(nb, nl, arith::NegFOp::create(nb, nl, a[0]));
                            return arith::DivFOp::create(nb, nl, one, add(nb, nl, one, e));
                          });
    }

    // 2. top_k rounds: (score, expert) [T] each. An expert beats the
    // accumulator with a greater score, or an equal one and a lower index,
    // so the result does not depend on the order the reduction visits E.
    Type i64 = b.getI64Type();
    MLIRContext *ctx = b.getContext();
    AffineMap rowMap = AffineMap::get(2, 0, {getAffineDimExpr(0, ctx)}, ctx);
    AffineMap fullMap = AffineMap::getMultiDimIdentityMap(2, ctx);
    Value noneScore = lb.f32(-std::numeric_limits<double>::infinity());
    Value noneId = arith::ConstantIntOp::create(b, loc, i64, std::numeric_limits<int64_t>::max());
    SmallVector<Value> roundIds, roundScores;
    for (int64_t k = 0; k < topK; ++k) {
      SmallVector<Value> ins = {scores};
      ins.append(roundIds);
      SmallVector<AffineMap> maps = {fullMap};
      maps.append(roundIds.size(), rowMap);
      maps.append(2, rowMap);
      Value initScore = lb.fill({tokens}, noneScore), initId = lb.fill({tokens}, noneId);
      int64_t taken = roundIds.size();
      auto round = linalg::GenericOp::create(
          b, loc, TypeRange{initScore.getType(), initId.getType()}, ins,
          ValueRange{initScore, initId}, maps, rowReduce,
          [&](OpBuilder &nb, Location nl, ValueRange a) {
            Value e = arith::IndexCastOp::create(nb, nl, i64, linalg::IndexOp::create(nb, nl, 1));
            Value s = a[0], accScore = a[1 + taken], accId = a[2 + taken];
            Value better = arith::OrIOp::create(
                nb, nl, arith::CmpFOp::create(nb, nl, arith::CmpFPredicate::OGT, s, accScore),
                arith::AndIOp::create(
                    nb, nl, arith::CmpFOp::create(nb, nl, arith::CmpFPredicate::OEQ, s, accScore),
                    arith::CmpIOp::create(nb, nl, arith::CmpIPredicate::slt, e, accId)));
            for (int64_t j = 0; j < taken; ++j) {
              Value free = arith::CmpIOp::create(nb, nl, arith::CmpIPredicate::ne, e, a[1 + j]);
              better = arith::AndIOp::create(nb, nl, better, free);
            }
            linalg::YieldOp::create(nb, nl,
                                    ValueRange{arith::SelectOp::create(nb, nl, better, s, accScore),
                                               arith::SelectOp::create(nb, nl, better, e, accId)});
          });
      roundScores.push_back(round.getResult(0));
      roundIds.push_back(round.getResult(1));
    }
    // The rounds side by side: [T, top_k].
    Value kV = lb.index(topK);
    auto stack = [&](ArrayRef<Value> rounds, Type elem) {
      SmallVector<SmallVector<int64_t>> maps(rounds.size(), SmallVector<int64_t>{0});
      return lb.generic(2, rounds, maps, lb.empty({tokens, kV}, elem), {0, 1}, parallel(2),
                        [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                          Value s = linalg::IndexOp::create(nb, nl, 1);
                          Value v = a[0];
                          for (int64_t j = 1; j < topK; ++j) {
                            Value is =
                                arith::CmpIOp::create(nb, nl, arith::CmpIPredicate::eq, s,
                                                      arith::ConstantIndexOp::create(nb, nl, j));
                            v = arith::SelectOp::create(nb, nl, is, a[j], v);
                          }
                          return v;
                        });
    };
    Value ids = stack(roundIds, i64), picked = stack(roundScores, f32);
    Value scale = lb.f32(op.getRoutedScale().convertToDouble());
    Value weights;
    if (op.getNormalizeTopK()) {
      Value sum = lb.generic(2, {picked}, {{0, 1}}, lb.fill({tokens}, lb.f32(0.0)), {0}, rowReduce,
                             [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                               return add(nb, nl, a[1], a[0]);
                             });
      weights = lb.generic(2, {picked, sum}, {{0, 1}, {0}}, lb.empty({tokens, kV}, f32), {0, 1},
                           parallel(2), [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                             return mul(nb, nl, arith::DivFOp::create(nb, nl, a[0], a[1]), scale);
                           });
    } else {
      weights = lb.generic(2, {picked}, {{0, 1}}, lb.empty({tokens, kV}, f32), {0, 1}, parallel(2),
                           [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                             return mul(nb, nl, a[0], scale);
                           });
    }

    // 3. The chosen experts only: loops (t, s, out, in); out[t, s, o] =
    // sum_i in[t, (s,) i] * w[ids[t, s], o, i].
    SmallVector<IteratorType> contract = parallel(3);
    contract.push_back(IteratorType::reduction);
    auto gathered = [&](Value in, SmallVector<int64_t> inDims, Value w, Value outExtent) {
      return lb.generic(
          4, {in, ids}, {inDims, {0, 1}}, lb.fill({tokens, kV, outExtent}, lb.f32(0.0)), {0, 1, 2},
          contract, [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
            Value e = arith::IndexCastOp::create(nb, nl, nb.getIndexType(), a[1]);
            Value v = tensor::ExtractOp::create(nb, nl, w,
                                                ValueRange{e, linalg::IndexOp::create(nb, nl, 2),
                                                           linalg::IndexOp::create(nb, nl, 3)});
            return add(nb, nl, a[2], mul(nb, nl, a[0], v));
          });
    };
    Value up = gathered(flat, {0, 3}, wUp, hidden);
    Value gate = wGate ? gathered(flat, {0, 3}, wGate, hidden) : Value();
    Value down = gathered(activated(up, gate, act, tanhApprox), {0, 1, 3}, wDown, dimV);

    // 4. y[t, d] = shared(x)[t, d] + sum_s weights[t, s] down[t, s, d].
    Value init;
    ValueRange sw = op.getShared();
    if (sw.empty()) {
      init = lb.fill({tokens, dimV}, lb.f32(0.0));
    } else {
      Value sUp = linear(flat, sw[0], Value());
      Value sGate = gated ? linear(flat, sw[1], Value()) : Value();
      init = linear(activated(sUp, sGate, act, tanhApprox), sw.back(), Value());
    }
    Value y = lb.generic(3, {weights, down}, {{0, 2}, {0, 2, 1}}, init, {0, 1},
                         {IteratorType::parallel, IteratorType::parallel, IteratorType::reduction},
                         [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                           return add(nb, nl, a[2], mul(nb, nl, a[0], a[1]));
                         });
    if (r > 2) {
      SmallVector<ReassociationIndices> re = {iota(r - 1), {r - 1}};
      SmallVector<OpFoldResult> shape;
      for (Value d : xDims)
        shape.push_back(lb.ofr(d));
      y = tensor::ExpandShapeOp::create(b, loc, xType, y, re, shape);
    }
    if (y.getType() != op.getType())
      y = tensor::CastOp::create(b, loc, op.getType(), y);
    return y;
  }

  Value residualAdd(ResidualAddOp op) {
    int64_t r = op.getType().getRank();
    return lb.generic(r, {op.getResidual(), op.getBranch()}, {iota(r), iota(r)},
                      lb.empty(lb.dims(op.getResidual()), f32), iota(r), parallel(r),
                      [](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                        return arith::AddFOp::create(nb, nl, a[0], a[1]);
                      });
  }

  Value softmax(SoftmaxOp op) {
    Value x = op.getInput();
    // I64Attr's getter is unsigned: -1 (the last axis) must be read signed.
    int64_t r = op.getType().getRank(), axis = static_cast<int64_t>(op.getAxis());
    if (axis < 0)
      axis += r;
    // Loops: the other dims in order, then the axis last.
    SmallVector<int64_t> xMap;
    for (int64_t d = 0; d < r; ++d)
      xMap.push_back(d == axis ? r - 1 : (d < axis ? d : d - 1));
    SmallVector<Value> all = lb.dims(x), rows;
    for (int64_t d = 0; d < r; ++d)
      if (d != axis)
        rows.push_back(all[d]);
    SmallVector<IteratorType> reduce = parallel(r - 1);
    reduce.push_back(IteratorType::reduction);
    Value negInf = lb.f32(-std::numeric_limits<double>::infinity());
    Value max = lb.generic(r, {x}, {xMap}, lb.fill(rows, negInf), iota(r - 1), reduce,
                           [](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                             return arith::MaximumFOp::create(nb, nl, a[0], a[1]);
                           });
    auto expShifted = [](OpBuilder &nb, Location nl, Value v, Value m) -> Value {
      return math::ExpOp::create(nb, nl, arith::SubFOp::create(nb, nl, v, m));
    };
    Value sum =
        lb.generic(r, {x, max}, {xMap, iota(r - 1)}, lb.fill(rows, lb.f32(0.0)), iota(r - 1),
                   reduce, [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                     return arith::AddFOp::create(nb, nl, a[2], expShifted(nb, nl, a[0], a[1]));
                   });
    return lb.generic(r, {x, max, sum}, {xMap, iota(r - 1), iota(r - 1)}, lb.empty(all, f32), xMap,
                      parallel(r), [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                        return arith::DivFOp::create(nb, nl, expShifted(nb, nl, a[0], a[1]), a[2]);
                      });
  }

  // p[b, h, i, j] for h = kv_head * group + g, from a [b, kv_heads, group,
  // q_len, kv_len] nest: grouping the query heads over their KV head keeps
  // every indexing map a projected permutation and never copies K. Scores
  // of hidden keys become -inf before a softmax over j whose rows with no
  // visible key stay zero (as tessel.attention's do); sinks start the max
  // and the denominator.
  Value attentionProbs(AttentionProbsOp op) {
    Value q = op.getQuery(), k = op.getKey();
    auto qType = op.getQuery().getType();
    int64_t heads = static_cast<int64_t>(op.getNumHeads());
    int64_t kvHeads = static_cast<int64_t>(op.getNumKvHeads()), group = heads / kvHeads;
    Value batch = lb.dim(q, 0), qLen = lb.dim(q, 1), kvLen = lb.dim(k, 1), headDim = lb.dim(q, 3);
    Value grouped = tensor::ExpandShapeOp::create(
        b, loc,
        RankedTensorType::get(
            {qType.getDimSize(0), qType.getDimSize(1), kvHeads, group, qType.getDimSize(3)}, f32),
        q, SmallVector<ReassociationIndices>{{0}, {1}, {2, 3}, {4}},
        SmallVector<OpFoldResult>{lb.ofr(batch), lb.ofr(qLen), b.getIndexAttr(kvHeads),
                                  b.getIndexAttr(group), lb.ofr(headDim)});
    // Loops: 0 batch, 1 kv head, 2 head in group, 3 query, 4 key (5 head_dim).
    SmallVector<Value> dims = {batch, lb.index(kvHeads), lb.index(group), qLen, kvLen};
    SmallVector<Value> rows(dims.begin(), dims.end() - 1);
    SmallVector<int64_t> row = iota(4);
    SmallVector<IteratorType> contract = parallel(5), reduce = parallel(4);
    contract.push_back(IteratorType::reduction);
    reduce.push_back(IteratorType::reduction);
    Value scores = lb.generic(
        6, {grouped, k}, {{0, 3, 1, 2, 5}, {0, 4, 1, 5}}, lb.fill(dims, lb.f32(0.0)), iota(5),
        contract, [](OpBuilder &nb, Location nl, ValueRange a) -> Value {
          return arith::AddFOp::create(nb, nl, a[2], arith::MulFOp::create(nb, nl, a[0], a[1]));
        });

    double scaleValue = op.getScale() ? op.getScale()->convertToDouble()
                                      : 1.0 / std::sqrt(static_cast<double>(qType.getDimSize(3)));
    Value scale = lb.f32(scaleValue), negInf = lb.f32(-std::numeric_limits<double>::infinity());
    // Query i sits at position i + kv_len - q_len.
    Value newest = arith::SubIOp::create(b, loc, kvLen, qLen);
    std::optional<int64_t> window;
    if (auto w = op.getWindow())
      window = static_cast<int64_t>(*w);
    bool causal = op.getCausal();
    SmallVector<Value> maskIn;
    SmallVector<SmallVector<int64_t>> maskMaps;
    if (Value mask = op.getMask()) {
      maskIn.push_back(mask);
      maskMaps.push_back(cast<RankedTensorType>(mask.getType()).getRank() == 2
                             ? SmallVector<int64_t>{0, 4}
                             : SmallVector<int64_t>{0, 3, 4});
    }
    SmallVector<Value> maskedIns = {scores};
    maskedIns.append(maskIn);
    SmallVector<SmallVector<int64_t>> maskedMaps = {iota(5)};
    maskedMaps.append(maskMaps);
    Value masked = lb.generic(
        5, maskedIns, maskedMaps, lb.empty(dims, f32), iota(5), parallel(5),
        [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
          Value i = linalg::IndexOp::create(nb, nl, 3), j = linalg::IndexOp::create(nb, nl, 4);
          Value pos = arith::AddIOp::create(nb, nl, i, newest);
          Value visible = arith::ConstantIntOp::create(nb, nl, 1, 1);
          auto both = [&](Value cond) { visible = arith::AndIOp::create(nb, nl, visible, cond); };
          if (causal)
            both(arith::CmpIOp::create(nb, nl, arith::CmpIPredicate::sle, j, pos));
          if (window)
            both(arith::CmpIOp::create(nb, nl, arith::CmpIPredicate::slt,
                                       arith::SubIOp::create(nb, nl, pos, j),
                                       arith::ConstantIndexOp::create(nb, nl, *window)));
          if (a.size() > 2)
            both(a[1]);
          return arith::SelectOp::create(nb, nl, visible,
                                         arith::MulFOp::create(nb, nl, a[0], scale), negInf);
        });

    // Sinks [num_heads] seen as [kv_heads, group].
    Value sinks;
    if (op.getSinks())
      sinks =
          tensor::ExpandShapeOp::create(b, loc, RankedTensorType::get({kvHeads, group}, f32),
                                        op.getSinks(), SmallVector<ReassociationIndices>{{0, 1}});
    auto expShifted = [](OpBuilder &nb, Location nl, Value v, Value m) -> Value {
      return math::ExpOp::create(nb, nl, arith::SubFOp::create(nb, nl, v, m));
    };
    Value maxInit = sinks ? lb.generic(4, {sinks}, {{1, 2}}, lb.empty(rows, f32), row, parallel(4),
                                       [](OpBuilder &, Location, ValueRange a) { return a[0]; })
                          : lb.fill(rows, negInf);
    Value max = lb.generic(5, {masked}, {iota(5)}, maxInit, row, reduce,
                           [](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                             return arith::MaximumFOp::create(nb, nl, a[0], a[1]);
                           });
    Value sumInit =
        sinks ? lb.generic(4, {sinks, max}, {{1, 2}, row}, lb.empty(rows, f32), row, parallel(4),
                           [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                             return expShifted(nb, nl, a[0], a[1]);
                           })
              : lb.fill(rows, lb.f32(0.0));
    Value sum =
        lb.generic(5, {masked, max}, {iota(5), row}, sumInit, row, reduce,
                   [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                     return arith::AddFOp::create(nb, nl, a[2], expShifted(nb, nl, a[0], a[1]));
                   });
    Value zero = lb.f32(0.0);
    Value probs =
        lb.generic(5, {masked, max, sum}, {iota(5), row, row}, lb.empty(dims, f32), iota(5),
                   parallel(5), [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                     // max is -inf only when the row sees no key: exp would give NaN.
                     Value none =
                         arith::CmpFOp::create(nb, nl, arith::CmpFPredicate::OEQ, a[1], negInf);
                     Value p = arith::DivFOp::create(nb, nl, expShifted(nb, nl, a[0], a[1]), a[2]);
                     return arith::SelectOp::create(nb, nl, none, zero, p);
                   });
    Value merged = tensor::CollapseShapeOp::create(
        b, loc, probs, SmallVector<ReassociationIndices>{{0}, {1, 2}, {3}, {4}});
    if (merged.getType() != op.getType())
      merged = tensor::CastOp::create(b, loc, op.getType(), merged);
    return merged;
  }

  Value embedding(EmbeddingOp op) {
    Value ids = op.getIds(), table = op.getTable();
    int64_t r = cast<RankedTensorType>(ids.getType()).getRank();
    SmallVector<Value> outDims = lb.dims(ids);
    outDims.push_back(lb.dim(table, 1));
    Value scale = lb.f32(op.getScale().convertToDouble());
    // The runtime checks ids against the vocabulary before calling compiled code.
    return lb.generic(r + 1, {ids}, {iota(r)}, lb.empty(outDims, f32), iota(r + 1), parallel(r + 1),
                      [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                        Value row = arith::IndexCastOp::create(nb, nl, nb.getIndexType(), a[0]);
                        Value col = linalg::IndexOp::create(nb, nl, r);
                        Value v = tensor::ExtractOp::create(nb, nl, table, ValueRange{row, col});
                        return arith::MulFOp::create(nb, nl, v, scale);
                      });
  }

  // A bf16 or f16 matrix from its stored bytes: value e is the
  // little-endian pair of bytes 2e and 2e + 1 (for bf16 the high half of
  // its f32). On the CPU
  // tessel-lower-to-kernels hands stored weights to kernels before this
  // runs; the CUDA pipeline keeps bf16 weights stored and lowers here what
  // its tensor-core GEMM does not take. q8_0/q4_0 only ever reach kernels.
  Value dequantize(DequantizeOp op) {
    const bool half = op.getFormat() == "f16";
    if (op.getFormat() != "bf16" && !half)
      return Value();
    auto type = cast<RankedTensorType>(op.getType());
    const int64_t r = type.getRank();
    Value bytes = op.getInput();
    SmallVector<Value> outDims = lb.dims(op.getResult());
    Type i32 = b.getI32Type();
    return lb.generic(
        r, {}, {}, lb.empty(outDims, f32), iota(r), parallel(r),
        [&](OpBuilder &nb, Location nl, ValueRange) -> Value {
          // Row-major element number (static shape: the verifier's bytes).
          Value e = linalg::IndexOp::create(nb, nl, 0);
          for (int64_t i = 1; i < r; ++i)
            e = arith::AddIOp::create(
                nb, nl,
                arith::MulIOp::create(nb, nl, e,
                                      arith::ConstantIndexOp::create(nb, nl, type.getDimSize(i))),
                linalg::IndexOp::create(nb, nl, i));
          Value two = arith::ConstantIndexOp::create(nb, nl, 2);
          Value lo = arith::MulIOp::create(nb, nl, e, two);
          Value hi = arith::AddIOp::create(nb, nl, lo, arith::ConstantIndexOp::create(nb, nl, 1));
          auto byteAt = [&](Value at) -> Value {
            Value v = tensor::ExtractOp::create(nb, nl, bytes, ValueRange{at});
            return arith::ExtUIOp::create(nb, nl, i32, v);
          };
          // bf16 is the high half of an f32; f16 widens exactly to f32.
          const int64_t shift = half ? 0 : 16;
          Value bits = arith::OrIOp::create(
              nb, nl,
              arith::ShLIOp::create(nb, nl, byteAt(lo),
                                    arith::ConstantIntOp::create(nb, nl, i32, shift)),
              arith::ShLIOp::create(nb, nl, byteAt(hi),
                                    arith::ConstantIntOp::create(nb, nl, i32, shift + 8)));
          if (!half)
            return arith::BitcastOp::create(nb, nl, f32, bits);
          Value h = arith::TruncIOp::create(nb, nl, nb.getI16Type(), bits);
          Value f = arith::BitcastOp::create(nb, nl, nb.getF16Type(), h);
          return arith::ExtFOp::create(nb, nl, f32, f);
        });
  }

  // The cache with rows [position, position + n) replaced: in place once
  // bufferized when the cache is a writable function argument.
  Value kvCacheUpdate(KVCacheUpdateOp op) {
    Value cache = op.getCache(), update = op.getUpdate();
    int64_t r = op.getType().getRank();
    Value pos = arith::IndexCastOp::create(b, loc, b.getIndexType(), op.getPosition());
    SmallVector<OpFoldResult> offsets(r, b.getIndexAttr(0)), strides(r, b.getIndexAttr(1));
    offsets[1] = pos;
    SmallVector<OpFoldResult> sizes;
    for (Value d : lb.dims(update))
      sizes.push_back(lb.ofr(d));
    return tensor::InsertSliceOp::create(b, loc, update, cache, offsets, sizes, strides);
  }

  Value kvCacheView(KVCacheViewOp op) {
    Value cache = op.getCache();
    int64_t r = op.getType().getRank();
    Value len = arith::IndexCastOp::create(b, loc, b.getIndexType(), op.getLength());
    SmallVector<OpFoldResult> offsets(r, b.getIndexAttr(0)), strides(r, b.getIndexAttr(1));
    SmallVector<OpFoldResult> sizes;
    for (Value d : lb.dims(cache))
      sizes.push_back(lb.ofr(d));
    sizes[1] = len;
    return tensor::ExtractSliceOp::create(b, loc, op.getType(), cache, offsets, sizes, strides);
  }

  OpBuilder b;
  Location loc;
  LinalgBuilder lb;
  Type f32;
};

struct LowerToLinalgPass : impl::TesselLowerToLinalgBase<LowerToLinalgPass> {
  using TesselLowerToLinalgBase::TesselLowerToLinalgBase;

  void runOnOperation() override {
    SmallVector<Operation *> ops;
    getOperation().walk([&](Operation *op) {
      if (isa<TesselDialect>(op->getDialect()) && !isa<AttentionOp, EinsumOp, WeightOp>(op))
        ops.push_back(op);
    });
    for (Operation *op : ops) {
      // The rounding of input_format exists only in the CPU's kernels
      // (tessel-lower-to-kernels); dropping it would change results.
      if (auto format = op->getAttrOfType<StringAttr>("input_format");
          format && isa<LinearOp, FFNOp, MoEOp>(op)) {
        op->emitOpError("with input_format = \"" + format.getValue().str() +
                        "\" has no linalg lowering; the CPU pipeline's "
                        "tessel-lower-to-kernels takes it (stored q8_0 / q4_0 or bf16 weights)");
        return signalPassFailure();
      }
      OpLowering l(op);
      Value out = llvm::TypeSwitch<Operation *, Value>(op)
                      .Case([&](LinearOp o) {
                        return l.linear(o.getInput(), o.getWeight(), o.getBias(), o.getResidual());
                      })
                      .Case([&](RMSNormOp o) { return l.rmsNorm(o); })
                      .Case([&](LayerNormOp o) { return l.layerNorm(o); })
                      .Case([&](RopeOp o) { return l.rope(o); })
                      .Case([&](FFNOp o) { return l.ffn(o); })
                      .Case([&](MoEOp o) { return l.moe(o); })
                      .Case([&](ResidualAddOp o) { return l.residualAdd(o); })
                      .Case([&](SoftmaxOp o) { return l.softmax(o); })
                      .Case([&](AttentionProbsOp o) { return l.attentionProbs(o); })
                      .Case([&](EmbeddingOp o) { return l.embedding(o); })
                      .Case([&](KVCacheUpdateOp o) { return l.kvCacheUpdate(o); })
                      .Case([&](KVCacheViewOp o) { return l.kvCacheView(o); })
                      .Case([&](DequantizeOp o) { return l.dequantize(o); })
                      .Default([](Operation *) { return Value(); });
      if (!out) {
        if (allowUnlowered)
          continue;
        op->emitOpError()
            << "is not lowered to linalg yet (lowered: embedding, linear, rms_norm, "
               "layer_norm, rope, ffn, moe, residual_add, softmax, attention_probs, "
               "kv_cache_update, kv_cache_view, bf16/f16 dequantize; attention and einsum "
               "by their own passes)";
        return signalPassFailure();
      }
      op->getResult(0).replaceAllUsesWith(out);
      op->erase();
    }
  }
};

} // namespace
} // namespace tessel
