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
#include "passes/KernelCalls.h"
#include "passes/Passes.h"

namespace tessel {
#define GEN_PASS_DEF_TESSELLOWERTOKERNELS
#include "passes/Passes.h.inc"
} // namespace tessel

using namespace mlir;

namespace tessel {
namespace {

// The linear-layer calls on top of the generic builder.
class LinearCalls : public KernelCallBuilder {
public:
  using KernelCallBuilder::KernelCallBuilder;

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
bool lowerFused(LinearCalls &k, LinearOp linear) {
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
      LinearCalls k(module, op);
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
