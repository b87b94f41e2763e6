//===- GpuMmaBuilder.cpp - tensor-core GEMM kernels (mma.sync) ------------===//
//
// Kernel layout. y[M, N] = x[M, K] * W[N, K]^T (+ bias[N]) (+ residual[M, N]):
// x, bias, residual and y are f32; W is stored in bf16 or f16 ("E" below)
// and is multiplied as stored; x is rounded to E (round to nearest even) on
// its way into shared memory. Products are exact in f32 and accumulate in
// f32 on the tensor cores: nvvm.mma.sync m16n8k16, row.col, E x E + f32
// (PTX mma.sync.aligned.m16n8k16.row.col.f32.{bf16,f16}.{bf16,f16}.f32,
// sm_80 and later).
//
// Grid (N / BN, ceil(M / BM)), block 32 * WM * WN * WK threads (layout
// MmaLayout). blockIdx.x walks N so that the blocks running together share
// the same rows of x (small, L2-resident) and each reads its own slice of W.
// Warp w is (wk, wm, wn) = (w / (WM*WN), (w % (WM*WN)) / WN, w % WN): it
// owns the [BM/WM, BN/WN] sub-tile at (wm, wn) of the block's tile, that is
// (BM/WM/16) x (BN/WN/8) m16n8 accumulator tiles, 4 f32 registers per lane
// each (SSA values carried by the K loop), and of every BK chunk of the
// reduction the k16 steps wk, wk + WK, wk + 2 WK, ...
//
// The K loop (block-uniform bounds: K is static) walks BK columns at a time:
//   1. every thread helps stage the chunk in shared memory, as 32-bit words
//      holding two E values (the mma's f16x2/bf16x2 registers, low half =
//      lower column):
//        As [BM][BK/2 + 4] words: x[m0 + r][k0 + 2w], x[m0 + r][k0 + 2w + 1]
//          -> truncf, packed into word w of row r (consecutive threads read
//          consecutive pairs: coalesced). Rows past M read row M - 1 instead
//          (in bounds, finite) and are never stored.
//        Bs [BN][BK/2 + 4] words: W[n0 + r][k0 .. k0 + BK), 16 bytes (8
//          values) per thread and load (vector.load {alignment = 16}; W's
//          rows are K * 2 bytes, a multiple of 32, from a 16-byte aligned
//          base), copied as vector<4xi32>.
//      All loads of a thread are issued before its stores so that they are
//      in flight together.
//   2. gpu.barrier; each warp runs its k16 steps: fragments from shared
//      memory, one mma per (m16, n8) pair; gpu.barrier (before the next
//      chunk overwrites the tiles).
// Fragments (PTX ISA, "Matrix Fragments for mma.m16n8k16 with floating
// point type"; g = lane / 4, t = lane % 4, kw = word of the k16 step):
//   A (16 x 16, row): a0 = As[r + g][kw + t], a1 = As[r + g + 8][kw + t],
//                     a2 = As[r + g][kw + t + 4], a3 = As[r + g + 8][kw + t + 4]
//   B (16 x 8, col):  b0 = Bs[c + g][kw + t], b1 = Bs[c + g][kw + t + 4]
//                     (B[k][n] = W[n][k]: a row of W is a column of B)
//   C/D (16 x 8, f32): d0, d1 = y[r + g][c + 2t, +1], d2, d3 = y[r + g + 8][..]
// The 4 words of padding make a row 4 words longer than a multiple of 8
// words, so the 8 lane groups (rows g) of a fragment load land in 8
// distinct groups of 4 banks: conflict-free. Rows stay 16-byte aligned for
// the vector stores of step 1.
//
// Epilogue: with WK > 1, the warps with wk > 0 write their accumulators to
// shared memory Red [WK - 1][BM][BN] f32, gpu.barrier, and the wk = 0 warps
// add them. Then each lane of a wk = 0 warp stores its values straight from
// the fragments, a row at a time (fragment rows g and g + 8 of each m16
// tile): y[m][n] = acc + bias[n] + residual[m, n] for rows m < M (the only
// bound check: N and K are whole tiles by construction).
//
// Layouts (the pass options' defaults):
//   prefill ("mma_gemm_*"): BM = BN = 64, BK = 32, 2 x 2 x 1 warps (128
//     threads): a warp computes 32 x 32 (8 mmas per k16 step, 32
//     accumulator registers); every staged element of x is used by 64
//     columns and every element of W by 64 rows (32 FMAs per element
//     loaded), 10 KiB of shared memory.
//   decode ("mma_gemv_*", M <= decode-max-rows): BM = 16, BN = 16, BK =
//     128, 1 x 1 x 4 warps. Decode is bound by reading W (each element is
//     read once; the mma wastes 15 of 16 rows of A at M = 1, but the tensor
//     cores have compute to spare). What matters is bytes in flight: BN =
//     16 gives N / 16 blocks (128 at N = 2048, where a 64-wide tile would
//     leave most SMs idle), and 4 warps splitting each 128-column chunk
//     (4 KiB of W per chunk and block) keep the block's loads wide. The same
//     kernel code serves both: only the layout differs.
//
// Fused forms (MmaGemmSpec; what LinearToGpuMma folds into the GEMM):
//   RMSNorm prologue (bf16): y = inv_rms[m] * sum_k bf16(x[m][k] * gamma[k])
//     * W[n][k], inv_rms[m] = 1 / sqrt(mean_k(x[m][k]^2) + eps). The norm's
//     scale is per row, so it factors out of the sum: the A tile is staged
//     as x * gamma (+ 1 with unit offset), and each thread accumulates the
//     squares of the x pairs it stages into Sq [BM][BK/2] f32 (it stages the
//     same (row, word) items of every chunk, so it owns those entries: no
//     synchronisation). After the loop the threads sum Sq's rows into Inv
//     [BM] (one gpu.barrier, shared with the WK reduction's) and the
//     epilogue scales the sums by Inv[row]. This reads x exactly once, like
//     the plain kernel: no separate norm kernel (a launch, decode's main
//     cost) and no pass over the block's rows before the loop (a second read
//     of x per block). bf16 has f32's range, so x * gamma is safe unscaled;
//     f16 is not (hidden states reach 1e4), hence bf16 only. Rounding to
//     bf16 happens before the scale instead of after: the same relative
//     error.
//   Gated (GLU) hidden layer: two weights (gate, up), two B tiles staged per
//     chunk, the same A fragments meeting both, two accumulator sets (Red
//     holds both: slot (wk - 1) * 2 + set); epilogue h = act(g) * u with
//     act = silu (g / (1 + exp(-g))) or gelu (erf or tanh form, as
//     tessel.ffn defines them), after the norm's scale. No bias or residual.
//   RoPE epilogue: the output columns are heads of headDim, the first
//     rotaryDim of each turned by angle = pos[m] / scaling * theta^(-2i /
//     rotaryDim) (theta, scaling: kernel arguments; pos: i64 [M]). The
//     frequency exp(i * -2 ln(theta) / rotaryDim), the angle and its
//     reduction to [-pi, pi] are f64 (the angle reaches 1e5 for long
//     contexts), cos and sin f32. The epilogue runs a row (half a C
//     fragment) at a time, so the two values of a pair are at hand:
//       interleaved, pairs (2i, 2i + 1): the lane's columns 2t and 2t + 1 of
//         one n8 tile: any layout works; columns past rotaryDim pass through
//         (a select on d = column mod headDim).
//       half-split, pairs (d, d + rotaryDim / 2): fitMmaLayout makes BN =
//         headDim with one warp column (WN = 1), so a warp holds whole heads
//         and the partner of n8 tile nt is tile nt + rotaryDim / 16 in the
//         same lane (rotaryDim % 16 == 0). Wide heads take more warps across
//         rows (<= 64 accumulators a lane), at most 2 K warps and 2 k16 steps
//         per warp and chunk (more spilled registers at 128-wide heads).
//
// Barriers: every gpu.barrier is at the top level of the kernel or of the K
// loop, whose bounds are constants; mma.sync runs in straight-line code of
// that loop, so all 32 lanes of every warp arrive together. Only the final
// stores (rows < M, warps wk = 0) are under per-thread or per-warp
// conditions.
//
//===----------------------------------------------------------------------===//
#include "passes/GpuMmaBuilder.h"
#include "passes/GpuEmitter.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/BuiltinTypes.h"

