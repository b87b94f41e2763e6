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
#include <string>

#include "dialect/Einsum.h"
#include "dialect/TesselOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/SymbolTable.h"
#include "passes/KernelCalls.h"
#include "passes/LinearFusion.h"
#include "passes/Passes.h"
#include "llvm/ADT/StringSwitch.h"

namespace tessel {
#define GEN_PASS_DEF_TESSELLOWERTOKERNELS
#include "passes/Passes.h.inc"
} // namespace tessel

using namespace mlir;

namespace tessel {
namespace {

// A weight the kernels read in its stored form: the bytes and the format's
// number (GGML's type ids, TESSEL_WEIGHT_* in Kernels.h). `rows` counts the
// rows of every leading dimension (all experts' for an expert stack).
struct StoredWeight {
  Value bytes;
  int64_t format = 0;
  int64_t rows = 0, k = 0;
};

constexpr int64_t kQ4_0 = 2, kQ8_0 = 8, kBf16 = 30; // TESSEL_WEIGHT_* (GGML's type ids)

std::optional<StoredWeight> storedWeight(Value w) {
  auto dequantize = w.getDefiningOp<DequantizeOp>();
  if (!dequantize)
    return std::nullopt;
  auto matrix = cast<RankedTensorType>(dequantize.getType());
  int64_t format = llvm::StringSwitch<int64_t>(dequantize.getFormat())
                       .Case("q4_0", kQ4_0)
                       .Case("q8_0", kQ8_0)
                       .Case("bf16", kBf16)
                       .Default(-1);
  // f16 (the CUDA pipeline's) has no CPU kernel: tessel-lower-to-linalg
  // dequantizes it.
  if (format < 0)
    return std::nullopt;
  int64_t rows = 1;
  for (int64_t d : matrix.getShape().drop_back())
    rows *= d;
  return StoredWeight{dequantize.getInput(), format, rows, matrix.getShape().back()};
}

// The one stored format of a group of matrices (an MoE layer's expert
// stacks, or its shared experts), or nothing when one is not stored or two
// differ: the MoE kernel reads a group's bytes only in a single format.
std::optional<int64_t> storedGroup(ValueRange weights) {
  std::optional<int64_t> format;
  for (Value w : weights) {
    std::optional<StoredWeight> s = storedWeight(w);
    if (!s || (format && *format != s->format))
      return std::nullopt;
    format = s->format;
  }
  return format;
}

// The input-format argument of the kernels for `op`'s input_format: 0
// (none: f32 rows), TESSEL_WEIGHT_Q8_0 ("q8_0") or TESSEL_WEIGHT_BF16
// ("bf16"); the kernels round the rows to that format first.
int64_t inputFormatCode(Operation *op) {
  auto format = op->getAttrOfType<StringAttr>("input_format");
  if (!format)
    return 0;
  return format.getValue() == "bf16" ? kBf16 : kQ8_0;
}

// Whether the kernel calls this pass makes for `op` honour its
// input_format (true when it has none): the kernels round inputs to q8_0
// only for stored q8_0 / q4_0 weights (their integer kernels), to bf16 only
// for stored bf16 ones, and the MoE kernel only when each of its groups is
// stored in one such format; any other call would silently drop the
// rounding.
bool inputFormatHonoured(Operation *op) {
  const int64_t input = inputFormatCode(op);
  if (input == 0)
    return true;
  auto takes = [&](std::optional<int64_t> format) {
    if (!format)
      return false;
    return input == kBf16 ? *format == kBf16 : (*format == kQ8_0 || *format == kQ4_0);
  };
  auto stored = [&](Value w) {
    std::optional<StoredWeight> s = storedWeight(w);
    return takes(s ? std::optional<int64_t>(s->format) : std::nullopt);
  };
  if (auto linear = dyn_cast<LinearOp>(op))
    return stored(linear.getWeight());
  if (auto ffn = dyn_cast<FFNOp>(op))
    return stored(ffn.getWUp()) && stored(ffn.getWDown()) &&
           (!ffn.getWGate() || stored(ffn.getWGate()));
  if (auto moe = dyn_cast<MoEOp>(op))
    return takes(storedGroup(moe.getExperts())) &&
           (moe.getShared().empty() || takes(storedGroup(moe.getShared())));
  return true;
}

// The calls this pass makes, on top of the generic builder: linear layers
// (plain and fused), gated FFNs and mixtures of experts.
class OpCalls : public KernelCallBuilder {
public:
  using KernelCallBuilder::KernelCallBuilder;

