//===- Session.cpp --------------------------------------------------------===//
#include "runtime/Session.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <optional>

#include "absl/strings/str_cat.h"
#include "codegen/Aot.h"
#include "codegen/Jit.h"
#include "frontends/ModelToIR.h"
#include "nlohmann/json.hpp"
#include "runtime/Compiled.h"
#include "runtime/Profiler.h"
#include "runtime/Weights.h"
#include "runtime/cuda/CudaDevice.h"

namespace tessel::runtime {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// What a session compiles for a model and context.
// New tokens a rolling (sliding-window) cache takes per step beyond the
// window - 1 rows it keeps: prompts longer than this prefill in chunks.
// 256 rows keep the chunk's GEMMs large enough to run near peak.
constexpr int64_t kRollingChunk = 256;

struct Build {
  int64_t context = 0;
  int64_t cacheRows = 0; // rows per KV cache: the context, or a rolling window
  int64_t keepRows = 0;  // > 0: the cache rolls, keeping this many rows
  bool kvCache = false;
  std::string entry; // step or forward
  std::string ir;
};

// `debugInfo` keeps the ops' locations (layer and tensor names) through the
// IR text; the profiler names ops by them.
absl::StatusOr<Build> buildIr(const frontends::LoadedModel &model, int64_t context,
                              const codegen::CpuOptions &cpu, bool debugInfo = false,
                              bool cuda = false) {
  const frontends::ModelConfig &c = model.config;
  Build b;
  b.context = context > 0 ? context : c.contextLength;
  if (b.context > c.contextLength && c.learnedPositions)
    return absl::InvalidArgumentError(
        absl::StrCat("a context of ", b.context, " tokens is longer than ", model.path,
                     "'s learned position embeddings (", c.contextLength, ")"));
  b.kvCache = frontends::supportsKvCache(c);
  b.entry = b.kvCache ? "step" : "forward";
  frontends::EntryPoints entries = entryPointsFor(model, cpu, cuda);
  entries.forward = !b.kvCache;
  entries.step = b.kvCache;
  // Every layer windowed: the cache rolls, holding the last window - 1 rows
  // plus room for one chunk of new tokens, however long the context.
  int64_t window = 0;
  for (const frontends::LayerSpec &layer : c.layers)
    window =
        layer.window > 0 ? std::max(window, layer.window) : std::numeric_limits<int64_t>::max();
  b.cacheRows = b.context;
  if (window < std::numeric_limits<int64_t>::max() && window - 1 + kRollingChunk < b.context) {
    b.keepRows = window - 1;
    b.cacheRows = window - 1 + kRollingChunk;
  }
  entries.cacheLength = b.cacheRows;
  auto ir = frontends::modelToMlir(c, model.path, debugInfo, entries);
  if (!ir.ok())
    return ir.status();
  b.ir = std::move(*ir);
  return b;
}

// The manifest's `model` object: where the weights come from at run time
// and what the code was compiled for. Size and time are for people; the IR
// hash is what decides whether the code still fits the model.
std::string modelMetadata(const frontends::LoadedModel &model, const Build &b) {
  std::error_code ec;
  fs::path path = fs::absolute(model.path, ec);
  json j;
  j["path"] = (ec ? fs::path(model.path) : path).lexically_normal().string();
  struct stat st;
  if (stat(model.path.c_str(), &st) == 0) {
    if (S_ISREG(st.st_mode))
      j["size"] = static_cast<int64_t>(st.st_size);
    j["mtime"] = static_cast<int64_t>(st.st_mtime); // seconds since the Unix epoch
  }
  j["entry"] = b.entry;
  j["context"] = b.context;
  j["kv_cache"] = b.kvCache;
  return j.dump();
}

// The package's `model` object (readAotManifest checked it is one).
json packageModel(const codegen::AotManifest &m) {
  return json::parse(m.metadataJson, nullptr, /*allow_exceptions=*/false);
}

} // namespace

std::string defaultCacheDir() {
  auto env = [](const char *name) {
    const char *v = std::getenv(name);
    return std::string(v ? v : "");
  };
  std::string off = env("TESSEL_CACHE");
  if (off == "0" || off == "off" || off == "false" || off == "no")
    return "";
  if (std::string dir = env("TESSEL_CACHE_DIR"); !dir.empty())
    return dir;
  // The XDG spec ignores relative paths.
  if (std::string xdg = env("XDG_CACHE_HOME"); !xdg.empty() && xdg[0] == '/')
    return (fs::path(xdg) / "tessel").string();
  if (std::string home = env("HOME"); !home.empty())
    return (fs::path(home) / ".cache" / "tessel").string();
  return "";
}

