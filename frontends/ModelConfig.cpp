//===- ModelConfig.cpp - normalise model metadata ---------------------------===//
#include "frontends/ModelConfig.h"

#include <cmath>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "frontends/Gguf.h"
#include "nlohmann/json.hpp"
#include "support/StatusMacros.h"

namespace tessel::frontends {

using json = nlohmann::json;

const char *archName(ModelArch arch) {
  switch (arch) {
  case ModelArch::Llama:
    return "llama";
  case ModelArch::Mistral:
    return "mistral";
  case ModelArch::Qwen2:
    return "qwen2";
  case ModelArch::Mixtral:
    return "mixtral";
  case ModelArch::Deepseek2:
    return "deepseek2";
  case ModelArch::Gpt2:
    return "gpt2";
  case ModelArch::Gemma:
    return "gemma";
  }
  return "?";
}

std::string supportedArchitectures() {
  return "llama, mistral, qwen2, mixtral, deepseek2, gpt2, gemma";
}

absl::Status ModelConfig::validate(const std::string &source) const {
  auto bad = [&](const std::string &field, const std::string &why) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", field, ": ", why));
  };
  struct {
    const char *name;
    int64_t value;
  } positives[] = {{"vocab size", vocabSize},        {"hidden size", dim},
                   {"layer count", numLayers},       {"attention heads", numHeads},
                   {"key/value heads", numKvHeads},  {"head dim", headDim},
                   {"context length", contextLength}};
  for (const auto &p : positives)
    if (p.value <= 0)
      return bad(p.name, absl::StrCat("must be positive, got ", p.value));
  if (numHeads % numKvHeads != 0)
    return bad("key/value heads",
               absl::StrCat(numKvHeads, " does not divide the ", numHeads, " attention heads"));
  if (static_cast<int64_t>(layers.size()) != numLayers)
    return bad("layers",
               absl::StrCat("has ", layers.size(), " entries for ", numLayers, " layers"));
  if (!(normEps > 0))
    return bad("norm epsilon", "must be positive");
  if (rope != RopeStyle::None) {
    int64_t r = ropeDim ? ropeDim : (isMla() ? qkRopeDim : headDim);
    if (r % 2 != 0 || r > (isMla() ? qkRopeDim : headDim))
      return bad("rope dimension", absl::StrCat(r, " must be even and fit the head"));
    if (!(ropeTheta > 0))
      return bad("rope theta", "must be positive");
  }
  bool anyMoe = false;
  for (const LayerSpec &l : layers) {
    anyMoe |= l.moe;
    if (l.window < 0)
      return bad("sliding window", "must not be negative");
  }
  if (anyMoe) {
    if (numExperts <= 0 || expertFfnHidden <= 0)
      return bad("experts", "MoE layers need a positive expert count and expert FFN size");
    if (expertsPerToken <= 0 || expertsPerToken > numExperts)
      return bad("experts per token",
                 absl::StrCat(expertsPerToken, " must be in [1, ", numExperts, "]"));
  }
  if (ffnHidden <= 0 && !std::all_of(layers.begin(), layers.end(), [](auto &l) { return l.moe; }))
    return bad("intermediate size", "dense FFN layers need a positive size");
  if (isMla() && (kvLoraRank <= 0 || qkNopeDim <= 0 || qkRopeDim <= 0 || vHeadDim <= 0))
    return bad("MLA", "kv_lora_rank, qk_nope_head_dim, qk_rope_head_dim and v_head_dim must be "
                      "positive");
  return absl::OkStatus();
}

