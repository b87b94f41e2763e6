//===- AttentionToGpu.cpp - tessel.attention -> GPU FlashAttention kernels ===//
//
// See TesselAttentionToGpu in Passes.td. The kernels are built by
// GpuKernelBuilder.cpp, whose file comment details who computes what. In
// short (D = head_dim, Dv = v_head_dim, H = num_heads, T = lanes per row):
//
//   flash_attention_*   grid (ceil(q_len / block-q), H, batch),
//                       block block-q * T threads; T lanes per query row
//                       split D and Dv; K/V tiles [block-kv, D|Dv] in
//                       workgroup memory, loaded by all threads between
//                       gpu.barriers; online softmax in registers.
//   flash_decoding_*    grid (splits, H, batch * q_len), block
//                       decode-threads; lane groups of
//                       decode-threads-per-key take keys side by side from
//                       global memory, merge in workgroup memory and write
//                       a partial (m, l, acc) per split to a workspace.
//   flash_decoding_combine_*  grid (H, batch * q_len), block Dv (whole
//                       warps): merges the splits, acc / l.
//
// This file matches the ops, picks the kernels' layouts from the options
// and the op's dims, and writes the host side: buffers in, launches, the
// result buffer out.
//
//===----------------------------------------------------------------------===//
#include <cmath>

#include "dialect/TesselOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "passes/GpuKernelBuilder.h"
#include "passes/Passes.h"
#include "llvm/ADT/bit.h"

namespace tessel {
#define GEN_PASS_DEF_TESSELATTENTIONTOGPU
#include "passes/Passes.h.inc"
} // namespace tessel

using namespace mlir;

namespace tessel {
namespace {

constexpr llvm::StringLiteral kKernelModule = "tessel_attention_kernels";
constexpr llvm::StringLiteral kConfigAttr = "tessel.kernel_config";
// The largest head_dim / v_head_dim: each lane keeps dim / lanes values of
// q and of acc in registers (128 registers at 256 with 4 lanes per row);
// larger heads would spill to local memory. Models use 64 to 256.
constexpr int64_t kMaxHeadDim = 256;
// Static shared memory per block without the opt-in to dynamic shared
// memory: the K and V tiles must fit.
constexpr int64_t kStaticSharedBytes = 48 * 1024;

bool isPowerOfTwo(int64_t x) { return x > 0 && (x & (x - 1)) == 0; }

// The largest power of two <= `lanes` that divides both dims.
int64_t lanesDividing(int64_t lanes, int64_t d, int64_t dv) {
  while (lanes > 1 && (d % lanes != 0 || dv % lanes != 0))
    lanes /= 2;
  return lanes;
}

// Whether the kernels compute `op`; the others are left to the generic
// path (tessel-tile-attention).
bool isSupported(AttentionOp op) {
  // The kernels take neither a mask nor sinks (yet).
  if (op.getMask() || op.getSinks())
    return false;
  // The host side is written where the op is: a function body.
  if (!op->getParentOfType<func::FuncOp>())
    return false;
  // f32 throughout (what the verifier allows today).
  auto q = op.getQuery().getType(), v = op.getValue().getType();
  if (!q.getElementType().isF32() || !op.getKey().getType().getElementType().isF32() ||
      !v.getElementType().isF32())
    return false;
  // Registers per lane are sized from static head dims.
  if (q.isDynamicDim(3) || v.isDynamicDim(3))
    return false;
  return q.getDimSize(3) >= 1 && q.getDimSize(3) <= kMaxHeadDim && v.getDimSize(3) >= 1 &&
         v.getDimSize(3) <= kMaxHeadDim;
}

AttentionKernelSpec specOf(AttentionOp op) {
  AttentionKernelSpec s;
  s.heads = static_cast<int64_t>(op.getNumHeads());
  s.kvHeads = static_cast<int64_t>(op.getNumKvHeads());
  s.headDim = op.getQuery().getType().getDimSize(3);
  s.valueDim = op.getValue().getType().getDimSize(3);
  s.causal = op.getCausal();
  if (std::optional<uint64_t> w = op.getWindow())
    s.window = static_cast<int64_t>(*w);
  s.scale = op.getScale() ? op.getScale()->convertToDouble()
                          : 1.0 / std::sqrt(static_cast<double>(s.headDim));
  return s;
}

// "h8_kv4_d64[_dv32][_causal][_w128][_scale3e800000]": what the kernel
// bakes in. An explicit scale is named by its bits (exact, and unique).
std::string specName(const AttentionKernelSpec &s, AttentionOp op) {
  std::string name = "h" + std::to_string(s.heads) + "_kv" + std::to_string(s.kvHeads) + "_d" +
                     std::to_string(s.headDim);
  if (s.valueDim != s.headDim)
    name += "_dv" + std::to_string(s.valueDim);
  if (s.causal)
    name += "_causal";
  if (s.window)
    name += "_w" + std::to_string(*s.window);
  if (op.getScale()) {
    float f = op.getScale()->convertToFloat();
    name += "_scale" + llvm::utohexstr(llvm::bit_cast<uint32_t>(f), /*LowerCase=*/true);
  }
  return name;
}

struct AttentionToGpuPass : impl::TesselAttentionToGpuBase<AttentionToGpuPass> {
  using TesselAttentionToGpuBase::TesselAttentionToGpuBase;

