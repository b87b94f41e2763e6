//===- Pipeline.cpp -------------------------------------------------------===//
#include "codegen/Pipeline.h"

#include <cstdlib>
#include <filesystem>

namespace tessel::codegen {

std::vector<PipelineStage> cpuPipeline(const CpuOptions &options) {
  // Attention ops the kernel path leaves (masks, sinks) are tiled either way.
  std::string attention = options.attentionKernel ? "tessel-attention-to-kernel," : "";
  // Profiling wraps the model's own ops, before anything fuses or expands
  // them: fused kernels land inside the op they replace.
  std::string profile = options.profile ? "tessel-profile-ops," : "";
  return {
      {"tiled", "builtin.module(" + profile + "func.func(tessel-lower-mla,tessel-fuse-residual)," +
                    attention + "func.func(tessel-tile-attention))"},
      // Einsums that are batched contractions become kernel calls first
      // (tessel-lower-to-kernels); tessel-lower-einsum takes the rest.
      {"linalg", "builtin.module(tessel-lower-to-kernels,"
                 "func.func(tessel-lower-einsum,tessel-lower-to-linalg,canonicalize))"},
      // Identity layouts at function boundaries, so that callers see plain
      // strided memrefs; results that are updated arguments (KV caches) are
      // dropped before deallocation would clone them; buffers share storage
      // where their lifetimes allow (tessel.memory_plan) before deallocation
      // frees what is left.
      {"kernel", "builtin.module(one-shot-bufferize{bufferize-function-boundaries=1 "
                 "function-boundary-type-conversion=identity-layout-map "
                 "allow-return-allocs-from-loops=1},"
                 "drop-equivalent-buffer-results,"
                 "func.func(tessel-drop-aliased-results,tessel-plan-memory),"
                 "buffer-deallocation-pipeline,"
                 "func.func(scf-forall-to-for,convert-linalg-to-loops),canonicalize)"},
      {"llvm", "builtin.module(expand-strided-metadata,lower-affine,convert-scf-to-cf,"
               "finalize-memref-to-llvm,convert-math-to-llvm,convert-math-to-libm,"
               "convert-arith-to-llvm,convert-func-to-llvm,convert-cf-to-llvm,"
               "reconcile-unrealized-casts)"},
  };
}

std::string defaultCudaToolkit() {
  if (const char *home = std::getenv("CUDA_HOME"); home && *home)
    return home;
  std::error_code ec;
  return std::filesystem::exists("/usr/local/cuda/nvvm/libdevice", ec) ? "/usr/local/cuda" : "";
}

std::vector<PipelineStage> gpuPipeline(const GpuOptions &options) {
  const std::string target =
      "nvvm-attach-target{chip=" + options.chip + " features=" + options.features + " O=3}";
  const std::string toBinary =
      "gpu-module-to-binary{format=isa" +
      (options.toolkit.empty() ? std::string() : " toolkit=" + options.toolkit) + "}";
  return {
      // Attention the GPU kernels do not take (masks, sinks) is tiled into
      // loops, which become kernels like the rest. Linear layers on bf16
      // weights run on tensor cores; the others become linalg.
      {"tiled", "builtin.module(func.func(tessel-lower-mla,tessel-fuse-residual),"
                "tessel-attention-to-gpu,tessel-linear-to-gpu-mma,"
                "func.func(tessel-tile-attention,tessel-lower-einsum))"},
      // Elementwise consumers fuse into their producers (activation into
      // the GLU product, scaling into the norm...): fewer kernels, fewer
      // round trips through device memory.
      {"linalg", "builtin.module(func.func(tessel-lower-to-linalg,canonicalize,"
                 "linalg-fuse-elementwise-ops,canonicalize))"},
      // As on the CPU up to deallocation; then every buffer the host
      // allocates moves to the device and every linalg op becomes a kernel:
      // parallel dimensions map to blocks and threads, reductions stay
      // loops inside the kernel.
      {"gpu", "builtin.module(one-shot-bufferize{bufferize-function-boundaries=1 "
              "function-boundary-type-conversion=identity-layout-map "
              "allow-return-allocs-from-loops=1},"
              "func.func(tessel-drop-aliased-results),buffer-deallocation-pipeline,"
              "func.func(tessel-gpu-host-buffers,convert-linalg-to-parallel-loops,"
              "gpu-map-parallel-loops,convert-parallel-loops-to-gpu),"
              "gpu-kernel-outlining,canonicalize)"},
      {"nvvm", "builtin.module(gpu.module(lower-affine,convert-scf-to-cf,convert-gpu-to-nvvm,"
               "canonicalize,cse,reconcile-unrealized-casts)," +
                   target + "," + toBinary + ")"},
      // One stream per chain of dependent launches (gpu-async-region), so
      // the host neither waits after each kernel nor allocates synchronously.
      {"llvm", "builtin.module(func.func(gpu-async-region),expand-strided-metadata,lower-affine,"
               "convert-scf-to-cf,gpu-to-llvm,finalize-memref-to-llvm,convert-math-to-llvm,"
               "convert-arith-to-llvm,convert-index-to-llvm,convert-func-to-llvm,"
               "convert-cf-to-llvm,reconcile-unrealized-casts)"},
  };
}

std::string pipelineText(const std::vector<PipelineStage> &stages) {
  // Every stage is "builtin.module(X)": concatenate the Xs.
  std::string joined;
  for (const PipelineStage &s : stages) {
    std::string inner = s.passes.substr(15, s.passes.size() - 16);
    joined += (joined.empty() ? "" : ",") + inner;
  }
  return "builtin.module(" + joined + ")";
}

void setPassOptions(std::vector<PipelineStage> &stages, const std::string &pass,
                    const std::string &replacement) {
  for (PipelineStage &s : stages) {
    size_t at = s.passes.find(pass);
    if (at == std::string::npos)
      continue;
    size_t end = at + pass.size();
    if (end < s.passes.size() && s.passes[end] == '{')
      end = s.passes.find('}', end) + 1;
    s.passes.replace(at, end - at, replacement);
  }
}

} // namespace tessel::codegen
