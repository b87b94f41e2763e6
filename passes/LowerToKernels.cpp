//===- LowerToKernels.cpp - tessel ops -> Highway micro-kernel calls ------===//
//
// See TesselLowerToKernels in Passes.td. The calls cross into C++ through
// MLIR's C interface (`llvm.emit_c_interface`): each kernel takes pointers
// to memref descriptors, unpacked by codegen/KernelAbi.cpp. Operands are
// handed over with `bufferization.to_buffer ... read_only` (no copy: the
// buffer the tensor already lives in) and results come back in a fresh
// 64-byte aligned allocation wrapped by `bufferization.to_tensor restrict
// writable`, so one-shot bufferization needs no special knowledge of them.
//
//===----------------------------------------------------------------------===//
#include "dialect/TesselOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/SymbolTable.h"
#include "passes/Passes.h"

namespace tessel {
#define GEN_PASS_DEF_TESSELLOWERTOKERNELS
#include "passes/Passes.h.inc"
} // namespace tessel

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

class KernelCallBuilder {
public:
  KernelCallBuilder(ModuleOp module, Operation *op)
      : module(module), b(op), loc(op->getLoc()), ctx(op->getContext()) {}

  /// [d0, ..., dn-1, k] -> [d0 * ... * dn-1, k] (rank 1 becomes [1, k]).
  Value asMatrix(Value x) {
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

  /// Back from [m, n] to `like`'s leading extents with `n` last.
  Value fromMatrix(Value m, Value like, RankedTensorType resultType) {
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
        b, loc, resultType, m, SmallVector<ReassociationIndices>{leading, {t.getRank() - 1}},
        shape);
  }

  /// Every dim of `x` in one: [d0, ..., dn-1] -> [d0 * ... * dn-1].
  Value flatten(Value x) {
    auto t = cast<RankedTensorType>(x.getType());
    if (t.getRank() == 1)
      return x;
    ReassociationIndices all;
    for (int64_t d = 0; d < t.getRank(); ++d)
      all.push_back(d);
    return tensor::CollapseShapeOp::create(b, loc, x, SmallVector<ReassociationIndices>{all});
  }

