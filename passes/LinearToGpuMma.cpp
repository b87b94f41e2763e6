//===- LinearToGpuMma.cpp - tessel.linear -> tensor-core GEMM kernels -----===//
//
// See TesselLinearToGpuMma in Passes.td. The kernels are built by
// GpuMmaBuilder.cpp, whose file comment details the layout. In short
// (M = rows of x, N = out features, K = in features, E = bf16 or f16):
//
//   mma_gemm_E_nN_kK[_bias][_residual]   grid (N / block-n, ceil(M /
//       block-m)), block 32 * warps-m * warps-n threads; x (rounded to E)
//       and W tiles of block-k columns staged in workgroup memory between
//       gpu.barriers, nvvm.mma.sync m16n8k16 with f32 accumulators in
//       registers, epilogue + bias + residual, rows >= M masked.
//   mma_gemv_E_...   the same kernel with the decode layout (M <=
//       decode-max-rows): 16 x decode-block-n tiles, decode-warps-k warps
//       splitting the reduction, so that N / 16 blocks stream W.
//
// Fused forms (same kernels, more in the prologue / epilogue):
//   linear(rms_norm(x)): the norm in the prologue (bf16 weights); the
//     norm's result stays only while another op reads it (q, k, v share
//     one norm: it goes with the last).
//   rope(expand_shape(linear(...))) (interleaved, or half-split with
//     rotary_dim % 16 == 0; i64 positions; no freq_factors): the rotation
//     in the epilogue, the heads split where the rope was.
//   ffn (swiglu / geglu, no biases, three weights of one 16-bit type):
//     mma_*_glu_ACT (both GEMMs over one x tile, [norm,] act(g) * u, h
//     written once) then the down projection + residual (the plain kernel).
//
// This file matches the ops, picks the layouts from the options, and writes
// the host side: buffers in (x and residual flattened to [M, .], the
// weight's bytes viewed as [N, K] E, gamma, positions flattened to [M]),
// the launch(es), the result buffer out.
//
//===----------------------------------------------------------------------===//
#include "dialect/TesselOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "passes/GpuKernelBuilder.h"
#include "passes/GpuMmaBuilder.h"
#include "passes/LinearFusion.h"
#include "passes/Passes.h"

namespace tessel {
#define GEN_PASS_DEF_TESSELLINEARTOGPUMMA
#include "passes/Passes.h.inc"
} // namespace tessel

using namespace mlir;