std::vector<WeightSpec> expectedWeights(const ModelConfig &c) {
  std::vector<WeightSpec> w;
  int64_t d = c.dim, hd = c.headDim;
  bool hasBias = c.norm == NormKind::LayerNorm;
  w.push_back({"token_embd.weight", {c.vocabSize, d}});
  if (c.learnedPositions)
    w.push_back({"position_embd.weight", {c.contextLength, d}});
  if (c.ropeFreqFactors)
    w.push_back({"rope_freqs.weight", {(c.ropeDim ? c.ropeDim : hd) / 2}});
  for (int64_t i = 0; i < c.numLayers; ++i) {
    std::string p = absl::StrCat("blk.", i, ".");
    w.push_back({p + "attn_norm.weight", {d}});
    if (hasBias)
      w.push_back({p + "attn_norm.bias", {d}});
    if (c.isMla()) {
      int64_t qk = c.qkNopeDim + c.qkRopeDim;
      if (c.qLoraRank > 0) {
        w.push_back({p + "attn_q_a.weight", {c.qLoraRank, d}});
        w.push_back({p + "attn_q_a_norm.weight", {c.qLoraRank}});
        w.push_back({p + "attn_q_b.weight", {c.numHeads * qk, c.qLoraRank}});
      } else {
        w.push_back({p + "attn_q.weight", {c.numHeads * qk, d}});
      }
      w.push_back({p + "attn_kv_a_mqa.weight", {c.kvLoraRank + c.qkRopeDim, d}});
      w.push_back({p + "attn_kv_a_norm.weight", {c.kvLoraRank}});
      w.push_back(
          {p + "attn_kv_b.weight", {c.numHeads * (c.qkNopeDim + c.vHeadDim), c.kvLoraRank}});
      w.push_back({p + "attn_output.weight", {d, c.numHeads * c.vHeadDim}});
    } else {
      w.push_back({p + "attn_q.weight", {c.numHeads * hd, d}});
      w.push_back({p + "attn_k.weight", {c.numKvHeads * hd, d}});
      w.push_back({p + "attn_v.weight", {c.numKvHeads * hd, d}});
      if (c.qkvBias) {
        w.push_back({p + "attn_q.bias", {c.numHeads * hd}});
        w.push_back({p + "attn_k.bias", {c.numKvHeads * hd}});
        w.push_back({p + "attn_v.bias", {c.numKvHeads * hd}});
      }
      w.push_back({p + "attn_output.weight", {d, c.numHeads * hd}});
      if (c.outputBias)
        w.push_back({p + "attn_output.bias", {d}});
    }
    w.push_back({p + "ffn_norm.weight", {d}});
    if (hasBias)
      w.push_back({p + "ffn_norm.bias", {d}});
    bool gated = c.activation != FfnActivation::Gelu;
    if (c.layers[i].moe) {
      int64_t e = c.numExperts, f = c.expertFfnHidden;
      w.push_back({p + "ffn_gate_inp.weight", {e, d}});
      w.push_back({p + "ffn_up_exps.weight", {e, f, d}});
      if (gated)
        w.push_back({p + "ffn_gate_exps.weight", {e, f, d}});
      w.push_back({p + "ffn_down_exps.weight", {e, d, f}});
      if (c.numSharedExperts > 0) {
        int64_t fs = c.numSharedExperts * f;
        w.push_back({p + "ffn_up_shexp.weight", {fs, d}});
        if (gated)
          w.push_back({p + "ffn_gate_shexp.weight", {fs, d}});
        w.push_back({p + "ffn_down_shexp.weight", {d, fs}});
      }
    } else {
      w.push_back({p + "ffn_up.weight", {c.ffnHidden, d}});
      if (gated)
        w.push_back({p + "ffn_gate.weight", {c.ffnHidden, d}});
      w.push_back({p + "ffn_down.weight", {d, c.ffnHidden}});
      if (c.outputBias) {
        w.push_back({p + "ffn_up.bias", {c.ffnHidden}});
        w.push_back({p + "ffn_down.bias", {d}});
      }
    }
  }
  w.push_back({"output_norm.weight", {d}});
  if (hasBias)
    w.push_back({"output_norm.bias", {d}});
  w.push_back({"output.weight", {c.vocabSize, d}});
  return w;
}

// Upper bounds far above any real model; they stop a hostile file from
// sizing allocations (a 4-billion-layer vector) before validate() runs.
constexpr int64_t kMaxLayers = 4096, kMaxDim = int64_t(1) << 20, kMaxHeads = 4096;
constexpr int64_t kMaxVocab = int64_t(1) << 24, kMaxContext = int64_t(1) << 24;
constexpr int64_t kMaxExperts = 4096;