  Value f32Constant(double v) {
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(static_cast<float>(v)));
  }
  Value i64Constant(int64_t v) { return arith::ConstantIntOp::create(b, loc, v, 64); }

  OpFoldResult dimOf(Value x, int64_t d) {
    auto t = cast<RankedTensorType>(x.getType());
    if (!t.isDynamicDim(d))
      return b.getIndexAttr(t.getDimSize(d));
    return tensor::DimOp::create(b, loc, x, d).getResult();
  }

  /// The buffer `x` lives in, read-only, cast to the ABI type.
  Value readBuffer(Value x) {
    auto t = cast<RankedTensorType>(x.getType());
    SmallVector<int64_t> dyn(t.getRank(), ShapedType::kDynamic);
    auto layout = StridedLayoutAttr::get(ctx, ShapedType::kDynamic, dyn);
    auto exact = MemRefType::get(t.getShape(), t.getElementType(), layout);
    Value m = bufferization::ToBufferOp::create(b, loc, exact, x, /*read_only=*/true);
    return memref::CastOp::create(b, loc, abiType(ctx, t.getRank(), t.getElementType()), m);
  }

  /// Calls `name(inputs..., out, scalars...)` where `out` is a new
  /// [outDims] buffer, and returns `out` as a tensor.
  Value call(StringRef name, ValueRange inputs, ArrayRef<OpFoldResult> outDims,
             ValueRange scalars = {}) {
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

  // out = x w^T (+ bias) (+ residual), any leading dims on x.
  Value linear(Value x, Value w, Value bias, Value residual, RankedTensorType resultType) {
    Value x2 = asMatrix(x);
    SmallVector<OpFoldResult> outDims = {dimOf(x2, 0), dimOf(w, 0)};
    SmallVector<Value> operands = {x2, w};
    std::string name = "tessel_linear";
    if (bias) {
      operands.push_back(bias);
      name += "_bias";
    }
    if (residual) {
      operands.push_back(asMatrix(residual));
      name += "_residual";
    }
    return fromMatrix(call(name + "_f32", operands, outDims), x, resultType);
  }

  /// A linear layer with its input's RMSNorm folded into the GEMM's
  /// prologue (`norm`, may be null) and the RoPE of its output heads into
  /// the epilogue (`rope`, may be null). Returns [rows, out].
  Value fusedLinear(Value x, Value w, RMSNormOp norm, RopeOp rope, int64_t headDim) {
    Value x2 = asMatrix(norm ? norm.getInput() : x);
    SmallVector<OpFoldResult> outDims = {dimOf(x2, 0), dimOf(w, 0)};
    SmallVector<Value> operands = {x2};
    SmallVector<Value> scalars;
    std::string name = "tessel";
    if (norm) {
      name += "_rms_norm";
      operands.push_back(norm.getWeight());
      scalars.push_back(f32Constant(norm.getEpsilon().convertToDouble()));
      scalars.push_back(i64Constant(norm.getUnitOffset() ? 1 : 0));
    }
    name += "_linear";
    operands.push_back(w);
    if (rope) {
      name += "_rope";
      operands.push_back(flatten(rope.getPositions()));
      scalars.push_back(i64Constant(headDim));
      scalars.push_back(i64Constant(rope.getLayout() == RopeLayout::interleaved ? 0 : 1));
      scalars.push_back(f32Constant(rope.getTheta().convertToDouble()));
      scalars.push_back(i64Constant(rope.getRotaryDim() ? *rope.getRotaryDim() : 0));
      scalars.push_back(f32Constant(rope.getLinearScaling().convertToDouble()));
    }
    return call(name + "_f32", operands, outDims, scalars);
  }

  // SwiGLU / GeGLU hidden activation: act(x wg^T) * (x wu^T).
  Value gatedHidden(Value x2, Value wGate, Value wUp, Activation act, bool tanhApprox) {
    SmallVector<OpFoldResult> outDims = {dimOf(x2, 0), dimOf(wUp, 0)};
    Value kind = arith::ConstantIntOp::create(b, loc, act == Activation::swiglu ? 0 : 1, 64);
    Value tanh = arith::ConstantIntOp::create(b, loc, tanhApprox ? 1 : 0, 64);
    return call("tessel_glu_f32", {x2, wGate, wUp}, outDims, {kind, tanh});
  }

  ModuleOp module;
  OpBuilder b;
  Location loc;
  MLIRContext *ctx;

private:
  void declare(StringRef name, TypeRange types) {
    if (module.lookupSymbol(name))
      return;
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(module.getBody());
    auto fn = func::FuncOp::create(b, loc, name, b.getFunctionType(types, {}));
    fn.setPrivate();
    fn->setAttr(LLVM::LLVMDialect::getEmitCWrapperAttrName(), b.getUnitAttr());
  }
};

// The RMSNorm a linear layer's input comes from, if the GEMM's prologue
// can apply it: f32 [..., k] rows normalised over k.
RMSNormOp foldableNorm(LinearOp linear) { return linear.getInput().getDefiningOp<RMSNormOp>(); }

