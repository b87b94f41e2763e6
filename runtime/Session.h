//===- Session.h - a compiled model ready to generate -----------*- C++ -*-===//
//
// Loads a model, compiles its @step entry point (prefill and decode with a
// KV cache, see frontends/ModelToIR.h) through the CPU pipeline, binds the
// weights once and owns the caches, which the compiled code updates in
// place (for MLA: a cache of compressed latents, frontends::kvCacheShapes).
// A model without a @step would fall back to @forward, re-evaluating the
// whole sequence for each new token.
//
// The code comes from the JIT, from the compile cache (codegen/Aot.h:
// compiled once per model, options, CPU and Tessel build, then loaded), or
// from a package `Session::compileAot` wrote (`tessel compile MODEL -o DIR`).
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_RUNTIME_SESSION_H
#define TESSEL_RUNTIME_SESSION_H

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "codegen/Jit.h"
#include "codegen/Pipeline.h"
#include "frontends/ModelLoader.h"
#include "reference/Tensor.h"
#include "runtime/Weights.h"

namespace tessel::runtime {

struct SessionOptions {
  /// Tokens the KV cache holds (0: the model's context length). May exceed
  /// the length the model was trained for (as llama.cpp's -c may), except
  /// with learned position embeddings, which end there.
  int64_t context = 0;
  /// Root of the compile cache (codegen::compileCached); "" compiles with
  /// the JIT and keeps nothing.
  std::string cacheDir;
  /// A package written by compileAot: its code is loaded, nothing is
  /// compiled. The model must be the one it was compiled from (same IR);
  /// `context` 0 takes the package's.
  std::string aotDir;
  /// How the CPU pipeline lowers the model (part of the compile-cache key).
  /// With `cpu.profile` the code comes from the JIT and its op names go to
  /// runtime::Profiler (which times nothing until it is enabled).
  codegen::CpuOptions cpu;
  /// Set: the model runs on a CUDA GPU (codegen::gpuPipeline, JIT only):
  /// the weights are uploaded once and the KV caches live on the device.
  std::optional<codegen::GpuOptions> cuda;
  /// Where the CPU's weights live (runtime/Weights.h): copied onto huge
  /// pages (decodes faster: stories15M f32 +20 %, Llama-3.2-1B f32 +17 %;
  /// costs a copy at load) or used in place in the mapped file (`--mmap`).
  WeightPlacement weights = WeightPlacement::kHugePages;
};

/// The compile cache's usual place: $TESSEL_CACHE_DIR, else
/// $XDG_CACHE_HOME/tessel, else $HOME/.cache/tessel; "" (no cache) when
/// TESSEL_CACHE=0 or no home is known.
std::string defaultCacheDir();

class Session {
public:
  static absl::StatusOr<std::unique_ptr<Session>> create(frontends::LoadedModel model,
                                                         const SessionOptions &options = {});
  ~Session();

  /// Compiles `model` (the entry point create would use, for
  /// `options.context`) into DIR: a shared library and manifest.json that
  /// records the model file, so that `create` with `aotDir` = DIR runs it
  /// without compiling.
  static absl::Status compileAot(const frontends::LoadedModel &model, const SessionOptions &options,
                                 const std::string &dir);

  /// The model file the package in DIR was compiled from: the path its
  /// manifest records or, when that is gone, the file of the same name in
  /// DIR (a package shipped with its model).
  static absl::StatusOr<std::string> aotModelPath(const std::string &dir);

  const frontends::LoadedModel &model() const { return model_; }
  /// Building the IR and compiling it (or loading the code from an AOT
  /// package or the compile cache).
  double compileSeconds() const { return compileSeconds_; }
  /// Placing the weights (bindWeights) and allocating the KV caches.
  double weightSeconds() const { return weightSeconds_; }
  /// Where the code came from: "JIT", "AOT: DIR", "cache hit: DIR" or
  /// "cache miss, saved to DIR".
  const std::string &codeOrigin() const { return codeOrigin_; }
  /// Why the compile cache could not be used or was repaired ("" if it
  /// worked or was off).
  const std::string &cacheNote() const { return cacheNote_; }
  /// Whether generation uses a KV cache (false: the sequence is re-evaluated).
  bool hasKvCache() const { return kvCache_; }
  /// Bytes held by the KV cache: sized from the context, or, when every
  /// layer has a sliding window, from the window (the cache rolls).
  int64_t kvCacheBytes() const { return kvCacheBytes_; }
  /// Rows (tokens) each cache holds: the context, or a rolling window's.
  int64_t kvCacheRows() const { return cacheRows_; }

  /// How many tokens fit (prompt and generated together).
  int64_t context() const { return context_; }
  /// Tokens evaluated so far (the KV cache's fill level).
  int64_t position() const { return static_cast<int64_t>(history_.size()); }
  /// Forgets every token (the cache contents are simply overwritten later).
  void reset() { history_.clear(); }

  /// Appends `tokens` at position() (a prompt to prefill, or the one token
  /// just sampled) and returns the logits after the last of them. Token ids
  /// and the context length are checked first.
  absl::StatusOr<std::vector<float>> append(const std::vector<int32_t> &tokens);

  /// Logits after `tokens`, evaluated from position 0 (reset + append).
  absl::StatusOr<std::vector<float>> lastLogits(const std::vector<int32_t> &tokens);

private:
  Session() = default;
  frontends::LoadedModel model_;
  std::unique_ptr<codegen::JitModule> jit_;
  BoundWeights weights_;            // the entry point's trailing arguments (stored bytes or f32)
  std::vector<ref::Tensor> caches_; // K and V per layer: [1, context, kv_heads, head_dim]
  bool kvCache_ = false;
  int64_t kvCacheBytes_ = 0;
  // With --device cuda: the weights' and caches' device copies, which
  // boundArgs_ point to (caches_ stays empty).
  struct DeviceBuffers;
  std::unique_ptr<DeviceBuffers> device_;
  std::vector<codegen::BufferRef> boundArgs_; // caches_ then weights_, as @step takes them
  std::vector<codegen::BufferRef> callArgs_;  // reused by evaluate(): no per-call copies
  std::vector<int32_t> history_;
  double compileSeconds_ = 0, weightSeconds_ = 0;
  std::string codeOrigin_, cacheNote_;
  int64_t context_ = 0;
  int64_t cacheRows_ = 0; // rows per cache
  int64_t keepRows_ = 0;  // > 0: a rolling cache keeps this many rows when full
  int64_t fill_ = 0;      // rows the caches hold

  // Feeds history_[from, end) through @step (in chunks when rolling).
  absl::StatusOr<std::vector<float>> appendToCache(int64_t from);
  // One call of the entry point on history_[first, first + count).
  absl::StatusOr<std::vector<float>> evaluate(int64_t first, int64_t count, int64_t fill);
};

} // namespace tessel::runtime

#endif // TESSEL_RUNTIME_SESSION_H