using namespace mlir;

namespace tessel {
namespace {

constexpr int64_t kWarpSize = 32;
// mma.sync m16n8k16: the tile shape every size below is a multiple of.
constexpr int64_t kMmaM = 16, kMmaN = 8, kMmaK = 16;
// Padding of a shared-memory tile row, in 32-bit words (see the file
// comment: conflict-free fragment loads, 16-byte aligned rows).
constexpr int64_t kPadWords = 4;
// Values of W per vector load: 16 bytes, the widest global load.
constexpr int64_t kWeightVector = 8;
// Static shared memory without the opt-in to dynamic shared memory.
constexpr int64_t kMaxSharedBytes = 48 * 1024;

// The GEMM kernels' builders: GpuEmitter's, and the packing of mma
// registers.
class Emitter : public GpuEmitter {
public:
  using GpuEmitter::GpuEmitter;

  Value i32(int64_t v) { return arith::ConstantIntOp::create(b, loc, v, 32); }
  Value eqConst(Value x, int64_t y) { return cmp(arith::CmpIPredicate::eq, x, idx(y)); }
  Value neConst(Value x, int64_t y) { return cmp(arith::CmpIPredicate::ne, x, idx(y)); }

  /// Two f32 rounded to `elem` and packed into one i32, `lo` in the low
  /// half: the layout of an f16x2 / bf16x2 mma register (and of two
  /// consecutive values in little-endian memory).
  Value pack(Value lo, Value hi, Type elem) {
    Type i16Type = b.getI16Type(), i32Type = b.getI32Type();
    auto bits = [&](Value x) -> Value {
      Value e = arith::TruncFOp::create(b, loc, elem, x);
      Value i = arith::BitcastOp::create(b, loc, i16Type, e);
      return arith::ExtUIOp::create(b, loc, i32Type, i);
    };
    Value l = bits(lo), h = bits(hi);
    Value shifted = arith::ShLIOp::create(b, loc, h, i32(16));
    return arith::OrIOp::create(b, loc, l, shifted);
  }

