//===- Flags.cpp - flags shared by the tessel subcommands -----------------===//
#include "tools/tessel/Flags.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "frontends/WeightTypes.h"
#include "runtime/Weights.h"

ABSL_FLAG(std::string, entry, "main", "eval: function to run");
ABSL_FLAG(int64_t, seed, -1,
          "eval: seed for generated inputs (default 0); mkmodel: weight seed (default: the "
          "description's); run: sampling seed (default 0)");
ABSL_FLAG(int, values, 4, "eval: how many leading values of each result to print");
ABSL_FLAG(std::string, emit, "",
          "compile: lib (a shared library + manifest.json in the directory -o names; the default "
          "with -o) or a stage to print: tessel (the default without -o), tiled (flash attention "
          "loops), linalg (kernel calls + linalg on tensors), kernel (bufferized loops around "
          "kernel calls), llvm, ir (LLVM IR), asm");
ABSL_FLAG(std::string, o, "",
          "compile: output directory for --emit=lib, output file for a stage (default stdout); "
          "mkmodel: output path");
ABSL_FLAG(bool, debug_info, false, "compile: print locations (model file, layer, tensor)");
ABSL_FLAG(std::string, format, "gguf", "mkmodel: gguf (a file) or safetensors (a directory)");
ABSL_FLAG(std::string, dtype, "",
          "mkmodel: weight type f32, f16, bf16, q8_0, q4_0 (default: the description's)");
ABSL_FLAG(std::string, vocab_from, "", "mkmodel: copy the tokenizer from this GGUF");
ABSL_FLAG(std::string, text, "",
          "tokenize: the text to encode; logits: the text to evaluate (BOS is prepended)");
ABSL_FLAG(std::string, file, "",
          "tokenize: encode this file's contents; perplexity: the text to score");
ABSL_FLAG(std::string, decode, "", "tokenize: token ids (space or comma separated) to decode");
ABSL_FLAG(bool, bos, false, "tokenize: prepend the BOS token");
ABSL_FLAG(std::string, prompt, "", "run: the prompt text (BOS is prepended)");
ABSL_FLAG(std::string, prompt_ids, "",
          "run: the prompt as token ids (for models without a tokenizer)");
ABSL_FLAG(int, n, 32, "run: how many tokens to generate; bench: decode steps (tg N)");
ABSL_FLAG(int64_t, p, 128, "bench: prompt tokens to prefill (pp N)");
ABSL_FLAG(int64_t, t, 0, "bench: threads for the kernels (0: TESSEL_NUM_THREADS or one per core)");
ABSL_FLAG(int64_t, reps, 3,
          "bench: timed runs (the median is reported) after one warm-up run; eval --compiled: "
          "time this many calls of the compiled function after the first (0: none), CUDA calls "
          "with the device sync");
ABSL_FLAG(std::string, gemm, "",
          "bench: M,N,K: time the f32 GEMM kernel alone (no MODEL) on 1 thread and on -t "
          "threads, against the measured FMA peak");
ABSL_FLAG(std::string, quantize, "",
          "run, compile, bench, logits, perplexity: convert the f32/f16 matrices of linear layers "
          "and gated FFNs to bf16, q8_0 or q4_0 at load; the kernels then read them in that form "
          "(f16: the GPU's tensor cores read it, the CPU reads it as f32)");
ABSL_FLAG(bool, mmap, false,
          "run, bench: use the weights in place in the mapped model file instead of a copy on "
          "2 MiB pages: loads faster and takes no memory beyond the page cache, decodes slower "
          "(4 KiB pages: more TLB misses, shorter hardware prefetch streams)");
ABSL_FLAG(bool, compile, false,
          "bench: also time a cold compile into an empty cache and a load from it");
ABSL_FLAG(double, temp, 0.0, "run: sampling temperature; 0 = greedy");
ABSL_FLAG(int64_t, top_k, 0, "run: sample among the k most likely tokens (0 = all)");
ABSL_FLAG(double, top_p, 1.0, "run: nucleus sampling mass");
ABSL_FLAG(std::string, device, "cpu",
          "run, compile: where the model runs: cpu (this CPU, Highway kernels) or cuda (an "
          "NVIDIA GPU through the driver library, loaded at run time); eval: cpu (the reference "
          "evaluator, or with --compiled the CPU pipeline's code) or cuda (the CUDA pipeline's "
          "code: always compiled)");