// Device memory a CUDA session owns: every weight and cache, uploaded or
// zeroed once.
struct Session::DeviceBuffers {
  std::vector<void *> buffers;
  ~DeviceBuffers() {
    for (void *p : buffers)
      cuda::deviceFree(p);
  }
  // A device copy of `ref` (or zeros when `zero`), which compiled code reads
  // in place.
  absl::StatusOr<codegen::BufferRef> place(const codegen::BufferRef &ref, size_t bytes, bool zero) {
    auto buffer = cuda::deviceAlloc(bytes);
    if (!buffer.ok())
      return buffer.status();
    buffers.push_back(*buffer);
    absl::Status st =
        zero ? cuda::fillZero(*buffer, bytes) : cuda::copyToDevice(*buffer, ref.data, bytes);
    if (!st.ok())
      return st;
    codegen::BufferRef placed = ref;
    placed.data = *buffer;
    placed.onDevice = true;
    return placed;
  }
};

Session::~Session() = default;

absl::Status Session::compileAot(const frontends::LoadedModel &model, const SessionOptions &options,
                                 const std::string &dir) {
  auto b = buildIr(model, options.context, options.cpu);
  if (!b.ok())
    return b.status();
  auto manifest = codegen::compileAot(b->ir, model.path, dir, modelMetadata(model, *b),
                                      codegen::cpuPipeline(options.cpu));
  return manifest.status();
}

absl::StatusOr<std::string> Session::aotModelPath(const std::string &dir) {
  auto manifest = codegen::readAotManifest(dir);
  if (!manifest.ok())
    return manifest.status();
  json model = packageModel(*manifest);
  auto path = model.find("path");
  if (path == model.end() || !path->is_string() || path->get<std::string>().empty())
    return absl::DataLossError(dir + "/" + codegen::kManifestFile +
                               " names no model file (manifest.model.path)");
  std::string recorded = path->get<std::string>();
  std::error_code ec;
  if (fs::exists(recorded, ec))
    return recorded;
  fs::path beside = fs::path(dir) / fs::path(recorded).filename();
  if (fs::exists(beside, ec))
    return beside.string();
  return absl::NotFoundError(absl::StrCat(dir, " was compiled from ", recorded,
                                          ", which is gone; copy the model into ", dir,
                                          " or compile it again"));
}

