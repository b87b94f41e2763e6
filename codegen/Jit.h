//===- Jit.h - compile tessel IR to native code and run it ------*- C++ -*-===//
//
// The CPU code path: parse a module, lower it with a pass pipeline
// (tessel passes -> bufferization -> loops -> LLVM) and JIT it through
// MLIR's ExecutionEngine (ORC, -O3, host CPU). Functions are called with
// host tensors; arguments and results cross as ranked memref descriptors.
// No MLIR header here: the runtime and tests include this cheaply.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_CODEGEN_JIT_H
#define TESSEL_CODEGEN_JIT_H

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "reference/Tensor.h"

namespace tessel::codegen {

/// The lowering pipeline `tessel compile` and the JIT run, as a textual
/// pass pipeline (printable, overridable).
std::string defaultCpuPipeline();

class JitModule {
public:
  /// Parses `mlirText`, lowers it with `pipeline` and JIT-compiles it.
  static absl::StatusOr<std::unique_ptr<JitModule>>
  compile(std::string_view mlirText, std::string_view sourceName,
          const std::string &pipeline = defaultCpuPipeline());
  ~JitModule();

  /// The model weights `function` takes after its own arguments, in order
  /// (`tessel.weight` ops become trailing arguments; see
  /// tessel-weights-to-arguments).
  absl::StatusOr<std::vector<std::string>> weightNames(const std::string &function) const;

  /// Calls `function` (f32/i64/i1 tensor arguments and results, static or
  /// dynamic shapes; weights last) and returns its results.
  absl::StatusOr<std::vector<ref::Tensor>> run(const std::string &function,
                                               const std::vector<ref::Tensor> &args) const;

private:
  struct Impl;
  explicit JitModule(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

} // namespace tessel::codegen

#endif // TESSEL_CODEGEN_JIT_H
