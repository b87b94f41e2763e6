//===- Compiled.h - native code for a model's IR ----------------*- C++ -*-===//
//
// How the runtime gets code for an IR: from the compile cache
// (codegen::compileCached) when a cache directory is given, else from the
// JIT. Session and Evaluator share it; Session also loads AOT packages.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_RUNTIME_COMPILED_H
#define TESSEL_RUNTIME_COMPILED_H

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "codegen/Pipeline.h"

namespace tessel::codegen {
class JitModule;
} // namespace tessel::codegen

namespace tessel::runtime {

struct CompiledCode {
  std::unique_ptr<codegen::JitModule> module;
  std::string origin = "JIT"; // or "cache hit: DIR" / "cache miss, saved to DIR"
  std::string note;           // why the cache was not used, if it was asked for
  CompiledCode();
  CompiledCode(CompiledCode &&);
  ~CompiledCode();
};

/// Compiles `ir` (from `sourcePath`) with the CPU pipeline `cpu`, through the
/// cache under `cacheDir` ("" or `cpu.profile` = JIT only); `metadataJson` is stored in a new
/// cache entry's manifest.
absl::StatusOr<CompiledCode> compileForRuntime(const std::string &ir, const std::string &sourcePath,
                                               const std::string &cacheDir,
                                               const std::string &metadataJson,
                                               const codegen::CpuOptions &cpu);

} // namespace tessel::runtime

#endif // TESSEL_RUNTIME_COMPILED_H