  void getDependentDialects(DialectRegistry &registry) const override {
    TesselAttentionToGpuBase::getDependentDialects(registry);
    // The deallocation pipeline that follows bufferization must know what
    // the launches do to their buffers.
    registerGpuLaunchMemoryEffects(registry);
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (failed(checkOptions()))
      return signalPassFailure();
    SmallVector<AttentionOp> ops;
    module.walk([&](AttentionOp op) {
      if (isSupported(op))
        ops.push_back(op);
    });
    if (ops.empty())
      return;
    gpu::GPUModuleOp kernels = kernelModule(module);
    for (AttentionOp op : ops)
      lower(op, kernels);
  }

private:
  LogicalResult checkOptions() {
    auto fail = [&](const Twine &msg) {
      getOperation().emitError() << "tessel-attention-to-gpu: " << msg;
      return failure();
    };
    int64_t t = threadsPerRow, dt = decodeThreadsPerKey;
    if (!isPowerOfTwo(t) || t > 32)
      return fail("threads-per-row must be a power of two <= 32, got " + Twine(t));
    if (blockQ < 1 || blockQ * t > 1024)
      return fail("block-q * threads-per-row must be in [1, 1024], got " + Twine(blockQ * t));
    if (t > 1 && blockQ % 32 != 0)
      return fail("block-q must be a multiple of 32 (whole warps: the row sums shuffle "
                  "across full warps), got " +
                  Twine(static_cast<int64_t>(blockQ)));
    if (blockKv < PrefillLayout().keysPerStep)
      return fail("block-kv must be at least " + Twine(PrefillLayout().keysPerStep) + ", got " +
                  Twine(static_cast<int64_t>(blockKv)));
    if (!isPowerOfTwo(dt) || dt > 32)
      return fail("decode-threads-per-key must be a power of two <= 32, got " + Twine(dt));
    if (decodeThreads < 32 || decodeThreads > 1024 || decodeThreads % 32 != 0)
      return fail("decode-threads must be a multiple of 32 in [32, 1024], got " +
                  Twine(static_cast<int64_t>(decodeThreads)));
    if (decodeMaxQueryLen < 0)
      return fail("decode-max-query-len must be >= 0");
    if (decodeKeysPerSplit < 1 || decodeMaxSplits < 1)
      return fail("decode-keys-per-split and decode-max-splits must be positive");
    return success();
  }

  gpu::GPUModuleOp kernelModule(ModuleOp module) {
    module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(), UnitAttr::get(&getContext()));
    if (auto existing = module.lookupSymbol<gpu::GPUModuleOp>(kKernelModule))
      return existing;
    OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
    return gpu::GPUModuleOp::create(b, module.getLoc(), kKernelModule);
  }

  // The kernel `base` built with `config`, built by `build` unless the
  // module has it. A kernel of the same name built with other options (a
  // second run of the pass) gets a numbered name instead.
  gpu::GPUFuncOp kernel(gpu::GPUModuleOp kernels, const std::string &base,
                        const std::string &config,
                        llvm::function_ref<gpu::GPUFuncOp(OpBuilder &, StringRef)> build) {
    for (int n = 0;; ++n) {
      std::string name = n == 0 ? base : base + "_" + std::to_string(n);
      auto fn = kernels.lookupSymbol<gpu::GPUFuncOp>(name);
      if (!fn) {
        OpBuilder b = OpBuilder::atBlockEnd(kernels.getBody());
        fn = build(b, name);
        fn->setAttr(kConfigAttr, b.getStringAttr(config));
        return fn;
      }
      if (auto c = fn->getAttrOfType<StringAttr>(kConfigAttr); c && c.getValue() == config)
        return fn;
    }
  }