namespace tessel {
namespace {

constexpr llvm::StringLiteral kKernelModule = "tessel_mma_kernels";
constexpr llvm::StringLiteral kConfigAttr = "tessel.kernel_config";
// The decode layout's row tile: one m16 tile, the mma's smallest M.
constexpr int64_t kDecodeBlockM = 16;

// The element type of a weight the kernels take (the bytes of a
// tessel.dequantize to bf16, or f16 once the verifier accepts it; static
// shape), else nullopt.
std::optional<MmaElementType> weightType(Value weight) {
  auto dq = weight.getDefiningOp<DequantizeOp>();
  if (!dq)
    return std::nullopt;
  auto bytes = cast<RankedTensorType>(dq.getInput().getType());
  if (!cast<RankedTensorType>(weight.getType()).hasStaticShape() || !bytes.hasStaticShape())
    return std::nullopt;
  if (dq.getFormat() == "bf16")
    return MmaElementType::BF16;
  if (dq.getFormat() == "f16")
    return MmaElementType::F16;
  return std::nullopt;
}

// The RMSNorm the GEMM's prologue can apply to `x`: an f32 tessel.rms_norm
// over a static last dimension. Its result stays while other users remain.
RMSNormOp foldableNorm(Value x) {
  auto norm = x.getDefiningOp<RMSNormOp>();
  if (!norm)
    return nullptr;
  auto gamma = cast<RankedTensorType>(norm.getWeight().getType());
  auto type = cast<RankedTensorType>(norm.getType());
  if (gamma.getRank() != 1 || !gamma.getElementType().isF32() || !type.getElementType().isF32() ||
      gamma.isDynamicDim(0) || type.getShape().back() != gamma.getDimSize(0))
    return nullptr;
  return norm;
}

// The RoPE the epilogue can apply to a linear layer's result: the one
// LowerToKernels folds (ropeAfterLinear), on [batch, seq, heads * dim]
// with i64 positions.
RopeOp foldableRope(LinearOp linear, tensor::ExpandShapeOp &split) {
  RopeOp rope = ropeAfterLinear(linear, split);
  if (!rope || cast<RankedTensorType>(split.getSrc().getType()).getRank() != 3)
    return nullptr;
  auto pos = cast<RankedTensorType>(rope.getPositions().getType());
  if (!pos.getElementType().isInteger(64))
    return nullptr;
  return rope;
}

// A kernel launch and what it reads: x (or the norm's input), the weights
// (gate first), the epilogue's operands; the result has `resultType`, with
// x's leading dims.
struct Gemm {
  MmaGemmSpec spec;
  Value x;
  RMSNormOp norm;
  SmallVector<DequantizeOp, 2> weights;
  Value bias, residual;
  RopeOp rope;
  RankedTensorType resultType;
};

// The kernel spec of `op`, or nullopt when the kernels do not compute it
// (it is left to the generic path). Folds the input's RMSNorm (bf16) and
// the output's RoPE (bf16, supported layouts) where it can.
std::optional<Gemm> matchLinear(LinearOp op, tensor::ExpandShapeOp &split) {
  std::optional<MmaElementType> type = weightType(op.getWeight());
  if (!type || !op->getParentOfType<func::FuncOp>())
    return std::nullopt;
  Gemm g;
  g.spec.type = *type;
  g.spec.n = op.getWeight().getType().getDimSize(0);
  g.spec.k = op.getWeight().getType().getDimSize(1);
  g.spec.bias = static_cast<bool>(op.getBias());
  g.spec.residual = static_cast<bool>(op.getResidual());
  if (!g.spec.valid())
    return std::nullopt;
  g.x = op.getInput();
  g.weights = {op.getWeight().getDefiningOp<DequantizeOp>()};
  g.bias = op.getBias();
  g.residual = op.getResidual();
  g.resultType = cast<RankedTensorType>(op.getType());
  if (RMSNormOp norm = foldableNorm(op.getInput())) {
    MmaGemmSpec s = g.spec;
    s.rmsNorm = true;
    s.unitOffset = norm.getUnitOffset();
    if (s.valid()) {
      g.spec = s;
      g.norm = norm;
      g.x = norm.getInput();
    }
  }
  if (RopeOp rope = foldableRope(op, split)) {
    auto heads = cast<RankedTensorType>(rope.getType());
    MmaGemmSpec s = g.spec;
    s.rope =
        rope.getLayout() == RopeLayout::interleaved ? MmaRope::Interleaved : MmaRope::HalfSplit;
    s.headDim = heads.getShape().back();
    s.rotaryDim = rope.getRotaryDim() ? static_cast<int64_t>(*rope.getRotaryDim()) : s.headDim;
    if (!ShapedType::isDynamic(s.headDim) && s.valid()) {
      g.spec = s;
      g.rope = rope;
    }
  }
  return g;
}

// A gated FFN (SwiGLU / GeGLU) without biases whose three weights the
// kernels take, with the same element type: the hidden layer as one gated
// kernel (its input's RMSNorm folded in), the down projection and residual
// as a second. Others (plain activations, biases, f32 or quantized
// weights, other shapes) are left to tessel-lower-to-linalg.
std::optional<std::pair<Gemm, Gemm>> matchFfn(FFNOp op) {
  if (!op.getWGate() || op.getBUp() || op.getBDown() || !op->getParentOfType<func::FuncOp>())
    return std::nullopt;
  std::optional<MmaElementType> type = weightType(op.getWGate());
  if (!type || weightType(op.getWUp()) != type || weightType(op.getWDown()) != type)
    return std::nullopt;
  Gemm hidden, down;
  MmaGemmSpec &h = hidden.spec;
  h.type = *type;
  h.n = op.getWUp().getType().getDimSize(0);
  h.k = op.getWUp().getType().getDimSize(1);
  switch (op.getActivation()) {
  case Activation::swiglu:
    h.glu = MmaGlu::Silu;
    break;
  case Activation::geglu:
    h.glu = op.getTanhApprox() ? MmaGlu::GeluTanh : MmaGlu::Gelu;
    break;
  default:
    return std::nullopt;
  }
  down.spec.type = *type;
  down.spec.n = op.getWDown().getType().getDimSize(0);
  down.spec.k = op.getWDown().getType().getDimSize(1);
  down.spec.residual = static_cast<bool>(op.getResidual());
  if (!h.valid() || !down.spec.valid() || down.spec.k != h.n)
    return std::nullopt;
  hidden.x = op.getInput();
  hidden.weights = {op.getWGate().getDefiningOp<DequantizeOp>(),
                    op.getWUp().getDefiningOp<DequantizeOp>()};
  auto in = cast<RankedTensorType>(op.getInput().getType());
  SmallVector<int64_t> shape(in.getShape());
  shape.back() = h.n;
  hidden.resultType = RankedTensorType::get(shape, in.getElementType());
  if (RMSNormOp norm = foldableNorm(op.getInput())) {
    MmaGemmSpec s = h;
    s.rmsNorm = true;
    s.unitOffset = norm.getUnitOffset();
    if (s.valid()) {
      h = s;
      hidden.norm = norm;
      hidden.x = norm.getInput();
    }
  }
  down.weights = {op.getWDown().getDefiningOp<DequantizeOp>()};
  down.residual = op.getResidual();
  down.resultType = cast<RankedTensorType>(op.getType());
  return std::make_pair(hidden, down);
}

// "bm64_bn64_bk32_w2x2x1": a layout, to tell kernels of one name apart.
std::string layoutName(const MmaLayout &l) {
  return "bm" + std::to_string(l.blockM) + "_bn" + std::to_string(l.blockN) + "_bk" +
         std::to_string(l.blockK) + "_w" + std::to_string(l.warpsM) + "x" +
         std::to_string(l.warpsN) + "x" + std::to_string(l.warpsK);
}

struct LinearToGpuMmaPass : impl::TesselLinearToGpuMmaBase<LinearToGpuMmaPass> {
  using TesselLinearToGpuMmaBase::TesselLinearToGpuMmaBase;

