//===- Help.cpp - the tessel CLI's commands and their help pages ----------===//
//
// Examples are shell lines run from the repository root; they may use files
// in the repository (examples/, tests/data/) and files an earlier example of
// the same page writes into the current directory. tests/cli/check_help.sh
// runs them all, so keep each one fast (well under 5 s) and free of pipes
// into head (SIGPIPE fails them under pipefail).
//
//===----------------------------------------------------------------------===//
#include "tools/tessel/Help.h"

#include <algorithm>
#include <sstream>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "tools/tessel/Commands.h"

namespace tessel::cli {
namespace {

constexpr size_t kWidth = 80;

// Appended to the description of every command that takes a MODEL.
constexpr char kModelParagraph[] =
    "MODEL is a .gguf file, a llama2.c .bin (with tokenizer.bin or tok*.bin beside it), a "
    "Hugging Face directory (config.json, *.safetensors, tokenizer.json) or a model "
    "description .json (random weights and no tokenizer; docs/MODEL_DESCRIPTION.md, one per "
    "architecture in examples/models/).";

const std::vector<Command> &table() {
  static const std::vector<Command> kCommands = {
      {"run",
       runRun,
       "compile a model and generate text (or token ids) after a prompt",
       {"run MODEL (--prompt TEXT | --prompt_ids IDS) [flags]",
        "run DIR (--prompt TEXT | --prompt_ids IDS) [flags]"},
       "Compiles MODEL for this CPU, prefills the prompt and generates up to -n tokens on a KV "
       "cache, stopping early at the end-of-sequence token or when the cache is full "
       "(--context). stdout carries only the continuation, streamed as it is produced (with "
       "--print_token_ids: the generated ids); load, compile, prefill and decode statistics go "
       "to stderr.\n\n"
       "--prompt is tokenized with the model's tokenizer and BOS is prepended. A model "
       "description .json has no tokenizer: give --prompt_ids with --print_token_ids, or write "
       "it as a GGUF first ('tessel mkmodel DESC.json -o model.gguf' adds a byte-level "
       "vocabulary).\n\n"
       "Compiled code is kept in a cache keyed by the model's IR, --context, the CPU and the "
       "Tessel build ($TESSEL_CACHE_DIR, else $XDG_CACHE_HOME/tessel or ~/.cache/tessel); "
       "stderr says whether it was a cache hit. --no_cache or TESSEL_CACHE=0 compiles with the "
       "JIT only. DIR is a package 'tessel compile MODEL -o DIR' wrote: nothing is compiled, and "
       "the weights come from the model file its manifest names (or a copy of it inside DIR).\n\n"
       "--device cuda runs MODEL on an NVIDIA GPU instead: the CUDA pipeline's PTX (for "
       "--gpu_arch) is loaded through the driver library, found at run time (libcuda.so.1, or "
       "$TESSEL_CUDA_DRIVER), the weights are uploaded once and the KV cache stays on the "
       "device. Without a GPU it fails with the driver's message.",
       {"prompt", "prompt_ids", "n", "temp", "top_k", "top_p", "seed", "print_token_ids", "context",
        "attention", "activations", "no_cache",
        // Looking inside a run: the profiler (--profile, --trace) and the
        // attention map (--attention_map, written to --out). Their examples
        // go at the end of the examples below.
        "profile", "trace", "attention_map", "out", "quantize", "mmap",
        // On an NVIDIA GPU (--device cuda): no example, as most machines
        // running the examples have none.
        "device", "gpu_arch"},
       {
           "# Random weights from a description: no tokenizer, so ids in and ids out:",
           "tessel run examples/models/tiny-llama.json --prompt_ids \"1 15 27 3\" -n 8 "
           "--print_token_ids",
           "# A GGUF that mkmodel writes has a small vocabulary, so text works:",
           "tessel mkmodel examples/models/tiny-llama.json -o tiny.gguf",
           "tessel run tiny.gguf --prompt \"Once upon a time\" -n 16 --temp 0.8 --top_k 40",
           "# Compile ahead of time, then run the package (nothing is compiled):",
           "tessel compile tiny.gguf -o tiny.aot",
           "tessel run tiny.aot --prompt \"Once upon a time\" -n 16",
           "# What layer 1 attends to over the prompt and the continuation, as an image:",
           "tessel run tiny.gguf --prompt \"Once upon a time\" -n 8 --attention_map "
           "layer=1,head=mean --out map.png",
           "tessel run tiny.gguf --prompt \"Once upon a time\" -n 8 --attention_map "
           "layer=0,head=2 --out map.csv",
           "# Time per op and kernel for prefill and decode, and a Chrome trace:",
           "tessel run tiny.gguf --prompt \"Once upon a time\" -n 8 --profile --trace trace.json",
       }},
      {"compile",
       runCompile,
       "compile ahead of time, or print the IR at any pipeline stage",
       {"compile MODEL -o DIR [--context C] [--attention kernel|loops]",
        "compile MODEL [--emit=STAGE] [-o FILE] [--debug_info] [IR printing flags]",
        "compile MODEL --device cuda [--gpu_arch sm_80|sm_90] --emit=STAGE [-o FILE]"},
       "With -o DIR (and no --emit, or --emit=lib) compiles ahead of time: DIR/model.so holds "
       "native code for this CPU, DIR/manifest.json the entry points, the CPU, the Tessel build "
       "and the model file. 'tessel run DIR' loads them and compiles nothing.\n\n"
       "With --emit=STAGE prints the model at one stage of the CPU pipeline, to stdout or "
       "-o FILE:\n\n"
       "  tessel  the model in the tessel dialect (the default without -o)\n"
       "  tiled   attention as a kernel call or FlashAttention loops, einsums lowered\n"
       "  linalg  linear layers and FFNs as kernel calls (fused), the rest in linalg\n"
       "  kernel  bufferized: loops around the kernel calls, with the memory plan\n"
       "  llvm    the LLVM dialect\n"
       "  ir      LLVM IR\n"
       "  asm     assembly for this CPU\n\n"
       "MLIR stages parse in tessel-opt. --print_ir_after_all, --print_ir_before=PASS and "
       "--print_ir_after=PASS print IR to stderr as mlir-opt does; --dump_ir_dir DIR writes the "
       "IR after every pass to a numbered file; --pass_pipeline replaces the CPU pipeline.\n\n"
       "With --device cuda the stages are those of the CUDA pipeline (no GPU is needed to "
       "compile):\n\n"
       "  tiled   attention as FlashAttention and split-KV decode GPU kernels\n"
       "  linalg  every other op in linalg on tensors\n"
       "  gpu     bufferized, each op a kernel in a gpu.module, buffers on the device\n"
       "  nvvm    kernels in NVVM, serialised to PTX for --gpu_arch\n"
       "  ptx     the PTX itself (ptxas accepts it)\n"
       "  llvm    the host code, launching the kernels through the CUDA runtime\n"
       "  ir, asm the host code as LLVM IR or assembly",
       {"o", "emit", "context", "attention", "activations", "quantize", "debug_info",
        "print_ir_after_all", "print_ir_before", "print_ir_after", "dump_ir_dir", "pass_pipeline",
        "device", "gpu_arch"},
       {"tessel compile examples/models/tiny-llama.json --emit=tessel --debug_info -o tiny.mlir",
        "tessel compile examples/models/tiny-llama.json --emit=llvm --dump_ir_dir passes -o "
        "tiny.llvm.mlir",
        "tessel compile examples/models/tiny-llama.json --emit=asm --attention loops -o tiny.s",
        "tessel compile examples/models/tiny-llama.json -o tiny.aot --context 256",
        "tessel compile examples/models/tiny-llama.json --device cuda --gpu_arch sm_90 --emit=ptx "
        "-o tiny.ptx",
        "tessel run tiny.aot --prompt_ids \"1 15 27 3\" -n 8 --print_token_ids"}},
      {"inspect",
       runInspect,
       "parameters, KV cache, FLOPs, pipeline and memory plan of a model",
       {"inspect MODEL [--json] [--tokens N] [--context C]"},
       "Prints the architecture and config, the parameters (and, for mixtures of experts, those "
       "active per token), weight bytes per type, KV cache bytes per token, approximate FLOPs "
       "and weight bytes read per token for decode and for a prefill of --tokens tokens, the CPU "
       "pass pipeline and the memory plan of the compiled @step. Nothing is run.",
       {"json", "tokens", "context"},
       {"tessel inspect examples/models/tiny-mixtral.json",
        "tessel inspect examples/models/tiny-llama.json --json --tokens 128"}},
      {"mkmodel",
       runMkmodel,
       "a random-weight model (GGUF or Hugging Face) from a description",
       {"mkmodel DESCRIPTION.json -o OUT [--format gguf|safetensors] [--dtype T] [--seed S]"},
       "Writes the model a description (docs/MODEL_DESCRIPTION.md; one per architecture in "
       "examples/models/) describes, with random weights: a GGUF file llama.cpp loads "
       "(--format gguf, the default) or a Hugging Face directory with config.json and "
       "safetensors (--format safetensors). A GGUF gets a small byte-level vocabulary, so "
       "--prompt and --text work on it, unless --vocab_from copies the tokenizer of a GGUF "
       "with the same vocabulary size. --dtype converts or quantizes the weights; without "
       "--seed the description's seed is kept, so '--dtype q8_0' writes the quantized twin of "
       "the plain model.",
       {"o", "format", "dtype", "seed", "vocab_from"},
       {"tessel mkmodel examples/models/tiny-llama.json -o tiny.gguf",
        "tessel mkmodel examples/models/tiny-mixtral.json -o mixtral-q8_0.gguf --dtype q8_0",
        "tessel mkmodel examples/models/tiny-qwen2.json --format safetensors -o tiny-qwen2",
        "tessel mkmodel examples/models/tiny-llama.json --seed 7 --vocab_from tiny.gguf -o "
        "tiny-seed7.gguf"}},
      {"tokenize",
       runTokenize,
       "text to token ids and back with a model's tokenizer",
       {"tokenize MODEL_OR_VOCAB (--text TEXT | --file FILE | --decode IDS) [--bos]"},
       "Runs a model's tokenizer (SentencePiece-style BPE, byte-level BPE or a Hugging Face "
       "tokenizer.json) and prints the ids, space-separated, on one line; with --decode, the "
       "text. MODEL_OR_VOCAB is a .gguf (a model or a vocabulary-only file), a llama2.c model "
       ".bin (its tokenizer.bin or tok*.bin beside it) or a tokenizer.bin, a tokenizer.json, or "
       "a Hugging Face model directory.",
       {"text", "file", "decode", "bos"},
       {"tessel mkmodel examples/models/tiny-llama.json -o tiny.gguf",
        "tessel tokenize tiny.gguf --text \"Once upon a time\" --bos",
        "tessel tokenize tiny.gguf --decode \"82 113 102 104\"",
        "tessel tokenize tiny.gguf --file examples/models/tiny-llama.json"}},
      {"bench",
       runBench,
       "prefill and decode speed against this machine's rooflines",
       {"bench MODEL [-p N] [-n N] [-t T] [--reps R] [--json] [--compile]",
        "bench --gemm M,N,K [-t T] [--reps R] [--json]"},
       "Times, as llama-bench does, one prefill of -p tokens (pp N) and -n decode steps of one "
       "token after it (tg N), each the median of --reps runs after a warm-up run, with a "
       "fixed random prompt and greedy decoding. It measures this machine's read bandwidth "
       "and FMA peak and reports each speed beside its roofline: decode is bounded by "
       "bandwidth / bytes read per token (the active weights in the file's types plus the KV "
       "cache), prefill by FMA peak / FLOPs per token. --compile also times a cold compile "
       "into an empty cache and a load from it.\n\n"
       "With --gemm M,N,K and no MODEL it times the f32 GEMM kernel alone (C[M,N] = A[M,K] "
       "W[N,K]^T) on one thread and on -t threads, against one core's measured FMA peak.",
       {"p", "n", "t", "reps", "json", "compile", "attention", "activations", "quantize", "mmap",
        "gemm"},
       {"tessel bench examples/models/tiny-llama.json -p 16 -n 8 --reps 1",
        "tessel bench --gemm 256,256,256 --reps 2",
        "tessel bench examples/models/tiny-llama.json -p 16 -n 8 --reps 1 --quantize q8_0",
        "tessel bench examples/models/tiny-llama.json -p 16 -n 8 --reps 1 --mmap",
        "tessel bench examples/models/tiny-mixtral.json -p 32 -n 4 -t 1 --json"}},
      {"logits",
       runLogits,
       "teacher-forced logits at every position of a token sequence",
       {"logits MODEL (--ids_file FILE | --text TEXT) [--out FILE] [--summary]"},
       "Evaluates the whole sequence in one call of the compiled @forward. --out writes the "
       "logits at every position as little-endian float32 [tokens x vocab], row-major, nothing "
       "else (row i predicts the token after tokens 0..i); --summary prints per position the "
       "token, the argmax, its logit and the margin to the second best. One of the two is "
       "needed.\n\n"
       "--ids_file holds ids separated by whitespace or commas, used as given (no BOS); --text "
       "is tokenized with the model's tokenizer and BOS is prepended, as 'tessel run --prompt' "
       "does.",
       {"ids_file", "text", "out", "summary", "attention", "activations", "no_cache", "quantize"},
       {"tessel mkmodel examples/models/tiny-llama.json -o tiny.gguf",
        "tessel logits tiny.gguf --text \"Once upon a time\" --summary",
        "tessel tokenize tiny.gguf --text \"Once upon a time\" --bos > ids.txt",
        "tessel logits examples/models/tiny-llama.json --ids_file ids.txt --out logits.f32"}},
      {"perplexity",
       runPerplexity,
       "perplexity as llama.cpp computes it; KL divergence against a base",
       {"perplexity MODEL --file TEXT [--ctx N] [--chunks N] [--save_logits FILE]",
        "perplexity MODEL --kl_base FILE [--file TEXT] [--chunks N]"},
       "Tokenizes the file (BOS first if the tokenizer has one, less one trailing newline), cuts "
       "the tokens into windows of --ctx tokens, evaluates each from position 0 with its first "
       "token replaced by BOS and scores its second half, as llama.cpp's llama-perplexity does. "
       "stdout shows the running perplexity after each window, then 'Final estimate: PPL = P "
       "+/- U'.\n\n"
       "--save_logits keeps the scored logits (the format is in runtime/Quality.h). --kl_base "
       "evaluates the tokens and windows such a file holds and reports KL(base || model) "
       "(mean, median, 99th percentile, maximum), how often both models pick the same top-1 "
       "token and PPL(model) - PPL(base): what quantization (mkmodel --dtype) costs.",
       {"file", "ctx", "chunks", "save_logits", "kl_base", "attention", "activations", "no_cache",
        "quantize"},
       {"tessel mkmodel examples/models/tiny-llama.json -o tiny.gguf",
        "tessel perplexity tiny.gguf --file tests/data/perplexity.txt --ctx 128 --chunks 4 "
        "--save_logits tiny.logits",
        "tessel mkmodel examples/models/tiny-llama.json -o tiny-q8_0.gguf --dtype q8_0",
        "tessel perplexity tiny-q8_0.gguf --kl_base tiny.logits"}},
      {"eval",
       runEval,
       "run an MLIR function with the reference evaluator or compiled, and compare",
       {"eval FILE.mlir [--entry FUNCTION] [--seed S] [--values N]",
        "eval FILE.mlir --compiled [--device cpu|cuda] [--compare [--tolerance T]] [--reps N]",
        "eval FILE.mlir [--inputs DIR] [--outputs DIR] [--json]"},
       "Parses and verifies FILE.mlir, runs @main (or --entry) with the reference evaluator "
       "(plain C++ with f64 accumulation: the oracle compiled code is tested against) and "
       "prints each result's shape, mean, standard deviation, range and first values. The "
       "inputs are made up from --seed: f32 tensors uniform in +-sqrt(3/fan_in), rank-1 "
       "tensors (norm weights, biases) near 1, integer [batch, seq] tensors counting "
       "0..seq-1, masks all true.\n\n"
       "--compiled runs the function compiled instead, through the pipeline of --device: the "
       "CPU pipeline's JIT (--attention picks the kernel or the loops), or with --device cuda "
       "the CUDA pipeline's code on an NVIDIA GPU (always compiled: there is no reference "
       "evaluator on the GPU; without a GPU it fails with the driver's message). --compare "
       "also runs the reference on the same inputs and prints 'max |compiled - reference| = X "
       "(tolerance T): ok' or FAIL, exiting 1 on FAIL. The first compiled call warms up; "
       "--reps more are timed (on CUDA including the device sync; the inputs are uploaded "
       "once) and their median, minimum and mean printed.\n\n"
       "--inputs DIR reads argument N from DIR/argN.npy instead (float32, int64 or bool as "
       "numpy.save writes them, C order, the argument's shape; a dynamic dimension takes any "
       "extent). --outputs DIR writes result N to DIR/resultN.npy and the inputs used to "
       "DIR/argN.npy (so '--inputs DIR' repeats the run), for a script to check the results "
       "against another implementation. --json prints one JSON object: the "
       "results' summaries, the comparison and the per-call times in milliseconds.",
       {"entry", "seed", "values", "compiled", "device", "gpu_arch", "attention", "compare",
        "tolerance", "reps", "inputs", "outputs", "json"},
       {"tessel eval examples/llama_decoder_block.mlir",
        "tessel eval examples/gqa_attention.mlir --seed 3 --values 8",
        "tessel eval examples/moe_deepseek.mlir --entry main --seed 1",
        "# The same function compiled for this CPU, checked against the reference:",
        "tessel eval examples/gqa_attention.mlir --compiled --compare",
        "# Inputs and results as .npy files (gqa/argN.npy, gqa/resultN.npy), and back in:",
        "tessel eval examples/gqa_attention.mlir --seed 3 --outputs gqa",
        "tessel eval examples/gqa_attention.mlir --inputs gqa --compiled --compare",
        "# Time 5 calls of the compiled function, as JSON:",
        "tessel eval examples/sliding_window.mlir --compiled --reps 5 --json"}},
  };
  return kCommands;
}

// Words of `text` filled into lines of at most kWidth columns, each line
// starting with `indent` spaces. Paragraphs are separated by blank lines; a
// paragraph that starts with a space is preformatted and kept as it is.
std::string wrap(const std::string &text, size_t indent) {
  std::string out;
  const std::string pad(indent, ' ');
  for (absl::string_view paragraph : absl::StrSplit(text, "\n\n")) {
    if (!out.empty())
      out += "\n";
    if (!paragraph.empty() && paragraph[0] == ' ') {
      for (absl::string_view line : absl::StrSplit(paragraph, '\n'))
        out += pad + std::string(line) + "\n";
      continue;
    }
    std::string line;
    for (absl::string_view word : absl::StrSplit(paragraph, ' ', absl::SkipEmpty())) {
      if (!line.empty() && indent + line.size() + 1 + word.size() > kWidth) {
        out += pad + line + "\n";
        line.clear();
      }
      line += (line.empty() ? "" : " ") + std::string(word);
    }
    if (!line.empty())
      out += pad + line + "\n";
  }
  return out;
}

// Flags several commands read say what each does with them:
// "eval: seed for inputs; mkmodel: weight seed; run: sampling seed", or
// "compile --emit=STAGE: print ...". This returns the parts for `command`
// (a qualifier such as "--emit=STAGE" kept as "with --emit=STAGE: ..."),
// else the whole text.
std::string helpFor(const std::string &help, const std::string &command) {
  struct Part {
    std::vector<std::string> commands;
    std::string text;
  };
  std::vector<Part> parts;
  for (absl::string_view piece : absl::StrSplit(help, "; ")) {
    size_t colon = piece.find(": ");
    bool prefixed = colon != absl::string_view::npos;
    std::vector<std::string> names;
    std::string qualifier;
    if (prefixed) {
      // Command names (lower-case words, one of them a command here, in case
      // another is not yet), the last perhaps with a qualifier.
      bool known = false;
      for (absl::string_view item : absl::StrSplit(piece.substr(0, colon), ", ")) {
        std::vector<std::string> words = absl::StrSplit(item, absl::MaxSplits(' ', 1));
        if (words[0].empty() || !qualifier.empty() ||
            !std::all_of(words[0].begin(), words[0].end(),
                         [](char c) { return c >= 'a' && c <= 'z'; })) {
          prefixed = false;
          break;
        }
        known |= findCommand(words[0]) != nullptr;
        names.push_back(words[0]);
        if (words.size() > 1)
          qualifier = words[1];
      }
      prefixed &= known;
    }
    if (prefixed) {
      std::string text(piece.substr(colon + 2));
      parts.push_back({names, qualifier.empty() ? text : "with " + qualifier + ": " + text});
    } else if (!parts.empty()) {
      parts.back().text += "; " + std::string(piece); // a "; " inside one command's text
    } else {
      parts.push_back({{}, std::string(piece)});
    }
  }
  std::vector<std::string> mine;
  for (const Part &p : parts)
    if (std::find(p.commands.begin(), p.commands.end(), command) != p.commands.end())
      mine.push_back(p.text);
  return mine.empty() ? help : absl::StrJoin(mine, "; ");
}

std::string describeFlag(const std::string &name, const std::string &command) {
  const std::string spelled = (name.size() == 1 ? "-" : "--") + name;
  const absl::CommandLineFlag *flag = absl::FindCommandLineFlag(name);
  if (!flag)
    return "  " + spelled + "\n      (not a flag of this build of tessel)\n";
  std::string help = helpFor(flag->Help(), command);
  std::string line = "  " + spelled;
  const std::string value = flag->DefaultValue();
  // A default the help text explains, an empty string or an off switch goes
  // without saying.
  if (help.find("default") == std::string::npos && !value.empty() &&
      !(flag->IsOfType<bool>() && value == "false"))
    line += " (default: " + value + ")";
  return line + "\n" + wrap(help, 6);
}

} // namespace

const std::vector<Command> &commands() { return table(); }

const Command *findCommand(std::string_view name) {
  for (const Command &c : table())
    if (name == c.name)
      return &c;
  return nullptr;
}

std::string commandList() {
  std::vector<std::string> names;
  for (const Command &c : table())
    names.push_back(c.name);
  return absl::StrJoin(names, ", ");
}

std::string overviewHelp() {
  std::ostringstream os;
  os << "tessel: compile and run transformer models\n\n"
     << "Usage: tessel COMMAND [flags] ARGS\n\nCommands:\n";
  for (const Command &c : table()) {
    std::string name = c.name;
    os << "  " << name << std::string(12 - name.size(), ' ') << c.summary << "\n";
  }
  os << "\n"
     << wrap(std::string(kModelParagraph) +
                 "\n\nFlags may be spelled with dashes or underscores (--print-token-ids) and "
                 "come before or after the arguments. Run 'tessel help COMMAND' or 'tessel "
                 "COMMAND --help' for a command's flags and examples; 'tessel --helpfull' lists "
                 "every flag.\n\n"
                 "Environment: TESSEL_CACHE=0 turns the compile cache off, TESSEL_CACHE_DIR "
                 "moves it; TESSEL_PROGRESS=1 draws progress bars for long loads and compiles "
                 "on stderr even when it is not a terminal, TESSEL_PROGRESS=0 never (by "
                 "default: on a terminal, after 0.3 s).\n\n"
                 "The examples on the help pages run from the repository root.",
             0)
     << "\nExamples:\n"
     << "  tessel run examples/models/tiny-llama.json --prompt_ids \"1 15 27 3\" -n 8 "
        "--print_token_ids\n"
     << "  tessel help run\n";
  return os.str();
}

std::string commandHelp(const Command &command) {
  std::ostringstream os;
  os << "tessel " << command.name << ": " << command.summary << "\n\nUsage:\n";
  for (const char *synopsis : command.synopses)
    os << "  tessel " << synopsis << "\n";
  std::string description = command.description;
  bool takesModel = false;
  for (const char *synopsis : command.synopses)
    takesModel |= std::string(synopsis).find(" MODEL") != std::string::npos;
  if (takesModel)
    description += std::string("\n\n") + kModelParagraph;
  os << "\n" << wrap(description, 0) << "\nFlags:\n";
  for (const char *flag : command.flags)
    os << describeFlag(flag, command.name);
  os << "\nExamples:\n";
  for (const char *example : command.examples)
    os << "  " << example << "\n";
  return os.str();
}

} // namespace tessel::cli