// Checks `value` is in [lo, hi]; `field` is the key as the file spells it.
static absl::Status checkRange(const std::string &source, const std::string &field, int64_t value,
                               int64_t lo, int64_t hi) {
  if (value >= lo && value <= hi)
    return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(source, ": field '", field, "' = ", value,
                                                 " is out of range [", lo, ", ", hi, "]"));
}

// Defaults every architecture shares, set once the sizes are known.
static void finishDefaults(ModelConfig &c) {
  if (c.numKvHeads == 0)
    c.numKvHeads = c.numHeads;
  if (c.headDim == 0 && c.numHeads > 0)
    c.headDim = c.dim / c.numHeads;
  if (c.layers.empty())
    c.layers.resize(std::max<int64_t>(c.numLayers, 0));
  switch (c.arch) {
  case ModelArch::Gpt2:
    c.norm = NormKind::LayerNorm;
    c.rope = RopeStyle::None;
    c.learnedPositions = true;
    c.qkvBias = c.outputBias = true;
    c.activation = FfnActivation::Gelu;
    c.geluTanh = true;
    c.tiedEmbeddings = true;
    break;
  case ModelArch::Gemma:
    c.activation = FfnActivation::GeGLU;
    c.geluTanh = true;
    c.tiedEmbeddings = true;
    c.embeddingScale = std::sqrt(static_cast<double>(c.dim));
    break;
  case ModelArch::Qwen2:
    c.qkvBias = true;
    break;
  default:
    break;
  }
}

//===----------------------------------------------------------------------===//
// GGUF metadata
//===----------------------------------------------------------------------===//