  void getDependentDialects(DialectRegistry &registry) const override {
    TesselLinearToGpuMmaBase::getDependentDialects(registry);
    // The deallocation pipeline that follows bufferization must know what
    // the launches do to their buffers.
    registerGpuLaunchMemoryEffects(registry);
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (failed(checkOptions()))
      return signalPassFailure();
    SmallVector<Operation *> ops;
    module.walk([&](Operation *op) {
      if (isa<LinearOp, FFNOp>(op))
        ops.push_back(op);
    });
    SmallVector<MmaGemmSpec> extra;
    for (const std::string &name : extraKernels) {
      std::optional<MmaGemmSpec> spec = parseMmaSpecName(name);
      if (!spec) {
        module.emitError() << "tessel-linear-to-gpu-mma: extra-kernels: '" << name
                           << "' is not E_nN_kK[_rms|_rmsu][_glu_ACT][_rope_L_dD_rR][_bias]["
                              "_residual] (E = bf16 or f16, N a multiple of 8, K a multiple "
                              "of 16; see GpuMmaBuilder.h)";
        return signalPassFailure();
      }
      extra.push_back(*spec);
    }
    gpu::GPUModuleOp kernels;
    auto kernelsOnce = [&] {
      if (!kernels)
        kernels = kernelModule(module);
      return kernels;
    };
    // Matched one at a time: lowering an op erases the norm it folded once
    // no other op reads it.
    for (Operation *op : ops) {
      if (auto linear = dyn_cast<LinearOp>(op)) {
        tensor::ExpandShapeOp split;
        if (std::optional<Gemm> g = matchLinear(linear, split))
          lowerLinear(linear, *g, split, kernelsOnce());
      } else if (auto ffn = dyn_cast<FFNOp>(op)) {
        if (auto g = matchFfn(ffn))
          lowerFfn(ffn, g->first, g->second, kernelsOnce());
      }
    }
    // Kernels no op asked for (tests, ahead-of-time checks of a path no
    // model reaches yet): both layouts.
    for (const MmaGemmSpec &spec : extra) {
      gemmKernel(kernelsOnce(), spec, module.getLoc());
      if (decodeMaxRows > 0)
        gemvKernel(kernelsOnce(), spec, module.getLoc());
    }
  }

private:
  MmaLayout gemmLayout(const MmaGemmSpec &spec) {
    MmaLayout l;
    l.blockM = blockM;
    l.blockN = blockN;
    l.blockK = blockK;
    l.warpsM = warpsM;
    l.warpsN = warpsN;
    l.warpsK = 1;
    return fitMmaLayout(spec, l);
  }
  MmaLayout gemvLayout(const MmaGemmSpec &spec) {
    MmaLayout l;
    l.blockM = kDecodeBlockM;
    l.blockN = decodeBlockN;
    l.blockK = decodeBlockK;
    l.warpsM = 1;
    l.warpsN = 1;
    l.warpsK = decodeWarpsK;
    return fitMmaLayout(spec, l);
  }

