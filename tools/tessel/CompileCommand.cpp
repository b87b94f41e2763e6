//===- CompileCommand.cpp - `tessel compile` ------------------------------===//
//
// Loads a model (any supported format), checks its weights against its
// config and prints the requested stage of the CPU pipeline: tessel, tiled,
// linalg, llvm (MLIR, each parses in tessel-opt), ir (LLVM IR), asm.
//
//===----------------------------------------------------------------------===//
#include <algorithm>
#include <cstdio>
#include <fstream>

#include "absl/flags/flag.h"
#include "absl/strings/str_join.h"
#include "codegen/Emit.h"
#include "frontends/ModelLoader.h"
#include "frontends/ModelToIR.h"
#include "tools/tessel/Commands.h"
#include "tools/tessel/Flags.h"

namespace tessel::cli {

int runCompile(const std::vector<std::string> &args) {
  if (args.size() != 1) {
    std::fprintf(stderr,
                 "tessel compile: expected one MODEL (a .gguf, llama2.c .bin, model description "
                 ".json or Hugging Face directory), got %zu arguments.\n"
                 "Example: tessel compile model.gguf --emit=tessel\n",
                 args.size());
    return 2;
  }
  std::string emit = absl::GetFlag(FLAGS_emit);
  const auto &stages = codegen::emitStages();
  if (std::find(stages.begin(), stages.end(), emit) == stages.end()) {
    std::fprintf(stderr, "tessel compile: --emit=%s: the stages are %s\n", emit.c_str(),
                 absl::StrJoin(stages, ", ").c_str());
    return 2;
  }
  auto model = frontends::loadModel(args[0]);
  if (!model.ok()) {
    std::fprintf(stderr, "tessel compile: %s\n", std::string(model.status().message()).c_str());
    return 1;
  }
  auto tessel = frontends::modelToMlir(model->config, args[0], absl::GetFlag(FLAGS_debug_info));
  if (!tessel.ok()) {
    std::fprintf(stderr, "tessel compile: %s\n", std::string(tessel.status().message()).c_str());
    return 1;
  }
  auto text = emit == "tessel" ? tessel : codegen::emitStage(*tessel, args[0], emit);
  if (!text.ok()) {
    std::fprintf(stderr, "tessel compile: %s\n", std::string(text.status().message()).c_str());
    return 1;
  }
  std::string out = absl::GetFlag(FLAGS_o);
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
