//===- Ops.cpp - reference semantics of every tessel op -------------------===//
//
// Written for clarity, not speed: straightforward loops, every sum in double.
// Shapes are re-checked here (not only by the verifier) because the
// reference also runs on dynamic shapes and is called directly from tests.
//
//===----------------------------------------------------------------------===//
#include "reference/Ops.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "dialect/Einsum.h"
#include "frontends/WeightTypes.h"
#include "support/StatusMacros.h"

namespace tessel::ref {
namespace {

absl::Status error(const std::string &op, const std::string &message) {
  return absl::InvalidArgumentError(absl::StrCat(op, ": ", message));
}

absl::Status expect(bool ok, const std::string &op, const std::string &message) {
  return ok ? absl::OkStatus() : error(op, message);
}

absl::Status expectF32(const Tensor &t, const std::string &op, const std::string &name) {
  return expect(t.dtype == DType::F32, op, name + " must be f32, got " + t.describe());
}

absl::Status expectRank(const Tensor &t, int64_t rank, const std::string &op,
                        const std::string &name) {
  return expect(t.rank() == rank, op,
                name + " must have rank " + std::to_string(rank) + ", got " + t.describe());
}

absl::Status expectShape(const Tensor &t, const std::vector<int64_t> &shape, const std::string &op,
                         const std::string &name) {
  return expect(t.shape == shape, op,
                name + " must have shape " + shapeString(shape) + ", got " + t.describe());
}

double gelu(double x, bool tanhApprox) {
  if (tanhApprox) {
    const double kSqrt2OverPi = 0.7978845608028654;
    return 0.5 * x * (1.0 + std::tanh(kSqrt2OverPi * (x + 0.044715 * x * x * x)));
  }
  // erfc keeps the far negative tail accurate (1 + erf(x) cancels there).
  return 0.5 * x * std::erfc(-x / std::sqrt(2.0));
}

double activate(Activation a, bool tanhApprox, double x) {
  switch (a) {
  case Activation::Relu:
    return x > 0 ? x : 0.0;
  case Activation::Gelu:
  case Activation::GeGLU:
    return gelu(x, tanhApprox);
  case Activation::Silu:
  case Activation::SwiGLU:
    return x / (1.0 + std::exp(-x));
  }
  return x;
}

// Slices [start, start+len) of the last dimension.
Tensor sliceLast(const Tensor &t, int64_t start, int64_t len) {
  std::vector<int64_t> shape = t.shape;
  int64_t inner = shape.back();
  shape.back() = len;
  Tensor out = Tensor::zerosF32(shape);
  int64_t rows = t.numel() / inner;
  for (int64_t r = 0; r < rows; ++r)
    std::copy_n(&t.f[r * inner + start], len, &out.f[r * len]);
  return out;
}

// Concatenates along the last dimension; `b` may have 1 where `a` has H in
// the second-to-last dimension (MLA's RoPE key is shared by every head).
Tensor concatLastBroadcastHeads(const Tensor &a, const Tensor &b) {
  std::vector<int64_t> shape = a.shape;
  int64_t da = a.shape.back(), db = b.shape.back();
  int64_t heads = a.shape[a.rank() - 2], bHeads = b.shape[b.rank() - 2];
  shape.back() = da + db;
  Tensor out = Tensor::zerosF32(shape);
  int64_t rows = a.numel() / da; // (..., head) rows
  for (int64_t r = 0; r < rows; ++r) {
    int64_t outer = r / heads, h = r % heads;
    int64_t br = outer * bHeads + (bHeads == 1 ? 0 : h);
    std::copy_n(&a.f[r * da], da, &out.f[r * (da + db)]);
    std::copy_n(&b.f[br * db], db, &out.f[r * (da + db) + da]);
  }
  return out;
}

struct SplitMix64 {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
};

} // namespace

bool isGated(Activation a) { return a == Activation::SwiGLU || a == Activation::GeGLU; }

Result embedding(const Tensor &table, const Tensor &ids, double scale) {
  const std::string op = "embedding";
  RETURN_IF_ERROR(expectF32(table, op, "table"));
  RETURN_IF_ERROR(expectRank(table, 2, op, "table"));
  RETURN_IF_ERROR(expect(ids.dtype != DType::F32, op, "ids must be integers"));
  int64_t vocab = table.shape[0], dim = table.shape[1];
  std::vector<int64_t> shape = ids.shape;
  shape.push_back(dim);
  Tensor out = Tensor::zerosF32(shape);
  for (int64_t t = 0; t < ids.numel(); ++t) {
    int64_t id = ids.i[t];
    if (id < 0 || id >= vocab)
      return error(op, "token id " + std::to_string(id) + " at index " + std::to_string(t) +
                           " is outside the vocabulary [0, " + std::to_string(vocab) + ")");
    for (int64_t d = 0; d < dim; ++d)
      out.f[t * dim + d] = static_cast<float>(table.f[id * dim + d] * scale);
  }
  return out;
}

Result linear(const Tensor &x, const Tensor &w, const Tensor *bias) {
  const std::string op = "linear";
  RETURN_IF_ERROR(expectF32(x, op, "input"));
  RETURN_IF_ERROR(expectRank(w, 2, op, "weight"));
  int64_t in = x.shape.back(), outF = w.shape[0];
  RETURN_IF_ERROR(expect(w.shape[1] == in, op,
                         "weight " + w.describe() + " does not take input " + x.describe()));
  if (bias)
    RETURN_IF_ERROR(expectShape(*bias, {outF}, op, "bias"));
  if (in == 0 || x.numel() == 0) { // empty rows: the bias alone (no division by in)
    std::vector<int64_t> shape = x.shape;
    shape.back() = outF;
    Tensor out = Tensor::zerosF32(shape);
    if (bias)
      for (int64_t r = 0; r < out.numel() / std::max<int64_t>(outF, 1); ++r)
        for (int64_t n = 0; n < outF; ++n)
          out.f[r * outF + n] = bias->f[n];
    return out;
  }
  std::vector<int64_t> shape = x.shape;
  shape.back() = outF;
  Tensor out = Tensor::zerosF32(shape);
  int64_t rows = x.numel() / in;
  for (int64_t r = 0; r < rows; ++r) {
    const float *xr = &x.f[r * in];
    for (int64_t n = 0; n < outF; ++n) {
      const float *wn = &w.f[n * in];
      double acc = bias ? bias->f[n] : 0.0;
      for (int64_t k = 0; k < in; ++k)
        acc += static_cast<double>(xr[k]) * wn[k];
      out.f[r * outF + n] = static_cast<float>(acc);
    }
  }
  return out;
}

Result rmsNorm(const Tensor &x, const Tensor &w, double eps, bool unitOffset) {
  const std::string op = "rms_norm";
  RETURN_IF_ERROR(expectF32(x, op, "input"));
  int64_t dim = x.shape.back();
  RETURN_IF_ERROR(expectShape(w, {dim}, op, "weight"));
  Tensor out = Tensor::zerosF32(x.shape);
  double offset = unitOffset ? 1.0 : 0.0;
  for (int64_t r = 0; r < x.numel() / dim; ++r) {
    const float *xr = &x.f[r * dim];
    double ss = 0;
    for (int64_t d = 0; d < dim; ++d)
      ss += static_cast<double>(xr[d]) * xr[d];
    double inv = 1.0 / std::sqrt(ss / dim + eps);
    for (int64_t d = 0; d < dim; ++d)
      out.f[r * dim + d] = static_cast<float>(xr[d] * inv * (w.f[d] + offset));
  }
  return out;
}

Result layerNorm(const Tensor &x, const Tensor &w, const Tensor *bias, double eps) {
  const std::string op = "layer_norm";
  RETURN_IF_ERROR(expectF32(x, op, "input"));
  int64_t dim = x.shape.back();
  RETURN_IF_ERROR(expectShape(w, {dim}, op, "weight"));
  if (bias)
    RETURN_IF_ERROR(expectShape(*bias, {dim}, op, "bias"));
  Tensor out = Tensor::zerosF32(x.shape);
  for (int64_t r = 0; r < x.numel() / dim; ++r) {
    const float *xr = &x.f[r * dim];
    double mean = 0, var = 0;
    for (int64_t d = 0; d < dim; ++d)
      mean += xr[d];
    mean /= dim;
    for (int64_t d = 0; d < dim; ++d)
      var += (xr[d] - mean) * (xr[d] - mean);
    double inv = 1.0 / std::sqrt(var / dim + eps);
    for (int64_t d = 0; d < dim; ++d)
      out.f[r * dim + d] =
          static_cast<float>((xr[d] - mean) * inv * w.f[d] + (bias ? bias->f[d] : 0.0));
  }
  return out;
}

Result rope(const Tensor &x, const Tensor &positions, const RopeParams &p,
            const Tensor *freqFactors) {
  const std::string op = "rope";
  RETURN_IF_ERROR(expectF32(x, op, "input"));
  RETURN_IF_ERROR(expectRank(x, 4, op, "input [batch, seq, heads, head_dim]"));
  int64_t batch = x.shape[0], seq = x.shape[1], heads = x.shape[2], hd = x.shape[3];
  RETURN_IF_ERROR(expectShape(positions, {batch, seq}, op, "positions"));
  int64_t rot = p.rotaryDim ? p.rotaryDim : hd;
  RETURN_IF_ERROR(expect(rot % 2 == 0 && rot <= hd, op,
                         "rotary_dim " + std::to_string(rot) + " must be even and <= head_dim " +
                             std::to_string(hd)));
  int64_t half = rot / 2;
  if (freqFactors)
    RETURN_IF_ERROR(expectShape(*freqFactors, {half}, op, "freq_factors"));
  Tensor out = x;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t s = 0; s < seq; ++s) {
      double pos = static_cast<double>(positions.i[b * seq + s]) / p.linearScaling;
      for (int64_t h = 0; h < heads; ++h) {
        int64_t base = ((b * seq + s) * heads + h) * hd;
        for (int64_t i = 0; i < half; ++i) {
          double angle = pos * std::pow(p.theta, -2.0 * i / rot);
          if (freqFactors)
            angle /= freqFactors->f[i];
          double c = std::cos(angle), sn = std::sin(angle);
          int64_t ia = p.layout == RopeLayout::Interleaved ? 2 * i : i;
          int64_t ib = p.layout == RopeLayout::Interleaved ? 2 * i + 1 : i + half;
          double a = x.f[base + ia], bb = x.f[base + ib];
          out.f[base + ia] = static_cast<float>(a * c - bb * sn);
          out.f[base + ib] = static_cast<float>(a * sn + bb * c);
        }
      }
    }
  return out;
}

