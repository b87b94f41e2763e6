//===- Jit.h - compile tessel IR to native code and run it ------*- C++ -*-===//
//
// The CPU code path: parse a module, lower it with a pass pipeline
// (tessel passes -> bufferization -> loops -> LLVM) and JIT it through
// MLIR's ExecutionEngine (ORC, -O3, host CPU). Functions are called with
// host tensors; arguments and results cross as ranked memref descriptors.
// A JitModule can also wrap code compiled ahead of time (a shared library
// written by codegen/Aot.h): the same calls, no compiler involved.
// No MLIR header here: the runtime and tests include this cheaply.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_CODEGEN_JIT_H
#define TESSEL_CODEGEN_JIT_H

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "codegen/Pipeline.h"
#include "reference/Tensor.h"

namespace tessel::codegen {

/// A caller-owned argument passed to compiled code without a copy: `data`
/// holds `shape` elements of `dtype` (row-major; i1 as one byte each).
/// Compiled code never writes an argument unless the function marks it
/// `bufferization.writable` (the KV caches), which it updates in place.
struct BufferRef {
  ref::DType dtype = ref::DType::F32;
  void *data = nullptr;
  std::vector<int64_t> shape;
  /// `data` is device memory (runtime/cuda) a CUDA module's code reads in
  /// place; host buffers passed to such a module are copied for the call.
  bool onDevice = false;

  static BufferRef of(ref::Tensor &t) {
    return {t.dtype, t.dtype == ref::DType::F32 ? static_cast<void *>(t.f.data()) : t.i.data(),
            t.shape};
  }
};

/// An argument or result of a compiled function: f32, i64 or i1 (one byte
/// per element); rank -1 is a scalar (only i64 scalars are passed).
struct TensorKind {
  ref::DType dtype = ref::DType::F32;
  int64_t rank = -1;
};

/// How a compiled entry point is called. AOT manifests record it, because a
/// shared library carries no types.
struct FunctionSignature {
  std::vector<TensorKind> args, results;
  std::vector<std::string> weights; // names of the trailing weight arguments
};
using Signatures = std::map<std::string, FunctionSignature>;

class JitModule {
public:
  /// Parses `mlirText`, lowers it with `pipeline` and JIT-compiles it.
  static absl::StatusOr<std::unique_ptr<JitModule>>
  compile(std::string_view mlirText, std::string_view sourceName,
          const std::vector<PipelineStage> &pipeline = cpuPipeline());
  ~JitModule();

  /// The same through the CUDA pipeline (codegen::gpuPipeline): the host
  /// code is JIT-compiled here and launches the kernels' PTX through the
  /// runtime/cuda driver wrapper. Fails with the driver's message when no
  /// GPU can be used. Its entry points take device buffers (host ones are
  /// uploaded per call) and return results copied back to the host.
  static absl::StatusOr<std::unique_ptr<JitModule>>
  compileCuda(std::string_view mlirText, std::string_view sourceName, const GpuOptions &gpu);

  /// Whether the module's code runs on a CUDA device.
  bool onDevice() const;

  /// Wraps a shared library written by compileAot (codegen/Aot.h) whose
  /// entry points are `functions`. `imports` are the kernel symbols it
  /// calls through its import table; each must be one this build provides.
  static absl::StatusOr<std::unique_ptr<JitModule>>
  loadSharedLibrary(const std::string &path, const Signatures &functions,
                    const std::vector<std::string> &imports);

  /// Every public function: what it takes and returns once compiled.
  const Signatures &signatures() const;

  /// The model weights `function` takes after its own arguments, in order
  /// (`tessel.weight` ops become trailing arguments; see
  /// tessel-weights-to-arguments).
  absl::StatusOr<std::vector<std::string>> weightNames(const std::string &function) const;

  /// Calls `function` (f32/i64/i1 tensor arguments and results, static or
  /// dynamic shapes; weights last) on copies of `args` and returns its
  /// results.
  absl::StatusOr<std::vector<ref::Tensor>> run(const std::string &function,
                                               const std::vector<ref::Tensor> &args) const;

  /// Calls `function` on the caller's buffers, without copying them, and
  /// returns its results. Writable arguments are updated in place and are
  /// not among the results (see tessel-drop-aliased-results). I1 arguments
  /// must hold one byte per element.
  absl::StatusOr<std::vector<ref::Tensor>> call(const std::string &function,
                                                const std::vector<BufferRef> &args) const;

  /// How many results `function` returns once compiled.
  absl::StatusOr<size_t> numResults(const std::string &function) const;

  /// The op table of code compiled with CpuOptions::profile (the module's
  /// `tessel.profile_ops`, see tessel-profile-ops): the name ("tessel.linear
  /// @ blk.0.attn_q") of the op whose calls pass id i. Empty otherwise, and
  /// for shared libraries.
  const std::vector<std::string> &profileOps() const;

private:
  struct Impl;
  explicit JitModule(std::unique_ptr<Impl> impl);
  static absl::StatusOr<std::unique_ptr<JitModule>>
  compileWith(std::string_view mlirText, std::string_view sourceName,
              const std::vector<PipelineStage> &pipeline, bool cuda);
  std::unique_ptr<Impl> impl_;
};

} // namespace tessel::codegen

#endif // TESSEL_CODEGEN_JIT_H
