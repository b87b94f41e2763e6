//===- Flags.h - flags shared by the tessel subcommands ---------*- C++ -*-===//
//
// absl flags are process-global, so every flag is defined once (Flags.cpp)
// and each subcommand reads the ones it documents.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_TOOLS_TESSEL_FLAGS_H
#define TESSEL_TOOLS_TESSEL_FLAGS_H

#include <cstdint>
#include <optional>
#include <string>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/status/statusor.h"
#include "codegen/Pipeline.h"
#include "frontends/ModelLoader.h"

ABSL_DECLARE_FLAG(std::string, entry);
ABSL_DECLARE_FLAG(int64_t, seed);
ABSL_DECLARE_FLAG(int, values);
ABSL_DECLARE_FLAG(std::string, emit);
ABSL_DECLARE_FLAG(std::string, device);
ABSL_DECLARE_FLAG(std::string, gpu_arch);
ABSL_DECLARE_FLAG(std::string, o);
ABSL_DECLARE_FLAG(bool, debug_info);
ABSL_DECLARE_FLAG(std::string, format);
ABSL_DECLARE_FLAG(std::string, dtype);
ABSL_DECLARE_FLAG(std::string, vocab_from);
ABSL_DECLARE_FLAG(std::string, text);
ABSL_DECLARE_FLAG(std::string, file);
ABSL_DECLARE_FLAG(std::string, decode);
ABSL_DECLARE_FLAG(bool, bos);
ABSL_DECLARE_FLAG(std::string, prompt);
ABSL_DECLARE_FLAG(std::string, prompt_ids);
ABSL_DECLARE_FLAG(int, n);
ABSL_DECLARE_FLAG(int64_t, p);
ABSL_DECLARE_FLAG(int64_t, t);
ABSL_DECLARE_FLAG(int64_t, reps);
ABSL_DECLARE_FLAG(bool, compile);
ABSL_DECLARE_FLAG(std::string, quantize);
ABSL_DECLARE_FLAG(bool, mmap);
ABSL_DECLARE_FLAG(std::string, gemm);
ABSL_DECLARE_FLAG(double, temp);
ABSL_DECLARE_FLAG(int64_t, top_k);
ABSL_DECLARE_FLAG(double, top_p);
ABSL_DECLARE_FLAG(bool, print_token_ids);
ABSL_DECLARE_FLAG(std::string, activations);
ABSL_DECLARE_FLAG(int64_t, context);
ABSL_DECLARE_FLAG(std::string, attention);
ABSL_DECLARE_FLAG(bool, no_cache);
ABSL_DECLARE_FLAG(bool, profile);
ABSL_DECLARE_FLAG(std::string, trace);
ABSL_DECLARE_FLAG(std::string, ids_file);
ABSL_DECLARE_FLAG(std::string, out);
ABSL_DECLARE_FLAG(std::string, attention_map);
ABSL_DECLARE_FLAG(bool, summary);
ABSL_DECLARE_FLAG(int64_t, ctx);
ABSL_DECLARE_FLAG(int64_t, chunks);
ABSL_DECLARE_FLAG(std::string, save_logits);
ABSL_DECLARE_FLAG(std::string, kl_base);
ABSL_DECLARE_FLAG(bool, print_ir_after_all);
ABSL_DECLARE_FLAG(std::string, print_ir_before);
ABSL_DECLARE_FLAG(std::string, print_ir_after);
ABSL_DECLARE_FLAG(std::string, dump_ir_dir);
ABSL_DECLARE_FLAG(std::string, pass_pipeline);
ABSL_DECLARE_FLAG(bool, json);
ABSL_DECLARE_FLAG(int64_t, tokens);
ABSL_DECLARE_FLAG(bool, compiled);
ABSL_DECLARE_FLAG(bool, compare);
ABSL_DECLARE_FLAG(double, tolerance);
ABSL_DECLARE_FLAG(std::string, inputs);
ABSL_DECLARE_FLAG(std::string, outputs);

namespace tessel::cli {
/// --attention and --activations as CPU options; an unknown value is an
/// error naming it.
absl::StatusOr<codegen::CpuOptions> cpuOptionsFromFlags();
/// --device and --gpu_arch: nothing for the CPU, the CUDA pipeline's
/// options for cuda; an unknown device or architecture is an error.
absl::StatusOr<std::optional<codegen::GpuOptions>> gpuOptionsFromFlags();
/// --quantize TYPE: the model's eligible f32/f16 matrices converted to TYPE
/// (runtime::quantizeWeights); nothing without the flag.
absl::Status quantizeFromFlags(frontends::LoadedModel &model);
} // namespace tessel::cli

#endif // TESSEL_TOOLS_TESSEL_FLAGS_H
