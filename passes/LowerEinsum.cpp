//===- LowerEinsum.cpp - tessel.einsum -> linalg --------------------------===//
//
// See TesselLowerEinsum in Passes.td. The batch_matmul form is preferred
// because it reaches the GEMM kernels; linalg.generic is the general
// fallback that expresses any equation directly through indexing maps.
//
//===----------------------------------------------------------------------===//
#include <string>

#include "dialect/Einsum.h"
#include "dialect/TesselOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "passes/Passes.h"

namespace tessel {
#define GEN_PASS_DEF_TESSELLOWEREINSUM
#include "passes/Passes.h.inc"
} // namespace tessel

using namespace mlir;

namespace tessel {
namespace {

// A zero-filled tensor of `type`, with dynamic extents taken from `dims`.
Value zeros(OpBuilder &b, Location loc, RankedTensorType type, ValueRange dynamicDims) {
  Value empty = tensor::EmptyOp::create(b, loc, type, dynamicDims);
  Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(type.getElementType()));
  return linalg::FillOp::create(b, loc, zero, empty).getResult(0);
}

// The extent of every label, as a Value (for dynamic shapes) and statically.
struct LabelExtents {
  std::string labels; // output labels first, then reduced ones
  SmallVector<int64_t> sizes;
  SmallVector<Value> operandOf; // an operand holding the label
  SmallVector<int64_t> dimOf;   // its dimension there
};

LabelExtents collectLabels(const EinsumEquation &eq, ValueRange inputs) {
  LabelExtents e;
  e.labels = eq.output;
  for (const std::string &term : eq.inputs)
    for (char c : term)
      if (e.labels.find(c) == std::string::npos)
        e.labels.push_back(c);
  e.sizes.assign(e.labels.size(), ShapedType::kDynamic);
  e.operandOf.assign(e.labels.size(), Value());
  e.dimOf.assign(e.labels.size(), 0);
  for (size_t i = 0; i < eq.inputs.size(); ++i) {
    auto type = cast<RankedTensorType>(inputs[i].getType());
    for (size_t d = 0; d < eq.inputs[i].size(); ++d) {
      size_t l = e.labels.find(eq.inputs[i][d]);
      if (!e.operandOf[l] || ShapedType::isDynamic(e.sizes[l])) {
        e.operandOf[l] = inputs[i];
        e.dimOf[l] = d;
        e.sizes[l] = type.getDimSize(d);
      }
    }
  }
  return e;
}

// One linalg.generic: output labels are parallel, the rest reductions.
Value lowerToGeneric(OpBuilder &b, Location loc, const EinsumEquation &eq, ValueRange inputs,
                     RankedTensorType resultType) {
  LabelExtents e = collectLabels(eq, inputs);
  MLIRContext *ctx = b.getContext();
  auto mapFor = [&](const std::string &term) {
    SmallVector<AffineExpr> exprs;
    for (char c : term)
      exprs.push_back(getAffineDimExpr(e.labels.find(c), ctx));
    return AffineMap::get(e.labels.size(), 0, exprs, ctx);
  };
  SmallVector<AffineMap> maps;
  for (const std::string &term : eq.inputs)
    maps.push_back(mapFor(term));
  maps.push_back(mapFor(eq.output));
  SmallVector<utils::IteratorType> iterators(e.labels.size(), utils::IteratorType::reduction);
  for (size_t l = 0; l < eq.output.size(); ++l)
    iterators[l] = utils::IteratorType::parallel;
  SmallVector<Value> dynamicDims;
  for (size_t l = 0; l < eq.output.size(); ++l)
    if (resultType.isDynamicDim(l))
      dynamicDims.push_back(tensor::DimOp::create(b, loc, e.operandOf[l], e.dimOf[l]));
  Value init = zeros(b, loc, resultType, dynamicDims);
  auto generic = linalg::GenericOp::create(
      b, loc, resultType, inputs, init, maps, iterators,
      [&](OpBuilder &nb, Location nloc, ValueRange args) {
        Value product = args[0];
        for (size_t i = 1; i + 1 < args.size(); ++i)
          product = arith::MulFOp::create(nb, nloc, product, args[i]);
        linalg::YieldOp::create(nb, nloc,
                                ValueRange{arith::AddFOp::create(nb, nloc, args.back(), product)});
      });
  return generic.getResult(0);
}

// transpose(x) so that its labels come in `order`.
Value transposeTo(OpBuilder &b, Location loc, Value x, const std::string &labels,
                  const std::string &order) {
  if (labels == order)
    return x;
  auto type = cast<RankedTensorType>(x.getType());
  SmallVector<int64_t> perm, shape;
  for (char c : order) {
    perm.push_back(labels.find(c));
    shape.push_back(type.getDimSize(labels.find(c)));
  }
  Value init = tensor::EmptyOp::create(b, loc, shape, type.getElementType());
  return linalg::TransposeOp::create(b, loc, x, init, perm).getResult()[0];
}

// Reassociation that merges consecutive dims into groups of the given sizes.
SmallVector<ReassociationIndices> groupsOf(ArrayRef<size_t> sizes) {
  SmallVector<ReassociationIndices> groups;
  int64_t d = 0;
  for (size_t n : sizes) {
    if (n == 0)
      continue;
    groups.emplace_back();
    for (size_t i = 0; i < n; ++i)
      groups.back().push_back(d++);
  }
  return groups;
}

// Reassociation between the non-empty groups (one dim each) and the rank-3
// [batch, rows, cols] form, where an empty group is a unit dim attached to
// its neighbour.
SmallVector<ReassociationIndices> unitDimsFor(ArrayRef<size_t> sizes) {
  SmallVector<ReassociationIndices> groups;
  SmallVector<int64_t> pendingUnits;
  for (int64_t t = 0; t < 3; ++t) {
    if (sizes[t] == 0) {
      if (groups.empty())
        pendingUnits.push_back(t);
      else
        groups.back().push_back(t);
      continue;
    }
    groups.emplace_back(pendingUnits.begin(), pendingUnits.end());
    pendingUnits.clear();
    groups.back().push_back(t);
  }
  return groups; // empty when every group is empty (a scalar)
}

// [g0 dims..., g1 dims..., g2 dims...] <-> [s0, s1, s2]: collapse each group
// to one dim, then add unit dims for empty groups (or the reverse).
Value toRank3(OpBuilder &b, Location loc, Value x, ArrayRef<size_t> sizes, RankedTensorType rank3) {
  auto type = cast<RankedTensorType>(x.getType());
  SmallVector<int64_t> collapsedShape;
  for (int64_t t = 0; t < 3; ++t)
    if (sizes[t])
      collapsedShape.push_back(rank3.getDimSize(t));
  auto collapsedType = RankedTensorType::get(collapsedShape, type.getElementType());
  Value v = x;
  if (type.getRank() != static_cast<int64_t>(collapsedShape.size()))
    v = tensor::CollapseShapeOp::create(b, loc, collapsedType, x, groupsOf(sizes));
  if (collapsedShape.size() == 3)
    return v;
  return tensor::ExpandShapeOp::create(b, loc, rank3, v, unitDimsFor(sizes));
}

Value fromRank3(OpBuilder &b, Location loc, Value x, ArrayRef<size_t> sizes,
                RankedTensorType natural) {
  auto type = cast<RankedTensorType>(x.getType());
  SmallVector<int64_t> collapsedShape;
  for (int64_t t = 0; t < 3; ++t)
    if (sizes[t])
      collapsedShape.push_back(type.getDimSize(t));
  auto collapsedType = RankedTensorType::get(collapsedShape, type.getElementType());
  Value v = x;
  if (collapsedShape.size() != 3)
    v = tensor::CollapseShapeOp::create(b, loc, collapsedType, x, unitDimsFor(sizes));
  if (natural.getRank() == static_cast<int64_t>(collapsedShape.size()))
    return v;
  return tensor::ExpandShapeOp::create(b, loc, natural, v, groupsOf(sizes));
}

// Transposes + batch_matmul when the equation is a plain batched
// contraction over static shapes; fails (returns null) otherwise.
Value lowerToBatchMatmul(OpBuilder &b, Location loc, const EinsumEquation &eq, ValueRange inputs,
                         RankedTensorType resultType) {
  if (inputs.size() != 2 || !resultType.hasStaticShape())
    return Value();
  for (Value v : inputs)
    if (!cast<RankedTensorType>(v.getType()).hasStaticShape())
      return Value();
  const std::string &a = eq.inputs[0], &bb = eq.inputs[1], &out = eq.output;
  ContractionLabels roles;
  if (!classifyContraction(eq, roles))
    return Value(); // a label summed inside one operand: not a plain contraction
  const std::string &batch = roles.batch, &m = roles.m, &k = roles.k, &n = roles.n;
  LabelExtents e = collectLabels(eq, inputs);
  auto extent = [&](const std::string &labels) {
    int64_t p = 1;
    for (char c : labels)
      p *= e.sizes[e.labels.find(c)];
    return p;
  };
  Type f32 = resultType.getElementType();
  Value lhs = transposeTo(b, loc, inputs[0], a, batch + m + k);
  Value rhs = transposeTo(b, loc, inputs[1], bb, batch + k + n);
  int64_t sb = extent(batch), sm = extent(m), sn = extent(n), sk = extent(k);
  Value lhs3 = toRank3(b, loc, lhs, {batch.size(), m.size(), k.size()},
                       RankedTensorType::get({sb, sm, sk}, f32));
  Value rhs3 = toRank3(b, loc, rhs, {batch.size(), k.size(), n.size()},
                       RankedTensorType::get({sb, sk, sn}, f32));
  Value acc = zeros(b, loc, RankedTensorType::get({sb, sm, sn}, f32), {});
  Value prod =
      linalg::BatchMatmulOp::create(b, loc, ValueRange{lhs3, rhs3}, ValueRange{acc}).getResult(0);
  // Back to [batch..., m..., n...], then to the output's label order.
  std::string natural = batch + m + n;
  SmallVector<int64_t> naturalShape;
  for (char c : natural)
    naturalShape.push_back(e.sizes[e.labels.find(c)]);
  Value expanded = fromRank3(b, loc, prod, {batch.size(), m.size(), n.size()},
                             RankedTensorType::get(naturalShape, f32));
  return transposeTo(b, loc, expanded, natural, out);
}

struct LowerEinsumPass : impl::TesselLowerEinsumBase<LowerEinsumPass> {
  using TesselLowerEinsumBase::TesselLowerEinsumBase;

  void runOnOperation() override {
    SmallVector<EinsumOp> ops;
    getOperation().walk([&](EinsumOp op) { ops.push_back(op); });
    for (EinsumOp op : ops) {
      EinsumEquation eq;
      std::string error;
      if (!parseEinsumEquation(op.getEquation().str(), eq, error)) {
        op.emitOpError() << error;
        return signalPassFailure();
      }
      OpBuilder b(op);
      auto resultType = cast<RankedTensorType>(op.getType());
      Value lowered;
      if (useBatchMatmul)
        lowered = lowerToBatchMatmul(b, op.getLoc(), eq, op.getInputs(), resultType);
      if (!lowered)
        lowered = lowerToGeneric(b, op.getLoc(), eq, op.getInputs(), resultType);
      op.replaceAllUsesWith(lowered);
      op.erase();
    }
  }
};

} // namespace
} // namespace tessel
