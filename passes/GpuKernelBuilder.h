//===- GpuKernelBuilder.h - the GPU FlashAttention kernels ------*- C++ -*-===//
//
// The gpu.func bodies tessel-attention-to-gpu launches (see the layouts in
// GpuKernelBuilder.cpp's file comment):
//   * flash attention (FlashAttention-2, prefill and any q_len): one block
//     per (BLOCK_Q query rows, head, batch), K/V tiles staged in shared
//     memory, online softmax in registers;
//   * flash decoding (split-KV, short q_len): one block per (split, head,
//     query row) reduces a contiguous range of keys to a partial state
//     (m, l, acc) in a workspace;
//   * the combine kernel that merges the splits' partial states.
// The kernels read Q/K/V through strided memrefs of any layout (a KV-cache
// view is used in place) and take no scalar arguments: q_len and kv_len are
// the memrefs' extents, everything else is baked in and named in the
// kernel's symbol.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_PASSES_GPUKERNELBUILDER_H
#define TESSEL_PASSES_GPUKERNELBUILDER_H

#include <optional>

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/Builders.h"

namespace tessel {

/// What a kernel computes: the attention's static attributes.
struct AttentionKernelSpec {
  int64_t heads = 0, kvHeads = 0, headDim = 0, valueDim = 0;
  bool causal = false;
  std::optional<int64_t> window;
  /// The softmax scale (the op's, or 1/sqrt(head_dim)).
  double scale = 1.0;
};

/// Thread layout of the flash-attention (prefill) kernel.
struct PrefillLayout {
  int64_t blockQ = 64;       ///< query rows per block
  int64_t blockKv = 32;      ///< keys per K/V tile (a multiple of keysPerStep)
  int64_t threadsPerRow = 4; ///< lanes per query row (a power of two dividing D and Dv)
  /// Keys per unrolled step of the online softmax: their scores are
  /// computed, the running max updated and the accumulator rescaled once
  /// per step. 8 amortises the rescale (Dv / lanes multiplies) over 8 keys
  /// while 8 scores stay in registers (127 registers at D = 128: two
  /// 256-thread blocks per SM).
  int64_t keysPerStep = 8;
  int64_t threads() const { return blockQ * threadsPerRow; }
};

/// Thread layout of the flash-decoding (split-KV) kernel.
struct DecodeLayout {
  int64_t threads = 128;     ///< threads per (split, head, row) block
  int64_t threadsPerKey = 8; ///< lanes per key (a power of two dividing D and Dv)
  /// Keys per unrolled step and lane group. The K and V loads of a step are
  /// all in flight at once (keysPerStep * dims-per-lane of each), which is
  /// what hides memory latency here; 4 keys of 16 dims keep that under
  /// ~130 registers where 8 needed 188.
  int64_t keysPerStep = 4;
  int64_t keyGroups() const { return threads / threadsPerKey; }
};

/// Threads per block of the combine kernel: one per value dimension,
/// rounded up to whole warps.
int64_t combineThreads(const AttentionKernelSpec &spec);

/// Kernel argument types. Q/K/V: [batch, len, heads, dim] with any strides;
/// the output: [batch, q_len, heads, v_head_dim], identity layout; the
/// decode workspace: m and l [batch * q_len, heads, splits], acc
/// [batch * q_len, heads, splits, v_head_dim].
mlir::MemRefType queryArgType(mlir::MLIRContext *ctx, const AttentionKernelSpec &spec);
mlir::MemRefType keyArgType(mlir::MLIRContext *ctx, const AttentionKernelSpec &spec);
mlir::MemRefType valueArgType(mlir::MLIRContext *ctx, const AttentionKernelSpec &spec);
mlir::MemRefType outputArgType(mlir::MLIRContext *ctx, const AttentionKernelSpec &spec);
mlir::MemRefType workspaceRowType(mlir::MLIRContext *ctx, const AttentionKernelSpec &spec);
mlir::MemRefType workspaceAccType(mlir::MLIRContext *ctx, const AttentionKernelSpec &spec);

/// Each builds one kernel `name` at `b`'s insertion point (inside a
/// gpu.module). Arguments:
///   flash attention:  (q, k, v, out)
///   flash decoding:   (q, k, v, ws_m, ws_l, ws_acc)
///   combine:          (ws_m, ws_l, ws_acc, out)
mlir::gpu::GPUFuncOp buildFlashAttentionKernel(mlir::OpBuilder &b, mlir::Location loc,
                                               llvm::StringRef name,
                                               const AttentionKernelSpec &spec,
                                               const PrefillLayout &layout);
mlir::gpu::GPUFuncOp buildFlashDecodingKernel(mlir::OpBuilder &b, mlir::Location loc,
                                              llvm::StringRef name, const AttentionKernelSpec &spec,
                                              const DecodeLayout &layout);
mlir::gpu::GPUFuncOp buildFlashDecodingCombineKernel(mlir::OpBuilder &b, mlir::Location loc,
                                                     llvm::StringRef name,
                                                     const AttentionKernelSpec &spec);

/// Declares what gpu.launch_func does to memory (upstream leaves it
/// unknown): it reads and writes every memref it is given, and may write
/// memory it reaches otherwise (never trivially dead). Ownership-based
/// buffer deallocation refuses ops on memrefs with unknown effects, and
/// tessel-attention-to-gpu's launches run before it. The pass registers this
/// itself; a tool that replays later stages of the GPU pipeline on IR that
/// already has the launches must register it too.
void registerGpuLaunchMemoryEffects(mlir::DialectRegistry &registry);

} // namespace tessel

#endif // TESSEL_PASSES_GPUKERNELBUILDER_H