  // out = x w^T (+ bias) (+ residual), any leading dims on x. A stored
  // weight goes to tessel_linear_q*: its bytes, then the format and shape
  // as scalars (the bytes do not carry them), then the input's format
  // (inputFormatCode: 0, or the format the kernel rounds x to first).
  Value linear(Value x, Value w, Value bias, Value residual, RankedTensorType resultType,
               int64_t inputFormat = 0) {
    Value x2 = asMatrix(x);
    SmallVector<OpFoldResult> outDims = {dimOf(x2, 0), dimOf(w, 0)};
    std::optional<StoredWeight> stored = storedWeight(w);
    SmallVector<Value> operands = {x2, stored ? stored->bytes : w};
    SmallVector<Value> scalars;
    std::string name = stored ? "tessel_linear_q" : "tessel_linear";
    if (stored)
      scalars = {i64Constant(stored->format), i64Constant(stored->rows), i64Constant(stored->k),
                 i64Constant(inputFormat)};
    if (bias) {
      operands.push_back(bias);
      name += "_bias";
    }
    if (residual) {
      operands.push_back(asMatrix(residual));
      name += "_residual";
    }
    return fromMatrix(call(name + "_f32", operands, outDims, scalars), x, resultType);
  }

  // act(x wg^T) * (x wu^T) on [rows, hidden] for gate and up matrices
  // stored alike: one tessel_glu_q_f32 call (both products on the bytes,
  // the input rounded once to `inputFormat` if any, then the activation).
  Value storedGlu(Value x2, const StoredWeight &gate, const StoredWeight &up, Activation act,
                  bool tanhApprox, int64_t inputFormat) {
    SmallVector<OpFoldResult> outDims = {dimOf(x2, 0), b.getIndexAttr(gate.rows)};
    return call("tessel_glu_q_f32", {x2, gate.bytes, up.bytes}, outDims,
                {i64Constant(gate.format), i64Constant(gate.rows), i64Constant(gate.k),
                 i64Constant(inputFormat), i64Constant(act == Activation::swiglu ? 0 : 1),
                 i64Constant(tanhApprox ? 1 : 0)});
  }

  // act(gate) * up, elementwise on [rows, hidden] (SwiGLU / GeGLU when the
  // projections could not be fused with it: stored in different forms).
  Value gatedActivation(Value gate, Value up, Activation act, bool tanhApprox) {
    SmallVector<OpFoldResult> outDims = {dimOf(up, 0), dimOf(up, 1)};
    return call("tessel_gated_activation_f32", {gate, up}, outDims,
                {i64Constant(act == Activation::swiglu ? 0 : 1), i64Constant(tanhApprox ? 1 : 0)});
  }

  // The f32 values of a stored weight no kernel call could fold: its rows
  // as one [rows, k] matrix, reshaped to an expert stack's rank 3.
  Value dequantize(DequantizeOp op) {
    std::optional<StoredWeight> stored = storedWeight(op.getResult());
    SmallVector<OpFoldResult> outDims = {b.getIndexAttr(stored->rows), b.getIndexAttr(stored->k)};
    Value out =
        call("tessel_dequantize_f32", {stored->bytes}, outDims,
             {i64Constant(stored->format), i64Constant(stored->rows), i64Constant(stored->k)});
    auto type = cast<RankedTensorType>(op.getType());
    auto matrix = RankedTensorType::get({stored->rows, stored->k}, type.getElementType());
    if (out.getType() != matrix)
      out = tensor::CastOp::create(b, loc, matrix, out);
    if (type.getRank() == 2)
      return out;
    SmallVector<ReassociationIndices> groups(1);
    for (int64_t i = 0; i + 1 < type.getRank(); ++i)
      groups[0].push_back(i);
    groups.push_back({type.getRank() - 1});
    return tensor::ExpandShapeOp::create(b, loc, type, out, groups);
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
      scalars.append(ropeScalars(rope, headDim));
    }
    return call(name + "_f32", operands, outDims, scalars);
  }

