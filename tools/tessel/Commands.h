//===- Commands.h - the tessel CLI's subcommands ----------------*- C++ -*-===//
#ifndef TESSEL_TOOLS_TESSEL_COMMANDS_H
#define TESSEL_TOOLS_TESSEL_COMMANDS_H

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tessel::frontends {
class Tokenizer;
struct LoadedModel;
} // namespace tessel::frontends

namespace tessel::runtime {
class Evaluator;
} // namespace tessel::runtime

namespace tessel::cli {

/// `tessel eval FILE.mlir`: runs a function with the reference evaluator on
/// generated inputs and prints a summary of each result. Returns the exit code.
int runEval(const std::vector<std::string> &args);

/// `tessel compile MODEL --emit=tessel`: the model's IR.
int runCompile(const std::vector<std::string> &args);

/// `tessel inspect MODEL [--json] [--tokens N]`: architecture, parameters,
/// weight bytes per type, KV cache per token, FLOPs estimates, the pass
/// pipeline and the memory plan of the compiled @step.
int runInspect(const std::vector<std::string> &args);

/// `tessel mkmodel DESCRIPTION.json -o OUT`: a random-weight model file.
int runMkmodel(const std::vector<std::string> &args);

/// `tessel tokenize MODEL_OR_VOCAB --text T | --file F | --decode IDS`.
int runTokenize(const std::vector<std::string> &args);

/// `tessel run MODEL --prompt TEXT -n N`: compile and generate.
int runRun(const std::vector<std::string> &args);

/// `tessel bench MODEL -p N -n N [-t T] [--json] [--compile]`: prefill and
/// decode tokens/s against the measured bandwidth and FMA rooflines.
int runBench(const std::vector<std::string> &args);

/// `tessel logits MODEL (--ids_file F | --text T) [--out FILE] [--summary]`:
/// teacher-forced logits at every position.
int runLogits(const std::vector<std::string> &args);

/// `tessel perplexity MODEL --file TEXT [--ctx N] [--save_logits F | --kl_base F]`.
int runPerplexity(const std::vector<std::string> &args);

/// The tokenizer a loaded model comes with (GGUF metadata, the llama2.c
/// tokenizer.bin beside it, or tokenizer.json); an error naming the model
/// when it has none.
absl::StatusOr<std::unique_ptr<frontends::Tokenizer>>
modelTokenizer(const frontends::LoadedModel &model);

/// An Evaluator (teacher-forced @forward, or with `attentionLayer` >= 0
/// that layer's @attention_probs) for `context` tokens, compiled as the
/// flags ask (--attention, --no_cache); a compile-cache note, if any, is
/// printed on stderr under `command`'s name.
absl::StatusOr<std::unique_ptr<runtime::Evaluator>>
evaluatorFromFlags(frontends::LoadedModel model, int64_t context, const char *command,
                   int64_t attentionLayer = -1);

} // namespace tessel::cli

#endif // TESSEL_TOOLS_TESSEL_COMMANDS_H
