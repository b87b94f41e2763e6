//===- GpuMmaBuilder.h - tensor-core GEMM kernels (mma.sync) ----*- C++ -*-===//
//
// The gpu.func bodies tessel-linear-to-gpu-mma launches: y[M, N] = x[M, K]
// * W[N, K]^T (+ bias[N]) (+ residual[M, N]) with x, bias, residual and y in
// f32 and W stored in bf16 or f16, on tensor cores (mma.sync m16n8k16, f32
// accumulators; sm_80 and later), optionally with x's RMSNorm in the
// prologue, a gated FFN's two GEMMs and activation (h = act(x W_gate^T) *
// (x W_up^T)), or RoPE of the output's heads in the epilogue. The layout is
// in GpuMmaBuilder.cpp's file comment. M is the kernel's only run-time
// extent (x's rows); N, K and the fusions are baked in and named in the
// kernel's symbol.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_PASSES_GPUMMABUILDER_H
#define TESSEL_PASSES_GPUMMABUILDER_H

#include <optional>
#include <string>

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/Builders.h"

namespace tessel {

/// The weight's element type: what the tensor cores multiply (x is rounded
/// to it on its way into shared memory).
enum class MmaElementType { BF16, F16 };

/// A gated kernel's activation: h = act(x W_gate^T) * (x W_up^T). Gelu is
/// the exact (erf) form; GeluTanh the tanh approximation.
enum class MmaGlu { None, Silu, Gelu, GeluTanh };

/// The pairs a RoPE epilogue rotates (tessel.rope's layouts).
enum class MmaRope { None, Interleaved, HalfSplit };

/// What a kernel computes: its static shape, prologue and epilogue.
struct MmaGemmSpec {
  MmaElementType type = MmaElementType::BF16;
  int64_t n = 0, k = 0; ///< out and in features; n % 8 == 0, k % 16 == 0
  bool bias = false, residual = false;
  /// RMSNorm prologue: x is normalised over K (eps a kernel argument) and
  /// scaled by gamma (+ 1 with unitOffset) before the GEMM. bf16 only.
  bool rmsNorm = false, unitOffset = false;
  /// Gated FFN hidden layer: two weights (gate, up), no bias or residual.
  MmaGlu glu = MmaGlu::None;
  /// RoPE of the output's heads (headDim columns each, the first rotaryDim
  /// of them rotated; positions, theta and scaling are kernel arguments).
  MmaRope rope = MmaRope::None;
  int64_t headDim = 0, rotaryDim = 0;

  bool gated() const { return glu != MmaGlu::None; }
  /// Whether the fields fit together (see mmaSpecName); names the first
  /// problem in `why`.
  bool valid(std::string *why = nullptr) const;
};

/// A block's tiles and how its warps share them. The block computes a
/// blockM x blockN tile of y; warpsM x warpsN warps split that tile and
/// warpsK warps split each blockK chunk of the reduction (their partial
/// sums meet in shared memory at the end). Threads = 32 * all warps.
struct MmaLayout {
  int64_t blockM = 64, blockN = 64, blockK = 32;
  int64_t warpsM = 2, warpsN = 2, warpsK = 1;

  int64_t warps() const { return warpsM * warpsN * warpsK; }
  int64_t threads() const { return 32 * warps(); }
  int64_t warpTileM() const { return blockM / warpsM; } ///< a multiple of 16
  int64_t warpTileN() const { return blockN / warpsN; } ///< a multiple of 8
  /// Whether the sizes fit together (multiples of the mma shape, at most
  /// 1024 threads); names the first problem in `why`.
  bool valid(std::string *why = nullptr) const;
  /// Workgroup memory of a kernel with this layout, in bytes.
  int64_t sharedBytes() const;
};

/// Workgroup memory of `spec`'s kernel with `layout`, in bytes (a second
/// weight tile and partial-sum buffer when gated, the norm's row sums).
int64_t mmaSharedBytes(const MmaGemmSpec &spec, const MmaLayout &layout);

/// `requested` shrunk so that its tiles divide n and k exactly (blockN to a
/// divisor of n, blockK to a divisor of k, and warpsN / warpsK with them):
/// the kernels never mask columns or the reduction, only rows. A
/// half-split RoPE kernel gets one head per block and warp column (blockN
/// = headDim, warpsN = 1: a rotation's two columns are in one lane), with
/// more warps across the rows for wide heads. blockK (then warpsK) shrinks
/// further while the tiles take more than 48 KiB.
MmaLayout fitMmaLayout(const MmaGemmSpec &spec, MmaLayout requested);

/// "bf16_n2048_k768[_rms|_rmsu][_glu_silu|_glu_gelu|_glu_gelutanh]
/// [_rope_i|_rope_h_dD_rR][_bias][_residual]": what a kernel bakes in.
std::string mmaSpecName(const MmaGemmSpec &spec);
/// The inverse of mmaSpecName; nullopt when `name` is not one or names an
/// invalid spec.
std::optional<MmaGemmSpec> parseMmaSpecName(llvm::StringRef name);

/// Kernel argument types: x [M, K] f32 with any strides; W [N, K] bf16/f16,
/// identity layout, 16-byte aligned rows (a memref.view of the stored
/// bytes); bias [N] f32 with any stride; residual [M, N] f32 with any
/// strides; y [M, N] f32, identity layout; gamma [K] f32 and positions [M]
/// i64 with any stride.
mlir::MemRefType mmaInputArgType(mlir::MLIRContext *ctx, const MmaGemmSpec &spec);
mlir::MemRefType mmaWeightArgType(mlir::MLIRContext *ctx, const MmaGemmSpec &spec);
mlir::MemRefType mmaBiasArgType(mlir::MLIRContext *ctx, const MmaGemmSpec &spec);
mlir::MemRefType mmaResidualArgType(mlir::MLIRContext *ctx, const MmaGemmSpec &spec);
mlir::MemRefType mmaOutputArgType(mlir::MLIRContext *ctx, const MmaGemmSpec &spec);
mlir::MemRefType mmaGammaArgType(mlir::MLIRContext *ctx, const MmaGemmSpec &spec);
mlir::MemRefType mmaPositionsArgType(mlir::MLIRContext *ctx);

/// Builds kernel `name` at `b`'s insertion point (inside a gpu.module),
/// for a grid of (n / blockN, ceil(M / blockM)) blocks of layout.threads()
/// threads. Arguments: (x, [gamma], W (W_gate when gated), [W_up], [bias],
/// [residual], [positions], y, [eps: f32], [theta: f32, scaling: f32]).
/// `spec` must be valid() and `layout` valid() and fitted to it
/// (fitMmaLayout).
mlir::gpu::GPUFuncOp buildMmaGemmKernel(mlir::OpBuilder &b, mlir::Location loc,
                                        llvm::StringRef name, const MmaGemmSpec &spec,
                                        const MmaLayout &layout);

} // namespace tessel

#endif // TESSEL_PASSES_GPUMMABUILDER_H
