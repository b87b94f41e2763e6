//===- Llama2c.cpp - llama2.c checkpoints ---------------------------------===//
#include "frontends/Llama2c.h"

#include "absl/strings/str_cat.h"
#include "frontends/MappedFile.h"

namespace tessel::frontends {

absl::StatusOr<Llama2cModel> loadLlama2c(const std::string &path) {
  auto file = MappedFile::open(path);
  if (!file.ok())
    return file.status();
  std::shared_ptr<MappedFile> mapped = *file;
  ByteReader r(path, mapped->data(), mapped->size());
  const char *names[] = {"dim",        "hidden_dim", "n_layers", "n_heads",
                         "n_kv_heads", "vocab_size", "seq_len"};
  int64_t h[7];
  for (int i = 0; i < 7; ++i) {
    auto v = r.read<int32_t>(absl::StrCat("header field ", names[i]));
    if (!v.ok())
      return v.status();
    h[i] = *v;
  }
  bool shared = h[5] > 0;
  h[5] = h[5] < 0 ? -h[5] : h[5];
  // Bound every field before multiplying: a hostile header must not
  // overflow the size computation below.
  for (int i = 0; i < 7; ++i)
    if (h[i] <= 0 || h[i] > (1 << 20))
      return absl::InvalidArgumentError(absl::StrCat(path, ": header field ", names[i], " = ", h[i],
                                                     " is absurd (expected 1 to 2^20)"));
  Llama2cModel m;
  ModelConfig &c = m.config;
  c.arch = ModelArch::Llama;
  c.dim = h[0];
  c.ffnHidden = h[1];
  c.numLayers = h[2];
  c.numHeads = h[3];
  c.numKvHeads = h[4];
  c.vocabSize = h[5];
  c.contextLength = h[6];
  c.rope = RopeStyle::Interleaved;
  c.normEps = 1e-5;
  c.bosToken = 1;
  c.eosToken = 2;
  c.layers.resize(c.numLayers);
  if (c.dim % c.numHeads != 0)
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": dim ", c.dim, " is not a multiple of n_heads ", c.numHeads));
  c.headDim = c.dim / c.numHeads;
  if (auto st = c.validate(path); !st.ok())
    return st;

  int64_t d = c.dim, f = c.ffnHidden, layers = c.numLayers, kv = c.numKvHeads * c.headDim;
  int64_t v = c.vocabSize;
  // 128-bit: fields up to 2^20 make these products overflow 64 bits.
  using u128 = unsigned __int128;
  u128 floats = u128(v) * d +
                u128(layers) *
                    (u128(d) + u128(d) * d + u128(2) * kv * d + u128(d) * d + d + u128(3) * f * d) +
                d + u128(c.contextLength) * c.headDim + (shared ? 0 : u128(v) * d);
  u128 expected128 = 28 + floats * 4;
  if (expected128 > mapped->size())
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": truncated: the header (dim ", d, ", hidden ", f, ", ", layers, " layers, vocab ",
        v, ") needs ",
        expected128 >> 64 ? std::string("more than 2^64") : absl::StrCat(uint64_t(expected128)),
        " bytes, the file has ", mapped->size()));
  uint64_t expected = static_cast<uint64_t>(expected128);
  if (mapped->size() != expected)
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": ", mapped->size() < expected ? "truncated" : "unexpected trailing data",
        ": the header (dim ", d, ", hidden ", f, ", ", layers, " layers, vocab ", v, ") needs ",
        expected, " bytes, the file has ", mapped->size()));

  m.weights.source = path;
  const uint8_t *p = mapped->data() + 28;
  // Adds `count` stacked tensors of `shape` (one per layer if `perLayer`).
  auto take = [&](const std::string &suffix, std::vector<int64_t> shape, int64_t count,
                  bool perLayer) {
    int64_t n = 1;
    for (int64_t x : shape)
      n *= x;
    for (int64_t i = 0; i < count; ++i) {
      WeightTensor t;
      t.name = perLayer ? absl::StrCat("blk.", i, ".", suffix) : suffix;
      t.type = WeightType::F32;
      t.shape = shape;
      t.data = p;
      t.bytes = n * 4;
      t.owner = mapped;
      t.source = path;
      m.weights.add(t);
      p += n * 4;
    }
  };
  take("token_embd.weight", {v, d}, 1, false);
  take("attn_norm.weight", {d}, layers, true);
  take("attn_q.weight", {d, d}, layers, true);
  take("attn_k.weight", {kv, d}, layers, true);
  take("attn_v.weight", {kv, d}, layers, true);
  take("attn_output.weight", {d, d}, layers, true);
  take("ffn_norm.weight", {d}, layers, true);
  take("ffn_gate.weight", {f, d}, layers, true); // llama2.c w1
  take("ffn_down.weight", {d, f}, layers, true); // w2
  take("ffn_up.weight", {f, d}, layers, true);   // w3
  take("output_norm.weight", {d}, 1, false);
  p += c.contextLength * c.headDim * 4; // legacy freq_cis_real/imag: recomputed, not read
  if (shared) {
    WeightTensor out = *m.weights.get("token_embd.weight").value();
    out.name = "output.weight";
    m.weights.add(out);
    c.tiedEmbeddings = true;
  } else {
    take("output.weight", {v, d}, 1, false);
  }
  return m;
}

} // namespace tessel::frontends
