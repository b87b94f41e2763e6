//===- Pipeline.h - the CPU and CUDA lowering pipelines, stage by stage -*- C++ -*-===//
//
// One list of named stages is the single source of truth for what the JIT
// runs, what AOT compiles and what `tessel compile --emit=STAGE` prints.
// Each stage is a textual pass pipeline anchored on builtin.module, so it
// can be printed, overridden in tests and replayed with tessel-opt.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_CODEGEN_PIPELINE_H
#define TESSEL_CODEGEN_PIPELINE_H

#include <string>
#include <vector>

namespace tessel::codegen {

struct PipelineStage {
  std::string name;   // what --emit calls the IR after this stage
  std::string passes; // builtin.module(...) pipeline text
};

struct CpuOptions {
  /// Attention as one call of the Highway flash-attention kernel
  /// (tessel-attention-to-kernel: SIMD, threaded, split-KV for decode)
  /// instead of the FlashAttention loops tessel-tile-attention generates.
  bool attentionKernel = true;
  /// Time every tessel op (tessel-profile-ops, first): calls of
  /// tessel_profile_begin/end around each op for runtime::Profiler. Code
  /// compiled without it has no calls and no overhead.
  bool profile = false;
  /// Linear layers, FFNs, MLA and MoE layers on q8_0 / q4_0 weights round
  /// their input rows to q8_0 (`input_format = "q8_0"`, set by the frontend
  /// through frontends::EntryPoints::inputFormats) and multiply in
  /// integers, as llama.cpp does; false keeps f32 inputs (`--activations
  /// bf16` or `f32`). Not a pass option: it changes the model's IR, and so
  /// the compile-cache key.
  bool q8Activations = true;
  /// Linear layers, FFNs, MLA and MoE layers on stored bf16 weights round
  /// their input rows to bf16 (`input_format = "bf16"`) and multiply with
  /// `vdpbf16ps` where the CPU has AVX512_BF16, as llama.cpp does; false
  /// keeps f32 inputs (`--activations q8_0` or `f32`). Changes the IR, as
  /// q8Activations does.
  bool bf16Activations = true;
};

/// The CPU pipeline after tessel-weights-to-arguments:
///   tiled   residual adds fused; attention as a kernel call
///           (attentionKernel) or FlashAttention loops; einsum lowered
///   linalg  linear layers and gated FFNs as kernel calls, every other
///           dense op in linalg on tensors, KV cache ops as slices
///   kernel  bufferized (caches updated in place), loops around the
///           kernel calls
///   llvm    the LLVM dialect, ready for translation
std::vector<PipelineStage> cpuPipeline(const CpuOptions &options = {});

/// $CUDA_HOME, else /usr/local/cuda when it exists, else "".
std::string defaultCudaToolkit();

/// What the CUDA pipeline targets. PTX for `chip` is JIT-compiled by the
/// driver for the GPU it runs on (any of at least that compute capability).
struct GpuOptions {
  std::string chip = "sm_80";      // sm_80: A100 and later (H100/H200 are sm_90)
  std::string features = "+ptx80"; // PTX ISA 8.0 (CUDA 12+); LLVM's default 6.0 aborts for sm_90
  /// The CUDA toolkit whose libdevice kernels calling math functions link
  /// (gpu-module-to-binary's `toolkit`): $CUDA_HOME, else /usr/local/cuda
  /// if present; "" lets MLIR search PATH.
  std::string toolkit = defaultCudaToolkit();
};

/// The CUDA pipeline after tessel-weights-to-arguments:
///   tiled   residual adds fused; attention as FlashAttention / split-KV
///           decode GPU kernels (tessel-attention-to-gpu), bf16 linear
///           layers as tensor-core GEMMs (tessel-linear-to-gpu-mma);
///           einsum lowered
///   linalg  every other op in linalg on tensors
///   gpu     bufferized; each linalg op a parallel loop nest mapped to
///           blocks and threads and outlined into a gpu.module kernel;
///           host buffers in device memory
///   nvvm    kernels in the NVVM dialect, each gpu.module serialised to PTX
///           (a gpu.binary); the host still launches them by name
///   llvm    the host in the LLVM dialect: launches become calls of the
///           mgpu* runtime (runtime/cuda), streams from gpu-async-region
std::vector<PipelineStage> gpuPipeline(const GpuOptions &options = {});

/// All stages as one --pass-pipeline string (for tessel-opt).
std::string pipelineText(const std::vector<PipelineStage> &stages);

/// Replaces `pass` (a pass name, possibly with {options} already) in every
/// stage by `replacement`; used to set pass options.
void setPassOptions(std::vector<PipelineStage> &stages, const std::string &pass,
                    const std::string &replacement);

} // namespace tessel::codegen

#endif // TESSEL_CODEGEN_PIPELINE_H