absl::StatusOr<std::unique_ptr<Session>> Session::create(frontends::LoadedModel model,
                                                         const SessionOptions &options) {
  auto start = std::chrono::steady_clock::now();
  const frontends::ModelConfig &c = model.config;
  const std::string &aotDir = options.aotDir;
  std::optional<codegen::AotManifest> package;
  int64_t context = options.context;
  if (!aotDir.empty()) {
    auto manifest = codegen::readAotManifest(aotDir);
    if (!manifest.ok())
      return manifest.status();
    json built = packageModel(*manifest);
    int64_t builtContext = 0;
    if (auto it = built.find("context"); it != built.end() && it->is_number_integer())
      builtContext = it->get<int64_t>();
    if (context == 0)
      context = builtContext;
    else if (context != builtContext)
      return absl::FailedPreconditionError(
          absl::StrCat(aotDir, " was compiled for a context of ", builtContext, " tokens, not ",
                       context, "; compile it again: tessel compile ", model.path, " --context ",
                       context, " -o ", aotDir));
    package = std::move(*manifest);
  }
  const bool onGpu = options.cuda.has_value();
  if (onGpu && package)
    return absl::InvalidArgumentError(
        absl::StrCat(aotDir, " is a CPU package; --device cuda compiles the model itself: give "
                             "the model file (tessel run MODEL --device cuda)"));
  // On the GPU only bf16 matrices stay stored (tensor cores read them);
  // the rest are f32 on the device.
  auto b =
      buildIr(model, context, options.cpu, /*debugInfo=*/options.cpu.profile && !package, onGpu);
  if (!b.ok())
    return b.status();
  context = b->context;
  if (onGpu && b->keepRows > 0)
    return absl::UnimplementedError(
        absl::StrCat(model.path, ": every layer has a sliding window, so its KV cache rolls (",
                     b->cacheRows, " rows for a context of ", context,
                     "); rolling caches are not supported with --device cuda yet: pass --context ",
                     b->cacheRows, " or less, or run on the CPU"));

  std::unique_ptr<codegen::JitModule> jit;
  std::string origin = "JIT", note;
  if (package) {
    // The command that writes the package again, with the options it had.
    std::string recompile = absl::StrCat(
        "tessel compile ", model.path,
        context != c.contextLength ? absl::StrCat(" --context ", context) : std::string(), " -o ",
        aotDir);
    if (package->irHash != codegen::sha256Hex(b->ir))
      return absl::FailedPreconditionError(
          absl::StrCat(aotDir, " was compiled from another model or version of ", model.path,
                       " (the IR differs); compile it again: ", recompile));
    auto loaded = codegen::loadAot(aotDir, *package);
    if (!loaded.ok())
      return absl::Status(loaded.status().code(),
                          absl::StrCat(loaded.status().message(), " (", recompile, ")"));
    jit = std::move(*loaded);
    origin = "AOT: " + aotDir;
  } else if (onGpu) {
    // JIT only: PTX is JIT-compiled by the driver anyway, and the host
    // code is small.
    auto code = codegen::JitModule::compileCuda(b->ir, model.path, *options.cuda);
    if (!code.ok())
      return code.status();
    jit = std::move(*code);
    auto device = cuda::deviceDescription();
    origin = "JIT for " + (device.ok() ? *device : std::string("CUDA"));
  } else {
    auto code = compileForRuntime(b->ir, model.path, options.cacheDir, modelMetadata(model, *b),
                                  options.cpu);
    if (!code.ok())
      return code.status();
    jit = std::move(code->module);
    origin = std::move(code->origin);
    note = std::move(code->note);
  }
  // Profiled code names its ops by id; the profiler reports them by name.
  if (options.cpu.profile)
    Profiler::global().setOpNames(jit->profileOps());
  std::unique_ptr<Session> s(new Session());
  s->compileSeconds_ =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto bindStart = std::chrono::steady_clock::now();
  // The CUDA session uploads the weights: no host copy first.
  auto weights = bindWeights(model.weights, *jit, b->entry,
                             onGpu ? WeightPlacement::kInPlace : options.weights);
  if (!weights.ok())
    return weights.status();
  s->weights_ = std::move(*weights);
  s->kvCache_ = b->kvCache;
  std::vector<std::vector<int64_t>> cacheShapes;
  if (b->kvCache)
    cacheShapes = frontends::kvCacheShapes(c, b->cacheRows);
  for (const std::vector<int64_t> &shape : cacheShapes) {
    int64_t n = 1;
    for (int64_t d : shape)
      n *= d;
    s->kvCacheBytes_ += n * static_cast<int64_t>(sizeof(float));
  }
  // The arguments after tokens, positions (and fill) never move: the caches
  // and weights are bound once, not per call.
  if (onGpu) {
    // Uploaded once; the caches start zeroed, as on the CPU.
    s->device_ = std::make_unique<DeviceBuffers>();
    for (const std::vector<int64_t> &shape : cacheShapes) {
      codegen::BufferRef cache{ref::DType::F32, nullptr, shape};
      size_t bytes = sizeof(float);
      for (int64_t d : shape)
        bytes *= static_cast<size_t>(d);
      auto placed = s->device_->place(cache, bytes, /*zero=*/true);
      if (!placed.ok())
        return placed.status();
      s->boundArgs_.push_back(*placed);
    }
    for (size_t i = 0; i < s->weights_.args.size(); ++i) {
      const codegen::BufferRef &w = s->weights_.args[i];
      size_t bytes = w.dtype == ref::DType::F32 ? sizeof(float) : 1;
      for (int64_t d : w.shape)
        bytes *= static_cast<size_t>(d);
      auto placed = s->device_->place(w, bytes, /*zero=*/false);
      if (!placed.ok())
        return placed.status();
      s->boundArgs_.push_back(*placed);
    }
  } else {
    for (const std::vector<int64_t> &shape : cacheShapes)
      s->caches_.push_back(ref::Tensor::zerosF32(shape));
    for (ref::Tensor &cache : s->caches_)
      s->boundArgs_.push_back(codegen::BufferRef::of(cache));
    s->boundArgs_.insert(s->boundArgs_.end(), s->weights_.args.begin(), s->weights_.args.end());
  }
  s->cacheRows_ = b->cacheRows;
  s->keepRows_ = b->keepRows;
  s->context_ = context;
  s->model_ = std::move(model);
  s->jit_ = std::move(jit);
  s->codeOrigin_ = std::move(origin);
  s->cacheNote_ = std::move(note);
  s->weightSeconds_ =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - bindStart).count();
  return s;
}

