//===- ModelLoader.cpp - any model file -> config + weights ---------------===//
#include "frontends/ModelLoader.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "frontends/Llama2c.h"
#include "frontends/Safetensors.h"
#include "nlohmann/json.hpp"
#include "support/StatusMacros.h"

namespace tessel::frontends {

namespace fs = std::filesystem;
using json = nlohmann::json;

const char *formatName(ModelFormat f) {
  switch (f) {
  case ModelFormat::Gguf:
    return "gguf";
  case ModelFormat::HuggingFace:
    return "safetensors";
  case ModelFormat::Llama2c:
    return "llama2.c";
  case ModelFormat::Description:
    return "description";
  }
  return "?";
}

std::vector<float> llama3FreqFactors(int64_t headDim, double theta, double factor,
                                     double lowFreqFactor, double highFreqFactor,
                                     int64_t originalContext) {
  // Long wavelengths are slowed by `factor`, short ones kept, and the band
  // between blended smoothly (Meta's Llama 3.1 recipe).
  std::vector<float> factors;
  double lowWavelen = originalContext / lowFreqFactor;
  double highWavelen = originalContext / highFreqFactor;
  for (int64_t i = 0; i < headDim / 2; ++i) {
    double invFreq = std::pow(theta, -2.0 * i / headDim);
    double wavelen = 2 * M_PI / invFreq;
    double scaled = invFreq;
    if (wavelen > lowWavelen) {
      scaled = invFreq / factor;
    } else if (wavelen >= highWavelen) {
      double smooth =
          (originalContext / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
      scaled = (1 - smooth) * invFreq / factor + smooth * invFreq;
    }
    factors.push_back(static_cast<float>(invFreq / scaled));
  }
  return factors;
}

//===----------------------------------------------------------------------===//
// Weight checks and random weights
//===----------------------------------------------------------------------===//

absl::Status checkWeights(const ModelConfig &config, const WeightStore &store) {
  std::set<std::string> expected;
  for (const WeightSpec &spec : expectedWeights(config)) {
    expected.insert(spec.name);
    auto t = store.get(spec.name, spec.shape);
    if (!t.ok())
      return t.status();
    bool quantized = (*t)->type == WeightType::Q8_0 || (*t)->type == WeightType::Q4_0;
    if (quantized && spec.shape.size() == 1)
      return absl::InvalidArgumentError(absl::StrCat(
          (*t)->source, ": tensor '", spec.name, "' has type ", weightTypeInfo((*t)->type).name,
          " but vectors (norms, biases) must be f32, f16 or bf16"));
  }
  for (const auto &[name, t] : store.all())
    if (!expected.count(name))
      return absl::InvalidArgumentError(
          absl::StrCat(t.source, ": unexpected tensor '", name, "' for a ", archName(config.arch),
                       " model with ", config.numLayers, " layers (is the config right?)"));
  return absl::OkStatus();
}

WeightStore randomWeights(const ModelConfig &config, uint64_t seed, WeightType type,
                          const std::string &source, bool withValues) {
  WeightStore store;
  store.source = source;
  std::mt19937_64 rng(seed);
  for (const WeightSpec &spec : expectedWeights(config)) {
    if (spec.name == "output.weight" && config.tiedEmbeddings) {
      WeightTensor tied = *store.get("token_embd.weight").value();
      tied.name = spec.name;
      store.add(tied);
      continue;
    }
    int64_t n = 1;
    for (int64_t d : spec.shape)
      n *= d;
    bool vector = spec.shape.size() == 1;
    // Rows that do not fill whole quantization blocks stay f16, as
    // llama.cpp's quantizer does.
    WeightType t = vector ? WeightType::F32 : type;
    if (spec.shape.back() % weightTypeInfo(t).blockElems != 0)
      t = WeightType::F16;
    WeightTensor w;
    w.name = spec.name;
    w.type = t;
    w.shape = spec.shape;
    w.bytes = storageBytes(t, n).value();
    w.source = source;
    if (!withValues) {
      store.add(w);
      continue;
    }
    std::vector<float> values(n);
    if (spec.name == "rope_freqs.weight" || (vector && absl::EndsWith(spec.name, "norm.weight"))) {
      std::fill(values.begin(), values.end(), 1.0f);
    } else if (vector) {
      std::fill(values.begin(), values.end(), 0.0f); // biases
    } else {
      float bound = std::sqrt(3.0f / static_cast<float>(spec.shape.back()));
      std::uniform_real_distribution<float> dist(-bound, bound);
      for (float &v : values)
        v = dist(rng);
    }
    auto bytes = std::make_shared<std::vector<uint8_t>>(w.bytes);
    quantizeRow(t, values.data(), bytes->data(), n);
    w.data = bytes->data();
    w.owner = bytes;
    store.add(w);
  }
  return store;
}

//===----------------------------------------------------------------------===//
// Hugging Face names
//===----------------------------------------------------------------------===//

HfName hfWeightName(const ModelConfig &c, const std::string &canonical) {
  bool gpt2 = c.arch == ModelArch::Gpt2;
  if (canonical == "token_embd.weight")
    return {gpt2 ? "transformer.wte.weight" : "model.embed_tokens.weight"};
  if (canonical == "position_embd.weight")
    return {"transformer.wpe.weight"};
  if (canonical == "output_norm.weight")
    return {gpt2 ? "transformer.ln_f.weight" : "model.norm.weight"};
  if (canonical == "output_norm.bias")
    return {"transformer.ln_f.bias"};
  if (canonical == "output.weight")
    return {"lm_head.weight"};
  if (canonical == "rope_freqs.weight")
    return {};
  int layer = -1;
  char rest[128];
  if (std::sscanf(canonical.c_str(), "blk.%d.%127s", &layer, rest) != 2)
    return {};
  std::string r = rest;
  if (gpt2) {
    std::string p = absl::StrCat("transformer.h.", layer, ".");
    static const std::pair<const char *, const char *> kGpt2[] = {
        {"attn_norm.weight", "ln_1.weight"},      {"attn_norm.bias", "ln_1.bias"},
        {"ffn_norm.weight", "ln_2.weight"},       {"ffn_norm.bias", "ln_2.bias"},
        {"attn_output.bias", "attn.c_proj.bias"}, {"ffn_up.bias", "mlp.c_fc.bias"},
        {"ffn_down.bias", "mlp.c_proj.bias"}};
    for (auto [from, to] : kGpt2)
      if (r == from)
        return {p + to};
    // Conv1D layers store [in, out]; q/k/v are fused into c_attn, which the
    // loader splits (see splitGpt2Attention).
    if (r == "attn_output.weight")
      return {p + "attn.c_proj.weight", true};
    if (r == "ffn_up.weight")
      return {p + "mlp.c_fc.weight", true};
    if (r == "ffn_down.weight")
      return {p + "mlp.c_proj.weight", true};
    return {};
  }
  std::string p = absl::StrCat("model.layers.", layer, ".");
  bool mixtral = c.arch == ModelArch::Mixtral;
  static const std::pair<const char *, const char *> kNames[] = {
      {"attn_norm.weight", "input_layernorm.weight"},
      {"ffn_norm.weight", "post_attention_layernorm.weight"},
      {"attn_q.weight", "self_attn.q_proj.weight"},
      {"attn_k.weight", "self_attn.k_proj.weight"},
      {"attn_v.weight", "self_attn.v_proj.weight"},
      {"attn_q.bias", "self_attn.q_proj.bias"},
      {"attn_k.bias", "self_attn.k_proj.bias"},
      {"attn_v.bias", "self_attn.v_proj.bias"},
      {"attn_output.weight", "self_attn.o_proj.weight"},
      {"attn_q_a.weight", "self_attn.q_a_proj.weight"},
      {"attn_q_a_norm.weight", "self_attn.q_a_layernorm.weight"},
      {"attn_q_b.weight", "self_attn.q_b_proj.weight"},
      {"attn_kv_a_mqa.weight", "self_attn.kv_a_proj_with_mqa.weight"},
      {"attn_kv_a_norm.weight", "self_attn.kv_a_layernorm.weight"},
      {"attn_kv_b.weight", "self_attn.kv_b_proj.weight"},
      {"ffn_gate.weight", "mlp.gate_proj.weight"},
      {"ffn_up.weight", "mlp.up_proj.weight"},
      {"ffn_down.weight", "mlp.down_proj.weight"},
      {"ffn_gate_shexp.weight", "mlp.shared_experts.gate_proj.weight"},
      {"ffn_up_shexp.weight", "mlp.shared_experts.up_proj.weight"},
      {"ffn_down_shexp.weight", "mlp.shared_experts.down_proj.weight"}};
  for (auto [from, to] : kNames)
    if (r == from)
      return {p + to};
  if (r == "ffn_gate_inp.weight")
    return {p + (mixtral ? "block_sparse_moe.gate.weight" : "mlp.gate.weight")};
  return {};
}

// HF name of expert `e`'s matrix for a stacked canonical tensor.
std::string hfExpertName(const ModelConfig &c, int layer, const std::string &which, int64_t e) {
  if (c.arch == ModelArch::Mixtral) {
    const char *w = which == "gate" ? "w1" : which == "up" ? "w3" : "w2";
    return absl::StrCat("model.layers.", layer, ".block_sparse_moe.experts.", e, ".", w, ".weight");
  }
  return absl::StrCat("model.layers.", layer, ".mlp.experts.", e, ".", which, "_proj.weight");
}

namespace {

// A tensor built by the loader (transposed, stacked or computed), owning its bytes.
WeightTensor ownedTensor(const std::string &name, WeightType type, std::vector<int64_t> shape,
                         std::vector<uint8_t> bytes, const std::string &source) {
  auto buf = std::make_shared<std::vector<uint8_t>>(std::move(bytes));
  WeightTensor t;
  t.name = name;
  t.type = type;
  t.shape = std::move(shape);
  t.data = buf->data();
  t.bytes = buf->size();
  t.owner = buf;
  t.source = source;
  return t;
}

absl::StatusOr<WeightTensor> transposedF32(const WeightTensor &in, const std::string &name) {
  if (in.shape.size() != 2)
    return absl::InvalidArgumentError(
        absl::StrCat(in.source, ": tensor '", in.name,
                     "' must be a matrix (Conv1D [in, out]), got rank ", in.shape.size()));
  std::vector<float> v = in.toF32();
  int64_t rows = in.shape[0], cols = in.shape[1];
  std::vector<uint8_t> bytes(rows * cols * 4);
  float *out = reinterpret_cast<float *>(bytes.data());
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j)
      out[j * rows + i] = v[i * cols + j];
  return ownedTensor(name, WeightType::F32, {cols, rows}, std::move(bytes), in.source);
}

// Renames an HF store into canonical names, building what HF lays out
// differently (transposed Conv1D, fused GPT-2 q/k/v, per-expert matrices).
absl::StatusOr<WeightStore> canonicalizeHf(const ModelConfig &c, const WeightStore &hf,
                                           const json &configJson) {
  WeightStore out;
  out.source = hf.source;
  std::set<std::string> used;
  auto take = [&](const std::string &name) -> absl::StatusOr<const WeightTensor *> {
    used.insert(name);
    return hf.get(name);
  };
  for (const WeightSpec &spec : expectedWeights(c)) {
    HfName h = hfWeightName(c, spec.name);
    if (!h.name.empty()) {
      if (spec.name == "output.weight" && !hf.contains(h.name) && c.tiedEmbeddings) {
        auto emb = take(hfWeightName(c, "token_embd.weight").name);
        if (!emb.ok())
          return emb.status();
        WeightTensor t = **emb;
        t.name = spec.name;
        out.add(t);
        continue;
      }
      auto t = take(h.name);
      if (!t.ok())
        return t.status();
      WeightTensor w = **t;
      if (h.transposed) {
        auto tr = transposedF32(**t, spec.name);
        if (!tr.ok())
          return tr.status();
        w = *tr;
      }
      w.name = spec.name;
      out.add(w);
      continue;
    }
    int layer = -1;
    char rest[128];
    std::sscanf(spec.name.c_str(), "blk.%d.%127s", &layer, rest);
    std::string r = rest;
    if (c.arch == ModelArch::Gpt2 &&
        (absl::StartsWith(r, "attn_q.") || absl::StartsWith(r, "attn_k.") ||
         absl::StartsWith(r, "attn_v."))) {
      // c_attn is Conv1D [dim, 3*dim] (+ bias [3*dim]) holding q, k, v.
      bool bias = absl::EndsWith(r, ".bias");
      std::string fused =
          absl::StrCat("transformer.h.", layer, ".attn.c_attn.", bias ? "bias" : "weight");
      auto t = take(fused);
      if (!t.ok())
        return t.status();
      int64_t part = r[5] == 'q' ? 0 : r[5] == 'k' ? 1 : 2;
      WeightTensor full = **t;
      if (!bias) {
        auto tr = transposedF32(**t, fused);
        if (!tr.ok())
          return tr.status();
        full = *tr;
      }
      if (full.shape.size() != (bias ? 1u : 2u) || full.shape[0] != 3 * c.dim)
        return absl::InvalidArgumentError(absl::StrCat(
            (*t)->source, ": tensor '", fused, "' has shape [", absl::StrJoin((*t)->shape, ", "),
            "], expected q, k and v fused: ", bias ? "[" : "[",
            bias ? "" : absl::StrCat(c.dim, ", "), 3 * c.dim, "]"));
      auto rows = full.rows(part * c.dim, c.dim, spec.name);
      if (!rows.ok())
        return rows.status();
      out.add(*rows);
      if (!bias)
        out.keepAlive(full.owner);
      continue;
    }
    if (absl::EndsWith(r, "_exps.weight")) {
      std::string which = r.substr(4, r.find("_exps") - 4); // gate, up, down
      std::vector<uint8_t> bytes;
      WeightType type = WeightType::F32;
      for (int64_t e = 0; e < c.numExperts; ++e) {
        auto t = take(hfExpertName(c, layer, which, e));
        if (!t.ok())
          return t.status();
        std::vector<int64_t> want(spec.shape.begin() + 1, spec.shape.end());
        if ((*t)->shape != want)
          return absl::InvalidArgumentError(absl::StrCat(
              hf.source, ": tensor '", (*t)->name, "' has shape [",
              absl::StrJoin((*t)->shape, ", "), "], expected [", absl::StrJoin(want, ", "), "]"));
        if (e == 0)
          type = (*t)->type;
        if ((*t)->type != type)
          return absl::InvalidArgumentError(
              absl::StrCat(hf.source, ": experts of layer ", layer, " mix weight types"));
        bytes.insert(bytes.end(), (*t)->data, (*t)->data + (*t)->bytes);
      }
      out.add(ownedTensor(spec.name, type, spec.shape, std::move(bytes), hf.source));
      continue;
    }
    if (spec.name == "rope_freqs.weight") {
      const json &rs = configJson.at("rope_scaling");
      auto num = [&](const char *k, double dflt) {
        return rs.contains(k) && rs.at(k).is_number() ? rs.at(k).get<double>() : dflt;
      };
      std::vector<float> f =
          llama3FreqFactors(c.ropeDim ? c.ropeDim : c.headDim, c.ropeTheta, num("factor", 8.0),
                            num("low_freq_factor", 1.0), num("high_freq_factor", 4.0),
                            static_cast<int64_t>(num("original_max_position_embeddings", 8192)));
      std::vector<uint8_t> bytes(f.size() * 4);
      std::memcpy(bytes.data(), f.data(), bytes.size());
      out.add(ownedTensor(spec.name, WeightType::F32, spec.shape, std::move(bytes), hf.source));
      continue;
    }
    return absl::InternalError("no Hugging Face name for " + spec.name);
  }
  for (const auto &[name, t] : hf.all()) {
    bool buffer = absl::EndsWith(name, "rotary_emb.inv_freq") ||
                  absl::EndsWith(name, ".attn.bias") || absl::EndsWith(name, ".attn.masked_bias");
    if (!used.count(name) && !buffer)
      return absl::InvalidArgumentError(
          absl::StrCat(t.source, ": unexpected tensor '", name, "' for this config"));
  }
  return out;
}

absl::StatusOr<json> readJson(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::stringstream text;
  text << in.rdbuf();
  return parseJsonText(text.str(), path);
}

// The "weights" field of a description: a model file, or random weights.
absl::StatusOr<WeightStore> descriptionWeights(const json &desc, const std::string &path,
                                               const ModelConfig &config, LoadedModel &m,
                                               const LoadOptions &options) {
  auto bad = [&](const std::string &why) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": field 'weights' ", why));
  };
  if (!desc.contains("weights"))
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": missing field 'weights' (a model file, or {\"random\": {\"seed\": N}})"));
  const json &w = desc.at("weights");
  if (w.is_string()) {
    fs::path wp = fs::path(path).parent_path() / w.get<std::string>();
    if (wp.extension() == ".json")
      return bad("must name a model file (.gguf, llama2.c .bin or a Hugging Face directory), "
                 "not another description");
    auto inner = loadModel(wp.string(), options);
    if (!inner.ok())
      return absl::Status(inner.status().code(),
                          absl::StrCat(path, ": field 'weights': ", inner.status().message()));
    m.gguf = std::move(inner->gguf);
    m.tokenizerPath = inner->tokenizerPath;
    return std::move(inner->weights);
  }
  if (!w.is_object())
    return bad("must be a path or {\"random\": {\"seed\": N, \"dtype\": \"f32\"}}, got " +
               briefJson(w));
  for (auto it = w.begin(); it != w.end(); ++it)
    if (it.key() != "random")
      return bad(absl::StrCat("has unknown key '", it.key(),
                              "' (expected a path or {\"random\": {\"seed\": N}})"));
  if (!w.contains("random"))
    return bad("is empty; expected {\"random\": {\"seed\": N}}");
  const json &r = w.at("random");
  if (!r.is_object())
    return bad("'random' must be an object, got " + briefJson(r));
  uint64_t seed = 0;
  std::string dtype = "f32";
  for (auto it = r.begin(); it != r.end(); ++it) {
    if (it.key() == "seed" && it.value().is_number_unsigned()) {
      seed = it.value().get<uint64_t>();
    } else if (it.key() == "seed" && it.value().is_number_integer() &&
               it.value().get<int64_t>() >= 0) {
      seed = static_cast<uint64_t>(it.value().get<int64_t>());
    } else if (it.key() == "dtype" && it.value().is_string()) {
      dtype = it.value().get<std::string>();
    } else if (it.key() == "seed" || it.key() == "dtype") {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": field 'weights.random.", it.key(), "' must be ",
                       it.key() == "seed" ? "a non-negative integer" : "a string", ", got ",
                       briefJson(it.value())));
    } else {
      return bad(absl::StrCat("has unknown key 'random.", it.key(), "'"));
    }
  }
  auto type = parseWeightType(dtype);
  if (!type.ok())
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": field 'weights.random.dtype': ", type.status().message()));
  return randomWeights(config, seed, *type, path, options.randomValues);
}