  // A RoPE's scalars as the kernels take them: head_dim, layout (0
  // interleaved, 1 half-split), theta, rotary_dim (0: all), linear scaling.
  SmallVector<Value> ropeScalars(RopeOp rope, int64_t headDim) {
    return {i64Constant(headDim), i64Constant(rope.getLayout() == RopeLayout::interleaved ? 0 : 1),
            f32Constant(rope.getTheta().convertToDouble()),
            i64Constant(rope.getRotaryDim() ? *rope.getRotaryDim() : 0),
            f32Constant(rope.getLinearScaling().convertToDouble())};
  }

  // An RMSNorm no GEMM prologue took (its linear layers read stored
  // weights): one kernel call over the rows.
  Value rmsNorm(RMSNormOp op) {
    Value x2 = asMatrix(op.getInput());
    SmallVector<OpFoldResult> outDims = {dimOf(x2, 0), dimOf(x2, 1)};
    Value out = call(
        "tessel_rms_norm_rows_f32", {x2, op.getWeight()}, outDims,
        {f32Constant(op.getEpsilon().convertToDouble()), i64Constant(op.getUnitOffset() ? 1 : 0)});
    return fromMatrix(out, op.getInput(), op.getType());
  }

  // A RoPE no GEMM epilogue took, [..., heads, head_dim] without
  // freq_factors: the heads merged into rows of [tokens, heads * head_dim]
  // for one kernel call, then split again. Null for other forms (left to
  // tessel-lower-to-linalg).
  Value rope(RopeOp op) {
    auto type = cast<RankedTensorType>(op.getType());
    const int64_t rank = type.getRank();
    if (op.getFreqFactors() || rank < 3 || ShapedType::isDynamic(type.getDimSize(rank - 1)) ||
        ShapedType::isDynamic(type.getDimSize(rank - 2)))
      return Value();
    SmallVector<ReassociationIndices> groups(1);
    for (int64_t d = 0; d + 2 < rank; ++d)
      groups[0].push_back(d);
    groups.push_back({rank - 2, rank - 1});
    Value x2 = tensor::CollapseShapeOp::create(b, loc, op.getInput(), groups);
    SmallVector<OpFoldResult> outDims = {dimOf(x2, 0), dimOf(x2, 1)};
    const int64_t headDim = type.getDimSize(rank - 1);
    Value out = call("tessel_rope_rows_f32", {x2, flatten(op.getPositions())}, outDims,
                     ropeScalars(op, headDim));
    SmallVector<OpFoldResult> shape;
    for (int64_t d = 0; d < rank; ++d)
      shape.push_back(dimOf(op.getInput(), d));
    return tensor::ExpandShapeOp::create(b, loc, type, out, groups, shape);
  }

  // SwiGLU / GeGLU hidden activation: act(x wg^T) * (x wu^T).
  Value gatedHidden(Value x2, Value wGate, Value wUp, Activation act, bool tanhApprox) {
    SmallVector<OpFoldResult> outDims = {dimOf(x2, 0), dimOf(wUp, 0)};
    Value kind = arith::ConstantIntOp::create(b, loc, act == Activation::swiglu ? 0 : 1, 64);
    Value tanh = arith::ConstantIntOp::create(b, loc, tanhApprox ? 1 : 0, 64);
    return call("tessel_glu_f32", {x2, wGate, wUp}, outDims, {kind, tanh});
  }