  /// for (i = first; i < end; i += stride) body(i); block-strided, fully
  /// unrolled when every thread has the same number of items (then `body`
  /// runs in two phases: all loads of all items, then all stores).
  void forEachItem(Value tid, int64_t items, int64_t threads,
                   llvm::function_ref<SmallVector<Value>(Value item)> loads,
                   llvm::function_ref<void(Value item, ValueRange loaded)> stores) {
    if (items % threads == 0) {
      SmallVector<Value> at;
      SmallVector<SmallVector<Value>> loaded;
      for (int64_t i = 0; i < items / threads; ++i) {
        at.push_back(add(tid, i * threads));
        loaded.push_back(loads(at.back()));
      }
      for (size_t i = 0; i < at.size(); ++i)
        stores(at[i], loaded[i]);
      return;
    }
    Value end = idx(items), step = idx(threads);
    scf::ForOp::create(b, loc, tid, end, step, ValueRange{},
                       [&](OpBuilder &nb, Location, Value i, ValueRange) {
                         OpBuilder::InsertionGuard guard(b);
                         b.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
                         SmallVector<Value> v = loads(i);
                         stores(i, v);
                         scf::YieldOp::create(b, loc);
                       });
  }
};

MemRefType sharedType(MLIRContext *ctx, ArrayRef<int64_t> shape, Type elem) {
  return MemRefType::get(shape, elem, MemRefLayoutAttrInterface{},
                         gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup));
}

MemRefType stridedF32(MLIRContext *ctx, ArrayRef<int64_t> shape) {
  SmallVector<int64_t> strides(shape.size(), ShapedType::kDynamic);
  return MemRefType::get(shape, Float32Type::get(ctx),
                         StridedLayoutAttr::get(ctx, ShapedType::kDynamic, strides));
}

Type elementType(MLIRContext *ctx, MmaElementType t) {
  if (t == MmaElementType::F16)
    return Float16Type::get(ctx);
  return BFloat16Type::get(ctx);
}

// The largest multiple of `unit` <= `limit` that divides `total` (total is
// a multiple of unit), or 0 if none (limit < unit).
int64_t largestDivisor(int64_t total, int64_t unit, int64_t limit) {
  for (int64_t v = limit / unit * unit; v >= unit; v -= unit)
    if (total % v == 0)
      return v;
  return 0;
}

} // namespace

bool MmaLayout::valid(std::string *why) const {
  auto fail = [&](const std::string &msg) {
    if (why)
      *why = msg;
    return false;
  };
  if (warpsM < 1 || warpsN < 1 || warpsK < 1)
    return fail("warp counts must be positive");
  if (blockM < kMmaM || blockM % (kMmaM * warpsM) != 0)
    return fail("block-m (" + std::to_string(blockM) + ") must be a multiple of 16 * warps-m");
  if (blockN < kMmaN || blockN % (kMmaN * warpsN) != 0)
    return fail("block-n (" + std::to_string(blockN) + ") must be a multiple of 8 * warps-n");
  if (blockK < kMmaK || blockK % (kMmaK * warpsK) != 0)
    return fail("block-k (" + std::to_string(blockK) + ") must be a multiple of 16 * warps-k");
  if (threads() > 1024)
    return fail("at most 32 warps per block, got " + std::to_string(warps()));
  if (sharedBytes() > kMaxSharedBytes)
    return fail("the tiles take " + std::to_string(sharedBytes()) +
                " bytes of shared memory, more than 48 KiB");
  return true;
}

int64_t MmaLayout::sharedBytes() const { return mmaSharedBytes(MmaGemmSpec{}, *this); }

int64_t mmaSharedBytes(const MmaGemmSpec &spec, const MmaLayout &l) {
  int64_t rowWords = l.blockK / 2 + kPadWords, weights = spec.gated() ? 2 : 1;
  int64_t words =
      (l.blockM + weights * l.blockN) * rowWords + weights * (l.warpsK - 1) * l.blockM * l.blockN;
  if (spec.rmsNorm)
    words += l.blockM * (l.blockK / 2) + l.blockM; // Sq and Inv
  return 4 * words;
}

bool MmaGemmSpec::valid(std::string *why) const {
  auto fail = [&](const std::string &msg) {
    if (why)
      *why = msg;
    return false;
  };
  if (n < kMmaN || n % kMmaN != 0 || k < kMmaK || k % kMmaK != 0)
    return fail("N must be a multiple of 8 and K of 16");
  // x * gamma is staged before the norm's 1 / rms scales the sums (see the
  // file comment): fine in bf16's range, not in f16's.
  if (rmsNorm && type != MmaElementType::BF16)
    return fail("the RMSNorm prologue takes bf16 weights only");
  if (unitOffset && !rmsNorm)
    return fail("unit offset without RMSNorm");
  if (gated() && (bias || residual || rope != MmaRope::None))
    return fail("a gated kernel has no bias, residual or RoPE");
  if (rope == MmaRope::None)
    return headDim == 0 && rotaryDim == 0 ? true : fail("head dims without RoPE");
  if (headDim < 2 || headDim % 2 != 0 || n % headDim != 0)
    return fail("RoPE heads must be even and divide N");
  if (rotaryDim < 2 || rotaryDim % 2 != 0 || rotaryDim > headDim)
    return fail("the rotary dims must be even and at most the head's");
  // Half-split pairs column d with d + rotaryDim / 2: whole n8 tiles apart
  // (the same lane holds both), in a warp tile of one head.
  if (rope == MmaRope::HalfSplit && (rotaryDim % (2 * kMmaN) != 0 || headDim % kMmaN != 0))
    return fail("half-split RoPE needs rotary dims a multiple of 16 and heads of 8");
  return true;
}