  LogicalResult checkOptions() {
    auto fail = [&](const Twine &msg) {
      getOperation().emitError() << "tessel-linear-to-gpu-mma: " << msg;
      return failure();
    };
    // The layouts before fitting: fitting only shrinks tiles to divisors
    // of N and K, which keeps them valid.
    std::string why;
    MmaLayout prefill{blockM, blockN, blockK, warpsM, warpsN, 1};
    if (!prefill.valid(&why))
      return fail(why);
    if (decodeMaxRows < 0)
      return fail("decode-max-rows must be >= 0");
    MmaLayout decode{kDecodeBlockM, decodeBlockN, decodeBlockK, 1, 1, decodeWarpsK};
    if (decodeMaxRows > 0 && !decode.valid(&why))
      return fail("decode layout: " + why);
    return success();
  }

  gpu::GPUModuleOp kernelModule(ModuleOp module) {
    module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(), UnitAttr::get(&getContext()));
    if (auto existing = module.lookupSymbol<gpu::GPUModuleOp>(kKernelModule))
      return existing;
    OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
    return gpu::GPUModuleOp::create(b, module.getLoc(), kKernelModule);
  }

  // The kernel `base` with `layout`, built unless the module has it. A
  // kernel of the same name built with another layout (a second run of
  // the pass with other options) gets a numbered name instead.
  gpu::GPUFuncOp kernel(gpu::GPUModuleOp kernels, const std::string &base, const MmaGemmSpec &spec,
                        const MmaLayout &layout, Location loc) {
    std::string config = layoutName(layout);
    for (int n = 0;; ++n) {
      std::string name = n == 0 ? base : base + "_" + std::to_string(n);
      auto fn = kernels.lookupSymbol<gpu::GPUFuncOp>(name);
      if (!fn) {
        OpBuilder b = OpBuilder::atBlockEnd(kernels.getBody());
        fn = buildMmaGemmKernel(b, loc, name, spec, layout);
        fn->setAttr(kConfigAttr, b.getStringAttr(config));
        return fn;
      }
      if (auto c = fn->getAttrOfType<StringAttr>(kConfigAttr); c && c.getValue() == config)
        return fn;
    }
  }
  gpu::GPUFuncOp gemmKernel(gpu::GPUModuleOp kernels, const MmaGemmSpec &spec, Location loc) {
    return kernel(kernels, "mma_gemm_" + mmaSpecName(spec), spec, gemmLayout(spec), loc);
  }
  gpu::GPUFuncOp gemvKernel(gpu::GPUModuleOp kernels, const MmaGemmSpec &spec, Location loc) {
    return kernel(kernels, "mma_gemv_" + mmaSpecName(spec), spec, gemvLayout(spec), loc);
  }

  // linear [+ norm] [+ rope]: one launch. With a RoPE, the launch goes
  // where the rope was (its positions may be defined after the linear
  // layer) and the result is split into heads there.
  void lowerLinear(LinearOp op, Gemm g, tensor::ExpandShapeOp split, gpu::GPUModuleOp kernels) {
    OpBuilder b(g.rope ? g.rope.getOperation() : op.getOperation());
    Value out = emitGemm(b, op.getLoc(), g, g.x, kernels);
    if (g.rope) {
      Value heads = tensor::ExpandShapeOp::create(b, op.getLoc(), g.rope.getType(), out,
                                                  split.getReassociationIndices(),
                                                  split.getMixedOutputShape());
      g.rope.getResult().replaceAllUsesWith(heads);
      g.rope.erase();
      split.erase();
    } else {
      op.getResult().replaceAllUsesWith(out);
    }
    op.erase();
    cleanUp(g);
  }