namespace {

// Checks query and key (and the mask and sinks) and calls
// `row(b, i, h, probs)` for every query row and head with the softmax
// probabilities over all kv_len keys (0 for hidden keys; a row that sees no
// key is not visited): what attention weighs the values with, and what
// attentionProbs returns. Kept in double so attention's sum is exact enough
// to be the oracle.
absl::Status forEachAttentionRow(
    const std::string &op, const Tensor &q, const Tensor &k, const Tensor *mask,
    const Tensor *sinks, const AttentionParams &p,
    const std::function<void(int64_t b, int64_t i, int64_t h, const std::vector<double> &)> &row) {
  RETURN_IF_ERROR(expectRank(q, 4, op, "query [batch, q_len, heads, head_dim]"));
  RETURN_IF_ERROR(expectRank(k, 4, op, "key [batch, kv_len, kv_heads, head_dim]"));
  int64_t batch = q.shape[0], qLen = q.shape[1], heads = q.shape[2], hd = q.shape[3];
  int64_t kvLen = k.shape[1], kvHeads = k.shape[2];
  RETURN_IF_ERROR(expectShape(k, {batch, kvLen, kvHeads, hd}, op, "key"));
  RETURN_IF_ERROR(expect(kvHeads > 0 && heads % kvHeads == 0, op,
                         "heads " + std::to_string(heads) + " not a multiple of kv heads " +
                             std::to_string(kvHeads)));
  RETURN_IF_ERROR(expect(!p.causal || qLen <= kvLen, op, "causal attention needs q_len <= kv_len"));
  if (mask) {
    bool ok = mask->shape == std::vector<int64_t>{batch, kvLen} ||
              mask->shape == std::vector<int64_t>{batch, qLen, kvLen};
    RETURN_IF_ERROR(expect(
        ok, op, "mask must be [batch, kv_len] or [batch, q_len, kv_len], got " + mask->describe()));
  }
  if (sinks)
    RETURN_IF_ERROR(expectShape(*sinks, {heads}, op, "sinks"));
  double scale = p.scale ? *p.scale : 1.0 / std::sqrt(static_cast<double>(hd));
  int64_t group = heads / kvHeads;
  std::vector<double> probs(kvLen);
  std::vector<char> visible(kvLen);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t i = 0; i < qLen; ++i) {
      int64_t qPos = i + kvLen - qLen;
      for (int64_t j = 0; j < kvLen; ++j) {
        bool vis = true;
        if (p.causal)
          vis = vis && j <= qPos;
        if (p.window > 0)
          vis = vis && qPos - j < p.window;
        if (mask)
          vis = vis && (mask->rank() == 2 ? mask->i[b * kvLen + j]
                                          : mask->i[(b * qLen + i) * kvLen + j]) != 0;
        visible[j] = vis;
      }
      for (int64_t h = 0; h < heads; ++h) {
        int64_t kh = h / group;
        const float *qv = &q.f[((b * qLen + i) * heads + h) * hd];
        double maxScore = -INFINITY;
        bool any = false;
        for (int64_t j = 0; j < kvLen; ++j) {
          probs[j] = 0;
          if (!visible[j])
            continue;
          const float *kv = &k.f[((b * kvLen + j) * kvHeads + kh) * hd];
          double dot = 0;
          for (int64_t d = 0; d < hd; ++d)
            dot += static_cast<double>(qv[d]) * kv[d];
          probs[j] = dot * scale;
          maxScore = std::max(maxScore, probs[j]);
          any = true;
        }
        if (!any)
          continue; // a row that sees no key yields zeros
        if (sinks)
          maxScore = std::max(maxScore, static_cast<double>(sinks->f[h]));
        double denom = sinks ? std::exp(sinks->f[h] - maxScore) : 0.0;
        for (int64_t j = 0; j < kvLen; ++j)
          if (visible[j])
            denom += (probs[j] = std::exp(probs[j] - maxScore));
        for (int64_t j = 0; j < kvLen; ++j)
          probs[j] /= denom;
        row(b, i, h, probs);
      }
    }
  return absl::OkStatus();
}

} // namespace

