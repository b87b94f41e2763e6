//===- Ops.h - reference semantics of every tessel op -----------*- C++ -*-===//
//
// Plain C++, no MLIR: one function per op, f32 in and out, f64 inside every
// reduction. The semantics are the ones written in dialect/TesselOps.td; the
// PyTorch goldens in tests/golden check them. Errors that only show at run
// time (an id out of range, a cache overflow) come back as a Status.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_REFERENCE_OPS_H
#define TESSEL_REFERENCE_OPS_H

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "reference/Tensor.h"

namespace tessel::ref {

enum class RopeLayout { Interleaved, HalfSplit };
enum class Activation { Relu, Gelu, Silu, SwiGLU, GeGLU };
enum class MoeScoring { Softmax, Sigmoid };

bool isGated(Activation a);

struct RopeParams {
  RopeLayout layout = RopeLayout::HalfSplit;
  double theta = 10000.0;
  int64_t rotaryDim = 0; // 0 = the whole head
  double linearScaling = 1.0;
};

struct AttentionParams {
  bool causal = false;
  int64_t window = 0;          // 0 = unlimited
  std::optional<double> scale; // default 1/sqrt(head_dim)
};

/// `input_format` of tessel.linear / ffn / mla / moe: what the inputs of
/// the products are rounded to first (roundInput).
enum class InputFormat { F32, Q8_0, Bf16 };

struct FfnParams {
  Activation activation = Activation::SwiGLU;
  bool tanhApprox = false;
  /// x and h rounded by roundInput before their products.
  InputFormat inputs = InputFormat::F32;
};

struct MlaParams {
  int64_t numHeads = 0, kvLoraRank = 0, qkNopeDim = 0, qkRopeDim = 0, vHeadDim = 0;
  int64_t qLoraRank = 0; // 0 = q is projected by one matrix
  RopeLayout ropeLayout = RopeLayout::Interleaved;
  double ropeTheta = 10000.0;
  double epsilon = 1e-6;
  AttentionParams attention; // scale defaults to 1/sqrt(nope + rope)
  /// The inputs of the products with wq (wq_a, wq_b), wkv_a and wo
  /// rounded by roundInput.
  InputFormat inputs = InputFormat::F32;
};

/// q path: {wq} or {wq_a, q_norm, wq_b}; kv path: {wkv_a, kv_norm, wkv_b}.
struct MlaWeights {
  std::vector<const Tensor *> q;
  std::vector<const Tensor *> kv;
  const Tensor *wo = nullptr;
};

struct MoeParams {
  int64_t topK = 1;
  MoeScoring scoring = MoeScoring::Softmax;
  bool normalizeTopK = false;
  double routedScale = 1.0;
  FfnParams ffn;
};

/// Weights of one FFN; `gate` is null for non-gated activations. For MoE
/// the tensors carry a leading experts dimension.
struct FfnWeights {
  const Tensor *up = nullptr, *gate = nullptr, *down = nullptr;
};

struct SampleParams {
  double temperature = 0.0;
  int64_t topK = 0;
  double topP = 1.0;
  uint64_t seed = 0;
};

using Result = absl::StatusOr<Tensor>;

Result embedding(const Tensor &table, const Tensor &ids, double scale);
Result linear(const Tensor &x, const Tensor &w, const Tensor *bias);
/// `input_format = "q8_0"` (tessel.linear, tessel.ffn): each block of 32
/// values rounded as llama.cpp rounds activations, d = max |x| / 127 and
/// q = nearest-even(x * (1/d)), and replaced by d * q. n % 32 == 0.
void roundToQ8_0(const float *x, int64_t n, float *out);
/// `input_format = "bf16"`: each value rounded to the nearest bf16 (ties
/// to even; frontends::floatToBf16), as llama.cpp rounds activations for
/// bf16 weights.
void roundToBf16(const float *x, int64_t n, float *out);
/// x[0..n) rounded to `format` into out (in place is fine; F32 copies). For
/// Q8_0, n % 32 == 0.
void roundInput(InputFormat format, const float *x, int64_t n, float *out);
/// roundInput over the last dimension of an f32 tensor (for Q8_0 a
/// multiple of 32).
Result roundRows(const Tensor &x, InputFormat format);
/// The InputFormat of an `input_format` attribute's value: "q8_0", "bf16"
/// (absent: F32).
absl::StatusOr<InputFormat> parseInputFormat(const std::string &name);
Result rmsNorm(const Tensor &x, const Tensor &w, double eps, bool unitOffset);
Result layerNorm(const Tensor &x, const Tensor &w, const Tensor *bias, double eps);
Result rope(const Tensor &x, const Tensor &positions, const RopeParams &p,
            const Tensor *freqFactors = nullptr);
Result attention(const Tensor &q, const Tensor &k, const Tensor &v, const Tensor *mask,
                 const Tensor *sinks, const AttentionParams &p);
/// The probabilities attention weighs the values with: `[batch, heads, q_len,
/// kv_len]`, 0 for hidden keys (see tessel.attention_probs).
Result attentionProbs(const Tensor &q, const Tensor &k, const Tensor *mask, const Tensor *sinks,
                      const AttentionParams &p);
Result mla(const Tensor &x, const Tensor &positions, const MlaWeights &w, const Tensor *mask,
           const MlaParams &p);
Result ffn(const Tensor &x, const FfnWeights &w, const Tensor *upBias, const Tensor *downBias,
           const FfnParams &p);
Result moe(const Tensor &x, const Tensor &router, const FfnWeights &experts,
           const FfnWeights *shared, const MoeParams &p);
Result einsum(const std::string &equation, const std::vector<const Tensor *> &inputs);
Result softmax(const Tensor &x, int64_t axis);
Result residualAdd(const Tensor &a, const Tensor &b);
Result kvCacheUpdate(const Tensor &cache, const Tensor &update, int64_t position);
Result kvCacheView(const Tensor &cache, int64_t length);
Result sample(const Tensor &logits, const SampleParams &p);
/// Same data, new shape (tensor.expand_shape / collapse_shape).
Result reshape(const Tensor &x, const std::vector<int64_t> &shape);

} // namespace tessel::ref

#endif // TESSEL_REFERENCE_OPS_H