ABSL_FLAG(std::string, gpu_arch, "sm_80",
          "run, compile, eval --device cuda: the GPU architecture the PTX targets (sm_80 "
          "runs on A100 and later; sm_90 for H100/H200)");
ABSL_FLAG(std::string, attention, "kernel",
          "run, compile, logits, perplexity, eval --compiled: how compiled code computes "
          "attention: kernel (one call of the Highway flash-attention kernel: SIMD, threaded) "
          "or loops (the FlashAttention loops tessel-tile-attention generates)");
ABSL_FLAG(std::string, activations, "auto",
          "run, compile, bench, logits, perplexity: the inputs of the layers on stored "
          "weights, as llama.cpp rounds them: auto (inputs of q8_0 / q4_0 weights rounded to "
          "q8_0 per 32 values and multiplied in integers, AVX512-VNNI where the CPU has it; "
          "inputs of bf16 weights rounded to bf16, multiplied by vdpbf16ps where the CPU has "
          "AVX512_BF16), q8_0 (only the first), bf16 (only the second) or f32 (exact f32 inputs "
          "everywhere: slower)");
ABSL_FLAG(int64_t, context, 0,
          "run, compile, inspect: tokens the KV cache holds, prompt included (default: the "
          "model's context length; for run DIR, the one DIR was compiled for)");
ABSL_FLAG(bool, no_cache, false,
          "run, logits, perplexity: compile with the JIT and neither read nor write the compile "
          "cache (also "
          "TESSEL_CACHE=0; TESSEL_CACHE_DIR moves it, default $XDG_CACHE_HOME/tessel or "
          "~/.cache/tessel)");
ABSL_FLAG(bool, profile, false,
          "run: print, for prefill and decode separately, the time per op kind, the slowest ops "
          "by location and the time, GFLOP/s and GB/s per kernel, against the wall time of the "
          "model calls (stderr). Compiles with the JIT (no compile cache); for run DIR only "
          "kernels are timed");
ABSL_FLAG(std::string, trace, "",
          "run: write every op and kernel call and each prefill/decode call to this file in "
          "Chrome's trace-event format (chrome://tracing, ui.perfetto.dev); profiles as "
          "--profile does, with or without it");
ABSL_FLAG(bool, print_token_ids, false, "run: print the generated ids instead of text");
ABSL_FLAG(std::string, ids_file, "",
          "logits: a file of whitespace-separated token ids, evaluated as given (no BOS added)");
ABSL_FLAG(std::string, out, "",
          "logits: write the logits here, little-endian float32 [tokens x vocab], row-major; "
          "run --attention_map: the map's file (.png, .svg or .csv)");
ABSL_FLAG(std::string, attention_map, "",
          "run: after generating, draw what one layer attends to over all the run's tokens: "
          "layer=L,head=H or layer=L,head=mean (needs --out FILE.png|.svg|.csv)");
ABSL_FLAG(bool, summary, false,
          "logits: print each position's token, argmax, top logit and top-2 margin");
ABSL_FLAG(int64_t, ctx, 0,
          "perplexity: tokens per window (default: the model's context length, at most 512; "
          "with --kl_base, the base file's)");
ABSL_FLAG(int64_t, chunks, 0, "perplexity: score only the first N windows (0 = all)");
ABSL_FLAG(std::string, save_logits, "",
          "perplexity: write the scored positions' logits to this file (for --kl_base)");
ABSL_FLAG(std::string, kl_base, "",
          "perplexity: compare with a base model's logits saved by --save_logits (KL "
          "divergence, top-1 agreement, perplexity difference), on the base file's tokens");
ABSL_FLAG(bool, print_ir_after_all, false,
          "compile --emit=STAGE: print the IR after every pass to stderr (as mlir-opt's "
          "--mlir-print-ir-after-all)");
ABSL_FLAG(std::string, print_ir_before, "",
          "compile --emit=STAGE: print the IR before this pass (e.g. tessel-lower-mla) to stderr");
ABSL_FLAG(std::string, print_ir_after, "",
          "compile --emit=STAGE: print the IR after this pass (e.g. tessel-plan-memory) to stderr");
ABSL_FLAG(std::string, dump_ir_dir, "",
          "compile --emit=STAGE: write the IR after each pass to DIR/NN-<pass>.mlir, numbered in "
          "order (DIR is created)");