Result attention(const Tensor &q, const Tensor &k, const Tensor &v, const Tensor *mask,
                 const Tensor *sinks, const AttentionParams &p) {
  const std::string op = "attention";
  RETURN_IF_ERROR(expectRank(q, 4, op, "query [batch, q_len, heads, head_dim]"));
  RETURN_IF_ERROR(expectRank(k, 4, op, "key [batch, kv_len, kv_heads, head_dim]"));
  RETURN_IF_ERROR(expectRank(v, 4, op, "value [batch, kv_len, kv_heads, v_head_dim]"));
  int64_t batch = q.shape[0], qLen = q.shape[1], heads = q.shape[2];
  int64_t kvLen = k.shape[1], kvHeads = k.shape[2], vd = v.shape[3];
  RETURN_IF_ERROR(expectShape(v, {batch, kvLen, kvHeads, vd}, op, "value"));
  int64_t group = kvHeads > 0 ? heads / kvHeads : 1;
  Tensor out = Tensor::zerosF32({batch, qLen, heads, vd});
  RETURN_IF_ERROR(
      forEachAttentionRow(op, q, k, mask, sinks, p,
                          [&](int64_t b, int64_t i, int64_t h, const std::vector<double> &probs) {
                            int64_t kh = h / group;
                            float *o = &out.f[((b * qLen + i) * heads + h) * vd];
                            for (int64_t d = 0; d < vd; ++d) {
                              double acc = 0;
                              for (int64_t j = 0; j < kvLen; ++j) // hidden keys have probability 0
                                acc += probs[j] * v.f[((b * kvLen + j) * kvHeads + kh) * vd + d];
                              o[d] = static_cast<float>(acc);
                            }
                          }));
  return out;
}

