//===- KernelCalls.cpp ----------------------------------------------------===//
#include "passes/KernelCalls.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;

namespace tessel {

namespace {

// The memref type every kernel argument of rank `rank` is passed as: any
// extents, any strides, any offset (the C side checks what it needs).
MemRefType abiType(MLIRContext *ctx, int64_t rank, Type element) {
  SmallVector<int64_t> dyn(rank, ShapedType::kDynamic);
  auto layout = StridedLayoutAttr::get(ctx, ShapedType::kDynamic, dyn);
  return MemRefType::get(dyn, element, layout);
}

} // namespace

// [d0, ..., dn-1, k] -> [d0 * ... * dn-1, k] (rank 1 becomes [1, k]).
Value KernelCallBuilder::asMatrix(Value x) {
  auto t = cast<RankedTensorType>(x.getType());
  if (t.getRank() == 2)
    return x;
  if (t.getRank() == 1)
    return tensor::ExpandShapeOp::create(
        b, loc, RankedTensorType::get({1, t.getDimSize(0)}, t.getElementType()), x,
        SmallVector<ReassociationIndices>{{0, 1}},
        SmallVector<OpFoldResult>{b.getIndexAttr(1), dimOf(x, 0)});
  ReassociationIndices leading;
  for (int64_t d = 0; d + 1 < t.getRank(); ++d)
    leading.push_back(d);
  return tensor::CollapseShapeOp::create(
      b, loc, x, SmallVector<ReassociationIndices>{leading, {t.getRank() - 1}});
}

// Back from [m, n] to `like`'s leading extents with `n` last.
Value KernelCallBuilder::fromMatrix(Value m, Value like, RankedTensorType resultType) {
  auto t = cast<RankedTensorType>(like.getType());
  if (t.getRank() == 2)
    return m;
  if (t.getRank() == 1)
    return tensor::CollapseShapeOp::create(b, loc, resultType, m,
                                           SmallVector<ReassociationIndices>{{0, 1}});
  SmallVector<OpFoldResult> shape;
  ReassociationIndices leading;
  for (int64_t d = 0; d + 1 < t.getRank(); ++d) {
    shape.push_back(dimOf(like, d));
    leading.push_back(d);
  }
  shape.push_back(dimOf(m, 1));
  return tensor::ExpandShapeOp::create(
      b, loc, resultType, m, SmallVector<ReassociationIndices>{leading, {t.getRank() - 1}}, shape);
}

// Every dim of `x` in one: [d0, ..., dn-1] -> [d0 * ... * dn-1].
Value KernelCallBuilder::flatten(Value x) {
  auto t = cast<RankedTensorType>(x.getType());
  if (t.getRank() == 1)
    return x;
  ReassociationIndices all;
  for (int64_t d = 0; d < t.getRank(); ++d)
    all.push_back(d);
  return tensor::CollapseShapeOp::create(b, loc, x, SmallVector<ReassociationIndices>{all});
}

Value KernelCallBuilder::f32Constant(double v) {
  return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(static_cast<float>(v)));
}
Value KernelCallBuilder::i64Constant(int64_t v) {
  return arith::ConstantIntOp::create(b, loc, v, 64);
}

OpFoldResult KernelCallBuilder::dimOf(Value x, int64_t d) {
  auto t = cast<RankedTensorType>(x.getType());
  if (!t.isDynamicDim(d))
    return b.getIndexAttr(t.getDimSize(d));
  return tensor::DimOp::create(b, loc, x, d).getResult();
}

// The buffer `x` lives in, read-only, cast to the ABI type.
Value KernelCallBuilder::readBuffer(Value x) {
  auto t = cast<RankedTensorType>(x.getType());
  SmallVector<int64_t> dyn(t.getRank(), ShapedType::kDynamic);
  auto layout = StridedLayoutAttr::get(ctx, ShapedType::kDynamic, dyn);
  auto exact = MemRefType::get(t.getShape(), t.getElementType(), layout);
  Value m = bufferization::ToBufferOp::create(b, loc, exact, x, /*read_only=*/true);
  return memref::CastOp::create(b, loc, abiType(ctx, t.getRank(), t.getElementType()), m);
}

// Calls `name(inputs..., out, scalars...)` where `out` is a new
// [outDims] buffer, and returns `out` as a tensor.
Value KernelCallBuilder::call(StringRef name, ValueRange inputs, ArrayRef<OpFoldResult> outDims,
                              ValueRange scalars) {
  SmallVector<int64_t> shape;
  SmallVector<Value> dynamic;
  for (OpFoldResult d : outDims) {
    if (auto attr = dyn_cast<Attribute>(d)) {
      shape.push_back(cast<IntegerAttr>(attr).getInt());
    } else {
      shape.push_back(ShapedType::kDynamic);
      dynamic.push_back(cast<Value>(d));
    }
  }
  auto outType = MemRefType::get(shape, b.getF32Type());
  // 64 bytes: a cache line, and the alignment the kernels' packed panels use.
  Value out = memref::AllocOp::create(b, loc, outType, dynamic, b.getI64IntegerAttr(64));
  SmallVector<Value> operands;
  for (Value in : inputs)
    operands.push_back(readBuffer(in));
  operands.push_back(
      memref::CastOp::create(b, loc, abiType(ctx, shape.size(), b.getF32Type()), out));
  operands.append(scalars.begin(), scalars.end());
  declare(name, TypeRange(ValueRange(operands)));
  func::CallOp::create(b, loc, name, TypeRange{}, operands);
  return bufferization::ToTensorOp::create(b, loc, RankedTensorType::get(shape, b.getF32Type()),
                                           out, /*restrict=*/true, /*writable=*/true);
}

void KernelCallBuilder::declare(StringRef name, TypeRange types) {
  if (module.lookupSymbol(name))
    return;
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(module.getBody());
  auto fn = func::FuncOp::create(b, loc, name, b.getFunctionType(types, {}));
  fn.setPrivate();
  fn->setAttr(LLVM::LLVMDialect::getEmitCWrapperAttrName(), b.getUnitAttr());
}

} // namespace tessel