ABSL_FLAG(std::string, pass_pipeline, "",
          "compile --emit=STAGE: a builtin.module(...) pipeline run instead of the CPU pipeline, "
          "after tessel-weights-to-arguments; for --emit=llvm|ir|asm it must end in the LLVM "
          "dialect");
ABSL_FLAG(bool, json, false,
          "inspect, bench: print JSON instead of text; eval: print one JSON object (results, "
          "comparison, per-call times) instead of text");
ABSL_FLAG(int64_t, tokens, 512, "inspect: prompt length for the prefill estimates");
ABSL_FLAG(bool, compiled, false,
          "eval: run the function compiled through --device's pipeline (JIT) instead of the "
          "reference evaluator");
ABSL_FLAG(bool, compare, false,
          "eval: also run the reference evaluator on the same inputs and check that every "
          "result element of the compiled code is within --tolerance of it (exit 1 if not)");
ABSL_FLAG(double, tolerance, 1e-4,
          "eval --compare: the largest absolute difference allowed between compiled and "
          "reference results");
ABSL_FLAG(std::string, inputs, "",
          "eval: read argument N from DIR/argN.npy (numpy.save's format: float32, int64 or bool, "
          "C order, the argument's shape) instead of generating it");
ABSL_FLAG(std::string, outputs, "",
          "eval: write result N to DIR/resultN.npy and argument N (the inputs used) to "
          "DIR/argN.npy, which --inputs DIR reads back (DIR is created)");

namespace tessel::cli {

absl::StatusOr<codegen::CpuOptions> cpuOptionsFromFlags() {
  codegen::CpuOptions options;
  std::string attention = absl::GetFlag(FLAGS_attention);
  if (attention == "kernel")
    options.attentionKernel = true;
  else if (attention == "loops")
    options.attentionKernel = false;
  else
    return absl::InvalidArgumentError("--attention=" + attention + ": expected kernel or loops");
  std::string activations = absl::GetFlag(FLAGS_activations);
  if (activations != "auto" && activations != "q8_0" && activations != "bf16" &&
      activations != "f32")
    return absl::InvalidArgumentError("--activations=" + activations +
                                      ": expected auto, q8_0, bf16 or f32");
  options.q8Activations = activations == "auto" || activations == "q8_0";
  options.bf16Activations = activations == "auto" || activations == "bf16";
  return options;
}

absl::StatusOr<std::optional<codegen::GpuOptions>> gpuOptionsFromFlags() {
  const std::string device = absl::GetFlag(FLAGS_device);
  const std::string arch = absl::GetFlag(FLAGS_gpu_arch);
  if (device == "cpu") {
    if (arch != "sm_80")
      return absl::InvalidArgumentError("--gpu_arch=" + arch + " needs --device cuda");
    return std::optional<codegen::GpuOptions>();
  }
  if (device != "cuda")
    return absl::InvalidArgumentError("--device=" + device + ": expected cpu or cuda");
  // sm_XY with a compute capability the PTX ISA 8.0 covers (up to sm_90a).
  const bool known = arch.size() >= 5 && arch.rfind("sm_", 0) == 0 &&
                     std::all_of(arch.begin() + 3, arch.end(),
                                 [](char c) { return std::isdigit(c) || c == 'a'; }) &&
                     std::atoi(arch.c_str() + 3) >= 50 && std::atoi(arch.c_str() + 3) <= 90;
  if (!known)
    return absl::InvalidArgumentError("--gpu_arch=" + arch +
                                      ": expected sm_XY between sm_50 and sm_90a, e.g. sm_80 or "
                                      "sm_90");
  codegen::GpuOptions gpu;
  gpu.chip = arch;
  return std::optional<codegen::GpuOptions>(gpu);
}

absl::Status quantizeFromFlags(frontends::LoadedModel &model) {
  const std::string name = absl::GetFlag(FLAGS_quantize);
  if (name.empty())
    return absl::OkStatus();
  auto type = frontends::parseWeightType(name);
  if (!type.ok() || (*type != frontends::WeightType::BF16 && *type != frontends::WeightType::F16 &&
                     *type != frontends::WeightType::Q8_0 && *type != frontends::WeightType::Q4_0))
    return absl::InvalidArgumentError("--quantize=" + name + ": expected bf16, f16, q8_0 or q4_0");
  auto count = runtime::quantizeWeights(model, *type);
  return count.ok() ? absl::OkStatus() : count.status();
}

} // namespace tessel::cli
