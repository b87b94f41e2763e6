//===- Aot.h - compile ahead of time: a shared library + manifest -*- C++ -*-===//
//
// The CPU pipeline, written out instead of JIT-compiled. A package is a
// directory holding
//
//   model.so       the compiled module: every entry point's C interface,
//                  called as the JIT calls it (one packed `void **`)
//   manifest.json  what a loader needs and checks: the entry points'
//                  signatures and weight names, the CPU and Tessel build the
//                  code is for, hashes of the IR and pipeline it came from,
//                  and a free-form `model` object owned by the caller
//
// Loading one costs a dlopen: no MLIR, no LLVM. The compile cache stores
// the same packages under a key made of everything that determines the
// code (compileCached).
//
// No MLIR header here.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_CODEGEN_AOT_H
#define TESSEL_CODEGEN_AOT_H

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "codegen/Jit.h"
#include "codegen/Pipeline.h"

namespace tessel::codegen {

/// A CPU as LLVM names it.
struct TargetCpu {
  std::string triple;                // x86_64-unknown-linux-gnu
  std::string name;                  // skylake-avx512
  std::vector<std::string> features; // those it has, sorted: avx2, avx512f, fma, ...
};

/// The CPU this process runs on.
const TargetCpu &hostCpu();

/// Identifies the Tessel build that writes and loads packages (the GNU
/// build id of the binary holding this code): packages are only loaded by
/// the build that wrote them, whose kernels and calling conventions match.
const std::string &tesselBuildId();

/// SHA-256 of `data`, as 64 hex digits.
std::string sha256Hex(std::string_view data);

inline constexpr char kManifestFile[] = "manifest.json";
inline constexpr char kLibraryFile[] = "model.so";

/// manifest.json, parsed.
struct AotManifest {
  int formatVersion = 0;
  std::string key;                  // compile-cache key (aotKey)
  std::string irHash;               // sha256Hex of the tessel IR compiled
  std::string pipeline;             // pipelineText of the stages run
  std::string tesselBuild;          // tesselBuildId() of the writer
  std::string llvmVersion;          // of the writer
  TargetCpu target;                 // the CPU the code was generated for
  std::string library;              // file name of the library in the package
  Signatures functions;             // entry points
  std::vector<std::string> imports; // kernel symbols the library calls
  std::string metadataJson;         // the caller's `model` object, as JSON text
};

/// The compile-cache key: a hash of the IR, the pipeline, the target CPU
/// and the compiler (Tessel build, MLIR and LLVM libraries).
std::string aotKey(std::string_view mlirText, const std::vector<PipelineStage> &pipeline);

/// Lowers `mlirText` like JitModule::compile, generates position-independent
/// code for this CPU, links it into DIR/model.so (with ld.lld, found as
/// `$TESSEL_LD`, next to LLVM, or on PATH; GNU ld as a last resort) and
/// writes DIR/manifest.json. `metadataJson` (a JSON object, "" for none) is
/// stored as the manifest's `model`. DIR is created if needed; each file
/// appears complete or not at all, the manifest last.
absl::StatusOr<AotManifest> compileAot(std::string_view mlirText, std::string_view sourceName,
                                       const std::string &dir, const std::string &metadataJson = "",
                                       const std::vector<PipelineStage> &pipeline = cpuPipeline());

/// Reads DIR/manifest.json; errors name the file and the field at fault.
absl::StatusOr<AotManifest> readAotManifest(const std::string &dir);

/// Loads DIR's library after checking that this CPU has every feature the
/// code was generated for and that this Tessel build wrote it.
absl::StatusOr<std::unique_ptr<JitModule>> loadAot(const std::string &dir,
                                                   const AotManifest &manifest);

/// A module from the compile cache.
struct CachedModule {
  std::unique_ptr<JitModule> module;
  AotManifest manifest;
  std::string dir; // the cache entry
  bool hit = false;
  std::string note; // why the cache could not be used or written, if so
};

/// Looks `mlirText` compiled with `pipeline` up in the cache under
/// `cacheRoot` (ROOT/<aotKey>/). On a miss, compiles it into a fresh
/// directory and renames that into place (so concurrent processes never see
/// half an entry), then loads it. An entry that cannot be read or loaded is
/// replaced. If nothing can be written there, compiles with the JIT instead
/// and says why in `note`.
absl::StatusOr<CachedModule>
compileCached(std::string_view mlirText, std::string_view sourceName, const std::string &cacheRoot,
              const std::string &metadataJson = "",
              const std::vector<PipelineStage> &pipeline = cpuPipeline());

} // namespace tessel::codegen

#endif // TESSEL_CODEGEN_AOT_H