absl::StatusOr<ModelConfig> configFromGguf(const GgufFile &f) {
  auto archOr = f.getString("general.architecture");
  if (!archOr.ok())
    return archOr.status();
  std::string a = *archOr;
  ModelConfig c;
  if (a == "llama") {
    c.arch = f.getIntOr("llama.expert_count", 0) > 0 ? ModelArch::Mixtral : ModelArch::Llama;
  } else if (a == "qwen2") {
    c.arch = ModelArch::Qwen2;
  } else if (a == "deepseek2") {
    c.arch = ModelArch::Deepseek2;
  } else if (a == "gpt2") {
    c.arch = ModelArch::Gpt2;
  } else if (a == "gemma") {
    c.arch = ModelArch::Gemma;
  } else {
    return absl::UnimplementedError(
        absl::StrCat(f.path(), ": metadata 'general.architecture' is '", a,
                     "', which Tessel does not support; supported: llama (also Mistral and Mixtral "
                     "checkpoints), qwen2, deepseek2, gpt2, gemma"));
  }
  auto key = [&](const std::string &k) { return a + "." + k; };
  auto need = [&](const std::string &k, int64_t &out) -> absl::Status {
    auto v = f.getInt(key(k));
    if (!v.ok())
      return v.status();
    out = *v;
    return absl::OkStatus();
  };
  for (auto [k, out] : {std::pair<const char *, int64_t *>{"embedding_length", &c.dim},
                        {"block_count", &c.numLayers},
                        {"attention.head_count", &c.numHeads},
                        {"context_length", &c.contextLength}})
    if (auto st = need(k, *out); !st.ok())
      return st;
  for (auto [k, value, lo, hi] :
       {std::tuple<const char *, int64_t, int64_t, int64_t>{"embedding_length", c.dim, 1, kMaxDim},
        {"block_count", c.numLayers, 1, kMaxLayers},
        {"attention.head_count", c.numHeads, 1, kMaxHeads},
        {"context_length", c.contextLength, 1, kMaxContext}})
    if (auto st = checkRange(f.path(), key(k), value, lo, hi); !st.ok())
      return st;
  c.numKvHeads = f.getIntOr(key("attention.head_count_kv"), c.numHeads);
  c.ffnHidden = f.getIntOr(key("feed_forward_length"), 0);
  c.headDim = f.getIntOr(key("attention.key_length"), 0);
  c.normEps = f.getFloatOr(key("attention.layer_norm_rms_epsilon"),
                           f.getFloatOr(key("attention.layer_norm_epsilon"), 1e-5));
  c.ropeTheta = f.getFloatOr(key("rope.freq_base"), 10000.0);
  c.ropeDim = f.getIntOr(key("rope.dimension_count"), 0);
  if (f.has(key("rope.scaling.type"))) {
    auto type = f.getString(key("rope.scaling.type"));
    if (!type.ok())
      return type.status();
    if (*type == "linear")
      c.ropeLinearScaling = f.getFloatOr(key("rope.scaling.factor"), 1.0);
    else if (*type != "none")
      return absl::UnimplementedError(absl::StrCat(f.path(), ": metadata '",
                                                   key("rope.scaling.type"), "' = '", *type,
                                                   "' is not supported (none, linear)"));
  }
  for (const WeightTensor &t : f.tensors())
    c.ropeFreqFactors |= t.name == "rope_freqs.weight";
  c.rope = (c.arch == ModelArch::Qwen2 || c.arch == ModelArch::Gemma) ? RopeStyle::HalfSplit
                                                                      : RopeStyle::Interleaved;
  // Vocabulary: the tokenizer's size, else the embedding's rows.
  if (auto tokens = f.getStrings("tokenizer.ggml.tokens"); tokens.ok())
    c.vocabSize = static_cast<int64_t>((*tokens)->size());
  for (const WeightTensor &t : f.tensors())
    if (t.name == "token_embd.weight" && t.shape.size() == 2)
      c.vocabSize = t.shape[0];
  c.bosToken = f.getIntOr("tokenizer.ggml.bos_token_id", -1);
  c.eosToken = f.getIntOr("tokenizer.ggml.eos_token_id", -1);

  c.layers.resize(std::max<int64_t>(c.numLayers, 0));
  int64_t window = f.getIntOr(key("attention.sliding_window"), 0);
  for (LayerSpec &l : c.layers)
    l.window = window;
  if (window > 0 && c.arch == ModelArch::Llama)
    c.arch = ModelArch::Mistral;
  c.numExperts = f.getIntOr(key("expert_count"), 0);
  c.expertsPerToken = f.getIntOr(key("expert_used_count"), 0);
  if (auto st = checkRange(f.path(), key("expert_count"), c.numExperts, 0, kMaxExperts); !st.ok())
    return st;
  if (c.numExperts > 0) {
    int64_t dense = f.getIntOr(key("leading_dense_block_count"), 0);
    if (auto st = checkRange(f.path(), key("leading_dense_block_count"), dense, 0, c.numLayers);
        !st.ok())
      return st;
    for (int64_t i = dense; i < c.numLayers; ++i)
      c.layers[i].moe = true;
    c.expertFfnHidden = f.getIntOr(key("expert_feed_forward_length"), c.ffnHidden);
    c.numSharedExperts = f.getIntOr(key("expert_shared_count"), 0);
    c.routedScale = f.getFloatOr(key("expert_weights_scale"), 1.0);
    c.normalizeTopK = c.arch == ModelArch::Mixtral;
    if (f.has(key("expert_weights_norm"))) {
      auto norm = f.getBool(key("expert_weights_norm"));
      if (!norm.ok())
        return norm.status();
      c.normalizeTopK = *norm;
    }
    // llama.cpp: 1 = softmax, 2 = sigmoid.
    c.scoring = f.getIntOr(key("expert_gating_func"), 1) == 2 ? RouterScoring::Sigmoid
                                                              : RouterScoring::Softmax;
  }
  if (c.arch == ModelArch::Deepseek2) {
    c.qLoraRank = f.getIntOr(key("attention.q_lora_rank"), 0);
    c.kvLoraRank = f.getIntOr(key("attention.kv_lora_rank"), 0);
    c.qkRopeDim = c.ropeDim;
    c.vHeadDim = f.getIntOr(key("attention.value_length"), 0);
    if (f.has(key("attention.key_length_mla"))) {
      // The absorbed layout of recent converters: key/value_length describe
      // the latent cache, the *_mla keys the per-head dims.
      c.headDim = f.getIntOr(key("attention.key_length_mla"), 0);
      c.vHeadDim = f.getIntOr(key("attention.value_length_mla"), 0);
      c.numKvHeads = c.numHeads;
    }
    c.qkNopeDim = c.headDim - c.qkRopeDim;
    c.ropeDim = 0;
  }
  finishDefaults(c);
  if (c.arch == ModelArch::Gemma)
    c.normUnitOffset = false; // GGUF stores 1 + w
  if (auto st = c.validate(f.path()); !st.ok())
    return st;
  return c;
}

