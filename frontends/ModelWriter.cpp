//===- ModelWriter.cpp - write models as GGUF or HF safetensors -----------===//
#include "frontends/ModelWriter.h"

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "frontends/ModelLoader.h"
#include "frontends/Safetensors.h"
#include "nlohmann/json.hpp"

namespace tessel::frontends {

namespace fs = std::filesystem;
using json = nlohmann::json;

RopeStyle ggufRopeStyle(ModelArch arch) {
  switch (arch) {
  case ModelArch::Gpt2:
    return RopeStyle::None;
  case ModelArch::Qwen2:
  case ModelArch::Gemma:
    return RopeStyle::HalfSplit;
  default:
    return RopeStyle::Interleaved;
  }
}

RopeStyle hfRopeStyle(ModelArch arch) {
  switch (arch) {
  case ModelArch::Gpt2:
    return RopeStyle::None;
  case ModelArch::Deepseek2:
    return RopeStyle::Interleaved;
  default:
    return RopeStyle::HalfSplit;
  }
}

namespace {

// Row permutation of a q/k projection between RoPE layouts, per head:
// interleaved row 2i + j  <->  half-split row j * hd/2 + i.
std::vector<uint8_t> permuteRopeRows(const WeightTensor &w, int64_t heads, int64_t headDim,
                                     bool toHalfSplit) {
  uint64_t rowBytes = w.bytes / w.shape[0];
  std::vector<uint8_t> out(w.bytes);
  int64_t half = headDim / 2;
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t i = 0; i < half; ++i)
      for (int64_t j = 0; j < 2; ++j) {
        int64_t inter = h * headDim + 2 * i + j, split = h * headDim + j * half + i;
        int64_t from = toHalfSplit ? inter : split, to = toHalfSplit ? split : inter;
        std::memcpy(&out[to * rowBytes], w.data + from * rowBytes, rowBytes);
      }
  return out;
}

// The bytes of `w` as the target format wants them (q/k permuted if the
// target's RoPE layout differs from the config's).
std::vector<uint8_t> targetBytes(const ModelConfig &c, const WeightTensor &w, RopeStyle target,
                                 bool targetUnitOffset) {
  // Gemma: HF stores w and scales by (1 + w); llama.cpp's converter stores 1 + w.
  bool norm = w.shape.size() == 1 && w.name.size() > 11 &&
              w.name.compare(w.name.size() - 11, 11, "norm.weight") == 0;
  if (norm && c.normUnitOffset != targetUnitOffset) {
    std::vector<float> v = w.toF32();
    for (float &x : v)
      x += c.normUnitOffset ? 1.0f : -1.0f;
    std::vector<uint8_t> out(w.bytes);
    quantizeRow(w.type, v.data(), out.data(), w.numel());
    return out;
  }
  bool q = w.name.find(".attn_q.weight") != std::string::npos;
  bool k = w.name.find(".attn_k.weight") != std::string::npos;
  bool qb = w.name.find(".attn_q.bias") != std::string::npos;
  bool kb = w.name.find(".attn_k.bias") != std::string::npos;
  if ((q || k || qb || kb) && c.rope != RopeStyle::None && target != c.rope && !c.isMla())
    return permuteRopeRows(w, (q || qb) ? c.numHeads : c.numKvHeads, c.headDim,
                           target == RopeStyle::HalfSplit);
  return std::vector<uint8_t>(w.data, w.data + w.bytes);
}

const char *ggufArch(ModelArch a) {
  switch (a) {
  case ModelArch::Llama:
  case ModelArch::Mistral:
  case ModelArch::Mixtral:
    return "llama";
  default:
    return archName(a);
  }
}

void writeSyntheticVocab(GgufWriter &w, const ModelConfig &c) {
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types; // llama.cpp: 1 normal, 2 unknown, 3 control, 6 byte
  auto add = [&](std::string t, float score, int32_t type) {
    tokens.push_back(std::move(t));
    scores.push_back(score);
    types.push_back(type);
  };
  add("<unk>", 0, 2);
  add("<s>", 0, 3);
  add("</s>", 0, 3);
  for (int b = 0; b < 256 && static_cast<int64_t>(tokens.size()) < c.vocabSize; ++b)
    add(absl::StrFormat("<0x%02X>", b), 0, 6);
  for (int64_t i = static_cast<int64_t>(tokens.size()); i < c.vocabSize; ++i)
    add(absl::StrCat("\xe2\x96\x81t", i), -static_cast<float>(i), 1);
  w.addString("tokenizer.ggml.model", "llama");
  w.addStrings("tokenizer.ggml.tokens", tokens);
  w.addF32s("tokenizer.ggml.scores", scores);
  w.addI32s("tokenizer.ggml.token_type", types);
  w.addU32("tokenizer.ggml.unknown_token_id", 0);
  w.addU32("tokenizer.ggml.bos_token_id", 1);
  w.addU32("tokenizer.ggml.eos_token_id", 2);
}

absl::Status copyVocab(GgufWriter &w, const GgufFile &from, const ModelConfig &c) {
  for (const auto &[key, v] : from.metadata()) {
    if (key.rfind("tokenizer.", 0) != 0)
      continue;
    if (key == "tokenizer.ggml.tokens" && static_cast<int64_t>(v.strings.size()) != c.vocabSize)
      return absl::InvalidArgumentError(absl::StrCat(from.path(), ": its vocabulary has ",
                                                     v.strings.size(), " tokens, the model ",
                                                     c.vocabSize));
    w.addValue(key, v);
  }
  return absl::OkStatus();
}

} // namespace

