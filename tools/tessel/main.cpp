//===- main.cpp - the tessel command-line tool ----------------------------===//
//
// `tessel <command> [flags] ARGS`. Flags are absl flags shared by commands;
// each command reads the ones it needs (Help.cpp lists them per command).
//
// Help and usage errors are handled here, before absl parses the command
// line: absl would print its own --help, and its errors name neither the
// command nor what to do next.
//
//===----------------------------------------------------------------------===//
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "tools/tessel/Help.h"

namespace {

using tessel::cli::Command;

// Flag names are written with underscores (absl's spelling); the dashed
// spelling users expect from other tools (--print-token-ids) means the same.
std::vector<std::string> normalizeFlagNames(int argc, char **argv) {
  std::vector<std::string> out(argv, argv + argc);
  for (size_t i = 1; i < out.size(); ++i) {
    std::string &a = out[i];
    if (a == "--")
      break; // everything after is positional
    if (a.size() < 3 || a[0] != '-' || a[1] != '-')
      continue;
    size_t end = std::min(a.find('='), a.size());
    for (size_t c = 2; c < end; ++c)
      if (a[c] == '-')
        a[c] = '_';
  }
  return out;
}

size_t editDistance(const std::string &a, const std::string &b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
      diagonal = up;
    }
  }
  return row[b.size()];
}

// "; did you mean --prompt_ids?" for a misspelt flag: one `command` reads,
// or without a command any flag; "" when nothing is close.
std::string suggestFlag(const std::string &name, const Command *command) {
  std::string best;
  size_t bestDistance = name.size() < 4 ? 1 : 2;
  auto consider = [&](const std::string &candidate) {
    size_t d = editDistance(name, candidate);
    if (d <= bestDistance && (best.empty() || d < bestDistance)) {
      best = candidate;
      bestDistance = d;
    }
  };
  if (command) {
    for (const char *flag : command->flags)
      consider(flag);
  } else {
    for (const auto &[flagName, flag] : absl::GetAllFlags())
      if (!flag->IsRetired())
        consider(std::string(flagName));
  }
  if (best.empty())
    return "";
  return std::string("; did you mean ") + (best.size() == 1 ? "-" : "--") + best + "?";
}

// absl's own usage flags (--helpfull, --version, ...) are not in the flag
// registry: absl::ParseCommandLine recognises them by name.
bool isAbslUsageFlag(const std::string &name) {
  for (const char *usage : {"helpfull", "helpshort", "helppackage", "helpon", "helpmatch",
                            "version", "only_check_args"})
    if (name == usage)
      return true;
  return false;
}

const char *valueKind(const absl::CommandLineFlag &flag) {
  if (flag.IsOfType<bool>())
    return "true or false";
  if (flag.IsOfType<double>() || flag.IsOfType<float>())
    return "a number";
  if (flag.IsOfType<int>() || flag.IsOfType<int64_t>() || flag.IsOfType<uint64_t>())
    return "an integer";
  return "a valid value";
}

// The command line as absl will read it, scanned for what this file
// answers itself: help requests, the command's arguments, and the first
// unknown flag or unparsable value (absl would exit with a message that
// does not say what to do).
struct Scan {
  std::vector<std::string> positional; // the command, then its arguments
  bool help = false;                   // --help, -h or -help
  std::string error;                   // the first problem with a flag
  std::string unknownFlag;             // its name, if it is that it does not exist
  std::vector<std::string> flags;      // the names of the tessel flags given
};

Scan scan(const std::vector<std::string> &args) {
  Scan s;
  auto problem = [&](std::string what) {
    if (s.error.empty())
      s.error = std::move(what);
  };
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string &a = args[i];
    if (a == "--") {
      s.positional.insert(s.positional.end(), args.begin() + i + 1, args.end());
      break;
    }
    if (a == "--help" || a == "-help" || a == "-h") {
      s.help = true;
      continue;
    }
    if (a.size() < 2 || a[0] != '-') {
      s.positional.push_back(a);
      continue;
    }
    std::string body = a.substr(a[1] == '-' ? 2 : 1);
    size_t eq = body.find('=');
    std::string name = body.substr(0, eq);
    if (isAbslUsageFlag(name))
      continue; // absl answers it
    absl::CommandLineFlag *flag = absl::FindCommandLineFlag(name);
    if (!flag && name.rfind("no", 0) == 0) { // --noflag: a switch turned off
      absl::CommandLineFlag *negated = absl::FindCommandLineFlag(name.substr(2));
      if (negated && negated->IsOfType<bool>() && eq == std::string::npos)
        continue;
    }
    if (!flag || flag->IsRetired()) {
      if (s.error.empty())
        s.unknownFlag = name;
      problem("unknown flag " + a.substr(0, a.find('=')));
      continue;
    }
    if (flag->Filename().find("tools/tessel/") != std::string::npos)
      s.flags.push_back(name);
    std::string spelled = a, value;
    if (eq != std::string::npos) {
      value = body.substr(eq + 1);
    } else if (flag->IsOfType<bool>()) {
      continue;
    } else if (i + 1 < args.size()) {
      value = args[++i];
      spelled += " " + value;
    } else {
      problem(a + " needs a value");
      continue;
    }
    std::string why;
    if (!flag->ParseFrom(value, &why))
      problem(spelled + ": expected " + valueKind(*flag));
  }
  return s;
}