Result attentionProbs(const Tensor &q, const Tensor &k, const Tensor *mask, const Tensor *sinks,
                      const AttentionParams &p) {
  RETURN_IF_ERROR(expectRank(q, 4, "attention_probs", "query [batch, q_len, heads, head_dim]"));
  RETURN_IF_ERROR(expectRank(k, 4, "attention_probs", "key [batch, kv_len, kv_heads, head_dim]"));
  int64_t batch = q.shape[0], qLen = q.shape[1], heads = q.shape[2], kvLen = k.shape[1];
  Tensor out = Tensor::zerosF32({batch, heads, qLen, kvLen});
  RETURN_IF_ERROR(
      forEachAttentionRow("attention_probs", q, k, mask, sinks, p,
                          [&](int64_t b, int64_t i, int64_t h, const std::vector<double> &probs) {
                            float *o = &out.f[((b * heads + h) * qLen + i) * kvLen];
                            for (int64_t j = 0; j < kvLen; ++j)
                              o[j] = static_cast<float>(probs[j]);
                          }));
  return out;
}

Result mla(const Tensor &x, const Tensor &positions, const MlaWeights &w, const Tensor *mask,
           const MlaParams &p) {
  const std::string op = "mla";
  RETURN_IF_ERROR(expectRank(x, 3, op, "input [batch, seq, dim]"));
  RETURN_IF_ERROR(expect(w.q.size() == 1 || w.q.size() == 3, op, "q weights must be 1 or 3"));
  RETURN_IF_ERROR(expect(w.kv.size() == 3 && w.wo, op, "kv weights must be 3, plus wo"));
  int64_t batch = x.shape[0], seq = x.shape[1];
  int64_t h = p.numHeads, dn = p.qkNopeDim, dr = p.qkRopeDim, dv = p.vHeadDim, r = p.kvLoraRank;
  // The projections input_format rounds (all but wkv_b's).
  auto project = [&](const Tensor &in, const Tensor &weight) -> Result {
    if (p.inputs == InputFormat::F32)
      return linear(in, weight, nullptr);
    ASSIGN_OR_RETURN(rounded, roundRows(in, p.inputs));
    return linear(rounded, weight, nullptr);
  };

  // Queries: [batch, seq, H, dn + dr].
  Tensor q;
  if (w.q.size() == 1) {
    ASSIGN_OR_RETURN(q1, project(x, *w.q[0]));
    q = std::move(q1);
  } else {
    ASSIGN_OR_RETURN(qa, project(x, *w.q[0]));
    ASSIGN_OR_RETURN(qn, rmsNorm(qa, *w.q[1], p.epsilon, false));
    ASSIGN_OR_RETURN(qb, project(qn, *w.q[2]));
    q = std::move(qb);
  }
  ASSIGN_OR_RETURN(q4, reshape(q, {batch, seq, h, dn + dr}));

  // The compressed latent and the shared RoPE key.
  ASSIGN_OR_RETURN(ckv, project(x, *w.kv[0]));
  RETURN_IF_ERROR(
      expect(ckv.shape.back() == r + dr, op, "wkv_a must produce kv_lora_rank + qk_rope_dim"));
  Tensor latent = sliceLast(ckv, 0, r);
  ASSIGN_OR_RETURN(kRope0, reshape(sliceLast(ckv, r, dr), {batch, seq, 1, dr}));
  ASSIGN_OR_RETURN(latentNorm, rmsNorm(latent, *w.kv[1], p.epsilon, false));
  ASSIGN_OR_RETURN(kv, linear(latentNorm, *w.kv[2], nullptr));
  ASSIGN_OR_RETURN(kv4, reshape(kv, {batch, seq, h, dn + dv}));

  RopeParams rp;
  rp.layout = p.ropeLayout;
  rp.theta = p.ropeTheta;
  ASSIGN_OR_RETURN(qRope, rope(sliceLast(q4, dn, dr), positions, rp));
  ASSIGN_OR_RETURN(kRope, rope(kRope0, positions, rp));
  Tensor query = concatLastBroadcastHeads(sliceLast(q4, 0, dn), qRope);
  Tensor key = concatLastBroadcastHeads(sliceLast(kv4, 0, dn), kRope);
  Tensor value = sliceLast(kv4, dn, dv);

  AttentionParams ap = p.attention;
  if (!ap.scale)
    ap.scale = 1.0 / std::sqrt(static_cast<double>(dn + dr));
  ASSIGN_OR_RETURN(attn, attention(query, key, value, mask, nullptr, ap));
  ASSIGN_OR_RETURN(flat, reshape(attn, {batch, seq, h * dv}));
  return project(flat, *w.wo);
}