absl::Status writeGgufModel(const ModelConfig &c, const WeightStore &weights,
                            const std::string &path, const GgufWriteOptions &options) {
  GgufWriter w;
  std::string a = ggufArch(c.arch);
  auto key = [&](const char *k) { return a + "." + k; };
  w.addString("general.architecture", a);
  w.addString("general.name", absl::StrCat("tessel-mkmodel-", archName(c.arch)));
  w.addU32(key("context_length"), c.contextLength);
  w.addU32(key("embedding_length"), c.dim);
  w.addU32(key("block_count"), c.numLayers);
  w.addU32(key("feed_forward_length"), c.ffnHidden > 0 ? c.ffnHidden : c.expertFfnHidden);
  w.addU32(key("attention.head_count"), c.numHeads);
  w.addU32(key("attention.head_count_kv"), c.numKvHeads);
  w.addU32(key("vocab_size"), c.vocabSize);
  if (c.norm == NormKind::LayerNorm)
    w.addF32(key("attention.layer_norm_epsilon"), c.normEps);
  else
    w.addF32(key("attention.layer_norm_rms_epsilon"), c.normEps);
  if (c.rope != RopeStyle::None) {
    w.addF32(key("rope.freq_base"), c.ropeTheta);
    w.addU32(key("rope.dimension_count"),
             c.isMla() ? c.qkRopeDim : (c.ropeDim ? c.ropeDim : c.headDim));
    if (c.ropeLinearScaling != 1.0) {
      w.addString(key("rope.scaling.type"), "linear");
      w.addF32(key("rope.scaling.factor"), c.ropeLinearScaling);
    }
  }
  if (!c.isMla() && c.headDim * c.numHeads != c.dim) {
    w.addU32(key("attention.key_length"), c.headDim);
    w.addU32(key("attention.value_length"), c.headDim);
  }
  int64_t window = c.layers.empty() ? 0 : c.layers[0].window;
  for (const LayerSpec &l : c.layers)
    if (l.window != window)
      return absl::UnimplementedError(
          "GGUF has one sliding window for all layers; this model varies it per layer");
  if (window > 0)
    w.addU32(key("attention.sliding_window"), window);
  int64_t leadingDense = 0;
  while (leadingDense < c.numLayers && !c.layers[leadingDense].moe)
    ++leadingDense;
  for (int64_t i = leadingDense; i < c.numLayers; ++i)
    if (!c.layers[i].moe)
      return absl::UnimplementedError(
          "GGUF expresses MoE layers as 'all after the leading dense ones'; this model "
          "interleaves dense and MoE layers");
  if (c.numExperts > 0 && leadingDense < c.numLayers) {
    w.addU32(key("expert_count"), c.numExperts);
    w.addU32(key("expert_used_count"), c.expertsPerToken);
    if (c.arch == ModelArch::Mixtral && leadingDense > 0)
      return absl::UnimplementedError(
          "llama.cpp's llama architecture makes every layer MoE; this Mixtral model has "
          "dense leading layers");
    if (c.arch == ModelArch::Deepseek2) {
      w.addU32(key("leading_dense_block_count"), leadingDense);
      w.addU32(key("expert_feed_forward_length"), c.expertFfnHidden);
      w.addU32(key("expert_shared_count"), c.numSharedExperts);
      w.addF32(key("expert_weights_scale"), c.routedScale);
      w.addBool(key("expert_weights_norm"), c.normalizeTopK);
      w.addU32(key("expert_gating_func"), c.scoring == RouterScoring::Sigmoid ? 2 : 1);
    }
  }
  if (c.isMla()) {
    // llama.cpp reads q_lora_rank unconditionally (0 = q is one projection).
    w.addU32(key("attention.q_lora_rank"), c.qLoraRank);
    w.addU32(key("attention.kv_lora_rank"), c.kvLoraRank);
    w.addU32(key("attention.key_length"), c.qkNopeDim + c.qkRopeDim);
    w.addU32(key("attention.value_length"), c.vHeadDim);
  }
  if (options.vocabFrom) {
    if (auto st = copyVocab(w, *options.vocabFrom, c); !st.ok())
      return st;
  } else {
    writeSyntheticVocab(w, c);
  }

  RopeStyle target = ggufRopeStyle(c.arch);
  for (const WeightSpec &spec : expectedWeights(c)) {
    if (spec.name == "output.weight" && c.tiedEmbeddings)
      continue; // llama.cpp reuses token_embd
    auto t = weights.get(spec.name, spec.shape);
    if (!t.ok())
      return t.status();
    if (c.arch == ModelArch::Gpt2 && spec.name.find(".attn_q.") != std::string::npos) {
      // llama.cpp's GPT-2 keeps q, k and v fused in attn_qkv.
      std::string prefix = spec.name.substr(0, spec.name.find("attn_q."));
      std::string suffix = spec.name.substr(spec.name.find("attn_q.") + 7);
      std::vector<uint8_t> fused;
      for (const char *part : {"attn_q.", "attn_k.", "attn_v."}) {
        auto p = weights.get(prefix + part + suffix);
        if (!p.ok())
          return p.status();
        fused.insert(fused.end(), (*p)->data, (*p)->data + (*p)->bytes);
      }
      std::vector<int64_t> shape = spec.shape;
      shape[0] *= 3;
      w.addTensor(prefix + "attn_qkv." + suffix, (*t)->type, shape, std::move(fused));
      continue;
    }
    if (c.arch == ModelArch::Gpt2 && (spec.name.find(".attn_k.") != std::string::npos ||
                                      spec.name.find(".attn_v.") != std::string::npos))
      continue;
    w.addTensor(spec.name, (*t)->type, spec.shape, targetBytes(c, **t, target, false));
  }
  return w.write(path);
}

