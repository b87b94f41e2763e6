//===- Compiled.cpp -------------------------------------------------------===//
#include "runtime/Compiled.h"

#include "codegen/Aot.h"
#include "codegen/Jit.h"

namespace tessel::runtime {

CompiledCode::CompiledCode() = default;
CompiledCode::CompiledCode(CompiledCode &&) = default;
CompiledCode::~CompiledCode() = default;

absl::StatusOr<CompiledCode> compileForRuntime(const std::string &ir, const std::string &sourcePath,
                                               const std::string &cacheDir,
                                               const std::string &metadataJson,
                                               const codegen::CpuOptions &cpu) {
  CompiledCode code;
  // Profiled code is JIT-only: the op table it needs (JitModule::profileOps)
  // is not kept in cache entries.
  if (cacheDir.empty() || cpu.profile) {
    auto compiled = codegen::JitModule::compile(ir, sourcePath, codegen::cpuPipeline(cpu));
    if (!compiled.ok())
      return compiled.status();
    code.module = std::move(*compiled);
    return code;
  }
  auto cached =
      codegen::compileCached(ir, sourcePath, cacheDir, metadataJson, codegen::cpuPipeline(cpu));
  if (!cached.ok())
    return cached.status();
  code.module = std::move(cached->module);
  code.note = cached->note;
  if (cached->hit)
    code.origin = "cache hit: " + cached->dir;
  else if (!cached->dir.empty())
    code.origin = "cache miss, saved to " + cached->dir;
  return code;
}

} // namespace tessel::runtime