std::string findLlama2cTokenizer(const fs::path &model) {
  fs::path dir = model.parent_path();
  if (fs::exists(dir / "tokenizer.bin"))
    return (dir / "tokenizer.bin").string();
  std::vector<std::string> found;
  for (const auto &e : fs::directory_iterator(dir.empty() ? "." : dir))
    if (absl::StartsWith(e.path().filename().string(), "tok") && e.path().extension() == ".bin")
      found.push_back(e.path().string());
  return found.size() == 1 ? found[0] : "";
}

// Recent llama.cpp converters split DeepSeek's kv_b projection per head into
// attn_k_b ([heads, kv_lora_rank, qk_nope]) and attn_v_b ([heads, v_head_dim,
// kv_lora_rank]) for weight absorption. tessel.mla takes the joint
// [heads*(qk_nope+v_head_dim), kv_lora_rank] matrix, so rebuild it once.
absl::Status joinMlaKvB(const ModelConfig &c, WeightStore &store) {
  int64_t h = c.numHeads, r = c.kvLoraRank, dn = c.qkNopeDim, dv = c.vHeadDim;
  for (int64_t layer = 0; layer < c.numLayers; ++layer) {
    std::string p = absl::StrCat("blk.", layer, ".");
    if (store.contains(p + "attn_kv_b.weight") || !store.contains(p + "attn_k_b.weight"))
      continue;
    auto kb = store.get(p + "attn_k_b.weight", {h, r, dn});
    if (!kb.ok())
      return kb.status();
    auto vb = store.get(p + "attn_v_b.weight", {h, dv, r});
    if (!vb.ok())
      return vb.status();
    std::vector<float> k = (*kb)->toF32(), v = (*vb)->toF32();
    std::vector<uint8_t> bytes(h * (dn + dv) * r * 4);
    float *out = reinterpret_cast<float *>(bytes.data());
    for (int64_t head = 0; head < h; ++head) {
      float *rows = out + head * (dn + dv) * r;
      for (int64_t i = 0; i < dn; ++i) // k rows: k_b[head] transposed
        for (int64_t j = 0; j < r; ++j)
          rows[i * r + j] = k[(head * r + j) * dn + i];
      std::copy_n(&v[head * dv * r], dv * r, rows + dn * r);
    }
    std::string source = (*kb)->source;
    WeightStore rebuilt;
    rebuilt.source = store.source;
    for (const auto &[name, t] : store.all())
      if (name != p + "attn_k_b.weight" && name != p + "attn_v_b.weight")
        rebuilt.add(t);
    rebuilt.add(ownedTensor(p + "attn_kv_b.weight", WeightType::F32, {h * (dn + dv), r},
                            std::move(bytes), source));
    store = std::move(rebuilt);
  }
  return absl::OkStatus();
}