//===----------------------------------------------------------------------===//
// HF config.json and Tessel model descriptions
//===----------------------------------------------------------------------===//

namespace {} // namespace

std::string briefJson(const json &value) {
  // Type names for containers: dumping a hostile value could be huge (or
  // deeply recursive); scalars are short enough to quote.
  if (value.is_object())
    return "an object";
  if (value.is_array())
    return "an array";
  std::string s = value.dump();
  return s.size() > 60 ? s.substr(0, 57) + "..." : s;
}

absl::StatusOr<json> parseJsonText(const std::string &text, const std::string &source) {
  // Measure nesting before parsing, remembering which top-level field we
  // are in so the error can name it: deep values are hostile input, and
  // code that walks them recursively would exhaust the stack.
  constexpr int kMaxDepth = 64;
  int depth = 0;
  bool inString = false, escaped = false;
  std::string lastString, field;
  size_t stringStart = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char ch = text[i];
    if (inString) {
      if (escaped) {
        escaped = false;
      } else if (ch == '\\') {
        escaped = true;
      } else if (ch == '"') {
        inString = false;
        if (depth == 1)
          lastString = text.substr(stringStart, std::min<size_t>(i - stringStart, 64));
      }
    } else if (ch == '"') {
      inString = true;
      stringStart = i + 1;
    } else if (ch == ':' && depth == 1) {
      field = lastString;
    } else if (ch == '[' || ch == '{') {
      if (++depth > kMaxDepth)
        return absl::InvalidArgumentError(
            absl::StrCat(source, ": ", field.empty() ? "" : absl::StrCat("field '", field, "': "),
                         "JSON nested more than ", kMaxDepth, " levels deep"));
    } else if (ch == ']' || ch == '}') {
      --depth;
    }
  }
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded())
    return absl::InvalidArgumentError(absl::StrCat(source, ": not valid JSON"));
  return j;
}

namespace {

std::string brief(const json &value) { return briefJson(value); }

// Reads keys from a JSON object and remembers which were used, so strict
// parsing can name any key nobody read (a typo in a description file).
class JsonFields {
public:
  JsonFields(const json &j, std::string source) : j_(j), source_(std::move(source)) {}

  bool has(const std::string &k) const { return j_.contains(k) && !j_.at(k).is_null(); }

  absl::Status readInt(const std::string &k, int64_t &out, bool required = false) {
    used_.insert(k);
    if (!has(k))
      return required ? missing(k, "an integer") : absl::OkStatus();
    if (!j_.at(k).is_number_integer())
      return wrongType(k, "an integer");
    out = j_.at(k).get<int64_t>();
    return absl::OkStatus();
  }
  absl::Status readFloat(const std::string &k, double &out) {
    used_.insert(k);
    if (!has(k))
      return absl::OkStatus();
    if (!j_.at(k).is_number())
      return wrongType(k, "a number");
    out = j_.at(k).get<double>();
    return absl::OkStatus();
  }
  absl::Status readBool(const std::string &k, bool &out) {
    used_.insert(k);
    if (!has(k))
      return absl::OkStatus();
    if (!j_.at(k).is_boolean())
      return wrongType(k, "true or false");
    out = j_.at(k).get<bool>();
    return absl::OkStatus();
  }
  absl::Status readString(const std::string &k, std::string &out) {
    used_.insert(k);
    if (!has(k))
      return absl::OkStatus();
    if (!j_.at(k).is_string())
      return wrongType(k, "a string");
    out = j_.at(k).get<std::string>();
    return absl::OkStatus();
  }
  const json *object(const std::string &k) {
    used_.insert(k);
    return has(k) ? &j_.at(k) : nullptr;
  }
  void ignore(std::initializer_list<const char *> keys) {
    for (const char *k : keys)
      used_.insert(k);
  }
  absl::Status unknownKeys() const {
    for (auto it = j_.begin(); it != j_.end(); ++it)
      if (!used_.count(it.key()))
        return absl::InvalidArgumentError(
            absl::StrCat(source_, ": unknown key '", it.key(),
                         "' (check its spelling; see docs/MODEL_DESCRIPTION.md)"));
    return absl::OkStatus();
  }
  absl::Status wrongType(const std::string &k, const char *expected) const {
    return absl::InvalidArgumentError(
        absl::StrCat(source_, ": field '", k, "' must be ", expected, ", got ", brief(j_.at(k))));
  }
  absl::Status missing(const std::string &k, const char *expected) const {
    return absl::InvalidArgumentError(
        absl::StrCat(source_, ": missing field '", k, "' (", expected, ")"));
  }

private:
  const json &j_;
  std::string source_;
  std::set<std::string> used_;
};

} // namespace