MmaLayout fitMmaLayout(const MmaGemmSpec &spec, MmaLayout l) {
  if (spec.rope == MmaRope::HalfSplit) {
    // One head per block and warp column; keep the accumulators at 64 per
    // lane where the rows allow (more warps across them).
    l.blockN = spec.headDim;
    l.warpsN = 1;
    while (l.warpTileM() > kMmaM && l.warpTileM() / kMmaM * (spec.headDim / kMmaN) > 16 &&
           l.blockM % (kMmaM * l.warpsM * 2) == 0)
      l.warpsM *= 2;
    // The epilogue holds a row's whole head and reads every other K
    // warp's partial sums of it: with 4 such warps the decode kernels
    // spilled (1 KiB at 128-wide heads); 2 keep them in registers.
    l.warpsK = std::min<int64_t>(l.warpsK, 2);
    // A k16 step loads 2 registers of B per n8 tile, 32 for a 128-wide
    // head, and the compiler issues a chunk's loads together: at most 2
    // steps per warp and chunk.
    l.blockK = std::min<int64_t>(l.blockK, 2 * kMmaK * l.warpsK);
  } else {
    // N: the widest tile <= blockN that divides N, with as many warps
    // across it as still fit (N % 8 == 0, so 8 with one warp always does).
    for (int64_t wn = l.warpsN; wn >= 1; --wn)
      if (int64_t bn = largestDivisor(spec.n, kMmaN * wn, l.blockN)) {
        l.blockN = bn;
        l.warpsN = wn;
        break;
      }
  }
  // K likewise (K % 16 == 0).
  for (int64_t wk = l.warpsK; wk >= 1; --wk)
    if (int64_t bk = largestDivisor(spec.k, kMmaK * wk, l.blockK)) {
      l.blockK = bk;
      l.warpsK = wk;
      break;
    }
  // Two weight tiles, wide heads, the norm's sums: shorter steps (then
  // fewer warps splitting them) until the tiles fit.
  while (mmaSharedBytes(spec, l) > kMaxSharedBytes) {
    if (int64_t bk = largestDivisor(spec.k, kMmaK * l.warpsK, l.blockK - 1)) {
      l.blockK = bk;
    } else if (l.warpsK > 1) {
      --l.warpsK;
      l.blockK = largestDivisor(spec.k, kMmaK * l.warpsK, l.blockK);
    } else {
      break; // valid() says why
    }
  }
  return l;
}

std::string mmaSpecName(const MmaGemmSpec &s) {
  std::string name = s.type == MmaElementType::F16 ? "f16" : "bf16";
  name += "_n" + std::to_string(s.n) + "_k" + std::to_string(s.k);
  if (s.rmsNorm)
    name += s.unitOffset ? "_rmsu" : "_rms";
  switch (s.glu) {
  case MmaGlu::None:
    break;
  case MmaGlu::Silu:
    name += "_glu_silu";
    break;
  case MmaGlu::Gelu:
    name += "_glu_gelu";
    break;
  case MmaGlu::GeluTanh:
    name += "_glu_gelutanh";
    break;
  }
  if (s.rope != MmaRope::None)
    name += std::string(s.rope == MmaRope::Interleaved ? "_rope_i" : "_rope_h") + "_d" +
            std::to_string(s.headDim) + "_r" + std::to_string(s.rotaryDim);
  if (s.bias)
    name += "_bias";
  if (s.residual)
    name += "_residual";
  return name;
}

std::optional<MmaGemmSpec> parseMmaSpecName(llvm::StringRef name) {
  MmaGemmSpec s;
  if (name.consume_front("bf16_n"))
    s.type = MmaElementType::BF16;
  else if (name.consume_front("f16_n"))
    s.type = MmaElementType::F16;
  else
    return std::nullopt;
  if (name.consumeInteger(10, s.n) || !name.consume_front("_k") || name.consumeInteger(10, s.k))
    return std::nullopt;
  if (name.consume_front("_rmsu"))
    s.rmsNorm = s.unitOffset = true;
  else if (name.consume_front("_rms"))
    s.rmsNorm = true;
  // Longest first: "_glu_gelu" is a prefix of "_glu_gelutanh".
  if (name.consume_front("_glu_silu"))
    s.glu = MmaGlu::Silu;
  else if (name.consume_front("_glu_gelutanh"))
    s.glu = MmaGlu::GeluTanh;
  else if (name.consume_front("_glu_gelu"))
    s.glu = MmaGlu::Gelu;
  if (name.consume_front("_rope_i"))
    s.rope = MmaRope::Interleaved;
  else if (name.consume_front("_rope_h"))
    s.rope = MmaRope::HalfSplit;
  if (s.rope != MmaRope::None &&
      (!name.consume_front("_d") || name.consumeInteger(10, s.headDim) ||
       !name.consume_front("_r") || name.consumeInteger(10, s.rotaryDim)))
    return std::nullopt;
  s.bias = name.consume_front("_bias");
  s.residual = name.consume_front("_residual");
  if (!name.empty() || !s.valid())
    return std::nullopt;
  return s;
}

MemRefType mmaInputArgType(MLIRContext *ctx, const MmaGemmSpec &spec) {
  return stridedF32(ctx, {ShapedType::kDynamic, spec.k});
}
MemRefType mmaWeightArgType(MLIRContext *ctx, const MmaGemmSpec &spec) {
  return MemRefType::get({spec.n, spec.k}, elementType(ctx, spec.type));
}
MemRefType mmaBiasArgType(MLIRContext *ctx, const MmaGemmSpec &spec) {
  return stridedF32(ctx, {spec.n});
}
MemRefType mmaResidualArgType(MLIRContext *ctx, const MmaGemmSpec &spec) {
  return stridedF32(ctx, {ShapedType::kDynamic, spec.n});
}
MemRefType mmaOutputArgType(MLIRContext *ctx, const MmaGemmSpec &spec) {
  return MemRefType::get({ShapedType::kDynamic, spec.n}, Float32Type::get(ctx));
}
MemRefType mmaGammaArgType(MLIRContext *ctx, const MmaGemmSpec &spec) {
  return stridedF32(ctx, {spec.k});
}
MemRefType mmaPositionsArgType(MLIRContext *ctx) {
  return MemRefType::get({ShapedType::kDynamic}, IntegerType::get(ctx, 64),
                         StridedLayoutAttr::get(ctx, ShapedType::kDynamic, {ShapedType::kDynamic}));
}

