//===- LinalgBuilder.cpp --------------------------------------------------===//
#include "passes/LinalgBuilder.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

using namespace mlir;

namespace tessel {

Value LinalgBuilder::generic(int64_t numLoops, ValueRange inputs,
                             ArrayRef<SmallVector<int64_t>> inputDims, Value init,
                             ArrayRef<int64_t> initDims, ArrayRef<utils::IteratorType> iterators,
                             Body body) {
  MLIRContext *ctx = b.getContext();
  auto map = [&](ArrayRef<int64_t> dims) {
    SmallVector<AffineExpr> exprs;
    for (int64_t d : dims)
      exprs.push_back(getAffineDimExpr(d, ctx));
    return AffineMap::get(numLoops, 0, exprs, ctx);
  };
  SmallVector<AffineMap> maps;
  for (const auto &d : inputDims)
    maps.push_back(map(d));
  maps.push_back(map(initDims));
  auto op =
      linalg::GenericOp::create(b, loc, init.getType(), inputs, init, maps, iterators,
                                [&](OpBuilder &nb, Location nl, ValueRange args) {
                                  linalg::YieldOp::create(nb, nl, ValueRange{body(nb, nl, args)});
                                });
  return op.getResult(0);
}

RankedTensorType LinalgBuilder::type(ArrayRef<Value> dims, Type elem) {
  SmallVector<int64_t> shape;
  for (Value d : dims) {
    auto c = getConstantIntValue(d);
    shape.push_back(c ? *c : ShapedType::kDynamic);
  }
  return RankedTensorType::get(shape, elem);
}

Value LinalgBuilder::empty(ArrayRef<Value> dims, Type elem) {
  SmallVector<Value> dynamic;
  for (Value d : dims)
    if (!getConstantIntValue(d))
      dynamic.push_back(d);
  return tensor::EmptyOp::create(b, loc, type(dims, elem), dynamic);
}

Value LinalgBuilder::fill(ArrayRef<Value> dims, Value value) {
  return linalg::FillOp::create(b, loc, value, empty(dims, value.getType())).getResult(0);
}

Value LinalgBuilder::dim(Value x, int64_t d) {
  auto t = cast<RankedTensorType>(x.getType());
  if (!t.isDynamicDim(d))
    return index(t.getDimSize(d));
  return tensor::DimOp::create(b, loc, x, d);
}

SmallVector<Value> LinalgBuilder::dims(Value x) {
  SmallVector<Value> out;
  for (int64_t d = 0; d < cast<RankedTensorType>(x.getType()).getRank(); ++d)
    out.push_back(dim(x, d));
  return out;
}

Value LinalgBuilder::index(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }

Value LinalgBuilder::f32(double v) {
  return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v));
}

OpFoldResult LinalgBuilder::ofr(Value v) { return getAsOpFoldResult(v); }

} // namespace tessel
