//===- Help.h - the tessel CLI's commands and their help pages --*- C++ -*-===//
//
// One table describes every subcommand: how main() dispatches it, its
// synopsis, what it does, the flags it reads and examples. `tessel --help`
// prints the overview, `tessel help CMD` / `tessel CMD --help` a command's
// page, with each flag's help and default taken from the absl flag registry
// (Flags.cpp), so the two cannot drift apart. tests/cli/check_help.sh runs
// every example of every page and checks that a page names each flag its
// command's source reads.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_TOOLS_TESSEL_HELP_H
#define TESSEL_TOOLS_TESSEL_HELP_H

#include <string>
#include <string_view>
#include <vector>

namespace tessel::cli {

struct Command {
  const char *name;
  int (*run)(const std::vector<std::string> &args);
  const char *summary;                // one line for the overview
  std::vector<const char *> synopses; // what follows "tessel "
  const char *description;            // paragraphs separated by blank lines
  std::vector<const char *> flags;    // absl flag names, in the order shown
  std::vector<const char *> examples; // shell lines run from the repository root; "# " = comment
};

/// Every subcommand, in the order the overview lists them.
const std::vector<Command> &commands();

/// The command called `name`, or null.
const Command *findCommand(std::string_view name);

/// "run, compile, ..., eval".
std::string commandList();

/// `tessel --help`: every command in one line, how to get more.
std::string overviewHelp();

/// `tessel help CMD`: synopsis, description, flags (help text and default
/// from the registry), examples.
std::string commandHelp(const Command &command);

} // namespace tessel::cli

#endif // TESSEL_TOOLS_TESSEL_HELP_H