void printOverview(FILE *to) { std::fputs(tessel::cli::overviewHelp().c_str(), to); }

int unknownCommand(const std::string &name) {
  std::fprintf(stderr, "tessel: unknown command '%s'; the commands are %s (run 'tessel --help')\n",
               name.c_str(), tessel::cli::commandList().c_str());
  return 2;
}

// What a command's arguments are called: "MODEL", "MODEL or DIR", ...
std::string operandName(const Command &command) {
  std::vector<std::string> names;
  for (const char *synopsis : command.synopses) {
    std::string s = synopsis;
    size_t start = s.find(' ') + 1, end = s.find(' ', start);
    std::string operand = s.substr(start, end - start);
    if (std::find(names.begin(), names.end(), operand) == names.end())
      names.push_back(operand);
  }
  std::string out;
  for (size_t i = 0; i < names.size(); ++i)
    out += (i ? " or " : "") + names[i];
  return out;
}

} // namespace

int main(int argc, char **argv) {
  absl::SetProgramUsageMessage(
      "compile and run transformer models. Run 'tessel --help' for the commands.");
  std::vector<std::string> normalized = normalizeFlagNames(argc, argv);
  Scan s = scan(normalized);

  const Command *command = nullptr;
  if (!s.positional.empty()) {
    std::string name = s.positional[0];
    if (name == "help") { // tessel help [COMMAND]
      if (s.positional.size() < 2) {
        printOverview(stdout);
        return 0;
      }
      const Command *c = tessel::cli::findCommand(s.positional[1]);
      if (!c)
        return unknownCommand(s.positional[1]);
      std::fputs(tessel::cli::commandHelp(*c).c_str(), stdout);
      return 0;
    }
    command = tessel::cli::findCommand(name);
    if (!command)
      return unknownCommand(name);
  }
  if (s.help) {
    std::fputs(command ? tessel::cli::commandHelp(*command).c_str()
                       : tessel::cli::overviewHelp().c_str(),
               stdout);
    return 0;
  }
  if (!s.error.empty()) {
    std::string error = s.error;
    if (!s.unknownFlag.empty())
      error += suggestFlag(s.unknownFlag, command);
    std::string help =
        command ? "tessel " + std::string(command->name) + " --help" : "tessel --help";
    std::fprintf(stderr, "tessel%s%s: %s (run '%s' for the flags)\n", command ? " " : "",
                 command ? command->name : "", error.c_str(), help.c_str());
    return 2;
  }
  if (argc < 2) {
    printOverview(stderr);
    return 2;
  }
  // A flag another command reads would be ignored: say so rather than run
  // without it (its help page lists the flags it reads; check_help.sh keeps
  // that list complete).
  if (command)
    for (const std::string &flag : s.flags)
      if (std::find(command->flags.begin(), command->flags.end(), flag) == command->flags.end()) {
        std::fprintf(stderr,
                     "tessel %s: %s%s is not a flag of %s (run 'tessel %s --help' for its flags)\n",
                     command->name, flag.size() == 1 ? "-" : "--", flag.c_str(), command->name,
                     command->name);
        return 2;
      }

  // absl handles --helpfull and the like (and exits) here.
  std::vector<char *> pointers;
  for (std::string &a : normalized)
    pointers.push_back(a.data());
  // What it leaves is the scan's positional arguments: the scan skipped the
  // same flags and values.
  absl::ParseCommandLine(static_cast<int>(pointers.size()), pointers.data());
  if (!command) { // only flags
    std::fprintf(stderr, "tessel: name a command: %s (run 'tessel --help')\n",
                 tessel::cli::commandList().c_str());
    return 2;
  }
  std::vector<std::string> args(s.positional.begin() + 1, s.positional.end());
  // A synopsis that starts with a flag ("bench --gemm M,N,K") runs without
  // an operand; the command checks that flag itself.
  const bool operandOptional =
      std::any_of(command->synopses.begin(), command->synopses.end(), [](const char *synopsis) {
        std::string_view rest(synopsis);
        rest.remove_prefix(std::min(rest.size(), rest.find(' ') + 1));
        return rest.rfind("--", 0) == 0;
      });
  if (args.size() != 1 && !(args.empty() && operandOptional)) {
    std::string got = args.empty() ? "none" : std::to_string(args.size()) + ":";
    for (const std::string &a : args)
      got += " '" + a + "'";
    std::fprintf(stderr, "tessel %s: expected one %s, got %s%s (run 'tessel %s --help')\n",
                 command->name, operandName(*command).c_str(), got.c_str(),
                 args.size() > 1 ? "; quote a value that has spaces" : "", command->name);
    return 2;
  }
  return command->run(args);
}