// The RoPE applied to a linear layer's output, if the GEMM's epilogue can
// apply it: the output's only use is a split into heads
// ([..., heads * dim] -> [..., heads, dim]) whose only use is a tessel.rope
// with one position per row and no frequency factors.
RopeOp foldableRope(LinearOp linear, tensor::ExpandShapeOp &split) {
  if (!linear.getResult().hasOneUse())
    return nullptr;
  split = dyn_cast<tensor::ExpandShapeOp>(*linear.getResult().getUsers().begin());
  if (!split || !split.getResult().hasOneUse())
    return nullptr;
  auto in = cast<RankedTensorType>(split.getSrc().getType());
  auto reassociation = split.getReassociationIndices();
  if (reassociation.size() != static_cast<size_t>(in.getRank()) || reassociation.back().size() != 2)
    return nullptr;
  for (size_t i = 0; i + 1 < reassociation.size(); ++i)
    if (reassociation[i].size() != 1)
      return nullptr;
  auto rope = dyn_cast<RopeOp>(*split.getResult().getUsers().begin());
  if (!rope || rope.getInput() != split.getResult() || rope.getFreqFactors())
    return nullptr;
  return rope;
}

// linear(rms_norm(x)) and rope(split(linear(x))) as one fused kernel call
// each (both when both apply: Q and K of every llama layer). Linear layers
// with a bias or residual keep the plain path.
bool lowerFused(KernelCallBuilder &k, LinearOp linear) {
  if (linear.getBias() || linear.getResidual())
    return false;
  RMSNormOp norm = foldableNorm(linear);
  tensor::ExpandShapeOp split;
  RopeOp rope = foldableRope(linear, split);
  if (!norm && !rope)
    return false;
  int64_t headDim = rope ? cast<RankedTensorType>(rope.getType()).getShape().back() : 0;
  Value out = k.fusedLinear(linear.getInput(), linear.getWeight(), norm, rope, headDim);
  out = k.fromMatrix(out, norm ? norm.getInput() : linear.getInput(), linear.getType());
  if (rope) {
    k.b.setInsertionPoint(rope); // where the split's extents are all defined
    Value heads =
        tensor::ExpandShapeOp::create(k.b, k.loc, rope.getType(), out,
                                      split.getReassociationIndices(), split.getMixedOutputShape());
    rope.getResult().replaceAllUsesWith(heads);
    rope.erase();
    split.erase();
  } else {
    linear.getResult().replaceAllUsesWith(out);
  }
  linear.erase();
  // The norm stays while anything else (e.g. the FFN) still reads it.
  if (norm && norm.getResult().use_empty())
    norm.erase();
  return true;
}

struct LowerToKernelsPass : impl::TesselLowerToKernelsBase<LowerToKernelsPass> {
  using TesselLowerToKernelsBase::TesselLowerToKernelsBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<Operation *> ops;
    module.walk([&](Operation *op) {
      if (isa<LinearOp, FFNOp>(op))
        ops.push_back(op);
    });
    for (Operation *op : ops) {
      KernelCallBuilder k(module, op);
      Value out;
      if (auto linear = dyn_cast<LinearOp>(op)) {
        if (lowerFused(k, linear))
          continue;
        out = k.linear(linear.getInput(), linear.getWeight(), linear.getBias(),
                       linear.getResidual(), linear.getType());
      } else if (auto ffn = dyn_cast<FFNOp>(op)) {
        // Gated FFNs without biases (every llama-family model): the gate
        // activation is fused into the up-projection's epilogue. Others stay
        // for tessel-lower-to-linalg.
        bool gated =
            ffn.getWGate() && !ffn.getBUp() && !ffn.getBDown() &&
            (ffn.getActivation() == Activation::swiglu || ffn.getActivation() == Activation::geglu);
        if (!gated)
          continue;
        Value x2 = k.asMatrix(ffn.getInput());
        Value hidden = k.gatedHidden(x2, ffn.getWGate(), ffn.getWUp(), ffn.getActivation(),
                                     ffn.getTanhApprox());
        out = k.linear(hidden, ffn.getWDown(), Value(), ffn.getResidual(), ffn.getType());
        // `hidden` is [m, hidden] already, so linear() returns [m, dim]:
        // restore the input's leading dims.
        out = k.fromMatrix(out, ffn.getInput(), ffn.getType());
      }
      op->getResult(0).replaceAllUsesWith(out);
      op->erase();
    }
  }
};

} // namespace
} // namespace tessel