void roundToQ8_0(const float *x, int64_t n, float *out) {
  for (int64_t b = 0; b + 32 <= n; b += 32) {
    float amax = 0.0f;
    for (int64_t j = b; j < b + 32; ++j)
      amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float inverse = d != 0.0f ? 1.0f / d : 0.0f;
    for (int64_t j = b; j < b + 32; ++j) {
      const float q = std::clamp(std::nearbyint(x[j] * inverse), -127.0f, 127.0f);
      out[j] = d * q;
    }
  }
}

void roundToBf16(const float *x, int64_t n, float *out) {
  for (int64_t j = 0; j < n; ++j)
    out[j] = frontends::bf16ToFloat(frontends::floatToBf16(x[j]));
}

void roundInput(InputFormat format, const float *x, int64_t n, float *out) {
  switch (format) {
  case InputFormat::Q8_0:
    return roundToQ8_0(x, n, out);
  case InputFormat::Bf16:
    return roundToBf16(x, n, out);
  case InputFormat::F32:
    if (out != x)
      std::copy(x, x + n, out);
    return;
  }
}

Result roundRows(const Tensor &x, InputFormat format) {
  const std::string op = format == InputFormat::Q8_0 ? "input_format q8_0" : "input_format bf16";
  RETURN_IF_ERROR(expectF32(x, op, "input"));
  RETURN_IF_ERROR(expect(x.rank() >= 1, op, "input must have rows: " + x.describe()));
  RETURN_IF_ERROR(expect(format != InputFormat::Q8_0 || x.shape.back() % 32 == 0, op,
                         "rows must be whole blocks of 32 values: " + x.describe()));
  Tensor out = Tensor::zerosF32(x.shape);
  const int64_t dim = x.shape.back();
  for (int64_t r = 0; dim > 0 && r < x.numel() / dim; ++r)
    roundInput(format, &x.f[r * dim], dim, &out.f[r * dim]);
  return out;
}

absl::StatusOr<InputFormat> parseInputFormat(const std::string &name) {
  if (name == "q8_0")
    return InputFormat::Q8_0;
  if (name == "bf16")
    return InputFormat::Bf16;
  return absl::InvalidArgumentError("input_format must be \"q8_0\" or \"bf16\", not \"" + name +
                                    "\"");
}