  // Gated FFN: the hidden layer (gate and up GEMMs, the activation and
  // product in the epilogue; h written once), then the down projection
  // with the residual, reading h.
  void lowerFfn(FFNOp op, Gemm hidden, Gemm down, gpu::GPUModuleOp kernels) {
    OpBuilder b(op);
    Value h = emitGemm(b, op.getLoc(), hidden, hidden.x, kernels);
    Value out = emitGemm(b, op.getLoc(), down, h, kernels);
    op.getResult().replaceAllUsesWith(out);
    op.erase();
    cleanUp(hidden);
    cleanUp(down);
  }

  // Folded ops go with their last use.
  static void cleanUp(Gemm &g) {
    if (g.norm && g.norm->use_empty())
      g.norm.erase();
    for (DequantizeOp dq : g.weights)
      if (dq->use_empty())
        dq.erase();
  }

  // The launch(es) of `g`'s kernel on `input` ([..., K] f32; the norm's
  // input when it is folded) at `b`'s insertion point; returns the result
  // tensor (g.resultType: input's leading dims, N).
  Value emitGemm(OpBuilder &b, Location loc, Gemm &g, Value input, gpu::GPUModuleOp kernels) {
    MLIRContext *ctx = &getContext();
    const MmaGemmSpec &spec = g.spec;
    auto index = [&](int64_t v) -> Value { return arith::ConstantIndexOp::create(b, loc, v); };
    auto f32 = [&](APFloat v) -> Value {
      return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v.convertToFloat()));
    };

    // [..., C] -> [rows, C]: leading dims folded (a [C] vector is one row).
    auto flatten = [&](Value v) -> Value {
      auto t = cast<RankedTensorType>(v.getType());
      int64_t rank = t.getRank(), c = t.getDimSize(rank - 1);
      if (rank == 2)
        return v;
      if (rank == 1) {
        auto to = RankedTensorType::get({1, c}, t.getElementType());
        return tensor::ExpandShapeOp::create(b, loc, to, v, ArrayRef<ReassociationIndices>{{0, 1}});
      }
      ReassociationIndices lead;
      int64_t rows = 1;
      for (int64_t d = 0; d + 1 < rank; ++d) {
        lead.push_back(d);
        rows = (ShapedType::isDynamic(rows) || t.isDynamicDim(d)) ? ShapedType::kDynamic
                                                                  : rows * t.getDimSize(d);
      }
      auto to = RankedTensorType::get({rows, c}, t.getElementType());
      return tensor::CollapseShapeOp::create(
          b, loc, to, v, ArrayRef<ReassociationIndices>{lead, ReassociationIndices{rank - 1}});
    };
    // The tensor's own buffer, read-only, as the kernel's argument type.
    auto readBuffer = [&](Value v, MemRefType argType) -> Value {
      auto t = cast<RankedTensorType>(v.getType());
      SmallVector<int64_t> strides(t.getRank(), ShapedType::kDynamic);
      auto exact = MemRefType::get(t.getShape(), t.getElementType(),
                                   StridedLayoutAttr::get(ctx, ShapedType::kDynamic, strides));
      Value m = bufferization::ToBufferOp::create(b, loc, exact, v, /*read_only=*/true);
      if (m.getType() == argType)
        return m;
      return memref::CastOp::create(b, loc, argType, m);
    };
    // The stored bytes (identity layout: memref.view takes no other), seen
    // as the [N, K] matrix of E they hold, row by row.
    Value zero = index(0);
    auto weightBuffer = [&](DequantizeOp dq) -> Value {
      auto bytesType = cast<RankedTensorType>(dq.getInput().getType());
      Value bytes = bufferization::ToBufferOp::create(
          b, loc, MemRefType::get(bytesType.getShape(), bytesType.getElementType()), dq.getInput(),
          /*read_only=*/true);
      return memref::ViewOp::create(b, loc, mmaWeightArgType(ctx, spec), bytes, zero, ValueRange{});
    };

    Value x = flatten(input);
    SmallVector<Value> args = {readBuffer(x, mmaInputArgType(ctx, spec))};
    if (g.norm)
      args.push_back(readBuffer(g.norm.getWeight(), mmaGammaArgType(ctx, spec)));
    for (DequantizeOp dq : g.weights)
      args.push_back(weightBuffer(dq));
    if (spec.bias)
      args.push_back(readBuffer(g.bias, mmaBiasArgType(ctx, spec)));
    if (spec.residual) {
      Value r = flatten(g.residual);
      args.push_back(readBuffer(r, mmaResidualArgType(ctx, spec)));
    }
    if (g.rope) {
      // [batch, seq] -> [batch * seq]: one position per row of x.
      Value pos = tensor::CollapseShapeOp::create(b, loc, g.rope.getPositions(),
                                                  ArrayRef<ReassociationIndices>{{0, 1}});
      args.push_back(readBuffer(pos, mmaPositionsArgType(ctx)));
    }

