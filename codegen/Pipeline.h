//===- Pipeline.h - the CPU lowering pipeline, stage by stage ---*- C++ -*-===//
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

/// All stages as one --pass-pipeline string (for tessel-opt).
std::string pipelineText(const std::vector<PipelineStage> &stages);

/// Replaces `pass` (a pass name, possibly with {options} already) in every
/// stage by `replacement`; used to set pass options.
void setPassOptions(std::vector<PipelineStage> &stages, const std::string &pass,
                    const std::string &replacement);

} // namespace tessel::codegen

#endif // TESSEL_CODEGEN_PIPELINE_H