namespace {
// One token through one FFN, accumulating `weight * FFN(x)` into `acc`.
// `up`, `gate` point at [hidden, dim], `down` at [dim, hidden].
void ffnToken(const float *x, int64_t dim, int64_t hidden, const float *up, const float *gate,
              const float *down, const float *upBias, const FfnParams &p, double weight,
              double *acc) {
  std::vector<float> rounded;
  if (p.inputs != InputFormat::F32) {
    rounded.resize(dim);
    roundInput(p.inputs, x, dim, rounded.data());
    x = rounded.data();
  }
  std::vector<double> hbuf(hidden);
  for (int64_t f = 0; f < hidden; ++f) {
    double u = upBias ? upBias[f] : 0.0;
    for (int64_t d = 0; d < dim; ++d)
      u += static_cast<double>(x[d]) * up[f * dim + d];
    if (gate) {
      double g = 0;
      for (int64_t d = 0; d < dim; ++d)
        g += static_cast<double>(x[d]) * gate[f * dim + d];
      hbuf[f] = activate(p.activation, p.tanhApprox, g) * u;
    } else {
      hbuf[f] = activate(p.activation, p.tanhApprox, u);
    }
  }
  if (p.inputs != InputFormat::F32) { // h as the f32 values the down projection reads, rounded
    std::vector<float> h(hbuf.begin(), hbuf.end());
    roundInput(p.inputs, h.data(), hidden, h.data());
    std::copy(h.begin(), h.end(), hbuf.begin());
  }
  for (int64_t d = 0; d < dim; ++d) {
    double y = 0;
    for (int64_t f = 0; f < hidden; ++f)
      y += hbuf[f] * down[d * hidden + f];
    acc[d] += weight * y;
  }
}

absl::Status checkFfnWeights(const FfnWeights &w, const FfnParams &p, int64_t dim,
                             const std::vector<int64_t> &lead, const std::string &op) {
  RETURN_IF_ERROR(expect(w.up && w.down, op, "up and down weights are required"));
  RETURN_IF_ERROR(expect((w.gate != nullptr) == isGated(p.activation), op,
                         "a gate weight goes with gated activations only"));
  RETURN_IF_ERROR(expect(w.up->rank() == static_cast<int64_t>(lead.size()) + 2, op,
                         "up weight has the wrong rank: " + w.up->describe()));
  int64_t hidden = w.up->shape[lead.size()];
  std::vector<int64_t> upShape = lead, downShape = lead;
  upShape.insert(upShape.end(), {hidden, dim});
  downShape.insert(downShape.end(), {dim, hidden});
  RETURN_IF_ERROR(expectShape(*w.up, upShape, op, "up"));
  if (w.gate)
    RETURN_IF_ERROR(expectShape(*w.gate, upShape, op, "gate"));
  return expectShape(*w.down, downShape, op, "down");
}
} // namespace

Result ffn(const Tensor &x, const FfnWeights &w, const Tensor *upBias, const Tensor *downBias,
           const FfnParams &p) {
  const std::string op = "ffn";
  RETURN_IF_ERROR(expectF32(x, op, "input"));
  int64_t dim = x.shape.back();
  RETURN_IF_ERROR(checkFfnWeights(w, p, dim, {}, op));
  int64_t hidden = w.up->shape[0];
  if (upBias)
    RETURN_IF_ERROR(expectShape(*upBias, {hidden}, op, "up_bias"));
  if (downBias)
    RETURN_IF_ERROR(expectShape(*downBias, {dim}, op, "down_bias"));
  Tensor out = Tensor::zerosF32(x.shape);
  std::vector<double> acc(dim);
  for (int64_t t = 0; t < x.numel() / dim; ++t) {
    std::fill(acc.begin(), acc.end(), 0.0);
    ffnToken(&x.f[t * dim], dim, hidden, w.up->f.data(), w.gate ? w.gate->f.data() : nullptr,
             w.down->f.data(), upBias ? upBias->f.data() : nullptr, p, 1.0, acc.data());
    for (int64_t d = 0; d < dim; ++d)
      out.f[t * dim + d] = static_cast<float>(acc[d] + (downBias ? downBias->f[d] : 0.0));
  }
  return out;
}

Result moe(const Tensor &x, const Tensor &router, const FfnWeights &experts,
           const FfnWeights *shared, const MoeParams &p) {
  const std::string op = "moe";
  RETURN_IF_ERROR(expectF32(x, op, "input"));
  int64_t dim = x.shape.back();
  RETURN_IF_ERROR(expectRank(router, 2, op, "router"));
  int64_t numExperts = router.shape[0];
  RETURN_IF_ERROR(expectShape(router, {numExperts, dim}, op, "router"));
  RETURN_IF_ERROR(checkFfnWeights(experts, p.ffn, dim, {numExperts}, op));
  if (shared)
    RETURN_IF_ERROR(checkFfnWeights(*shared, p.ffn, dim, {}, op));
  RETURN_IF_ERROR(expect(p.topK >= 1 && p.topK <= numExperts, op, "top_k out of range"));
  int64_t hidden = experts.up->shape[1];
  int64_t upStride = hidden * dim; // elements per expert in up/gate/down

  ASSIGN_OR_RETURN(logits, linear(x, router, nullptr));
  Tensor out = Tensor::zerosF32(x.shape);
  std::vector<double> scores(numExperts), acc(dim);
  std::vector<int64_t> order(numExperts);
  for (int64_t t = 0; t < x.numel() / dim; ++t) {
    const float *lt = &logits.f[t * numExperts];
    if (p.scoring == MoeScoring::Softmax) {
      double m = *std::max_element(lt, lt + numExperts), sum = 0;
      for (int64_t e = 0; e < numExperts; ++e)
        sum += (scores[e] = std::exp(lt[e] - m));
      for (double &s : scores)
        s /= sum;
    } else {
      for (int64_t e = 0; e < numExperts; ++e)
        scores[e] = 1.0 / (1.0 + std::exp(-lt[e]));
    }
    std::iota(order.begin(), order.end(), 0);
    // Highest score first; ties go to the lower expert index.
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t b) { return scores[a] > scores[b]; });
    double picked = 0;
    for (int64_t k = 0; k < p.topK; ++k)
      picked += scores[order[k]];
    std::fill(acc.begin(), acc.end(), 0.0);
    const float *xt = &x.f[t * dim];
    for (int64_t k = 0; k < p.topK; ++k) {
      int64_t e = order[k];
      double weight = scores[e] * (p.normalizeTopK ? 1.0 / picked : 1.0) * p.routedScale;
      ffnToken(xt, dim, hidden, &experts.up->f[e * upStride],
               experts.gate ? &experts.gate->f[e * upStride] : nullptr,
               &experts.down->f[e * upStride], nullptr, p.ffn, weight, acc.data());
    }
    if (shared)
      ffnToken(xt, dim, shared->up->shape[0], shared->up->f.data(),
               shared->gate ? shared->gate->f.data() : nullptr, shared->down->f.data(), nullptr,
               p.ffn, 1.0, acc.data());
    for (int64_t d = 0; d < dim; ++d)
      out.f[t * dim + d] = static_cast<float>(acc[d]);
  }
  return out;
}