  /// tessel.moe as one call of the MoE kernel (routing, grouping by expert,
  /// the experts' FFNs and the weighted combine all happen inside it). The
  /// C interface has one signature per symbol, so the symbol names the
  /// operand set: tessel_moe[_gated][_shared]_f32, with the gate weights
  /// for SwiGLU / GeGLU and the shared experts when there are any. That
  /// reads better in IR than placeholder 0-size buffers for absent weights.
  /// Operands: x as [rows, dim], the router, the experts' rank-3 weights,
  /// the shared experts' matrices; then the output and the scalars
  /// (top_k, scoring, normalize_top_k, routed_scale, activation,
  /// tanh_approx) with the numbering of TESSEL_MOE_* in Kernels.h.
  ///
  /// When every expert matrix is stored in one format, and the shared
  /// experts' (if any) in one format too, the kernel reads their bytes:
  /// tessel_moe_q[_gated][_shared]_f32, with the formats and hidden sizes
  /// as four more scalars and the input's format (inputFormatCode) as a
  /// fifth. Otherwise stored stacks are dequantized (after
  /// this pass, by the loop that materialises the leftovers).
  Value moe(MoEOp op) {
    Value x2 = asMatrix(op.getInput());
    SmallVector<Value> operands = {x2, op.getRouter()};
    std::optional<int64_t> expertFormat = storedGroup(op.getExperts());
    std::optional<int64_t> sharedFormat = storedGroup(op.getShared());
    const bool stored = expertFormat && (op.getShared().empty() || sharedFormat);
    for (Value w : op.getExperts())
      operands.push_back(stored ? storedWeight(w)->bytes : w);
    for (Value w : op.getShared())
      operands.push_back(stored ? storedWeight(w)->bytes : w);
    std::string name = stored ? "tessel_moe_q" : "tessel_moe";
    if (op.getExperts().size() == 3)
      name += "_gated";
    if (!op.getShared().empty())
      name += "_shared";
    SmallVector<Value> scalars = {i64Constant(static_cast<int64_t>(op.getTopK())),
                                  i64Constant(op.getScoring() == MoeScoring::sigmoid ? 1 : 0),
                                  i64Constant(op.getNormalizeTopK() ? 1 : 0),
                                  f32Constant(op.getRoutedScale().convertToDouble()),
                                  i64Constant(moeActivation(op.getActivation())),
                                  i64Constant(op.getTanhApprox() ? 1 : 0)};
    if (stored) {
      // up is [experts, hidden, dim]; the shared up [shared_hidden, dim].
      auto upType = cast<RankedTensorType>(op.getExperts().front().getType());
      scalars.push_back(i64Constant(*expertFormat));
      scalars.push_back(i64Constant(upType.getDimSize(1)));
      int64_t sharedHidden = 0;
      if (!op.getShared().empty())
        sharedHidden = cast<RankedTensorType>(op.getShared().front().getType()).getDimSize(0);
      scalars.push_back(i64Constant(sharedHidden > 0 ? *sharedFormat : 0));
      scalars.push_back(i64Constant(sharedHidden));
      scalars.push_back(i64Constant(inputFormatCode(op)));
    }
    SmallVector<OpFoldResult> outDims = {dimOf(x2, 0), dimOf(x2, 1)};
    return fromMatrix(call(name + "_f32", operands, outDims, scalars), op.getInput(), op.getType());
  }