gpu::GPUFuncOp buildMmaGemmKernel(OpBuilder &b, Location loc, StringRef name,
                                  const MmaGemmSpec &spec, const MmaLayout &L) {
  assert(spec.valid() && L.valid() && mmaSharedBytes(spec, L) <= kMaxSharedBytes &&
         "an invalid spec or layout");
  MLIRContext *ctx = b.getContext();
  Type i32 = b.getI32Type(), f32 = b.getF32Type(), f64 = b.getF64Type();
  Type elem = elementType(ctx, spec.type);
  const int64_t threads = L.threads(), rowWords = L.blockK / 2 + kPadWords;
  const int64_t tilesM = L.warpTileM() / kMmaM, tilesN = L.warpTileN() / kMmaN;
  const int64_t stepsPerWarp = L.blockK / kMmaK / L.warpsK;
  const int64_t pairs = L.blockK / 2;
  // Accumulator sets: gate and up when gated.
  const int64_t sets = spec.gated() ? 2 : 1;

  OpBuilder::InsertionGuard guard(b);
  SmallVector<Type> args = {mmaInputArgType(ctx, spec)};
  if (spec.rmsNorm)
    args.push_back(mmaGammaArgType(ctx, spec));
  for (int64_t i = 0; i < sets; ++i)
    args.push_back(mmaWeightArgType(ctx, spec));
  if (spec.bias)
    args.push_back(mmaBiasArgType(ctx, spec));
  if (spec.residual)
    args.push_back(mmaResidualArgType(ctx, spec));
  if (spec.rope != MmaRope::None)
    args.push_back(mmaPositionsArgType(ctx));
  args.push_back(mmaOutputArgType(ctx, spec));
  if (spec.rmsNorm)
    args.push_back(f32); // eps
  if (spec.rope != MmaRope::None)
    args.append({f32, f32}); // theta, linear scaling
  SmallVector<Type> workgroup = {sharedType(ctx, {L.blockM, rowWords}, i32)};
  for (int64_t i = 0; i < sets; ++i)
    workgroup.push_back(sharedType(ctx, {L.blockN, rowWords}, i32));
  if (L.warpsK > 1)
    workgroup.push_back(sharedType(ctx, {sets * (L.warpsK - 1), L.blockM, L.blockN}, f32));
  if (spec.rmsNorm) {
    workgroup.push_back(sharedType(ctx, {L.blockM, pairs}, f32));
    workgroup.push_back(sharedType(ctx, {L.blockM}, f32));
  }

  auto fn = gpu::GPUFuncOp::create(b, loc, name, b.getFunctionType(args, {}), workgroup);
  fn->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  // known_block_size: .maxntid in the PTX, and bounds for the backend.
  fn.setKnownBlockSizeAttr(b.getDenseI32ArrayAttr({static_cast<int32_t>(threads), 1, 1}));
  // The tiles take 16-byte vector stores (st.shared.v4); workgroup buffers
  // are otherwise only aligned to their element (4 bytes).
  for (unsigned i = 0; i < workgroup.size(); ++i)
    fn.setWorkgroupAttributionAttr(i, LLVM::LLVMDialect::getAlignAttrName(),
                                   b.getI64IntegerAttr(16));
  b.setInsertionPointToStart(&fn.front());
  auto ret = gpu::ReturnOp::create(b, loc);
  b.setInsertionPoint(ret);

  Emitter e(b, loc);
  unsigned a = 0;
  Value x = fn.getArgument(a++);
  Value gamma = spec.rmsNorm ? Value(fn.getArgument(a++)) : Value();
  SmallVector<Value> w;
  for (int64_t i = 0; i < sets; ++i)
    w.push_back(fn.getArgument(a++));
  Value bias = spec.bias ? Value(fn.getArgument(a++)) : Value();
  Value residual = spec.residual ? Value(fn.getArgument(a++)) : Value();
  Value positions = spec.rope != MmaRope::None ? Value(fn.getArgument(a++)) : Value();
  Value y = fn.getArgument(a++);
  Value eps = spec.rmsNorm ? Value(fn.getArgument(a++)) : Value();
  Value theta = spec.rope != MmaRope::None ? Value(fn.getArgument(a++)) : Value();
  Value scaling = spec.rope != MmaRope::None ? Value(fn.getArgument(a++)) : Value();
  unsigned wa = 0;
  Value aTile = fn.getWorkgroupAttributions()[wa++];
  SmallVector<Value> bTiles;
  for (int64_t i = 0; i < sets; ++i)
    bTiles.push_back(fn.getWorkgroupAttributions()[wa++]);
  Value red = L.warpsK > 1 ? Value(fn.getWorkgroupAttributions()[wa++]) : Value();
  Value sq = spec.rmsNorm ? Value(fn.getWorkgroupAttributions()[wa++]) : Value();
  Value invRms = spec.rmsNorm ? Value(fn.getWorkgroupAttributions()[wa++]) : Value();

  Value nBlock = e.blockId(gpu::Dimension::x), mBlock = e.blockId(gpu::Dimension::y);
  Value tid = e.threadId();
  Value warp = e.divu(tid, kWarpSize), lane = e.remu(tid, kWarpSize);
  Value g = e.divu(lane, 4), t = e.remu(lane, 4);
  Value wk = e.divu(warp, L.warpsM * L.warpsN);
  Value wmn = e.remu(warp, L.warpsM * L.warpsN);
  Value wm = e.divu(wmn, L.warpsN), wn = e.remu(wmn, L.warpsN);
  Value rows = e.dim(x, 0);
  Value m0 = e.mul(mBlock, L.blockM), n0 = e.mul(nBlock, L.blockN);
  Value lastRow = e.sub(rows, 1);
  // This lane's fragment rows (A) and columns (B) inside the block's tile.
  Value warpRow = e.add(e.mul(wm, L.warpTileM()), g);
  Value warpCol = e.add(e.mul(wn, L.warpTileN()), g);

  // The norm's partial sums of squares: each thread stages the same (row,
  // word) items of every chunk, so it owns Sq[row][word] and accumulates
  // into it without synchronisation.
  if (spec.rmsNorm)
    e.forEachItem(
        tid, L.blockM * pairs, threads, [&](Value) -> SmallVector<Value> { return {}; },
        [&](Value item, ValueRange) {
          Value r = e.divu(item, pairs), word = e.remu(item, pairs);
          e.store(e.f32(0.0), sq, {r, word});
        });

  const int64_t accs = tilesM * tilesN * 4;
  SmallVector<Value> init(sets * accs, e.f32(0.0));
  Value kBegin = e.idx(0), kEnd = e.idx(spec.k), kStep = e.idx(L.blockK);
  auto loop = scf::ForOp::create(
      b, loc, kBegin, kEnd, kStep, init, [&](OpBuilder &nb, Location, Value k0, ValueRange acc) {
        OpBuilder::InsertionGuard loopGuard(b);
        b.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
        // 1. Stage x (times gamma with the norm; rounded to E, two per
        // word) and W.
        e.forEachItem(
            tid, L.blockM * pairs, threads,
            [&](Value item) -> SmallVector<Value> {
              Value r = e.divu(item, pairs), word = e.remu(item, pairs);
              Value row = e.min(e.add(m0, r), lastRow);
              Value col = e.add(k0, e.mul(word, 2));
              Value col1 = e.add(col, 1);
              Value lo = e.load(x, {row, col});
              Value hi = e.load(x, {row, col1});
              if (!spec.rmsNorm)
                return {lo, hi};
              Value glo = e.load(gamma, {col});
              Value ghi = e.load(gamma, {col1});
              return {lo, hi, glo, ghi};
            },
            [&](Value item, ValueRange v) {
              Value r = e.divu(item, pairs), word = e.remu(item, pairs);
              Value lo = v[0], hi = v[1];
              if (spec.rmsNorm) {
                Value sum = e.load(sq, {r, word});
                sum = e.fma(lo, lo, sum);
                sum = e.fma(hi, hi, sum);
                e.store(sum, sq, {r, word});
                Value glo = v[2], ghi = v[3];
                if (spec.unitOffset) {
                  glo = e.addf(glo, e.f32(1.0));
                  ghi = e.addf(ghi, e.f32(1.0));
                }
                lo = e.mulf(lo, glo);
                hi = e.mulf(hi, ghi);
              }
              e.store(e.pack(lo, hi, elem), aTile, {r, word});
            });
        const int64_t vectors = L.blockK / kWeightVector;
        auto wVec = VectorType::get({kWeightVector}, elem);
        auto wordsVec = VectorType::get({kWeightVector / 2}, i32);
        for (int64_t set = 0; set < sets; ++set)
          e.forEachItem(
              tid, L.blockN * vectors, threads,
              [&](Value item) -> SmallVector<Value> {
                Value r = e.divu(item, vectors), c = e.remu(item, vectors);
                Value n = e.add(n0, r);
                Value k = e.add(k0, e.mul(c, kWeightVector));
                auto v = vector::LoadOp::create(b, loc, wVec, w[set], ValueRange{n, k});
                v.setAlignment(16);
                return {v};
              },
              [&](Value item, ValueRange v) {
                Value r = e.divu(item, vectors), c = e.remu(item, vectors);
                Value words = vector::BitCastOp::create(b, loc, wordsVec, v[0]);
                Value at = e.mul(c, kWeightVector / 2);
                auto st = vector::StoreOp::create(b, loc, words, bTiles[set], ValueRange{r, at});
                st.setAlignment(16);
              });
        e.barrier();

        // 2. This warp's k16 steps: wk, wk + WK, ... of the chunk.
        SmallVector<Value> next(acc.begin(), acc.end());
        auto mmaOperand = [&](Value word) -> Value {
          if (spec.type == MmaElementType::BF16)
            return word; // bf16 operands are i32 registers
          return LLVM::BitcastOp::create(b, loc, VectorType::get({2}, elem), word);
        };
        auto structTy = LLVM::LLVMStructType::getLiteral(ctx, {f32, f32, f32, f32});
        auto ptxType =
            spec.type == MmaElementType::F16 ? NVVM::MMATypes::f16 : NVVM::MMATypes::bf16;
        for (int64_t s = 0; s < stepsPerWarp; ++s) {
          Value step = e.add(wk, s * L.warpsK);
          Value kw = e.add(e.mul(step, kMmaK / 2), t);
          Value kw4 = e.add(kw, 4);
          SmallVector<SmallVector<Value>> aFrag;
          for (int64_t mt = 0; mt < tilesM; ++mt) {
            Value r = e.add(warpRow, mt * kMmaM), r8 = e.add(r, 8);
            aFrag.push_back(
                {mmaOperand(e.load(aTile, {r, kw})), mmaOperand(e.load(aTile, {r8, kw})),
                 mmaOperand(e.load(aTile, {r, kw4})), mmaOperand(e.load(aTile, {r8, kw4}))});
          }
          // Gated: the same A fragments meet both weights.
          for (int64_t set = 0; set < sets; ++set) {
            SmallVector<SmallVector<Value>> bFrag;
            for (int64_t nt = 0; nt < tilesN; ++nt) {
              Value c = e.add(warpCol, nt * kMmaN);
              bFrag.push_back({mmaOperand(e.load(bTiles[set], {c, kw})),
                               mmaOperand(e.load(bTiles[set], {c, kw4}))});
            }
            for (int64_t mt = 0; mt < tilesM; ++mt)
              for (int64_t nt = 0; nt < tilesN; ++nt) {
                int64_t at = set * accs + (mt * tilesN + nt) * 4;
                ValueRange c = ValueRange(next).slice(at, 4);
                auto mma = NVVM::MmaOp::create(
                    b, loc, structTy, aFrag[mt], bFrag[nt], c, {kMmaM, kMmaN, kMmaK},
                    /*b1Op=*/std::nullopt, /*intOverflow=*/std::nullopt,
                    std::array<NVVM::MMATypes, 2>{ptxType, ptxType},
                    std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row, NVVM::MMALayout::col});
                for (int64_t i = 0; i < 4; ++i)
                  next[at + i] = LLVM::ExtractValueOp::create(b, loc, mma.getRes(), i);
              }
          }
        }
        // Everyone is done with the tiles before the next chunk overwrites them.
        e.barrier();
        scf::YieldOp::create(b, loc, next);
      });
  SmallVector<Value> acc(loop.getResults());

  // Value i of accumulator tile (mt, nt): its row and column in the block
  // tile (PTX's C/D fragment layout).
  Value col2 = e.mul(t, 2);
  auto tileRow = [&](int64_t mt, int64_t i) { return e.add(warpRow, mt * kMmaM + (i / 2) * 8); };
  auto tileCol = [&](int64_t nt, int64_t i) {
    Value c = e.add(e.mul(wn, L.warpTileN()), col2);
    return e.add(c, nt * kMmaN + i % 2);
  };

  // The norm: 1 / sqrt(mean(x^2) + eps) of each row of the block, from the
  // partial sums (the loop's last barrier made them visible).
  if (spec.rmsNorm)
    e.forEachItem(
        tid, L.blockM, threads,
        [&](Value r) -> SmallVector<Value> {
          auto sum = scf::ForOp::create(
              b, loc, e.idx(0), e.idx(pairs), e.idx(1), ValueRange{e.f32(0.0)},
              [&](OpBuilder &nb, Location, Value word, ValueRange partial) {
                OpBuilder::InsertionGuard g(b);
                b.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
                Value s = e.addf(partial[0], e.load(sq, {r, word}));
                scf::YieldOp::create(b, loc, s);
              });
          Value meanSq = arith::DivFOp::create(b, loc, sum.getResult(0), e.f32(spec.k));
          Value root = math::SqrtOp::create(b, loc, e.addf(meanSq, eps));
          return {arith::DivFOp::create(b, loc, e.f32(1.0), root)};
        },
        [&](Value r, ValueRange v) { e.store(v[0], invRms, {r}); });

  if (L.warpsK > 1) {
    e.ifThen(e.neConst(wk, 0), [&] {
      Value slot0 = e.mul(e.sub(wk, 1), sets);
      for (int64_t set = 0; set < sets; ++set) {
        Value slot = e.add(slot0, set);
        for (int64_t mt = 0; mt < tilesM; ++mt)
          for (int64_t nt = 0; nt < tilesN; ++nt)
            for (int64_t i = 0; i < 4; ++i) {
              Value r = tileRow(mt, i);
              Value c = tileCol(nt, i);
              e.store(acc[set * accs + (mt * tilesN + nt) * 4 + i], red, {slot, r, c});
            }
      }
    });
  }
  if (L.warpsK > 1 || spec.rmsNorm)
    e.barrier();

  // RoPE: the inverse frequency of each of this lane's pairs (f64, as the
  // reference: theta^(-2i / rotary_dim) = exp(i * -2 ln(theta) / rotary_dim)).
  // Interleaved pairs columns (2i, 2i + 1): the two values of a C fragment
  // half (columns 2t, 2t + 1), so pair i = d / 2 of head column d. Half-
  // split pairs d < rotary_dim / 2 with d + rotary_dim / 2, which the
  // layout puts half / 8 n8 tiles further in the same lane (one head per
  // warp column, fitMmaLayout): pair i = d.
  const int64_t hd = spec.headDim, rot = spec.rotaryDim, halfTiles = rot / 2 / kMmaN;
  // Computed for each row where it is used, not once per lane: live across
  // the row loop, 16 f64 frequencies (half-split, 128-wide heads) made
  // the decode kernel spill.
  Value step, posScale;
  if (spec.rope != MmaRope::None) {
    Value logTheta = math::LogOp::create(b, loc, arith::ExtFOp::create(b, loc, f64, theta));
    step = arith::MulFOp::create(
        b, loc, logTheta,
        arith::ConstantOp::create(b, loc, b.getF64FloatAttr(-2.0 / static_cast<double>(rot))));
    posScale = arith::ExtFOp::create(b, loc, f64, scaling);
  }
  auto freq = [&](Value pair) -> Value {
    Value i64v = arith::IndexCastUIOp::create(b, loc, b.getI64Type(), pair);
    Value pf = arith::UIToFPOp::create(b, loc, f64, i64v);
    return math::ExpOp::create(b, loc, arith::MulFOp::create(b, loc, pf, step));
  };
  // cos and sin of pos * invFreq: the angle reduced to [-pi, pi] in f64
  // (positions reach 10^5 radians), then f32 functions.
  auto cosSin = [&](Value pos, Value inv) -> std::pair<Value, Value> {
    Value angle = arith::MulFOp::create(b, loc, pos, inv);
    auto c64 = [&](double v) {
      return arith::ConstantOp::create(b, loc, b.getF64FloatAttr(v)).getResult();
    };
    Value turns = arith::MulFOp::create(b, loc, angle, c64(0.15915494309189535));
    turns = math::FloorOp::create(b, loc, arith::AddFOp::create(b, loc, turns, c64(0.5)));
    Value reduced = arith::SubFOp::create(
        b, loc, angle, arith::MulFOp::create(b, loc, turns, c64(6.283185307179586)));
    Value r32 = arith::TruncFOp::create(b, loc, f32, reduced);
    return {math::CosOp::create(b, loc, r32), math::SinOp::create(b, loc, r32)};
  };
  auto activate = [&](Value v) -> Value {
    switch (spec.glu) {
    case MmaGlu::None:
      break;
    case MmaGlu::Silu: {
      Value ex = math::ExpOp::create(b, loc, arith::NegFOp::create(b, loc, v));
      return arith::DivFOp::create(b, loc, v, e.addf(e.f32(1.0), ex));
    }
    case MmaGlu::Gelu:
    case MmaGlu::GeluTanh: {
      Value inner;
      if (spec.glu == MmaGlu::GeluTanh) {
        Value v3 = e.mulf(v, e.mulf(v, v));
        Value u = e.addf(v, e.mulf(v3, e.f32(0.044715)));
        inner = math::TanhOp::create(b, loc, e.mulf(u, e.f32(0.7978845608028654)));
      } else {
        inner = math::ErfOp::create(b, loc, e.mulf(v, e.f32(0.7071067811865476)));
      }
      Value half = e.mulf(v, e.f32(0.5));
      return e.mulf(half, e.addf(e.f32(1.0), inner));
    }
    }
    return v;
  };

  // Final sums, the norm's scale, then the epilogue proper, a row (half a
  // C fragment of each m16 tile) at a time: RoPE pairs columns of one row.
  // Rows past M are not stored.
  auto epilogue = [&] {
    for (int64_t mt = 0; mt < tilesM; ++mt)
      for (int64_t half = 0; half < 2; ++half) {
        Value r = tileRow(mt, half * 2);
        Value m = e.add(m0, r);
        e.ifThen(e.lt(m, rows), [&] {
          Value scale = spec.rmsNorm ? e.load(invRms, {r}) : Value();
          // vals[nt * 2 + j], cols likewise.
          SmallVector<Value> vals, cols;
          for (int64_t nt = 0; nt < tilesN; ++nt)
            for (int64_t j = 0; j < 2; ++j) {
              int64_t i = half * 2 + j;
              Value c = tileCol(nt, i);
              SmallVector<Value> v;
              for (int64_t set = 0; set < sets; ++set) {
                Value s = acc[set * accs + (mt * tilesN + nt) * 4 + i];
                for (int64_t slot = 0; slot + 1 < L.warpsK; ++slot)
                  s = e.addf(s, e.load(red, {e.idx(slot * sets + set), r, c}));
                if (scale)
                  s = e.mulf(s, scale);
                v.push_back(s);
              }
              Value out = spec.gated() ? e.mulf(activate(v[0]), v[1]) : v[0];
              Value n = e.add(n0, c);
              if (bias)
                out = e.addf(out, e.load(bias, {n}));
              if (residual)
                out = e.addf(out, e.load(residual, {m, n}));
              vals.push_back(out);
              cols.push_back(n);
            }
          if (spec.rope != MmaRope::None) {
            Value p = e.load(positions, {m});
            Value pos =
                arith::DivFOp::create(b, loc, arith::SIToFPOp::create(b, loc, f64, p), posScale);
            auto rotate = [&](int64_t ia, int64_t ib, Value inv) {
              auto [c, s] = cosSin(pos, inv);
              Value va = vals[ia], vb = vals[ib];
              Value ac = e.mulf(va, c), bs = e.mulf(vb, s);
              vals[ia] = arith::SubFOp::create(b, loc, ac, bs);
              Value as = e.mulf(va, s), bc = e.mulf(vb, c);
              vals[ib] = e.addf(as, bc);
            };
            if (spec.rope == MmaRope::Interleaved) {
              for (int64_t nt = 0; nt < tilesN; ++nt) {
                Value d = e.remu(cols[nt * 2], hd);
                Value rotated =
                    arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, d, e.idx(rot));
                Value va = vals[nt * 2], vb = vals[nt * 2 + 1];
                rotate(nt * 2, nt * 2 + 1, freq(e.divu(d, 2)));
                // Columns past rotary_dim pass through.
                vals[nt * 2] = arith::SelectOp::create(b, loc, rotated, vals[nt * 2], va);
                vals[nt * 2 + 1] = arith::SelectOp::create(b, loc, rotated, vals[nt * 2 + 1], vb);
              }
            } else {
              // Head column d = the block column (n0 is a multiple of the
              // head, one warp column).
              for (int64_t nt = 0; nt < halfTiles; ++nt)
                for (int64_t j = 0; j < 2; ++j) {
                  Value d = e.remu(cols[nt * 2 + j], hd);
                  rotate(nt * 2 + j, (nt + halfTiles) * 2 + j, freq(d));
                }
            }
          }
          for (size_t i = 0; i < vals.size(); ++i)
            e.store(vals[i], y, {m, cols[i]});
        });
      }
  };
  if (L.warpsK > 1)
    e.ifThen(e.eqConst(wk, 0), epilogue);
  else
    epilogue();
  return fn;
}

} // namespace tessel
