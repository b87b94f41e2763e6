//===- main.cpp - the tessel command-line tool ----------------------------===//
//
// `tessel <command> [flags] ARGS`. Flags are absl flags shared by commands;
// each command reads the ones it needs.
//
//===----------------------------------------------------------------------===//
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "tools/tessel/Commands.h"

namespace {
constexpr char kUsage[] = R"(tessel: compile and run transformer models

Usage: tessel <command> [flags] ARGS

Commands:
  eval FILE.mlir   Run @main (or --entry) with the reference evaluator on
                   generated inputs and print a summary of every result.

Examples:
  tessel eval examples/llama_decoder_block.mlir
  tessel eval examples/gqa_attention.mlir --seed 3 --values 8

Run 'tessel --helpfull' for every flag.)";
}  // namespace

int main(int argc, char **argv) {
  absl::SetProgramUsageMessage(kUsage);
  std::vector<char *> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() < 2) {
    std::fprintf(stderr, "%s\n", kUsage);
    return 2;
  }
  std::string command = positional[1];
  std::vector<std::string> args(positional.begin() + 2, positional.end());
  if (command == "eval") return tessel::cli::runEval(args);
  std::fprintf(stderr, "tessel: unknown command '%s'; commands: eval. Try 'tessel --help'.\n",
               command.c_str());
  return 2;
}