Result einsum(const std::string &equation, const std::vector<const Tensor *> &inputs) {
  const std::string op = "einsum";
  EinsumEquation eq;
  std::string message;
  if (!parseEinsumEquation(equation, eq, message))
    return error(op, message);
  std::vector<std::vector<int64_t>> shapes;
  for (const Tensor *t : inputs) {
    RETURN_IF_ERROR(expectF32(*t, op, "every input"));
    shapes.push_back(t->shape);
  }
  std::vector<int64_t> outShape;
  if (!inferEinsumShape(eq, shapes, outShape, message))
    return error(op, message);

  // Every distinct label gets a slot: output labels first, then summed ones.
  std::string labels = eq.output;
  for (const auto &term : eq.inputs)
    for (char c : term)
      if (labels.find(c) == std::string::npos)
        labels.push_back(c);
  std::vector<int64_t> extent(labels.size());
  for (size_t i = 0; i < inputs.size(); ++i)
    for (size_t d = 0; d < eq.inputs[i].size(); ++d)
      extent[labels.find(eq.inputs[i][d])] = inputs[i]->shape[d];
  // For each input, the stride that each label slot contributes.
  std::vector<std::vector<int64_t>> strides(inputs.size(), std::vector<int64_t>(labels.size(), 0));
  for (size_t i = 0; i < inputs.size(); ++i) {
    int64_t s = 1;
    for (int64_t d = static_cast<int64_t>(eq.inputs[i].size()) - 1; d >= 0; --d) {
      strides[i][labels.find(eq.inputs[i][d])] += s;
      s *= inputs[i]->shape[d];
    }
  }
  Tensor out = Tensor::zerosF32(outShape);
  size_t numOut = eq.output.size();
  int64_t sumCount = 1;
  for (size_t l = numOut; l < labels.size(); ++l)
    sumCount *= extent[l];
  std::vector<int64_t> idx(labels.size(), 0);
  for (int64_t o = 0; o < out.numel(); ++o) {
    // Decode the output index into the first numOut slots.
    int64_t rem = o;
    for (int64_t l = static_cast<int64_t>(numOut) - 1; l >= 0; --l) {
      idx[l] = rem % extent[l];
      rem /= extent[l];
    }
    double acc = 0;
    for (int64_t sIdx = 0; sIdx < sumCount; ++sIdx) {
      int64_t r = sIdx;
      for (int64_t l = static_cast<int64_t>(labels.size()) - 1; l >= static_cast<int64_t>(numOut);
           --l) {
        idx[l] = r % extent[l];
        r /= extent[l];
      }
      double prod = 1;
      for (size_t i = 0; i < inputs.size(); ++i) {
        int64_t off = 0;
        for (size_t l = 0; l < labels.size(); ++l)
          off += idx[l] * strides[i][l];
        prod *= inputs[i]->f[off];
      }
      acc += prod;
    }
    out.f[o] = static_cast<float>(acc);
  }
  return out;
}

Result softmax(const Tensor &x, int64_t axis) {
  const std::string op = "softmax";
  RETURN_IF_ERROR(expectF32(x, op, "input"));
  int64_t rank = x.rank();
  RETURN_IF_ERROR(expect(axis >= -rank && axis < rank, op, "axis out of range"));
  if (axis < 0)
    axis += rank;
  int64_t n = x.shape[axis], inner = 1, outer = 1;
  for (int64_t d = axis + 1; d < rank; ++d)
    inner *= x.shape[d];
  for (int64_t d = 0; d < axis; ++d)
    outer *= x.shape[d];
  Tensor out = Tensor::zerosF32(x.shape);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t in = 0; in < inner; ++in) {
      auto at = [&](int64_t j) { return (o * n + j) * inner + in; };
      double m = -INFINITY, sum = 0;
      for (int64_t j = 0; j < n; ++j)
        m = std::max(m, static_cast<double>(x.f[at(j)]));
      for (int64_t j = 0; j < n; ++j)
        sum += std::exp(x.f[at(j)] - m);
      for (int64_t j = 0; j < n; ++j)
        out.f[at(j)] = static_cast<float>(std::exp(x.f[at(j)] - m) / sum);
    }
  return out;
}