  void lower(AttentionOp op, gpu::GPUModuleOp kernels) {
    MLIRContext *ctx = &getContext();
    AttentionKernelSpec spec = specOf(op);
    std::string name = specName(spec, op);

    PrefillLayout prefill;
    prefill.blockQ = blockQ;
    prefill.threadsPerRow = lanesDividing(threadsPerRow, spec.headDim, spec.valueDim);
    int64_t fits = kStaticSharedBytes / ((spec.headDim + spec.valueDim) * 4);
    prefill.blockKv = std::min<int64_t>(blockKv, fits) / prefill.keysPerStep * prefill.keysPerStep;
    DecodeLayout decode;
    decode.threads = decodeThreads;
    // Raised until a lane holds at most 16 dims (the step's loads in flight
    // then fit in registers: head_dim 256 gets 16 lanes per key).
    int64_t perKey = decodeThreadsPerKey;
    while (perKey < 32 && std::max(spec.headDim, spec.valueDim) > 16 * perKey)
      perKey *= 2;
    decode.threadsPerKey = lanesDividing(perKey, spec.headDim, spec.valueDim);
    // The groups merge through shared memory (m, l and Dv values each); a
    // layout that does not fit (huge decode-threads) leaves every q_len to
    // the flash-attention kernel.
    int64_t maxQueryLenForDecode = decodeMaxQueryLen;
    if (decode.keyGroups() * (spec.valueDim + 2) * 4 > kStaticSharedBytes)
      maxQueryLenForDecode = 0;

    OpBuilder b(op);
    Location loc = op.getLoc();
    auto index = [&](int64_t v) -> Value { return arith::ConstantIndexOp::create(b, loc, v); };
    auto dimOf = [&](Value x, int64_t d) -> Value {
      auto t = cast<RankedTensorType>(x.getType());
      if (!t.isDynamicDim(d))
        return index(t.getDimSize(d));
      return tensor::DimOp::create(b, loc, x, d);
    };
    // The tensor's own buffer, read-only, as the kernels' argument type.
    auto readBuffer = [&](Value x, MemRefType argType) -> Value {
      auto t = cast<RankedTensorType>(x.getType());
      SmallVector<int64_t> strides(t.getRank(), ShapedType::kDynamic);
      auto exact = MemRefType::get(t.getShape(), t.getElementType(),
                                   StridedLayoutAttr::get(ctx, ShapedType::kDynamic, strides));
      Value m = bufferization::ToBufferOp::create(b, loc, exact, x, /*read_only=*/true);
      return memref::CastOp::create(b, loc, argType, m);
    };

    Value q = op.getQuery(), k = op.getKey(), v = op.getValue();
    Value batch = dimOf(q, 0), qLen = dimOf(q, 1), kvLen = dimOf(k, 1);
    Value qArg = readBuffer(q, queryArgType(ctx, spec));
    Value kArg = readBuffer(k, keyArgType(ctx, spec));
    Value vArg = readBuffer(v, valueArgType(ctx, spec));

    auto resultType = cast<RankedTensorType>(op.getType());
    SmallVector<Value> outSizes;
    for (int64_t d = 0; d < 2; ++d)
      if (resultType.isDynamicDim(d))
        outSizes.push_back(dimOf(q, d));
    Value out = memref::AllocOp::create(
        b, loc, MemRefType::get(resultType.getShape(), resultType.getElementType()), outSizes);
    Value outArg = memref::CastOp::create(b, loc, outputArgType(ctx, spec), out);
    // (Every op-creating value is built before the call that uses it: the
    // IR must not depend on the compiler's argument evaluation order.)
    auto launchKernel = [&](gpu::GPUFuncOp fn, gpu::KernelDim3 grid, int64_t threads,
                            ValueRange args) {
      gpu::KernelDim3 blockDims{index(threads), index(1), index(1)};
      gpu::LaunchFuncOp::create(b, loc, fn, grid, blockDims, /*dynamicSharedMemorySize=*/Value(),
                                args);
    };

    auto launchPrefill = [&] {
      std::string config = "bq" + std::to_string(prefill.blockQ) + "_bkv" +
                           std::to_string(prefill.blockKv) + "_t" +
                           std::to_string(prefill.threadsPerRow);
      gpu::GPUFuncOp fn =
          kernel(kernels, "flash_attention_" + name, config, [&](OpBuilder &kb, StringRef n) {
            return buildFlashAttentionKernel(kb, loc, n, spec, prefill);
          });
      Value qBlocks = arith::CeilDivUIOp::create(b, loc, qLen, index(prefill.blockQ));
      launchKernel(fn, gpu::KernelDim3{qBlocks, index(spec.heads), batch}, prefill.threads(),
                   ValueRange{qArg, kArg, vArg, outArg});
    };

    auto launchDecode = [&] {
      // splits = clamp(ceil(keys / keys-per-split), 1, max-splits), where
      // keys is what the longest row sees: kv_len, or the window.
      Value keys = kvLen;
      if (spec.window)
        keys = arith::MinSIOp::create(b, loc, kvLen, index(*spec.window));
      Value splits = arith::CeilDivSIOp::create(b, loc, keys, index(decodeKeysPerSplit));
      splits = arith::MaxSIOp::create(b, loc, splits, index(1));
      splits = arith::MinSIOp::create(b, loc, splits, index(decodeMaxSplits));
      Value rows = arith::MulIOp::create(b, loc, batch, qLen);
      // Workspace: each split's partial state (freed by the deallocation
      // pipeline like any other buffer).
      Value wsM = memref::AllocOp::create(b, loc, workspaceRowType(ctx, spec), {rows, splits});
      Value wsL = memref::AllocOp::create(b, loc, workspaceRowType(ctx, spec), {rows, splits});
      Value wsAcc = memref::AllocOp::create(b, loc, workspaceAccType(ctx, spec), {rows, splits});
      std::string config =
          "n" + std::to_string(decode.threads) + "_t" + std::to_string(decode.threadsPerKey);
      gpu::GPUFuncOp partial =
          kernel(kernels, "flash_decoding_" + name, config, [&](OpBuilder &kb, StringRef n) {
            return buildFlashDecodingKernel(kb, loc, n, spec, decode);
          });
      launchKernel(partial, gpu::KernelDim3{splits, index(spec.heads), rows}, decode.threads,
                   ValueRange{qArg, kArg, vArg, wsM, wsL, wsAcc});
      std::string combineName = "flash_decoding_combine_h" + std::to_string(spec.heads) + "_dv" +
                                std::to_string(spec.valueDim);
      gpu::GPUFuncOp combine = kernel(kernels, combineName, "", [&](OpBuilder &kb, StringRef n) {
        return buildFlashDecodingCombineKernel(kb, loc, n, spec);
      });
      launchKernel(combine, gpu::KernelDim3{index(spec.heads), rows, index(1)},
                   combineThreads(spec), ValueRange{wsM, wsL, wsAcc, outArg});
    };

    auto qType = op.getQuery().getType();
    auto launch = [&] {
      int64_t staticQLen = qType.getDimSize(1);
      if (!ShapedType::isDynamic(staticQLen)) {
        if (staticQLen <= maxQueryLenForDecode)
          launchDecode();
        else
          launchPrefill();
        return;
      }
      if (maxQueryLenForDecode == 0)
        return launchPrefill();
      // A step entry point serves prefill chunks and decode: pick at run time.
      Value isShort = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ule, qLen,
                                            index(maxQueryLenForDecode));
      auto branch = scf::IfOp::create(b, loc, isShort, /*withElseRegion=*/true);
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPoint(branch.thenBlock()->getTerminator());
      launchDecode();
      b.setInsertionPoint(branch.elseBlock()->getTerminator());
      launchPrefill();
    };

    // A launch with an empty grid is an error on the device: launch only
    // when there is a row to compute (kv_len = 0 is fine: zeros).
    if (qType.getDimSize(0) == 0 || qType.getDimSize(1) == 0) {
      // Nothing to compute: the (empty) buffer is the result.
    } else if (qType.isDynamicDim(0) || qType.isDynamicDim(1)) {
      Value zero = index(0);
      Value hasBatch = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ugt, batch, zero);
      Value hasRows = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ugt, qLen, zero);
      Value nonEmpty = arith::AndIOp::create(b, loc, hasBatch, hasRows);
      auto guardIf = scf::IfOp::create(b, loc, nonEmpty, /*withElseRegion=*/false);
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPoint(guardIf.thenBlock()->getTerminator());
      launch();
    } else {
      launch();
    }

    Value result = bufferization::ToTensorOp::create(b, loc, resultType, out, /*restrict=*/true,
                                                     /*writable=*/true);
    op.getResult().replaceAllUsesWith(result);
    op.erase();
  }
};

} // namespace
} // namespace tessel
