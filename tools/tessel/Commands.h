//===- Commands.h - the tessel CLI's subcommands ----------------*- C++ -*-===//
#ifndef TESSEL_TOOLS_TESSEL_COMMANDS_H
#define TESSEL_TOOLS_TESSEL_COMMANDS_H

#include <string>
#include <vector>

namespace tessel::cli {

/// `tessel eval FILE.mlir`: runs a function with the reference evaluator on
/// generated inputs and prints a summary of each result. Returns the exit code.
int runEval(const std::vector<std::string> &args);

/// `tessel compile MODEL --emit=tessel`: the model's IR.
int runCompile(const std::vector<std::string> &args);

/// `tessel mkmodel DESCRIPTION.json -o OUT`: a random-weight model file.
int runMkmodel(const std::vector<std::string> &args);

/// `tessel tokenize MODEL_OR_VOCAB --text T | --file F | --decode IDS`.
int runTokenize(const std::vector<std::string> &args);

/// `tessel run MODEL --prompt TEXT -n N`: compile and generate.
int runRun(const std::vector<std::string> &args);

} // namespace tessel::cli

#endif // TESSEL_TOOLS_TESSEL_COMMANDS_H