Result residualAdd(const Tensor &a, const Tensor &b) {
  RETURN_IF_ERROR(expect(a.shape == b.shape && a.dtype == DType::F32 && b.dtype == DType::F32,
                         "residual_add", a.describe() + " and " + b.describe() + " differ"));
  Tensor out = a;
  for (int64_t i = 0; i < a.numel(); ++i)
    out.f[i] = a.f[i] + b.f[i];
  return out;
}

Result kvCacheUpdate(const Tensor &cache, const Tensor &update, int64_t position) {
  const std::string op = "kv_cache_update";
  RETURN_IF_ERROR(expectRank(cache, 4, op, "cache"));
  RETURN_IF_ERROR(expectRank(update, 4, op, "update"));
  int64_t batch = cache.shape[0], maxLen = cache.shape[1], row = cache.shape[2] * cache.shape[3];
  int64_t n = update.shape[1];
  RETURN_IF_ERROR(expectShape(update, {batch, n, cache.shape[2], cache.shape[3]}, op, "update"));
  if (position < 0 || position + n > maxLen)
    return error(op, "writing rows [" + std::to_string(position) + ", " +
                         std::to_string(position + n) + ") overflows a cache of " +
                         std::to_string(maxLen) + " rows");
  Tensor out = cache;
  for (int64_t b = 0; b < batch; ++b)
    std::copy_n(&update.f[b * n * row], n * row, &out.f[(b * maxLen + position) * row]);
  return out;
}

Result kvCacheView(const Tensor &cache, int64_t length) {
  const std::string op = "kv_cache_view";
  RETURN_IF_ERROR(expectRank(cache, 4, op, "cache"));
  int64_t batch = cache.shape[0], maxLen = cache.shape[1], row = cache.shape[2] * cache.shape[3];
  if (length < 0 || length > maxLen)
    return error(op, "length " + std::to_string(length) + " is outside [0, " +
                         std::to_string(maxLen) + "]");
  Tensor out = Tensor::zerosF32({batch, length, cache.shape[2], cache.shape[3]});
  for (int64_t b = 0; b < batch; ++b)
    std::copy_n(&cache.f[b * maxLen * row], length * row, &out.f[b * length * row]);
  return out;
}

Result sample(const Tensor &logits, const SampleParams &p) {
  const std::string op = "sample";
  RETURN_IF_ERROR(expectF32(logits, op, "logits"));
  RETURN_IF_ERROR(expect(logits.rank() >= 1, op, "logits must have rank >= 1"));
  int64_t vocab = logits.shape.back();
  std::vector<int64_t> shape(logits.shape.begin(), logits.shape.end() - 1);
  Tensor out = Tensor::zerosI64(shape);
  SplitMix64 rng{p.seed};
  std::vector<int64_t> order(vocab);
  std::vector<double> prob(vocab);
  for (int64_t r = 0; r < logits.numel() / vocab; ++r) {
    const float *l = &logits.f[r * vocab];
    if (p.temperature == 0.0) {
      out.i[r] = std::max_element(l, l + vocab) - l; // first maximum: lowest id
      continue;
    }
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return l[a] > l[b]; });
    int64_t keep = p.topK > 0 ? std::min(p.topK, vocab) : vocab;
    double m = l[order[0]] / p.temperature, sum = 0;
    for (int64_t k = 0; k < keep; ++k)
      sum += (prob[k] = std::exp(l[order[k]] / p.temperature - m));
    double mass = 0;
    int64_t nucleus = 0;
    while (nucleus < keep) {
      mass += prob[nucleus++] / sum;
      if (mass >= p.topP)
        break;
    }
    double total = 0;
    for (int64_t k = 0; k < nucleus; ++k)
      total += prob[k];
    double u = rng.uniform() * total, cum = 0;
    out.i[r] = order[nucleus - 1];
    for (int64_t k = 0; k < nucleus; ++k)
      if ((cum += prob[k]) > u) {
        out.i[r] = order[k];
        break;
      }
  }
  return out;
}

Result reshape(const Tensor &x, const std::vector<int64_t> &shape) {
  if (numElements(shape) != x.numel())
    return error("reshape", "cannot view " + x.describe() + " as " + shapeString(shape));
  Tensor out = x;
  out.shape = shape;
  return out;
}

} // namespace tessel::ref