absl::Status loadHfInto(LoadedModel &m, const std::string &dir, const json &config, bool weights) {
  if (fs::exists(fs::path(dir) / "tokenizer.json"))
    m.tokenizerPath = (fs::path(dir) / "tokenizer.json").string();
  if (!weights)
    return absl::OkStatus();
  auto hf = loadSafetensors(dir);
  if (!hf.ok())
    return hf.status();
  auto canonical = canonicalizeHf(m.config, *hf, config);
  if (!canonical.ok())
    return canonical.status();
  m.weights = std::move(*canonical);
  return absl::OkStatus();
}

} // namespace

absl::StatusOr<LoadedModel> loadModel(const std::string &path, const LoadOptions &options) {
  LoadedModel m;
  m.path = path;
  std::error_code ec;
  if (!fs::exists(path, ec))
    return absl::NotFoundError(absl::StrCat(path, ": no such file or directory"));

  if (fs::is_directory(path)) {
    fs::path cfg = fs::path(path) / "config.json";
    if (!fs::exists(cfg))
      return absl::NotFoundError(
          absl::StrCat(path, ": a model directory needs a config.json (Hugging Face layout)"));
    auto j = readJson(cfg.string());
    if (!j.ok())
      return j.status();
    auto c = configFromHfJson(*j, cfg.string(), /*strict=*/false);
    if (!c.ok())
      return c.status();
    m.format = ModelFormat::HuggingFace;
    m.config = *c;
    RETURN_IF_ERROR(loadHfInto(m, path, *j, options.weights));
  } else if (absl::EndsWith(path, ".json")) {
    auto j = readJson(path);
    if (!j.ok())
      return j.status();
    auto c = configFromHfJson(*j, path, /*strict=*/true);
    if (!c.ok())
      return c.status();
    m.format = ModelFormat::Description;
    m.config = *c;
    if (options.weights) {
      auto weights = descriptionWeights(*j, path, m.config, m, options);
      if (!weights.ok())
        return weights.status();
      m.weights = std::move(*weights);
    }
  } else {
    // Sniff the magic rather than trust the extension.
    std::ifstream in(path, std::ios::binary);
    char magic[4] = {0, 0, 0, 0};
    in.read(magic, 4);
    if (std::string(magic, 4) == "GGUF" || absl::EndsWith(path, ".gguf")) {
      auto g = GgufFile::open(path);
      if (!g.ok())
        return g.status();
      auto c = configFromGguf(**g);
      if (!c.ok())
        return c.status();
      m.format = ModelFormat::Gguf;
      m.config = *c;
      if (options.weights) {
        m.weights.source = path;
        (*g)->addTo(m.weights);
        if (!m.weights.contains("output.weight") && m.weights.contains("token_embd.weight")) {
          WeightTensor t = *m.weights.get("token_embd.weight").value(); // tied embeddings
          t.name = "output.weight";
          m.weights.add(t);
        }
        if (m.config.arch == ModelArch::Gpt2 && m.weights.contains("blk.0.attn_qkv.weight")) {
          // llama.cpp keeps GPT-2's q/k/v fused; split them into row views.
          WeightStore split;
          split.source = path;
          for (const auto &[name, t] : m.weights.all()) {
            auto pos = name.find("attn_qkv.");
            if (pos == std::string::npos) {
              split.add(t);
              continue;
            }
            for (int part = 0; part < 3; ++part) {
              std::string n =
                  name.substr(0, pos) + "attn_" + "qkv"[part] + "." + name.substr(pos + 9);
              auto rows = t.rows(part * m.config.dim, m.config.dim, n);
              if (!rows.ok())
                return rows.status();
              split.add(*rows);
            }
          }
          m.weights = std::move(split);
        }
      }
      if (options.weights && m.config.isMla())
        RETURN_IF_ERROR(joinMlaKvB(m.config, m.weights));
      m.gguf = std::move(*g);
    } else if (absl::EndsWith(path, ".safetensors")) {
      fs::path dir = fs::path(path).parent_path();
      auto j = readJson((dir / "config.json").string());
      if (!j.ok())
        return j.status();
      auto c = configFromHfJson(*j, (dir / "config.json").string(), false);
      if (!c.ok())
        return c.status();
      m.format = ModelFormat::HuggingFace;
      m.config = *c;
      RETURN_IF_ERROR(loadHfInto(m, dir.string(), *j, options.weights));
    } else if (absl::EndsWith(path, ".bin")) {
      auto l = loadLlama2c(path);
      if (!l.ok())
        return l.status();
      m.format = ModelFormat::Llama2c;
      m.config = l->config;
      m.weights = std::move(l->weights);
      m.tokenizerPath = findLlama2cTokenizer(path);
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": unknown model format; expected a .gguf file, a llama2.c .bin, a model "
                "description .json, or a Hugging Face directory with config.json"));
    }
  }
  if (options.weights)
    RETURN_IF_ERROR(checkWeights(m.config, m.weights));
  return m;
}

} // namespace tessel::frontends