    RankedTensorType resultType = g.resultType;
    SmallVector<Value> outSizes;
    for (int64_t d = 0; d + 1 < resultType.getRank(); ++d)
      if (resultType.isDynamicDim(d))
        outSizes.push_back(tensor::DimOp::create(b, loc, input, d));
    Value out = memref::AllocOp::create(
        b, loc, MemRefType::get(resultType.getShape(), resultType.getElementType()), outSizes);
    // The same [rows, N] view of it as of x (an identity-layout buffer
    // collapses without a copy).
    Value outRows = out;
    int64_t rank = resultType.getRank();
    if (rank == 1) {
      auto to = MemRefType::get({1, spec.n}, resultType.getElementType());
      outRows = memref::ExpandShapeOp::create(b, loc, to.getShape(), out,
                                              ArrayRef<ReassociationIndices>{{0, 1}});
    } else if (rank > 2) {
      ReassociationIndices lead;
      for (int64_t d = 0; d + 1 < rank; ++d)
        lead.push_back(d);
      outRows = memref::CollapseShapeOp::create(
          b, loc, out, ArrayRef<ReassociationIndices>{lead, ReassociationIndices{rank - 1}});
    }
    if (outRows.getType() != mmaOutputArgType(ctx, spec))
      outRows = memref::CastOp::create(b, loc, mmaOutputArgType(ctx, spec), outRows);
    args.push_back(outRows);
    if (g.norm)
      args.push_back(f32(g.norm.getEpsilon()));
    if (g.rope) {
      args.push_back(f32(g.rope.getTheta()));
      args.push_back(f32(g.rope.getLinearScaling()));
    }

    auto xType = cast<RankedTensorType>(x.getType());
    int64_t staticRows = xType.getDimSize(0);
    Value rows = ShapedType::isDynamic(staticRows) ? tensor::DimOp::create(b, loc, x, 0).getResult()
                                                   : index(staticRows);
    auto launch = [&](gpu::GPUFuncOp fn, const MmaLayout &layout) {
      Value gridX = index(spec.n / layout.blockN);
      Value gridY = arith::CeilDivUIOp::create(b, loc, rows, index(layout.blockM));
      Value one = index(1), threads = index(layout.threads());
      gpu::LaunchFuncOp::create(b, loc, fn, gpu::KernelDim3{gridX, gridY, one},
                                gpu::KernelDim3{threads, one, one},
                                /*dynamicSharedMemorySize=*/Value(), args);
    };
    auto launchGemm = [&] { launch(gemmKernel(kernels, spec, loc), gemmLayout(spec)); };
    auto launchGemv = [&] { launch(gemvKernel(kernels, spec, loc), gemvLayout(spec)); };
    auto launchAny = [&] {
      if (decodeMaxRows == 0)
        return launchGemm();
      if (!ShapedType::isDynamic(staticRows))
        return staticRows <= decodeMaxRows ? launchGemv() : launchGemm();
      // A step entry point serves prefill chunks and decode: pick at run time.
      Value isShort =
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ule, rows, index(decodeMaxRows));
      auto branch = scf::IfOp::create(b, loc, isShort, /*withElseRegion=*/true);
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPoint(branch.thenBlock()->getTerminator());
      launchGemv();
      b.setInsertionPoint(branch.elseBlock()->getTerminator());
      launchGemm();
    };

    // A launch with an empty grid is an error on the device: launch only
    // when there is a row to compute.
    if (staticRows == 0) {
      // Nothing to compute: the (empty) buffer is the result.
    } else if (ShapedType::isDynamic(staticRows)) {
      Value nonEmpty = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ugt, rows, zero);
      auto guardIf = scf::IfOp::create(b, loc, nonEmpty, /*withElseRegion=*/false);
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPoint(guardIf.thenBlock()->getTerminator());
      launchAny();
    } else {
      launchAny();
    }

    return bufferization::ToTensorOp::create(b, loc, resultType, out, /*restrict=*/true,
                                             /*writable=*/true);
  }
};

} // namespace
} // namespace tessel