absl::StatusOr<std::vector<float>> Session::append(const std::vector<int32_t> &tokens) {
  const frontends::ModelConfig &c = model_.config;
  int64_t n = static_cast<int64_t>(tokens.size());
  if (n == 0)
    return absl::InvalidArgumentError("no tokens to evaluate");
  if (position() + n > context_)
    return absl::OutOfRangeError(
        absl::StrCat(position() + n, " tokens exceed the session's context of ", context_));
  for (int32_t t : tokens)
    // The compiled gather does not bounds-check: ids are checked here.
    if (t < 0 || t >= c.vocabSize)
      return absl::InvalidArgumentError(
          absl::StrCat("token id ", t, " is outside the ", c.vocabSize, "-token vocabulary"));

  const size_t before = history_.size();
  history_.insert(history_.end(), tokens.begin(), tokens.end());
  auto logits = hasKvCache() ? appendToCache(before) : evaluate(0, position(), 0);
  if (!logits.ok())
    history_.resize(before);
  return logits;
}

absl::StatusOr<std::vector<float>> Session::appendToCache(int64_t from) {
  const int64_t end = position();
  if (from == 0)
    fill_ = 0;
  absl::StatusOr<std::vector<float>> logits;
  // A rolling cache takes the tokens in chunks that fit after the rows it
  // keeps; a full-length cache takes them all at once.
  const int64_t chunk = keepRows_ > 0 ? cacheRows_ - keepRows_ : end - from;
  for (int64_t at = from; at < end; at += chunk) {
    const int64_t n = std::min(chunk, end - at);
    if (fill_ + n > cacheRows_) {
      // Keep the last window - 1 rows (all a new token can still see) at
      // the front; older rows are outside every window from now on.
      const int64_t keep = std::min(fill_, keepRows_);
      for (ref::Tensor &cache : caches_) {
        const int64_t row = cache.numel() / cacheRows_;
        std::memmove(cache.f.data(), cache.f.data() + (fill_ - keep) * row,
                     static_cast<size_t>(keep * row) * sizeof(float));
      }
      fill_ = keep;
    }
    logits = evaluate(at, n, fill_);
    if (!logits.ok())
      return logits;
    fill_ += n;
  }
  return logits;
}

absl::StatusOr<std::vector<float>> Session::evaluate(int64_t first, int64_t count, int64_t fill) {
  ref::TokenInputs in = ref::tokenInputs(history_.data() + first, count, first);
  ref::Tensor fillArg = ref::Tensor::zerosI64({});
  fillArg.i[0] = fill;
  // The first two or three arguments change per call; the rest are bound.
  const size_t leading = hasKvCache() ? 3 : 2;
  std::vector<codegen::BufferRef> &args = callArgs_;
  if (args.size() != leading + boundArgs_.size()) {
    args.assign(leading, codegen::BufferRef{});
    args.insert(args.end(), boundArgs_.begin(), boundArgs_.end());
  }
  args[0] = codegen::BufferRef::of(in.ids);
  args[1] = codegen::BufferRef::of(in.positions);
  if (hasKvCache())
    args[2] = codegen::BufferRef::of(fillArg);
  auto out = jit_->call(hasKvCache() ? "step" : "forward", args);
  if (!out.ok())
    return out.status();
  ref::Tensor &logits = (*out)[0];
  int64_t vocab = logits.shape.back();
  if (static_cast<int64_t>(logits.f.size()) == vocab) // one row (decode): no copy
    return std::move(logits.f);
  return std::vector<float>(logits.f.end() - vocab, logits.f.end());
}

absl::StatusOr<std::vector<float>> Session::lastLogits(const std::vector<int32_t> &tokens) {
  reset();
  return append(tokens);
}

} // namespace tessel::runtime