absl::StatusOr<ModelConfig> configFromHfJson(const json &j, const std::string &source,
                                             bool strict) {
  if (!j.is_object())
    return absl::InvalidArgumentError(absl::StrCat(source, ": expected a JSON object"));
  JsonFields f(j, source);
  ModelConfig c;
  std::string type;
  RETURN_IF_ERROR(f.readString("model_type", type));
  f.ignore({"architectures"});
  if (type.empty())
    return f.missing("model_type", "the architecture, e.g. \"llama\"");
  static const std::pair<const char *, ModelArch> kTypes[] = {{"llama", ModelArch::Llama},
                                                              {"mistral", ModelArch::Mistral},
                                                              {"qwen2", ModelArch::Qwen2},
                                                              {"mixtral", ModelArch::Mixtral},
                                                              {"deepseek_v2", ModelArch::Deepseek2},
                                                              {"deepseek2", ModelArch::Deepseek2},
                                                              {"gpt2", ModelArch::Gpt2},
                                                              {"gemma", ModelArch::Gemma}};
  bool known = false;
  for (auto [name, arch] : kTypes)
    if (type == name)
      c.arch = arch, known = true;
  if (!known)
    return absl::UnimplementedError(
        absl::StrCat(source, ": model_type '", type,
                     "' is not supported; supported: llama, mistral, qwen2, mixtral, "
                     "deepseek_v2, gpt2, gemma"));

  if (c.arch == ModelArch::Gpt2) {
    RETURN_IF_ERROR(f.readInt("n_embd", c.dim, true));
    RETURN_IF_ERROR(f.readInt("n_layer", c.numLayers, true));
    RETURN_IF_ERROR(f.readInt("n_head", c.numHeads, true));
    RETURN_IF_ERROR(f.readInt("n_positions", c.contextLength, true));
    c.ffnHidden = 4 * c.dim;
    RETURN_IF_ERROR(f.readInt("n_inner", c.ffnHidden));
    RETURN_IF_ERROR(f.readFloat("layer_norm_epsilon", c.normEps));
    std::string act = "gelu_new";
    RETURN_IF_ERROR(f.readString("activation_function", act));
    if (act != "gelu_new" && act != "gelu_pytorch_tanh")
      return absl::UnimplementedError(
          absl::StrCat(source, ": activation_function '", act, "' is not supported (gelu_new)"));
    f.ignore({"n_ctx"});
  } else {
    RETURN_IF_ERROR(f.readInt("hidden_size", c.dim, true));
    RETURN_IF_ERROR(f.readInt("num_hidden_layers", c.numLayers, true));
    RETURN_IF_ERROR(f.readInt("num_attention_heads", c.numHeads, true));
    RETURN_IF_ERROR(f.readInt("num_key_value_heads", c.numKvHeads));
    RETURN_IF_ERROR(f.readInt("intermediate_size", c.ffnHidden));
    RETURN_IF_ERROR(f.readInt("max_position_embeddings", c.contextLength, true));
    RETURN_IF_ERROR(f.readInt("head_dim", c.headDim));
    RETURN_IF_ERROR(f.readFloat("rms_norm_eps", c.normEps));
    RETURN_IF_ERROR(f.readFloat("rope_theta", c.ropeTheta));
    RETURN_IF_ERROR(f.readBool("tie_word_embeddings", c.tiedEmbeddings));
    c.rope = c.arch == ModelArch::Deepseek2 ? RopeStyle::Interleaved : RopeStyle::HalfSplit;
    if (const json *rs = f.object("rope_scaling")) {
      JsonFields r(*rs, source + ": rope_scaling");
      std::string rtype;
      RETURN_IF_ERROR(r.readString("rope_type", rtype));
      if (rtype.empty())
        RETURN_IF_ERROR(r.readString("type", rtype));
      double factor = 1.0;
      RETURN_IF_ERROR(r.readFloat("factor", factor));
      if (rtype == "linear") {
        c.ropeLinearScaling = factor;
      } else if (rtype == "llama3") {
        c.ropeFreqFactors = true; // computed by the loader into rope_freqs.weight
      } else {
        return absl::UnimplementedError(absl::StrCat(source, ": rope_scaling type '", rtype,
                                                     "' is not supported (linear, llama3)"));
      }
    }
  }
  int64_t window = 0;
  if (c.arch == ModelArch::Mistral || c.arch == ModelArch::Qwen2 || c.arch == ModelArch::Mixtral)
    RETURN_IF_ERROR(f.readInt("sliding_window", window));
  bool useWindow = c.arch != ModelArch::Qwen2;
  if (c.arch == ModelArch::Qwen2)
    RETURN_IF_ERROR(f.readBool("use_sliding_window", useWindow));
  RETURN_IF_ERROR(f.readInt("vocab_size", c.vocabSize, true));
  RETURN_IF_ERROR(f.readInt("bos_token_id", c.bosToken));
  RETURN_IF_ERROR(f.readInt("eos_token_id", c.eosToken));

  if (c.arch == ModelArch::Mixtral) {
    RETURN_IF_ERROR(f.readInt("num_local_experts", c.numExperts, true));
    RETURN_IF_ERROR(f.readInt("num_experts_per_tok", c.expertsPerToken, true));
    c.expertFfnHidden = c.ffnHidden;
  }
  int64_t firstDense = 0, moeFreq = 1;
  if (c.arch == ModelArch::Deepseek2) {
    RETURN_IF_ERROR(f.readInt("q_lora_rank", c.qLoraRank));
    RETURN_IF_ERROR(f.readInt("kv_lora_rank", c.kvLoraRank, true));
    RETURN_IF_ERROR(f.readInt("qk_nope_head_dim", c.qkNopeDim, true));
    RETURN_IF_ERROR(f.readInt("qk_rope_head_dim", c.qkRopeDim, true));
    RETURN_IF_ERROR(f.readInt("v_head_dim", c.vHeadDim, true));
    RETURN_IF_ERROR(f.readInt("n_routed_experts", c.numExperts));
    RETURN_IF_ERROR(f.readInt("num_experts_per_tok", c.expertsPerToken));
    RETURN_IF_ERROR(f.readInt("n_shared_experts", c.numSharedExperts));
    RETURN_IF_ERROR(f.readInt("moe_intermediate_size", c.expertFfnHidden));
    RETURN_IF_ERROR(f.readInt("first_k_dense_replace", firstDense));
    RETURN_IF_ERROR(f.readInt("moe_layer_freq", moeFreq));
    RETURN_IF_ERROR(f.readBool("norm_topk_prob", c.normalizeTopK));
    RETURN_IF_ERROR(f.readFloat("routed_scaling_factor", c.routedScale));
    std::string scoring = "softmax";
    RETURN_IF_ERROR(f.readString("scoring_func", scoring));
    if (scoring != "softmax" && scoring != "sigmoid")
      return absl::UnimplementedError(absl::StrCat(source, ": scoring_func '", scoring,
                                                   "' is not supported (softmax, sigmoid)"));
    c.scoring = scoring == "sigmoid" ? RouterScoring::Sigmoid : RouterScoring::Softmax;
    c.headDim = c.qkNopeDim + c.qkRopeDim;
    if (moeFreq <= 0)
      return f.wrongType("moe_layer_freq", "a positive integer");
  }
  if (c.arch == ModelArch::Gemma) {
    std::string act = "gelu_pytorch_tanh";
    RETURN_IF_ERROR(f.readString("hidden_activation", act));
    RETURN_IF_ERROR(f.readString("hidden_act", act));
  }
  // HF fields that do not change the computation Tessel performs.
  f.ignore({"torch_dtype",
            "transformers_version",
            "initializer_range",
            "use_cache",
            "attention_dropout",
            "hidden_act",
            "pretraining_tp",
            "attention_bias",
            "mlp_bias",
            "pad_token_id",
            "output_router_logits",
            "router_aux_loss_coef",
            "router_jitter_noise",
            "max_window_layers",
            "topk_method",
            "n_group",
            "topk_group",
            "aux_loss_alpha",
            "seq_aux",
            "ep_size",
            "resid_pdrop",
            "embd_pdrop",
            "attn_pdrop",
            "summary_type",
            "summary_use_proj",
            "summary_activation",
            "summary_proj_to_labels",
            "summary_first_dropout",
            "scale_attn_weights",
            "task_specific_params",
            "rope_interleave",
            "model_name"});

  bool gpt2 = c.arch == ModelArch::Gpt2;
  for (auto [k, value, lo, hi] :
       {std::tuple<const char *, int64_t, int64_t, int64_t>{gpt2 ? "n_embd" : "hidden_size", c.dim,
                                                            1, kMaxDim},
        {gpt2 ? "n_layer" : "num_hidden_layers", c.numLayers, 1, kMaxLayers},
        {gpt2 ? "n_head" : "num_attention_heads", c.numHeads, 1, kMaxHeads},
        {"vocab_size", c.vocabSize, 1, kMaxVocab},
        {gpt2 ? "n_positions" : "max_position_embeddings", c.contextLength, 1, kMaxContext}})
    RETURN_IF_ERROR(checkRange(source, k, value, lo, hi));
  RETURN_IF_ERROR(checkRange(source, "first_k_dense_replace", firstDense, 0, c.numLayers));
  RETURN_IF_ERROR(
      checkRange(source, c.arch == ModelArch::Mixtral ? "num_local_experts" : "n_routed_experts",
                 c.numExperts, 0, kMaxExperts));
  finishDefaults(c);
  if (c.arch == ModelArch::Gemma)
    c.normUnitOffset = true; // HF applies (1 + w)
  for (int64_t i = 0; i < c.numLayers; ++i) {
    if (useWindow)
      c.layers[i].window = window;
    if (c.numExperts > 0)
      c.layers[i].moe = c.arch == ModelArch::Mixtral || (i >= firstDense && i % moeFreq == 0);
  }

  // Tessel extensions: per-layer overrides and where the weights come from.
  if (const json *layers = f.object("layers")) {
    if (!layers->is_array() || static_cast<int64_t>(layers->size()) != c.numLayers)
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": field 'layers' must be an array with one object per layer (",
                       c.numLayers, ")"));
    for (int64_t i = 0; i < c.numLayers; ++i) {
      JsonFields l((*layers)[i], absl::StrCat(source, ": layers[", i, "]"));
      if (!(*layers)[i].is_object())
        return absl::InvalidArgumentError(
            absl::StrCat(source, ": layers[", i, "] must be an object"));
      RETURN_IF_ERROR(l.readBool("moe", c.layers[i].moe));
      RETURN_IF_ERROR(l.readInt("sliding_window", c.layers[i].window));
      if (strict)
        RETURN_IF_ERROR(l.unknownKeys());
    }
  }
  f.ignore({"weights"}); // read by the model loader
  if (strict)
    RETURN_IF_ERROR(f.unknownKeys());
  if (auto st = c.validate(source); !st.ok())
    return st;
  return c;
}

} // namespace tessel::frontends