absl::Status writeHfModel(const ModelConfig &c, const WeightStore &weights, const std::string &dir,
                          uint64_t maxShardBytes) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  json j;
  const char *types[] = {"llama", "mistral", "qwen2", "mixtral", "deepseek_v2", "gpt2", "gemma"};
  j["model_type"] = types[static_cast<int>(c.arch)];
  j["vocab_size"] = c.vocabSize;
  if (c.bosToken >= 0)
    j["bos_token_id"] = c.bosToken;
  if (c.eosToken >= 0)
    j["eos_token_id"] = c.eosToken;
  if (c.arch == ModelArch::Gpt2) {
    j["n_embd"] = c.dim;
    j["n_layer"] = c.numLayers;
    j["n_head"] = c.numHeads;
    j["n_positions"] = c.contextLength;
    j["n_inner"] = c.ffnHidden;
    j["layer_norm_epsilon"] = c.normEps;
    j["activation_function"] = "gelu_new";
  } else {
    j["hidden_size"] = c.dim;
    j["num_hidden_layers"] = c.numLayers;
    j["num_attention_heads"] = c.numHeads;
    j["num_key_value_heads"] = c.numKvHeads;
    j["intermediate_size"] = c.ffnHidden;
    j["max_position_embeddings"] = c.contextLength;
    j["rms_norm_eps"] = c.normEps;
    j["rope_theta"] = c.ropeTheta;
    j["tie_word_embeddings"] = c.tiedEmbeddings;
    if (!c.isMla())
      j["head_dim"] = c.headDim;
    if (c.ropeLinearScaling != 1.0)
      j["rope_scaling"] = {{"rope_type", "linear"}, {"factor", c.ropeLinearScaling}};
    if (c.ropeFreqFactors)
      return absl::UnimplementedError(
          "writing Llama 3 rope scaling to config.json needs its original parameters; "
          "write this model as GGUF");
  }
  int64_t window = c.layers.empty() ? 0 : c.layers[0].window;
  if (window > 0)
    j["sliding_window"] = window;
  if (c.arch == ModelArch::Mixtral) {
    j["num_local_experts"] = c.numExperts;
    j["num_experts_per_tok"] = c.expertsPerToken;
  }
  if (c.isMla()) {
    int64_t firstDense = 0;
    while (firstDense < c.numLayers && !c.layers[firstDense].moe)
      ++firstDense;
    j["q_lora_rank"] = c.qLoraRank > 0 ? json(c.qLoraRank) : json(nullptr);
    j["kv_lora_rank"] = c.kvLoraRank;
    j["qk_nope_head_dim"] = c.qkNopeDim;
    j["qk_rope_head_dim"] = c.qkRopeDim;
    j["v_head_dim"] = c.vHeadDim;
    j["n_routed_experts"] = c.numExperts;
    j["num_experts_per_tok"] = c.expertsPerToken;
    j["n_shared_experts"] = c.numSharedExperts;
    j["moe_intermediate_size"] = c.expertFfnHidden;
    j["first_k_dense_replace"] = firstDense;
    j["norm_topk_prob"] = c.normalizeTopK;
    j["routed_scaling_factor"] = c.routedScale;
    j["scoring_func"] = c.scoring == RouterScoring::Sigmoid ? "sigmoid" : "softmax";
  }
  // Per-layer choices HF cannot express are refused rather than lost.
  for (const LayerSpec &l : c.layers)
    if (l.window != window || (c.arch == ModelArch::Mixtral && !l.moe))
      return absl::UnimplementedError(
          "config.json cannot express this model's per-layer windows or dense layers; "
          "write it as a Tessel model description or GGUF");

  SafetensorsWriter st;
  RopeStyle target = hfRopeStyle(c.arch);
  for (const WeightSpec &spec : expectedWeights(c)) {
    if (spec.name == "output.weight" && c.tiedEmbeddings)
      continue;
    auto t = weights.get(spec.name, spec.shape);
    if (!t.ok())
      return t.status();
    WeightTensor w = **t;
    std::vector<uint8_t> bytes =
        targetBytes(c, w, target, /*targetUnitOffset=*/c.arch == ModelArch::Gemma);
    WeightType type = w.type;
    if (type == WeightType::Q8_0 || type == WeightType::Q4_0) {
      std::vector<float> f(w.numel());
      dequantizeRow(type, bytes.data(), f.data(), w.numel());
      bytes.assign(reinterpret_cast<uint8_t *>(f.data()),
                   reinterpret_cast<uint8_t *>(f.data()) + f.size() * 4);
      type = WeightType::F32;
    }
    HfName hf = hfWeightName(c, spec.name);
    if (spec.name.find("_exps.weight") != std::string::npos) {
      // One matrix per expert.
      int layer = std::stoi(spec.name.substr(4));
      std::string which = spec.name.substr(spec.name.find("ffn_") + 4);
      which = which.substr(0, which.find("_exps"));
      uint64_t per = bytes.size() / c.numExperts;
      std::vector<int64_t> shape(spec.shape.begin() + 1, spec.shape.end());
      for (int64_t e = 0; e < c.numExperts; ++e) {
        std::string name = hfExpertName(c, layer, which, e);
        st.addTensor(name, type, shape,
                     std::vector<uint8_t>(bytes.begin() + e * per, bytes.begin() + (e + 1) * per));
      }
      continue;
    }
    if (c.arch == ModelArch::Gpt2 && hf.name.empty()) {
      // q/k/v go into the fused Conv1D c_attn ([dim, 3*dim], transposed).
      if (spec.name.find(".attn_q.") == std::string::npos)
        continue;
      std::string prefix = spec.name.substr(0, spec.name.find("attn_q."));
      std::string suffix = spec.name.substr(spec.name.find("attn_q.") + 7);
      std::vector<float> fused;
      for (const char *part : {"attn_q.", "attn_k.", "attn_v."}) {
        std::vector<float> v = weights.get(prefix + part + suffix).value()->toF32();
        fused.insert(fused.end(), v.begin(), v.end());
      }
      int layer = std::stoi(spec.name.substr(4));
      bool bias = suffix == "bias";
      std::string name = absl::StrCat("transformer.h.", layer, ".attn.c_attn.", suffix);
      if (bias) {
        st.addTensorFromF32(name, WeightType::F32, {3 * c.dim}, fused);
      } else {
        std::vector<float> t(fused.size());
        int64_t rows = 3 * c.dim, cols = c.dim;
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t col = 0; col < cols; ++col)
            t[col * rows + r] = fused[r * cols + col];
        st.addTensorFromF32(name, WeightType::F32, {cols, rows}, t);
      }
      continue;
    }
    if (hf.name.empty())
      continue; // computed on load (rope_freqs)
    if (hf.transposed) {
      std::vector<float> f(w.numel()), t(w.numel());
      dequantizeRow(type, bytes.data(), f.data(), w.numel());
      int64_t rows = spec.shape[0], cols = spec.shape[1];
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t col = 0; col < cols; ++col)
          t[col * rows + r] = f[r * cols + col];
      st.addTensorFromF32(hf.name, WeightType::F32, {cols, rows}, t);
      continue;
    }
    st.addTensor(hf.name, type, spec.shape, std::move(bytes));
  }
  if (auto s = st.write(dir, maxShardBytes); !s.ok())
    return s;
  std::ofstream out(fs::path(dir) / "config.json");
  out << j.dump(2) << "\n";
  if (!out)
    return absl::DataLossError(absl::StrCat(dir, "/config.json: cannot write"));
  return absl::OkStatus();
}

} // namespace tessel::frontends