  /// A batched contraction einsum as one tessel_batch_matmul_f32 call, or
  /// null when the equation is not one (tessel-lower-einsum then lowers it
  /// to linalg). The form: two f32 operands; A's labels are batch labels
  /// (in B and the output), m labels (output only) and k labels (B only);
  /// B's are the batch labels first, then its k and n labels as two runs
  /// in either order, so that B is read where it lies, [k, n] or [n, k] per
  /// batch index: a weight (MLA's per-head W_uk / W_uv slices of wkv_b) is
  /// never copied. A is transposed to [batch, m, k] when its labels come in
  /// another order (an activation: what one step makes), and the [batch,
  /// m, n] product to the output's order. Every group must be non-empty.
  Value einsum(EinsumOp op) {
    EinsumEquation eq;
    std::string error;
    ContractionLabels roles;
    if (!parseEinsumEquation(op.getEquation().str(), eq, error) || !classifyContraction(eq, roles))
      return Value();
    const std::string &a = eq.inputs[0], &bl = eq.inputs[1], &out = eq.output;
    auto in = [](const std::string &s, char c) { return s.find(c) != std::string::npos; };
    // Batch and k labels in B's order (B is read where it lies); m in A's.
    const std::string &m = roles.m, &n = roles.n;
    std::string batch, kB;
    for (char c : bl) {
      if (in(roles.batch, c))
        batch.push_back(c);
      else if (in(roles.k, c))
        kB.push_back(c);
    }
    if (batch.empty() || m.empty() || kB.empty() || n.empty())
      return Value();
    bool bKN;
    if (bl == batch + kB + n)
      bKN = true;
    else if (bl == batch + n + kB)
      bKN = false;
    else
      return Value();
    for (Value v : op.getInputs())
      if (!cast<RankedTensorType>(v.getType()).getElementType().isF32())
        return Value();

    // The extent of a label, from the operand that has it.
    auto extent = [&](char c) -> OpFoldResult {
      if (in(a, c))
        return dimOf(op.getInputs()[0], a.find(c));
      return dimOf(op.getInputs()[1], bl.find(c));
    };
    // x (labels `from`) with its labels in `to` order.
    auto transposed = [&](Value x, const std::string &from, const std::string &to) -> Value {
      if (from == to)
        return x;
      SmallVector<int64_t> perm;
      SmallVector<OpFoldResult> sizes;
      for (char c : to) {
        perm.push_back(static_cast<int64_t>(from.find(c)));
        sizes.push_back(extent(c));
      }
      auto type = cast<RankedTensorType>(x.getType());
      Value init = tensor::EmptyOp::create(b, loc, sizes, type.getElementType());
      return linalg::TransposeOp::create(b, loc, x, init, perm).getResult()[0];
    };
    // Consecutive runs of labels merged into one dimension each.
    auto runs = [](ArrayRef<size_t> lengths) {
      SmallVector<ReassociationIndices> groups;
      int64_t d = 0;
      for (size_t len : lengths) {
        groups.emplace_back();
        for (size_t i = 0; i < len; ++i)
          groups.back().push_back(d++);
      }
      return groups;
    };
    auto collapsed = [&](Value x, ArrayRef<size_t> lengths) -> Value {
      if (llvm::all_of(lengths, [](size_t len) { return len == 1; }))
        return x;
      return tensor::CollapseShapeOp::create(b, loc, x, runs(lengths));
    };

    Value a3 = collapsed(transposed(op.getInputs()[0], a, batch + m + kB),
                         {batch.size(), m.size(), kB.size()});
    Value b3 =
        collapsed(op.getInputs()[1], bKN ? ArrayRef<size_t>{batch.size(), kB.size(), n.size()}
                                         : ArrayRef<size_t>{batch.size(), n.size(), kB.size()});
    SmallVector<OpFoldResult> outDims = {dimOf(a3, 0), dimOf(a3, 1), dimOf(b3, bKN ? 2 : 1)};
    Value product = call("tessel_batch_matmul_f32", {a3, b3}, outDims, {i64Constant(bKN ? 1 : 0)});
    // [batch, m, n] -> the labels batch + m + n -> the output's order.
    const std::string natural = batch + m + n;
    SmallVector<int64_t> shape;
    SmallVector<OpFoldResult> sizes;
    for (char c : natural) {
      sizes.push_back(extent(c));
      std::optional<int64_t> size = getConstantIntValue(sizes.back());
      shape.push_back(size ? *size : ShapedType::kDynamic);
    }
    if (natural.size() != 3)
      product =
          tensor::ExpandShapeOp::create(b, loc, RankedTensorType::get(shape, b.getF32Type()),
                                        product, runs({batch.size(), m.size(), n.size()}), sizes);
    Value result = transposed(product, natural, out);
    if (result.getType() != op.getType())
      result = tensor::CastOp::create(b, loc, op.getType(), result);
    return result;
  }

private:
  // TESSEL_MOE_RELU .. TESSEL_MOE_GEGLU (runtime/kernels/Kernels.h).
  static int64_t moeActivation(Activation a) {
    switch (a) {
    case Activation::relu:
      return 0;
    case Activation::gelu:
      return 1;
    case Activation::silu:
      return 2;
    case Activation::swiglu:
      return 3;
    case Activation::geglu:
      return 4;
    }
    return 3;
  }
};

// The RMSNorm a linear layer's input comes from, if the GEMM's prologue
// can apply it: f32 [..., k] rows normalised over k.
RMSNormOp foldableNorm(LinearOp linear) { return linear.getInput().getDefiningOp<RMSNormOp>(); }

// linear(rms_norm(x)) and rope(split(linear(x))) as one fused kernel call
// each (both when both apply: Q and K of every llama layer). Linear layers
// with a bias or residual keep the plain path.
bool lowerFused(OpCalls &k, LinearOp linear) {
  // The fused kernels read f32 weights; a stored weight takes the plain
  // path (its norm and RoPE are lowered on their own).
  if (linear.getBias() || linear.getResidual() || storedWeight(linear.getWeight()))
    return false;
  RMSNormOp norm = foldableNorm(linear);
  tensor::ExpandShapeOp split;
  RopeOp rope = ropeAfterLinear(linear, split);
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
      if (isa<LinearOp, FFNOp, MoEOp, EinsumOp>(op))
        ops.push_back(op);
    });
    for (Operation *op : ops) {
      if (!inputFormatHonoured(op)) {
        op->emitOpError("input_format = \"q8_0\" needs weights stored as q8_0 or q4_0, "
                        "input_format = \"bf16\" weights stored as bf16 "
                        "(tessel.weight {storage}; an MoE layer's stacks each in one format), "
                        "which the kernels that round their inputs read");
        return signalPassFailure();
      }
    }
    for (Operation *op : ops) {
      OpCalls k(module, op);
      Value out;
      if (auto linear = dyn_cast<LinearOp>(op)) {
        if (lowerFused(k, linear))
          continue;
        out = k.linear(linear.getInput(), linear.getWeight(), linear.getBias(),
                       linear.getResidual(), linear.getType(), inputFormatCode(linear));
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
        Value hidden;
        std::optional<StoredWeight> storedGate = storedWeight(ffn.getWGate()),
                                    storedUp = storedWeight(ffn.getWUp());
        if (storedGate && storedUp && storedGate->format == storedUp->format &&
            storedGate->rows == storedUp->rows && storedGate->k == storedUp->k) {
          hidden = k.storedGlu(x2, *storedGate, *storedUp, ffn.getActivation(), ffn.getTanhApprox(),
                               inputFormatCode(ffn));
        } else if (storedGate || storedUp) {
          // Two GEMMs (one or both on stored bytes), then the activation.
          auto matrix = [&](Value w) {
            auto type = cast<RankedTensorType>(w.getType());
            auto x2Type = cast<RankedTensorType>(x2.getType());
            return RankedTensorType::get({x2Type.getDimSize(0), type.getDimSize(0)},
                                         type.getElementType());
          };
          const int64_t input = inputFormatCode(ffn);
          Value gate =
              k.linear(x2, ffn.getWGate(), Value(), Value(), matrix(ffn.getWGate()), input);
          Value up = k.linear(x2, ffn.getWUp(), Value(), Value(), matrix(ffn.getWUp()), input);
          hidden = k.gatedActivation(gate, up, ffn.getActivation(), ffn.getTanhApprox());
        } else {
          hidden = k.gatedHidden(x2, ffn.getWGate(), ffn.getWUp(), ffn.getActivation(),
                                 ffn.getTanhApprox());
        }
        out = k.linear(hidden, ffn.getWDown(), Value(), ffn.getResidual(), ffn.getType(),
                       inputFormatCode(ffn));
        // `hidden` is [m, hidden] already, so linear() returns [m, dim]:
        // restore the input's leading dims.
        out = k.fromMatrix(out, ffn.getInput(), ffn.getType());
      } else if (auto moe = dyn_cast<MoEOp>(op)) {
        out = k.moe(moe);
      } else if (auto einsum = dyn_cast<EinsumOp>(op)) {
        out = k.einsum(einsum);
        if (!out)
          continue; // not a batched contraction: tessel-lower-einsum's
      }
      op->getResult(0).replaceAllUsesWith(out);
      op->erase();
    }
    // RMSNorms and RoPEs that no fused linear layer took (those around
    // stored weights): kernel calls too, rather than linalg's scalar loops
    // (a RoPE there recomputes every angle per head: 13 us per call at
    // decode on stories110M).
    SmallVector<Operation *> rest;
    module.walk([&](Operation *op) {
      if (isa<RMSNormOp, RopeOp>(op))
        rest.push_back(op);
    });
    for (Operation *op : rest) {
      auto f32 = [](Value v) {
        return cast<RankedTensorType>(v.getType()).getElementType().isF32();
      };
      if (!f32(op->getOperand(0)))
        continue;
      OpCalls k(module, op);
      Value out;
      if (auto norm = dyn_cast<RMSNormOp>(op))
        out = k.rmsNorm(norm);
      else
        out = k.rope(cast<RopeOp>(op));
      if (!out)
        continue;
      op->getResult(0).replaceAllUsesWith(out);
      op->erase();
    }
    // Stored weights the calls above did not fold (another op reads the
    // matrix): dequantized by a kernel, once per call of the function.
    SmallVector<DequantizeOp> dequantizes;
    module.walk([&](DequantizeOp op) { dequantizes.push_back(op); });
    for (DequantizeOp op : dequantizes) {
      if (!storedWeight(op.getResult()))
        continue; // no kernel reads this format: tessel-lower-to-linalg does
      if (!op.getResult().use_empty()) {
        OpCalls k(module, op);
        op.getResult().replaceAllUsesWith(k.dequantize(op));
      }
      op.erase();
    }
  }
};

} // namespace
} // namespace tessel
