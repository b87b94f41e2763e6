//===- CompileCommand.cpp - `tessel compile` ------------------------------===//
//
// Loads a model (any supported format), checks its weights against its
// config and either compiles it ahead of time (--emit=lib, the default with
// -o DIR: DIR/model.so + DIR/manifest.json, run with `tessel run DIR`) or
// prints the requested stage of the CPU pipeline: tessel, tiled, linalg,
// llvm (MLIR, each parses in tessel-opt), ir (LLVM IR), asm; with --device
// cuda, of the CUDA pipeline, whose `ptx` stage is the kernels' PTX.
//
//===----------------------------------------------------------------------===//
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "absl/flags/flag.h"
#include "absl/strings/str_join.h"
#include "codegen/Aot.h"
#include "codegen/Emit.h"
#include "frontends/ModelLoader.h"
#include "frontends/ModelToIR.h"
#include "runtime/Session.h"
#include "runtime/Weights.h"
#include "tools/tessel/Commands.h"
#include "tools/tessel/Flags.h"

namespace tessel::cli {

int runCompile(const std::vector<std::string> &args) {
  if (args.size() != 1) {
    std::fprintf(stderr,
                 "tessel compile: expected one MODEL, got %zu arguments (run 'tessel compile "
                 "--help')\n",
                 args.size());
    return 2;
  }
  std::string emit = absl::GetFlag(FLAGS_emit);
  std::string out = absl::GetFlag(FLAGS_o);
  if (emit.empty()) {
    // `-o FILE.mlir` used to mean "print the IR to FILE": say what changed
    // rather than make a directory of that name.
    for (const char *text : {".mlir", ".ll", ".s"})
      if (out.size() > std::strlen(text) && out.rfind(text) == out.size() - std::strlen(text)) {
        std::fprintf(stderr,
                     "tessel compile: -o %s without --emit writes a compiled package (a "
                     "directory); to write IR to a file, name the stage: --emit=tessel|tiled|"
                     "linalg|kernel|llvm|ir|asm\n",
                     out.c_str());
        return 2;
      }
    emit = out.empty() ? "tessel" : "lib";
  }
  auto gpu = gpuOptionsFromFlags();
  if (!gpu.ok()) {
    std::fprintf(stderr, "tessel compile: %s\n", std::string(gpu.status().message()).c_str());
    return 2;
  }
  const auto &stages = *gpu ? codegen::gpuEmitStages() : codegen::emitStages();
  if (emit != "lib" && std::find(stages.begin(), stages.end(), emit) == stages.end()) {
    std::fprintf(stderr, "tessel compile: --emit=%s: choose lib or a stage: %s\n", emit.c_str(),
                 absl::StrJoin(stages, ", ").c_str());
    return 2;
  }
  if (*gpu && emit == "lib") {
    std::fprintf(stderr, "tessel compile: --device cuda compiles with the JIT ('tessel run "
                         "--device cuda'); packages (-o DIR) are CPU-only for now: print a stage "
                         "with --emit=STAGE, e.g. --emit=ptx\n");
    return 2;
  }
  if (emit == "lib" && out.empty()) {
    std::fprintf(stderr, "tessel compile: --emit=lib writes a directory: name it with -o DIR\n");
    return 2;
  }
  // Compiling needs the config and the weights' types (which stay stored),
  // not their values: a description's random weights (5 GB for a
  // Llama-3.2-1B shape) are never generated; a GGUF is only mapped.
  frontends::LoadOptions typesOnly;
  typesOnly.randomValues = false;
  auto model = frontends::loadModel(args[0], typesOnly);
  if (model.ok())
    if (absl::Status st = quantizeFromFlags(*model); !st.ok())
      model = st;
  if (!model.ok()) {
    std::fprintf(stderr, "tessel compile: %s\n", std::string(model.status().message()).c_str());
    return 1;
  }
  if (emit == "lib") {
    if (!absl::GetFlag(FLAGS_pass_pipeline).empty() || !absl::GetFlag(FLAGS_dump_ir_dir).empty() ||
        absl::GetFlag(FLAGS_print_ir_after_all) || !absl::GetFlag(FLAGS_print_ir_before).empty() ||
        !absl::GetFlag(FLAGS_print_ir_after).empty()) {
      std::fprintf(stderr, "tessel compile: --print_ir_*, --dump_ir_dir and --pass_pipeline work "
                           "with --emit=STAGE, not --emit=lib\n");
      return 2;
    }
    auto start = std::chrono::steady_clock::now();
    runtime::SessionOptions options;
    options.context = absl::GetFlag(FLAGS_context);
    auto cpu = cpuOptionsFromFlags();
    if (!cpu.ok()) {
      std::fprintf(stderr, "tessel compile: %s\n", std::string(cpu.status().message()).c_str());
      return 2;
    }
    options.cpu = *cpu;
    if (auto st = runtime::Session::compileAot(*model, options, out); !st.ok()) {
      std::fprintf(stderr, "tessel compile: %s\n", std::string(st.message()).c_str());
      return 1;
    }
    std::fprintf(stderr,
                 "tessel compile: wrote %s/%s and %s/%s in %.2f s; run it with: tessel run %s\n",
                 out.c_str(), codegen::kLibraryFile, out.c_str(), codegen::kManifestFile,
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
                 out.c_str());
    return 0;
  }
  auto cpu = cpuOptionsFromFlags();
  if (!cpu.ok()) {
    std::fprintf(stderr, "tessel compile: %s\n", std::string(cpu.status().message()).c_str());
    return 2;
  }
  // As Session builds it (on the GPU only bf16 matrices stay stored).
  frontends::EntryPoints entries = runtime::entryPointsFor(*model, *cpu, gpu->has_value());
  entries.cacheLength = absl::GetFlag(FLAGS_context);
  auto tessel =
      frontends::modelToMlir(model->config, args[0], absl::GetFlag(FLAGS_debug_info), entries);
  if (!tessel.ok()) {
    std::fprintf(stderr, "tessel compile: %s\n", std::string(tessel.status().message()).c_str());
    return 1;
  }
  codegen::EmitOptions emitOptions;
  emitOptions.print.afterAll = absl::GetFlag(FLAGS_print_ir_after_all);
  emitOptions.print.before = absl::GetFlag(FLAGS_print_ir_before);
  emitOptions.print.after = absl::GetFlag(FLAGS_print_ir_after);
  emitOptions.print.dumpDir = absl::GetFlag(FLAGS_dump_ir_dir);
  emitOptions.passPipeline = absl::GetFlag(FLAGS_pass_pipeline);
  emitOptions.cuda = *gpu;
  bool lowering = emitOptions.print.any() || !emitOptions.passPipeline.empty();
  if (emit == "tessel" && lowering) {
    std::fprintf(stderr, "tessel compile: --print_ir_*, --dump_ir_dir and --pass_pipeline act on "
                         "the lowering: name a later stage, e.g. --emit=llvm\n");
    return 2;
  }
  auto text =
      emit == "tessel" ? tessel : codegen::emitStage(*tessel, args[0], emit, *cpu, emitOptions);
  if (!text.ok()) {
    std::fprintf(stderr, "tessel compile: %s\n", std::string(text.status().message()).c_str());
    return 1;
  }
  if (out.empty()) {
    std::fwrite(text->data(), 1, text->size(), stdout);
    return 0;
  }
  std::ofstream file(out);
  file << *text;
  if (!file) {
    std::fprintf(stderr, "tessel compile: cannot write %s\n", out.c_str());
    return 1;
  }
  return 0;
}

} // namespace tessel::cli
