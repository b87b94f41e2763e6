//===- Weights.cpp --------------------------------------------------------===//
#include "runtime/Weights.h"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "frontends/WeightTypes.h"
#include "runtime/kernels/ThreadPool.h"
#include "support/Progress.h"

namespace tessel::runtime {

namespace {

constexpr size_t kHugePage = size_t{2} << 20;

// Weights live for the whole session and the hardware prefetchers stop at
// page boundaries: on 4 KiB pages (the mapped file, or plain heap memory:
// THP is madvise-only on most distributions) every 4 KiB of a streamed
// matrix starts a new prefetch stream and a TLB walk. One anonymous mapping
// advised MADV_HUGEPAGE gets 2 MiB pages: stories15M f32 decodes 20-30 %
// faster, stories110M 7-10 %.
struct HugePageBuffer {
  void *data = nullptr;
  size_t bytes = 0;
  ~HugePageBuffer() {
    if (data)
      munmap(data, bytes);
  }
};

absl::StatusOr<std::shared_ptr<HugePageBuffer>> hugePageBuffer(size_t bytes) {
  auto buffer = std::make_shared<HugePageBuffer>();
  buffer->bytes = std::max(kHugePage, (bytes + kHugePage - 1) / kHugePage * kHugePage);
  // Over-allocate by one huge page to align the start (an unaligned start
  // would leave the first and last 2 MiB on small pages), then trim.
  void *raw = mmap(nullptr, buffer->bytes + kHugePage, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (raw == MAP_FAILED)
    return absl::ResourceExhaustedError(absl::StrCat(
        "cannot map ", buffer->bytes, " bytes for the weights: ", std::strerror(errno)));
  const auto start = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (start + kHugePage - 1) / kHugePage * kHugePage;
  if (aligned > start)
    munmap(raw, aligned - start);
  const uintptr_t end = aligned + buffer->bytes;
  if (start + buffer->bytes + kHugePage > end)
    munmap(reinterpret_cast<void *>(end), start + buffer->bytes + kHugePage - end);
  buffer->data = reinterpret_cast<void *>(aligned);
  // Advice only: without THP the buffer still works, on small pages.
  madvise(buffer->data, buffer->bytes, MADV_HUGEPAGE);
  return buffer;
}

} // namespace

absl::StatusOr<BoundWeights> bindWeights(const frontends::WeightStore &weights,
                                         const codegen::JitModule &module,
                                         const std::string &function, WeightPlacement placement) {
  auto names = module.weightNames(function);
  if (!names.ok())
    return names.status();
  auto sig = module.signatures().find(function);
  if (sig == module.signatures().end())
    return absl::NotFoundError("no function @" + function + " in the compiled module");
  const std::vector<codegen::TensorKind> &kinds = sig->second.args;
  const size_t first = kinds.size() - names->size(); // weights are the trailing arguments

  // Each argument: its tensor, whether the code reads it stored (i8: the
  // file's bytes) or as f32, and where it goes.
  struct Slot {
    const frontends::WeightTensor *w;
    bool stored;
    size_t offset, bytes;
  };
  std::vector<Slot> slots;
  size_t total = 0;
  int64_t elements = 0; // what the progress bar counts
  for (size_t i = 0; i < names->size(); ++i) {
    auto w = weights.get((*names)[i]);
    if (!w.ok())
      return w.status();
    const bool stored = kinds[first + i].dtype == ref::DType::I8;
    const size_t bytes = stored ? (*w)->bytes : static_cast<size_t>((*w)->numel()) * sizeof(float);
    total = (total + 63) / 64 * 64; // cache-line aligned, as the kernels' panels
    slots.push_back({*w, stored, total, bytes});
    total += bytes;
    elements += (*w)->numel();
  }

  BoundWeights bound;
  // In place: the mapped file's bytes and f32 values are passed as they
  // are (read only: the compiled code never writes a weight argument);
  // only f32 arguments of other types get memory of their own.
  auto inPlace = [&](const Slot &s) {
    return placement == WeightPlacement::kInPlace &&
           (s.stored || (s.w->type == frontends::WeightType::F32 &&
                         reinterpret_cast<uintptr_t>(s.w->data) % alignof(float) == 0));
  };
  size_t owned = 0;
  for (const Slot &s : slots)
    if (!inPlace(s))
      owned = std::max(owned, s.offset + s.bytes);
  uint8_t *base = nullptr;
  if (owned > 0) {
    auto buffer = hugePageBuffer(owned);
    if (!buffer.ok())
      return buffer.status();
    base = static_cast<uint8_t *>((*buffer)->data);
    bound.memory = *buffer;
  }
  support::ProgressBar progress("loading weights", elements);
  for (const Slot &s : slots) {
    const frontends::WeightTensor &w = *s.w;
    codegen::BufferRef ref;
    ref.dtype = s.stored ? ref::DType::I8 : ref::DType::F32;
    // The compiled code reads stored bytes in the format the IR was built
    // for (storedWeightFormats of this very store, or a package's model).
    ref.shape = s.stored ? std::vector<int64_t>{static_cast<int64_t>(w.bytes)} : w.shape;
    if (inPlace(s)) {
      ref.data = const_cast<uint8_t *>(w.data);
    } else {
      ref.data = base + s.offset;
      if (s.stored || w.type == frontends::WeightType::F32) {
        // In 1 MiB pieces on every core: the copy's cost is first touching
        // fresh pages (and reading the mapped file), which scales with
        // threads (Llama-3.2-1B's 5 GB: see the commit that added this).
        constexpr size_t kPiece = size_t{1} << 20;
        const size_t pieces = (s.bytes + kPiece - 1) / kPiece;
        auto *to = static_cast<uint8_t *>(ref.data);
        kernels::ThreadPool::global().run(static_cast<int64_t>(pieces), [&](int64_t i) {
          const size_t at = static_cast<size_t>(i) * kPiece;
          std::memcpy(to + at, w.data + at, std::min(kPiece, s.bytes - at));
        });
      } else {
        std::vector<float> values = w.toF32(); // dequantized once, here
        std::memcpy(ref.data, values.data(), s.bytes);
      }
    }
    bound.args.push_back(std::move(ref));
    progress.advance(w.numel());
  }
  progress.finish();
  return bound;
}

namespace {

// Whether the kernels read weight `name` as bytes when it is stored. On the
// CPU (`cpu`; tessel-lower-to-kernels): linear layers (attention
// projections, MLA's included, and the output), the projections of a gated
// FFN without biases in a dense layer, and the experts' stacks and shared
// experts of a MoE layer. MLA's attn_kv_b stays f32: decoding splits it
// into per-head W_uk / W_uv for einsums, not a linear layer. The GPU's
// tensor-core GEMMs (tessel-linear-to-gpu-mma) take the linear layers and
// dense gated FFNs of non-MLA models.
bool kernelsReadStored(const frontends::ModelConfig &config, const frontends::WeightStore &weights,
                       const std::string &name, const frontends::WeightTensor &w, bool cpu) {
  if (!cpu && config.isMla())
    return false;
  int64_t layer = -1;
  std::string rest;
  if (absl::StartsWith(name, "blk.")) {
    size_t dot = name.find('.', 4);
    if (dot != std::string::npos && absl::SimpleAtoi(name.substr(4, dot - 4), &layer))
      rest = name.substr(dot + 1);
  }
  const bool moeLayer = layer >= 0 && layer < config.numLayers && config.layers[layer].moe;
  if (cpu && moeLayer &&
      (((rest == "ffn_up_exps.weight" || rest == "ffn_gate_exps.weight" ||
         rest == "ffn_down_exps.weight") &&
        w.shape.size() == 3) ||
       ((rest == "ffn_up_shexp.weight" || rest == "ffn_gate_shexp.weight" ||
         rest == "ffn_down_shexp.weight") &&
        w.shape.size() == 2)))
    return true;
  if (w.shape.size() != 2)
    return false;
  if (name == "output.weight" || rest == "attn_q.weight" || rest == "attn_output.weight")
    return true;
  if (rest == "attn_k.weight" || rest == "attn_v.weight")
    return !config.isMla();
  if (rest == "attn_q_a.weight" || rest == "attn_q_b.weight" || rest == "attn_kv_a_mqa.weight")
    return config.isMla();
  return (rest == "ffn_gate.weight" || rest == "ffn_up.weight" || rest == "ffn_down.weight") &&
         layer >= 0 && layer < config.numLayers && !moeLayer &&
         config.activation != frontends::FfnActivation::Gelu &&
         weights.contains(absl::StrCat("blk.", layer, ".ffn_gate.weight")) &&
         !weights.contains(absl::StrCat("blk.", layer, ".ffn_up.bias")) &&
         !weights.contains(absl::StrCat("blk.", layer, ".ffn_down.bias"));
}

const char *storedFormatName(frontends::WeightType type) {
  switch (type) {
  case frontends::WeightType::BF16:
    return "bf16";
  case frontends::WeightType::Q8_0:
    return "q8_0";
  case frontends::WeightType::Q4_0:
    return "q4_0";
  default:
    return nullptr;
  }
}

} // namespace

std::map<std::string, std::string> storedWeightFormats(const frontends::ModelConfig &config,
                                                       const frontends::WeightStore &weights) {
  std::map<std::string, std::string> out;
  for (const auto &[name, w] : weights.all())
    if (const char *format = storedFormatName(w.type);
        format && kernelsReadStored(config, weights, name, w, /*cpu=*/true))
      out[name] = format;
  return out;
}

std::map<std::string, std::string> gpuStoredWeightFormats(const frontends::ModelConfig &config,
                                                          const frontends::WeightStore &weights) {
  std::map<std::string, std::string> out;
  for (const auto &[name, w] : weights.all()) {
    const char *format = w.type == frontends::WeightType::BF16  ? "bf16"
                         : w.type == frontends::WeightType::F16 ? "f16"
                                                                : nullptr;
    if (format && kernelsReadStored(config, weights, name, w, /*cpu=*/false))
      out[name] = format;
  }
  return out;
}

std::map<std::string, std::string>
roundedInputFormats(const std::map<std::string, std::string> &stored, bool q8, bool bf16) {
  std::map<std::string, std::string> out;
  for (const auto &[name, format] : stored) {
    if (q8 && (format == "q8_0" || format == "q4_0"))
      out[name] = "q8_0";
    if (bf16 && format == "bf16")
      out[name] = "bf16";
  }
  return out;
}

frontends::EntryPoints entryPointsFor(const frontends::LoadedModel &model,
                                      const codegen::CpuOptions &cpu, bool cuda) {
  frontends::EntryPoints entries;
  entries.storedWeights = cuda ? gpuStoredWeightFormats(model.config, model.weights)
                               : storedWeightFormats(model.config, model.weights);
  if (!cuda)
    entries.inputFormats =
        roundedInputFormats(entries.storedWeights, cpu.q8Activations, cpu.bf16Activations);
  entries.shareLayers = !cuda && !cpu.profile;
  return entries;
}

absl::StatusOr<int64_t> quantizeWeights(frontends::LoadedModel &model, frontends::WeightType type) {
  // f16 only the GPU's kernels read (the CPU's dequantize it at load).
  if (!storedFormatName(type) && type != frontends::WeightType::F16)
    return absl::InvalidArgumentError(
        absl::StrCat("--quantize: ", frontends::weightTypeInfo(type).name,
                     " is not a format the kernels read (bf16, f16, q8_0 or q4_0)"));
  const int64_t block = frontends::weightTypeInfo(type).blockElems;
  std::vector<frontends::WeightTensor> converted;
  for (const auto &[name, w] : model.weights.all()) {
    const bool wide = w.type == frontends::WeightType::F32 || w.type == frontends::WeightType::F16;
    if (!wide || !kernelsReadStored(model.config, model.weights, name, w, /*cpu=*/true) ||
        w.shape.back() % block != 0)
      continue;
    frontends::WeightTensor q = w;
    q.type = type;
    if (!w.data) { // a description loaded without values: the type is what counts
      q.bytes = frontends::storageBytes(type, w.numel()).value();
      converted.push_back(std::move(q));
      continue;
    }
    std::vector<float> values = w.toF32();
    auto bytes = std::make_shared<std::vector<uint8_t>>(
        frontends::storageBytes(type, values.size()).value());
    frontends::quantizeRow(type, values.data(), bytes->data(), static_cast<int64_t>(values.size()));
    q.data = bytes->data();
    q.bytes = bytes->size();
    q.owner = bytes;
    converted.push_back(std::move(q));
  }
  for (frontends::WeightTensor &q : converted)
    model.weights.add(std::move(q));
  return static_cast<int64_t>(converted.size());
}

} // namespace tessel::runtime
