//===- main.cpp - the tessel command-line tool ----------------------------===//
//
// `tessel <command> [flags] ARGS`. Flags are absl flags shared by commands;
// each command reads the ones it needs.
//
//===----------------------------------------------------------------------===//
#include <algorithm>
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
  run MODEL (--prompt TEXT | --prompt_ids IDS) [-n N] [--temp T] [--top_k K]
            [--top_p P] [--seed S] [--context C] [--print_token_ids] [--no_cache]
            [--attention kernel|loops]
                   Compile the model and generate; stdout carries only the
                   continuation, statistics go to stderr. Compiled code is
                   kept in a cache (TESSEL_CACHE_DIR, default ~/.cache/tessel;
                   --no_cache or TESSEL_CACHE=0: JIT only) keyed by the model's
                   IR, --context, the CPU and the Tessel build.
  run DIR ...      Run a model compiled with `compile MODEL -o DIR`: no
                   compiler runs; the weights come from the model file
                   DIR/manifest.json names (or a copy of it inside DIR).
  compile MODEL -o DIR [--context C] [--attention kernel|loops]
                   Compile ahead of time: DIR/model.so (a shared library for
                   this CPU) + DIR/manifest.json (entry points, CPU, model).
  compile MODEL --emit=STAGE [-o FILE]
                   Print the IR at a stage: tessel (the default without -o),
                   tiled, linalg, kernel, llvm, ir (LLVM IR), asm;
                   --debug_info for locations. --print_ir_after_all,
                   --print_ir_before=PASS, --print_ir_after=PASS print IR
                   to stderr as mlir-opt does; --dump_ir_dir DIR writes
                   DIR/NN-<pass>.mlir after each pass; --pass_pipeline=TEXT
                   replaces the CPU pipeline (a builtin.module(...) run
                   after tessel-weights-to-arguments; for llvm, ir, asm it
                   must end in the LLVM dialect).
  inspect MODEL [--json] [--tokens N]
                   Architecture, parameters, weight bytes per type, KV cache
                   bytes per token, approximate FLOPs and weight bytes per
                   token (decode, and prefill of N tokens, default 512), the
                   pass pipeline and the memory plan of the compiled @step.
  mkmodel DESC.json -o OUT
                   Write a random-weight model as GGUF (--format=gguf, default)
                   or a Hugging Face directory (--format=safetensors);
                   --dtype, --seed, --vocab_from override the description.
  tokenize MODEL_OR_VOCAB (--text T | --file F | --decode IDS)
                   Encode text to token ids (space-separated; --bos prepends
                   BOS) or decode ids to text, with the model's tokenizer.
  logits MODEL (--ids_file F | --text T) [--out FILE] [--summary]
                   Evaluate the whole sequence teacher-forced (one prefill)
                   and write the logits at every position to FILE as
                   little-endian float32 [tokens x vocab], row-major.
                   --ids_file: whitespace-separated ids, used as given (no
                   BOS); --text: tokenized, BOS prepended as run --prompt
                   does. --summary prints per position the token, the argmax,
                   its logit and the margin to the second best.
  perplexity MODEL --file TEXT [--ctx N] [--chunks N] [--save_logits F]
                   Perplexity as llama.cpp's llama-perplexity computes it:
                   the tokens (BOS first, if the tokenizer has one) cut into
                   windows of N (default: the model's context length, at
                   most 512), each evaluated with its first token replaced
                   by BOS and its second half scored; prints the running
                   PPL and "Final estimate: PPL = P +/- U".
                   --save_logits F keeps the scored logits (format in
                   runtime/Quality.h).
  perplexity MODEL --kl_base F [--file TEXT]
                   Compare with the logits another model saved to F (same
                   tokens and windows): KL divergence (mean, median, 99%,
                   max), top-1 agreement, PPL(model) - PPL(base).
  eval FILE.mlir   Run @main (or --entry) with the reference evaluator on
                   generated inputs and print a summary of every result.

MODEL is a .gguf, a llama2.c .bin, a Hugging Face directory or a model
description .json.

Examples:
  tessel run model.gguf --prompt "Once upon a time" -n 64 --temp 0
  tessel compile model.gguf -o model.aot && tessel run model.aot --prompt "Once" -n 64
  tessel compile model.gguf --emit=tessel
  tessel compile model.gguf --emit=kernel --print_ir_after=tessel-plan-memory
  tessel inspect model.gguf --json
  tessel compile examples/models/tiny-llama.json --emit=tessel
  tessel mkmodel examples/models/tiny-mixtral.json -o mixtral.gguf --dtype q8_0
  tessel tokenize model.gguf --text "Once upon a time"
  tessel logits model.gguf --text "Once upon a time" --out logits.f32 --summary
  tessel perplexity model.gguf --file story.txt --ctx 128
  tessel perplexity model.gguf --file story.txt --save_logits base.logits &&
    tessel perplexity model-q8_0.gguf --kl_base base.logits
  tessel eval examples/llama_decoder_block.mlir
  tessel eval examples/gqa_attention.mlir --seed 3 --values 8

Flags may be spelled with dashes or underscores (--print-token-ids).
Run 'tessel --helpfull' for every flag.)";

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

} // namespace

int main(int argc, char **argv) {
  absl::SetProgramUsageMessage(kUsage);
  std::vector<std::string> normalized = normalizeFlagNames(argc, argv);
  std::vector<char *> pointers;
  for (std::string &a : normalized)
    pointers.push_back(a.data());
  std::vector<char *> positional =
      absl::ParseCommandLine(static_cast<int>(pointers.size()), pointers.data());
  if (positional.size() < 2) {
    std::fprintf(stderr, "%s\n", kUsage);
    return 2;
  }
  std::string command = positional[1];
  std::vector<std::string> args(positional.begin() + 2, positional.end());
  if (command == "eval")
    return tessel::cli::runEval(args);
  if (command == "compile")
    return tessel::cli::runCompile(args);
  if (command == "inspect")
    return tessel::cli::runInspect(args);
  if (command == "mkmodel")
    return tessel::cli::runMkmodel(args);
  if (command == "tokenize")
    return tessel::cli::runTokenize(args);
  if (command == "run")
    return tessel::cli::runRun(args);
  if (command == "logits")
    return tessel::cli::runLogits(args);
  if (command == "perplexity")
    return tessel::cli::runPerplexity(args);
  std::fprintf(stderr,
               "tessel: unknown command '%s'; commands: run, compile, inspect, mkmodel, tokenize, logits, "
               "perplexity, eval. Try "
               "'tessel --help'.\n",
               command.c_str());
  return 2;
}
