//===- KernelAbi.cpp - MLIR memref descriptors -> Highway kernels ---------===//
#include "codegen/KernelAbi.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

#include "runtime/Profiler.h"
#include "runtime/kernels/Kernels.h"
#include "runtime/kernels/ThreadPool.h"

namespace {

using tessel::runtime::KernelTimer;

// MLIR's ranked memref descriptor (see mlir/ExecutionEngine/CRunnerUtils.h).
template <int Rank> struct MemRef {
  float *allocated;
  float *aligned;
  int64_t offset;
  int64_t sizes[Rank];
  int64_t strides[Rank];

  float *data() const { return aligned + offset; }
};
using Matrix = MemRef<2>;
using Vector = MemRef<1>;
using Heads = MemRef<4>; // [batch, tokens, heads, head_dim]
using Stack = MemRef<3>; // [batch, rows, cols]: one matrix per batch index
using Experts = Stack;   // [experts, rows, cols]: one matrix per expert
struct Bytes {           // memref<?xi8>: a stored weight (tessel.dequantize's input)
  int8_t *allocated;
  int8_t *aligned;
  int64_t offset;
  int64_t sizes[1];
  int64_t strides[1];

  const void *data() const { return aligned + offset; }
};
struct Positions { // memref<?xi64>
  int64_t *allocated;
  int64_t *aligned;
  int64_t offset;
  int64_t sizes[1];
  int64_t strides[1];

  const int64_t *data() const { return aligned + offset; }
};

// Work per kernel call for `tessel run --profile`, counted from the shapes
// and kept simple: FLOPs are the multiply-adds of the contractions (2 per
// MAC; the norms, activations and RoPE fused into them are not counted, the
// elementwise kernels of their own count a few per value), bytes are what
// the call must move at least: every operand read once and the output
// written once, in f32 (real traffic is higher where tiles re-read data).
constexpr double kF32 = 4;

// A GEMM out[m, n] = x[m, k] w[n, k]^T.
double gemmFlops(int64_t m, int64_t n, int64_t k) { return 2.0 * m * n * k; }
double gemmBytes(int64_t m, int64_t n, int64_t k) {
  return kF32 *
         (static_cast<double>(n) * k + static_cast<double>(m) * k + static_cast<double>(m) * n);
}

void requireContiguous(int64_t size, int64_t stride, const char *kernel, const char *operand) {
  if (stride != 1 && size > 1) {
    std::fprintf(stderr, "tessel: %s: %s is not contiguous\n", kernel, operand);
    std::abort();
  }
}

// The compiler only passes row-major views (unit inner stride); anything
// else is a bug in a pass, so stop loudly rather than compute garbage.
void requireRows(const Matrix *m, const char *kernel, const char *operand) {
  if (m->strides[1] != 1 && m->sizes[1] > 1) {
    std::fprintf(stderr, "tessel: %s: %s has inner stride %lld (expected 1)\n", kernel, operand,
                 static_cast<long long>(m->strides[1]));
    std::abort();
  }
}

void linear(const Matrix *x, const Matrix *w, const Vector *bias, const Matrix *residual,
            const Matrix *out, const char *name) {
  requireRows(x, name, "x");
  requireRows(w, name, "w");
  requireRows(out, name, "out");
  if (residual)
    requireRows(residual, name, "residual");
  if (bias && bias->strides[0] != 1 && bias->sizes[0] > 1) {
    std::fprintf(stderr, "tessel: %s: bias is not contiguous\n", name);
    std::abort();
  }
  const int64_t m = x->sizes[0], n = w->sizes[0], k = x->sizes[1];
  KernelTimer timer(name, gemmFlops(m, n, k),
                    gemmBytes(m, n, k) + (bias ? kF32 * n : 0) +
                        (residual ? kF32 * static_cast<double>(m) * n : 0));
  tessel_gemm_addend_f32(x->sizes[0], w->sizes[0], x->sizes[1], x->data(), x->strides[0], w->data(),
                         w->strides[0], bias ? bias->data() : nullptr,
                         residual ? residual->data() : nullptr, residual ? residual->strides[0] : 0,
                         out->data(), out->strides[0]);
}

// Whether rows rounded to `inputFormat` (0: not rounded) go with weights
// stored as `format`: q8_0 rows with q8_0 / q4_0 weights (integer
// products), bf16 rows with bf16 weights.
bool inputFormatFits(int64_t inputFormat, int64_t format) {
  if (inputFormat == 0)
    return true;
  if (inputFormat == TESSEL_WEIGHT_Q8_0)
    return format == TESSEL_WEIGHT_Q8_0 || format == TESSEL_WEIGHT_Q4_0;
  return inputFormat == TESSEL_WEIGHT_BF16 && format == TESSEL_WEIGHT_BF16;
}

// Checks a stored-weight product's operands (x [m, k], the bytes of W
// [n, k] in `format`, out [m, n], the input format) and returns W's row
// stride in bytes.
int64_t checkStoredProduct(const Matrix *x, const Bytes *w, const Matrix *out, int64_t format,
                           int64_t n, int64_t k, int64_t inputFormat, const char *name) {
  requireRows(x, name, "x");
  requireRows(out, name, "out");
  requireContiguous(w->sizes[0], w->strides[0], name, "w");
  if (format != TESSEL_WEIGHT_Q8_0 && format != TESSEL_WEIGHT_Q4_0 &&
      format != TESSEL_WEIGHT_BF16) {
    std::fprintf(stderr, "tessel: %s: unknown weight format %lld\n", name,
                 static_cast<long long>(format));
    std::abort();
  }
  // inputFormat: 0 (f32 rows), TESSEL_WEIGHT_Q8_0 (input_format "q8_0":
  // rows rounded to q8_0, integer products; q8_0 / q4_0 weights only) or
  // TESSEL_WEIGHT_BF16 ("bf16": rows rounded to bf16; bf16 weights only).
  if (!inputFormatFits(inputFormat, format)) {
    std::fprintf(stderr, "tessel: %s: input format %lld with weight format %lld\n", name,
                 static_cast<long long>(inputFormat), static_cast<long long>(format));
    std::abort();
  }
  const int64_t m = x->sizes[0];
  const int64_t rowBytes = tessel::kernels::weightRowBytes(static_cast<int>(format), k);
  if (w->sizes[0] != n * rowBytes || x->sizes[1] != k || out->sizes[1] != n) {
    std::fprintf(stderr, "tessel: %s: %lld weight bytes for [%lld, %lld], x [%lld, %lld]\n", name,
                 static_cast<long long>(w->sizes[0]), static_cast<long long>(n),
                 static_cast<long long>(k), static_cast<long long>(m),
                 static_cast<long long>(x->sizes[1]));
    std::abort();
  }
  return rowBytes;
}

// out = x W^T (+ bias) (+ residual) with W [n, k] stored as `format`
// (tessel_linear_q*): the quantized GEMV / GEMM read the bytes and
// dequantize in registers or per cache block; the residual is added after.
void storedLinear(const Matrix *x, const Bytes *w, const Vector *bias, const Matrix *residual,
                  const Matrix *out, int64_t format, int64_t n, int64_t k, int64_t inputFormat,
                  const char *name) {
  const int64_t rowBytes = checkStoredProduct(x, w, out, format, n, k, inputFormat, name);
  if (bias)
    requireContiguous(bias->sizes[0], bias->strides[0], name, "bias");
  if (residual)
    requireRows(residual, name, "residual");
  const int64_t m = x->sizes[0];
  KernelTimer timer(name, gemmFlops(m, n, k),
                    static_cast<double>(w->sizes[0]) + kF32 * static_cast<double>(m) * (k + n) +
                        (bias ? kF32 * n : 0) + (residual ? kF32 * static_cast<double>(m) * n : 0));
  const float *b = bias ? bias->data() : nullptr;
  if (inputFormat != 0)
    tessel::kernels::gemmQuant(static_cast<int>(format), m, n, k, x->data(), x->strides[0],
                               w->data(), rowBytes, b, out->data(), out->strides[0],
                               &tessel::kernels::ThreadPool::global(), /*roundInput=*/true);
  else
    switch (format) {
    case TESSEL_WEIGHT_Q8_0:
      tessel_gemm_q8_0_f32(m, n, k, x->data(), x->strides[0], w->data(), rowBytes, b, out->data(),
                           out->strides[0]);
      break;
    case TESSEL_WEIGHT_Q4_0:
      tessel_gemm_q4_0_f32(m, n, k, x->data(), x->strides[0], w->data(), rowBytes, b, out->data(),
                           out->strides[0]);
      break;
    default:
      tessel_gemm_bf16_f32(m, n, k, x->data(), x->strides[0], w->data(), rowBytes, b, out->data(),
                           out->strides[0]);
    }
  if (residual)
    for (int64_t i = 0; i < m; ++i) {
      float *o = out->data() + i * out->strides[0];
      const float *r = residual->data() + i * residual->strides[0];
      for (int64_t j = 0; j < n; ++j)
        o[j] += r[j];
    }
}

// Weights the MoE kernel reads must be dense row-major (it takes no
// strides for them): stride[i] = product of the sizes after i, wherever
// the dimension has more than one element.
template <int Rank>
void requireDense(const MemRef<Rank> *m, const char *kernel, const char *operand) {
  int64_t want = 1;
  for (int i = Rank - 1; i >= 0; --i) {
    if (m->sizes[i] > 1 && m->strides[i] != want) {
      std::fprintf(stderr, "tessel: %s: %s is not dense row-major (dim %d has stride %lld)\n",
                   kernel, operand, i, static_cast<long long>(m->strides[i]));
      std::abort();
    }
    want *= m->sizes[i];
  }
}

// Scalars of every tessel_moe*_f32 entry point, as tessel-lower-to-kernels
// passes them (after the output).
struct MoeScalars {
  int64_t topK, scoring, normalizeTopK;
  float routedScale;
  int64_t activation, tanhApprox;
};

// Router GEMM, each token's top_k expert FFNs (2 or 3 matrices of hidden x
// dim) and the shared experts'. The MoE calls' bytes are the weights the
// kernel reports reading (only the selected experts') plus x and out.
double moeFlops(int64_t tokens, int64_t experts, int64_t dim, int64_t topK, int64_t hidden,
                bool gated, int64_t sharedHidden) {
  const double matrices = gated ? 3 : 2, tokensD = static_cast<double>(tokens);
  return gemmFlops(tokens, experts, dim) + tokensD * topK * matrices * 2.0 * hidden * dim +
         tokensD * matrices * 2.0 * sharedHidden * dim;
}

// tessel.moe: x [tokens, dim], router [E, dim], experts (up, gate?, down),
// shared experts (up, gate?, down) or none; gate operands are null for
// non-gated activations. Checks the shapes agree (a mismatch is a bug in
// the pass) and calls tessel_moe_f32.
void moe(const Matrix *x, const Matrix *router, const Experts *up, const Experts *gate,
         const Experts *down, const Matrix *sharedUp, const Matrix *sharedGate,
         const Matrix *sharedDown, const Matrix *out, const MoeScalars &p, const char *name) {
  requireRows(x, name, "x");
  requireRows(out, name, "out");
  requireDense(router, name, "router");
  requireDense(up, name, "expert up weights");
  requireDense(down, name, "expert down weights");
  if (gate)
    requireDense(gate, name, "expert gate weights");
  if (sharedUp) {
    requireDense(sharedUp, name, "shared up weights");
    requireDense(sharedDown, name, "shared down weights");
    if (sharedGate)
      requireDense(sharedGate, name, "shared gate weights");
  }
  const int64_t tokens = x->sizes[0], dim = x->sizes[1], experts = router->sizes[0];
  const int64_t hidden = up->sizes[1], sharedHidden = sharedUp ? sharedUp->sizes[0] : 0;
  KernelTimer timer(name, moeFlops(tokens, experts, dim, p.topK, hidden, gate, sharedHidden), 0);
  const int64_t weightBytesBefore = timer.active() ? tessel_moe_bytes_read() : 0;
  const bool shapesAgree =
      router->sizes[1] == dim && up->sizes[0] == experts && up->sizes[2] == dim &&
      down->sizes[0] == experts && down->sizes[1] == dim && down->sizes[2] == hidden &&
      (!gate || (gate->sizes[0] == experts && gate->sizes[1] == hidden && gate->sizes[2] == dim)) &&
      (!sharedUp || (sharedUp->sizes[1] == dim && sharedDown->sizes[0] == dim &&
                     sharedDown->sizes[1] == sharedHidden)) &&
      (!sharedGate || (sharedGate->sizes[0] == sharedHidden && sharedGate->sizes[1] == dim)) &&
      out->sizes[0] == tokens && out->sizes[1] == dim;
  if (!shapesAgree || p.topK < 1 || p.topK > experts) {
    std::fprintf(stderr,
                 "tessel: %s: inconsistent shapes (tokens %lld, dim %lld, experts %lld, hidden "
                 "%lld, shared hidden %lld) or top_k %lld\n",
                 name, static_cast<long long>(tokens), static_cast<long long>(dim),
                 static_cast<long long>(experts), static_cast<long long>(hidden),
                 static_cast<long long>(sharedHidden), static_cast<long long>(p.topK));
    std::abort();
  }
  tessel_moe_f32(tokens, dim, hidden, experts, p.topK, x->data(), x->strides[0], router->data(),
                 up->data(), gate ? gate->data() : nullptr, down->data(),
                 static_cast<int>(p.scoring), static_cast<int>(p.normalizeTopK), p.routedScale,
                 static_cast<int>(p.activation), static_cast<int>(p.tanhApprox),
                 sharedUp ? sharedUp->data() : nullptr, sharedGate ? sharedGate->data() : nullptr,
                 sharedUp ? sharedDown->data() : nullptr, sharedHidden, out->data(),
                 out->strides[0]);
  if (timer.active())
    timer.setBytes(static_cast<double>(tessel_moe_bytes_read() - weightBytesBefore) +
                   2 * kF32 * static_cast<double>(tokens) * dim);
}

// The scalars the stored MoE entry points add (the bytes carry no shape):
// the experts' format (TESSEL_WEIGHT_*) and hidden size, then the shared
// experts' (0 and 0 without them).
struct StoredMoeShape {
  int64_t format, hidden, sharedFormat, sharedHidden;
  int64_t inputFormat; // 0, or the format the rows are rounded to (inputFormatFits)
};

// tessel.moe with stored expert (and shared expert) weights: as moe()
// above, with the stacks as bytes, checked against the sizes their format
// and the shapes give, then tessel_moe_stored_f32.
void storedMoe(const Matrix *x, const Matrix *router, const Bytes *up, const Bytes *gate,
               const Bytes *down, const Bytes *sharedUp, const Bytes *sharedGate,
               const Bytes *sharedDown, const Matrix *out, const MoeScalars &p,
               const StoredMoeShape &shape, const char *name) {
  requireRows(x, name, "x");
  requireRows(out, name, "out");
  requireDense(router, name, "router");
  for (const Bytes *b : {up, gate, down, sharedUp, sharedGate, sharedDown})
    if (b)
      requireContiguous(b->sizes[0], b->strides[0], name, "stored expert weights");
  const int64_t tokens = x->sizes[0], dim = x->sizes[1], experts = router->sizes[0];
  const int64_t hidden = shape.hidden, sharedHidden = sharedUp ? shape.sharedHidden : 0;
  auto known = [](int64_t f) {
    return f == TESSEL_WEIGHT_Q8_0 || f == TESSEL_WEIGHT_Q4_0 || f == TESSEL_WEIGHT_BF16;
  };
  // Bytes of `rows` rows of k values in `format`; -1 when k does not fill
  // whole blocks (never a real size, so the comparisons below fail).
  auto bytesOf = [](int64_t format, int64_t rows, int64_t k) -> int64_t {
    if (format != TESSEL_WEIGHT_BF16 && k % 32 != 0)
      return -1;
    return rows * tessel::kernels::weightRowBytes(static_cast<int>(format), k);
  };
  auto holds = [](const Bytes *b, int64_t want) { return !b || b->sizes[0] == want; };
  const bool shapesAgree =
      known(shape.format) && hidden > 0 && router->sizes[1] == dim &&
      holds(up, bytesOf(shape.format, experts * hidden, dim)) &&
      holds(gate, bytesOf(shape.format, experts * hidden, dim)) &&
      holds(down, bytesOf(shape.format, experts * dim, hidden)) &&
      (!sharedUp || (known(shape.sharedFormat) && sharedHidden > 0 &&
                     holds(sharedUp, bytesOf(shape.sharedFormat, sharedHidden, dim)) &&
                     holds(sharedGate, bytesOf(shape.sharedFormat, sharedHidden, dim)) &&
                     holds(sharedDown, bytesOf(shape.sharedFormat, dim, sharedHidden)))) &&
      out->sizes[0] == tokens && out->sizes[1] == dim;
  const bool inputsAgree = inputFormatFits(shape.inputFormat, shape.format) &&
                           (!sharedUp || inputFormatFits(shape.inputFormat, shape.sharedFormat));
  if (!shapesAgree || !inputsAgree || p.topK < 1 || p.topK > experts) {
    std::fprintf(stderr,
                 "tessel: %s: stored weights that do not match their shapes (tokens %lld, dim "
                 "%lld, experts %lld, hidden %lld, format %lld, shared hidden %lld, format %lld) "
                 "or top_k %lld or input format %lld\n",
                 name, static_cast<long long>(tokens), static_cast<long long>(dim),
                 static_cast<long long>(experts), static_cast<long long>(hidden),
                 static_cast<long long>(shape.format), static_cast<long long>(sharedHidden),
                 static_cast<long long>(shape.sharedFormat), static_cast<long long>(p.topK),
                 static_cast<long long>(shape.inputFormat));
    std::abort();
  }
  KernelTimer timer(name, moeFlops(tokens, experts, dim, p.topK, hidden, gate, sharedHidden), 0);
  const int64_t weightBytesBefore = timer.active() ? tessel_moe_bytes_read() : 0;
  tessel_moe_stored_f32(
      tokens, dim, hidden, experts, p.topK, x->data(), x->strides[0], router->data(),
      static_cast<int>(shape.format), up->data(), gate ? gate->data() : nullptr, down->data(),
      static_cast<int>(p.scoring), static_cast<int>(p.normalizeTopK), p.routedScale,
      static_cast<int>(p.activation), static_cast<int>(p.tanhApprox),
      static_cast<int>(sharedUp ? shape.sharedFormat : TESSEL_WEIGHT_F32),
      sharedUp ? sharedUp->data() : nullptr, sharedGate ? sharedGate->data() : nullptr,
      sharedUp ? sharedDown->data() : nullptr, sharedHidden, out->data(), out->strides[0],
      shape.inputFormat != 0 ? 1 : 0);
  if (timer.active())
    timer.setBytes(static_cast<double>(tessel_moe_bytes_read() - weightBytesBefore) +
                   2 * kF32 * static_cast<double>(tokens) * dim);
}

// The fused projections of tessel-lower-to-kernels: RMSNorm of x in the
// GEMM's prologue, RoPE of the output heads in its epilogue, or both.
struct RopeArgs {
  const Positions *positions;
  int64_t headDim, layout;
  float theta;
  int64_t rotaryDim;
  float scaling;
};

void fusedLinear(const Matrix *x, const Vector *normW, float eps, int64_t unitOffset,
                 const Matrix *w, const RopeArgs *rope, const Matrix *out, const char *name) {
  requireRows(x, name, "x");
  requireRows(w, name, "w");
  requireRows(out, name, "out");
  int64_t m = x->sizes[0], n = w->sizes[0], k = x->sizes[1];
  if (normW)
    requireContiguous(normW->sizes[0], normW->strides[0], name, "norm weight");
  if (rope) {
    requireContiguous(rope->positions->sizes[0], rope->positions->strides[0], name, "positions");
    if (rope->positions->sizes[0] != m || rope->headDim <= 0 || n % rope->headDim != 0) {
      std::fprintf(stderr, "tessel: %s: %lld positions for %lld rows, head_dim %lld of %lld\n",
                   name, static_cast<long long>(rope->positions->sizes[0]),
                   static_cast<long long>(m), static_cast<long long>(rope->headDim),
                   static_cast<long long>(n));
      std::abort();
    }
  }
  // The norm weight and positions are read besides the GEMM's operands.
  KernelTimer timer(name, gemmFlops(m, n, k),
                    gemmBytes(m, n, k) + (normW ? kF32 * k : 0) + (rope ? 8.0 * m : 0));
  if (normW && !rope) {
    tessel_rms_norm_gemm_f32(m, n, k, x->data(), x->strides[0], normW->data(), eps,
                             static_cast<int>(unitOffset), w->data(), w->strides[0], nullptr,
                             out->data(), out->strides[0]);
    return;
  }
  if (!normW) {
    tessel_gemm_rope_f32(m, n, k, x->data(), x->strides[0], w->data(), w->strides[0], nullptr,
                         out->data(), out->strides[0], n / rope->headDim, rope->headDim,
                         rope->positions->data(), static_cast<int>(rope->layout), rope->theta,
                         rope->rotaryDim, rope->scaling, nullptr);
    return;
  }
  // Both: the norm in the GEMM's prologue, then the rotation over the
  // output rows just written (in place, while they are still in cache for
  // decode-sized m).
  tessel_rms_norm_gemm_f32(m, n, k, x->data(), x->strides[0], normW->data(), eps,
                           static_cast<int>(unitOffset), w->data(), w->strides[0], nullptr,
                           out->data(), out->strides[0]);
  tessel_rope_f32(m, n / rope->headDim, rope->headDim, out->data(), out->strides[0], out->data(),
                  out->strides[0], rope->positions->data(), static_cast<int>(rope->layout),
                  rope->theta, rope->rotaryDim, rope->scaling, nullptr);
}

} // namespace

extern "C" {

// out = x w^T (+ bias) (+ residual): one entry point per operand set, as
// tessel-lower-to-kernels names them.
void _mlir_ciface_tessel_linear_f32(Matrix *x, Matrix *w, Matrix *out) {
  linear(x, w, nullptr, nullptr, out, "tessel_linear_f32");
}
void _mlir_ciface_tessel_linear_bias_f32(Matrix *x, Matrix *w, Vector *bias, Matrix *out) {
  linear(x, w, bias, nullptr, out, "tessel_linear_bias_f32");
}
void _mlir_ciface_tessel_linear_residual_f32(Matrix *x, Matrix *w, Matrix *residual, Matrix *out) {
  linear(x, w, nullptr, residual, out, "tessel_linear_residual_f32");
}
void _mlir_ciface_tessel_linear_bias_residual_f32(Matrix *x, Matrix *w, Vector *bias,
                                                  Matrix *residual, Matrix *out) {
  linear(x, w, bias, residual, out, "tessel_linear_bias_residual_f32");
}

// The same with W stored as bf16, q8_0 or q4_0: its bytes, then the format
// (TESSEL_WEIGHT_*) and W's shape after the output, and the input's format:
// 0 for f32 rows, TESSEL_WEIGHT_Q8_0 for rows rounded to q8_0 first
// (input_format = "q8_0"; tessel_gemm_q8in_f32).
void _mlir_ciface_tessel_linear_q_f32(Matrix *x, Bytes *w, Matrix *out, int64_t format, int64_t n,
                                      int64_t k, int64_t inputFormat) {
  storedLinear(x, w, nullptr, nullptr, out, format, n, k, inputFormat, "tessel_linear_q_f32");
}
void _mlir_ciface_tessel_linear_q_bias_f32(Matrix *x, Bytes *w, Vector *bias, Matrix *out,
                                           int64_t format, int64_t n, int64_t k,
                                           int64_t inputFormat) {
  storedLinear(x, w, bias, nullptr, out, format, n, k, inputFormat, "tessel_linear_q_bias_f32");
}
void _mlir_ciface_tessel_linear_q_residual_f32(Matrix *x, Bytes *w, Matrix *residual, Matrix *out,
                                               int64_t format, int64_t n, int64_t k,
                                               int64_t inputFormat) {
  storedLinear(x, w, nullptr, residual, out, format, n, k, inputFormat,
               "tessel_linear_q_residual_f32");
}
void _mlir_ciface_tessel_linear_q_bias_residual_f32(Matrix *x, Bytes *w, Vector *bias,
                                                    Matrix *residual, Matrix *out, int64_t format,
                                                    int64_t n, int64_t k, int64_t inputFormat) {
  storedLinear(x, w, bias, residual, out, format, n, k, inputFormat,
               "tessel_linear_q_bias_residual_f32");
}

// out = act(x Wg^T) * (x Wu^T) for SwiGLU (kind 0) / GeGLU (1), the
// hidden rows of a gated FFN whose gate and up matrices are stored alike
// (`format`, [n, k] each): both products in one call (with q8_0 inputs the
// rows of x are rounded once and both matrices share one hand-off to the
// pool; kernels::gemmQuantPair), then the activation in place.
void _mlir_ciface_tessel_glu_q_f32(Matrix *x, Bytes *wGate, Bytes *wUp, Matrix *out, int64_t format,
                                   int64_t n, int64_t k, int64_t inputFormat, int64_t kind,
                                   int64_t tanhApprox) {
  const char *name = "tessel_glu_q_f32";
  const int64_t rowBytes = checkStoredProduct(x, wGate, out, format, n, k, inputFormat, name);
  checkStoredProduct(x, wUp, out, format, n, k, inputFormat, name);
  const int64_t m = x->sizes[0];
  KernelTimer timer(name, 2.0 * gemmFlops(m, n, k) + 4.0 * m * n,
                    2.0 * static_cast<double>(wGate->sizes[0]) +
                        kF32 * static_cast<double>(m) * (k + n));
  thread_local std::vector<float> up;
  up.resize(static_cast<size_t>(m * n));
  tessel::kernels::gemmQuantPair(static_cast<int>(format), m, n, k, x->data(), x->strides[0],
                                 wGate->data(), wUp->data(), rowBytes, out->data(), out->strides[0],
                                 up.data(), n, &tessel::kernels::ThreadPool::global(),
                                 inputFormat != 0);
  for (int64_t i = 0; i < m; ++i) {
    float *g = out->data() + i * out->strides[0];
    if (kind == 0)
      tessel_silu_mul_f32(n, g, up.data() + i * n, g);
    else
      tessel_gelu_mul_f32(n, g, up.data() + i * n, static_cast<int>(tanhApprox), g);
  }
}

// out = act(gate) * up for SwiGLU (kind 0) / GeGLU (1), [rows, hidden]:
// the gated FFN's activation when its gate and up projections were
// separate calls (stored in different formats).
void _mlir_ciface_tessel_gated_activation_f32(Matrix *gate, Matrix *up, Matrix *out, int64_t kind,
                                              int64_t tanhApprox) {
  const char *name = "tessel_gated_activation_f32";
  requireRows(gate, name, "gate");
  requireRows(up, name, "up");
  requireRows(out, name, "out");
  const int64_t m = out->sizes[0], n = out->sizes[1];
  KernelTimer timer(name, 4.0 * m * n, kF32 * 3.0 * m * n);
  for (int64_t i = 0; i < m; ++i) {
    const float *g = gate->data() + i * gate->strides[0], *u = up->data() + i * up->strides[0];
    float *o = out->data() + i * out->strides[0];
    if (kind == 0)
      tessel_silu_mul_f32(n, g, u, o);
    else
      tessel_gelu_mul_f32(n, g, u, static_cast<int>(tanhApprox), o);
  }
}

// The f32 matrix of a stored weight that no kernel call could read directly.
void _mlir_ciface_tessel_dequantize_f32(Bytes *w, Matrix *out, int64_t format, int64_t n,
                                        int64_t k) {
  const char *name = "tessel_dequantize_f32";
  requireRows(out, name, "out");
  requireContiguous(w->sizes[0], w->strides[0], name, "w");
  KernelTimer timer(name, 0, static_cast<double>(w->sizes[0]) + kF32 * static_cast<double>(n) * k);
  const int64_t rowBytes = tessel::kernels::weightRowBytes(static_cast<int>(format), k);
  tessel_dequantize_rows_f32(static_cast<int>(format), n, k, w->data(), rowBytes, out->data(),
                             out->strides[0]);
}

void _mlir_ciface_tessel_rms_norm_linear_f32(Matrix *x, Vector *normW, Matrix *w, Matrix *out,
                                             float eps, int64_t unitOffset) {
  fusedLinear(x, normW, eps, unitOffset, w, nullptr, out, "tessel_rms_norm_linear_f32");
}

void _mlir_ciface_tessel_linear_rope_f32(Matrix *x, Matrix *w, Positions *positions, Matrix *out,
                                         int64_t headDim, int64_t layout, float theta,
                                         int64_t rotaryDim, float scaling) {
  RopeArgs rope{positions, headDim, layout, theta, rotaryDim, scaling};
  fusedLinear(x, nullptr, 0, 0, w, &rope, out, "tessel_linear_rope_f32");
}

void _mlir_ciface_tessel_rms_norm_linear_rope_f32(Matrix *x, Vector *normW, Matrix *w,
                                                  Positions *positions, Matrix *out, float eps,
                                                  int64_t unitOffset, int64_t headDim,
                                                  int64_t layout, float theta, int64_t rotaryDim,
                                                  float scaling) {
  RopeArgs rope{positions, headDim, layout, theta, rotaryDim, scaling};
  fusedLinear(x, normW, eps, unitOffset, w, &rope, out, "tessel_rms_norm_linear_rope_f32");
}

// tessel.rms_norm that no linear layer folded into its prologue (its
// consumers read stored weights): rows of x normalised into out.
void _mlir_ciface_tessel_rms_norm_rows_f32(Matrix *x, Vector *w, Matrix *out, float eps,
                                           int64_t unitOffset) {
  const char *name = "tessel_rms_norm_rows_f32";
  requireRows(x, name, "x");
  requireRows(out, name, "out");
  requireContiguous(w->sizes[0], w->strides[0], name, "weight");
  const int64_t rows = x->sizes[0], dim = x->sizes[1];
  if (w->sizes[0] != dim || out->sizes[0] != rows || out->sizes[1] != dim) {
    std::fprintf(stderr, "tessel: %s: x [%lld, %lld], weight [%lld]\n", name,
                 static_cast<long long>(rows), static_cast<long long>(dim),
                 static_cast<long long>(w->sizes[0]));
    std::abort();
  }
  // FLOPs: square-and-add, then two multiplies per value.
  KernelTimer timer(name, 3.0 * rows * dim, kF32 * (2.0 * rows * dim + dim));
  for (int64_t i = 0; i < rows; ++i)
    tessel_rms_norm_f32(1, dim, x->data() + i * x->strides[0], w->data(), eps,
                        static_cast<int>(unitOffset), out->data() + i * out->strides[0]);
}

// tessel.rope that no linear layer folded into its epilogue: x is [tokens,
// heads * head_dim] (the op's heads merged), rotated into out.
void _mlir_ciface_tessel_rope_rows_f32(Matrix *x, Positions *positions, Matrix *out,
                                       int64_t headDim, int64_t layout, float theta,
                                       int64_t rotaryDim, float scaling) {
  const char *name = "tessel_rope_rows_f32";
  requireRows(x, name, "x");
  requireRows(out, name, "out");
  requireContiguous(positions->sizes[0], positions->strides[0], name, "positions");
  const int64_t tokens = x->sizes[0], width = x->sizes[1];
  if (headDim <= 0 || width % headDim != 0 || positions->sizes[0] != tokens ||
      out->sizes[0] != tokens || out->sizes[1] != width) {
    std::fprintf(stderr, "tessel: %s: x [%lld, %lld], head_dim %lld, %lld positions\n", name,
                 static_cast<long long>(tokens), static_cast<long long>(width),
                 static_cast<long long>(headDim), static_cast<long long>(positions->sizes[0]));
    std::abort();
  }
  // FLOPs: each rotated value is two multiplies and an add.
  KernelTimer timer(name, 3.0 * tokens * width, kF32 * 2.0 * tokens * width + 8.0 * tokens);
  tessel_rope_f32(tokens, width / headDim, headDim, x->data(), x->strides[0], out->data(),
                  out->strides[0], positions->data(), static_cast<int>(layout), theta, rotaryDim,
                  scaling, nullptr);
}

// tessel.attention without mask or sinks (tessel-attention-to-kernel).
void _mlir_ciface_tessel_attention_f32(Heads *q, Heads *k, Heads *v, Heads *out, int64_t numHeads,
                                       int64_t numKvHeads, int64_t causal, int64_t window,
                                       float scale) {
  // Scores and the weighted sum of values: 2 * (d_k + d_v) FLOPs per
  // (query, visible key) pair and head. Queries are the last q_len rows of
  // the kv_len keys (prefill and decode on a cache), so with a causal mask
  // query i sees kv_len - q_len + i + 1 keys, at most `window`.
  double pairs = 0;
  const int64_t qLen = q->sizes[1], kvLen = k->sizes[1];
  if (tessel::runtime::Profiler::enabled())
    for (int64_t i = 0; i < qLen; ++i) {
      int64_t visible =
          causal ? std::min(kvLen, std::max<int64_t>(kvLen - qLen + i + 1, 0)) : kvLen;
      if (window > 0)
        visible = std::min(visible, window);
      pairs += static_cast<double>(visible);
    }
  const double batch = static_cast<double>(q->sizes[0]);
  KernelTimer timer("tessel_attention_f32",
                    2.0 * batch * numHeads * pairs * (q->sizes[3] + v->sizes[3]),
                    kF32 * batch *
                        (static_cast<double>(qLen) * numHeads * (q->sizes[3] + v->sizes[3]) +
                         static_cast<double>(kvLen) * numKvHeads * (k->sizes[3] + v->sizes[3])));
  // The kernel takes batch and token strides but wants a token's heads
  // contiguous. A view that splits heads apart (MLA's values are a slice of
  // [k_nope | v] per head) is packed into scratch first; KV-cache views and
  // projection outputs pass as they are.
  thread_local std::vector<float> packed[3];
  Heads views[3] = {*q, *k, *v};
  for (int i = 0; i < 3; ++i) {
    Heads &t = views[i];
    if ((t.strides[3] == 1 || t.sizes[3] <= 1) && (t.strides[2] == t.sizes[3] || t.sizes[2] <= 1))
      continue;
    const int64_t rows = t.sizes[0] * t.sizes[1], row = t.sizes[2] * t.sizes[3];
    packed[i].resize(static_cast<size_t>(rows * row));
    float *dst = packed[i].data();
    for (int64_t b = 0; b < t.sizes[0]; ++b)
      for (int64_t s = 0; s < t.sizes[1]; ++s)
        for (int64_t h = 0; h < t.sizes[2]; ++h)
          for (int64_t d = 0; d < t.sizes[3]; ++d)
            *dst++ =
                t.data()[b * t.strides[0] + s * t.strides[1] + h * t.strides[2] + d * t.strides[3]];
    t.allocated = t.aligned = packed[i].data();
    t.offset = 0;
    t.strides[3] = 1;
    t.strides[2] = t.sizes[3];
    t.strides[1] = row;
    t.strides[0] = t.sizes[1] * row;
  }
  if ((out->strides[3] != 1 && out->sizes[3] > 1) ||
      (out->strides[2] != out->sizes[3] && out->sizes[2] > 1)) {
    std::fprintf(stderr, "tessel: tessel_attention_f32: out does not keep a token's heads "
                         "contiguous\n");
    std::abort();
  }
  const Heads &qv = views[0], &kv = views[1], &vv = views[2];
  tessel_attention_f32(qv.sizes[0], qv.sizes[1], kv.sizes[1], numHeads, numKvHeads, qv.sizes[3],
                       vv.sizes[3], qv.data(), qv.strides[0], qv.strides[1], kv.data(),
                       kv.strides[0], kv.strides[1], vv.data(), vv.strides[0], vv.strides[1],
                       /*mask=*/nullptr, 0, 0, /*sinks=*/nullptr, static_cast<int>(causal), window,
                       scale, /*kv_tile=*/0, out->data(), out->strides[0], out->strides[1]);
}

// out = act(x wg^T) * (x wu^T); activation 0 = SiLU, 1 = GELU.
void _mlir_ciface_tessel_glu_f32(Matrix *x, Matrix *wGate, Matrix *wUp, Matrix *out,
                                 int64_t activation, int64_t tanhApprox) {
  const char *name = "tessel_glu_f32";
  requireRows(x, name, "x");
  requireRows(wGate, name, "w_gate");
  requireRows(wUp, name, "w_up");
  requireRows(out, name, "out");
  if (wGate->strides[0] != wUp->strides[0]) {
    std::fprintf(stderr, "tessel: %s: gate and up weights have different row strides\n", name);
    std::abort();
  }
  const int64_t m = x->sizes[0], n = wUp->sizes[0], k = x->sizes[1];
  // Two GEMMs (gate and up) over the same x; the output is written once.
  KernelTimer timer(name, 2 * gemmFlops(m, n, k),
                    gemmBytes(m, n, k) + kF32 * static_cast<double>(n) * k);
  tessel_gemm_glu_f32(x->sizes[0], wUp->sizes[0], x->sizes[1], x->data(), x->strides[0],
                      wGate->data(), wUp->data(), wUp->strides[0],
                      activation == 0 ? TESSEL_GLU_SILU : TESSEL_GLU_GELU,
                      static_cast<int>(tanhApprox), out->data(), out->strides[0]);
}

// tessel.moe (tessel-lower-to-kernels): one entry point per operand set,
// `_gated` with gate weights (SwiGLU, GeGLU), `_shared` with shared
// experts. Scalars: top_k, scoring (TESSEL_MOE_SOFTMAX/SIGMOID),
// normalize_top_k, routed_scale, activation (TESSEL_MOE_*), tanh_approx.
void _mlir_ciface_tessel_moe_f32(Matrix *x, Matrix *router, Experts *up, Experts *down, Matrix *out,
                                 int64_t topK, int64_t scoring, int64_t normalizeTopK,
                                 float routedScale, int64_t activation, int64_t tanhApprox) {
  moe(x, router, up, nullptr, down, nullptr, nullptr, nullptr, out,
      {topK, scoring, normalizeTopK, routedScale, activation, tanhApprox}, "tessel_moe_f32");
}
void _mlir_ciface_tessel_moe_gated_f32(Matrix *x, Matrix *router, Experts *up, Experts *gate,
                                       Experts *down, Matrix *out, int64_t topK, int64_t scoring,
                                       int64_t normalizeTopK, float routedScale, int64_t activation,
                                       int64_t tanhApprox) {
  moe(x, router, up, gate, down, nullptr, nullptr, nullptr, out,
      {topK, scoring, normalizeTopK, routedScale, activation, tanhApprox}, "tessel_moe_gated_f32");
}
void _mlir_ciface_tessel_moe_shared_f32(Matrix *x, Matrix *router, Experts *up, Experts *down,
                                        Matrix *sharedUp, Matrix *sharedDown, Matrix *out,
                                        int64_t topK, int64_t scoring, int64_t normalizeTopK,
                                        float routedScale, int64_t activation, int64_t tanhApprox) {
  moe(x, router, up, nullptr, down, sharedUp, nullptr, sharedDown, out,
      {topK, scoring, normalizeTopK, routedScale, activation, tanhApprox}, "tessel_moe_shared_f32");
}
void _mlir_ciface_tessel_moe_gated_shared_f32(Matrix *x, Matrix *router, Experts *up, Experts *gate,
                                              Experts *down, Matrix *sharedUp, Matrix *sharedGate,
                                              Matrix *sharedDown, Matrix *out, int64_t topK,
                                              int64_t scoring, int64_t normalizeTopK,
                                              float routedScale, int64_t activation,
                                              int64_t tanhApprox) {
  moe(x, router, up, gate, down, sharedUp, sharedGate, sharedDown, out,
      {topK, scoring, normalizeTopK, routedScale, activation, tanhApprox},
      "tessel_moe_gated_shared_f32");
}

// A batched contraction einsum (tessel-lower-to-kernels): a [batch, m,
// k], b [batch, k, n] (bKN) or [batch, n, k], out [batch, m, n]; any batch
// and row strides (a weight slice is passed where it lies), unit inner
// strides.
void _mlir_ciface_tessel_batch_matmul_f32(Stack *a, Stack *b, Stack *out, int64_t bKN) {
  const char *name = "tessel_batch_matmul_f32";
  const int64_t batch = a->sizes[0], m = a->sizes[1], k = a->sizes[2];
  const int64_t n = bKN ? b->sizes[2] : b->sizes[1];
  const bool shapesAgree = b->sizes[0] == batch && (bKN ? b->sizes[1] : b->sizes[2]) == k &&
                           out->sizes[0] == batch && out->sizes[1] == m && out->sizes[2] == n;
  if (!shapesAgree) {
    std::fprintf(
        stderr, "tessel: %s: [%lld, %lld, %lld] x [%lld, %lld, %lld] -> [%lld, %lld, %lld]\n", name,
        static_cast<long long>(batch), static_cast<long long>(m), static_cast<long long>(k),
        static_cast<long long>(b->sizes[0]), static_cast<long long>(b->sizes[1]),
        static_cast<long long>(b->sizes[2]), static_cast<long long>(out->sizes[0]),
        static_cast<long long>(out->sizes[1]), static_cast<long long>(out->sizes[2]));
    std::abort();
  }
  requireContiguous(a->sizes[2], a->strides[2], name, "a's rows");
  requireContiguous(b->sizes[2], b->strides[2], name, "b's rows");
  requireContiguous(out->sizes[2], out->strides[2], name, "out's rows");
  const double batchD = static_cast<double>(batch);
  KernelTimer timer(name, batchD * gemmFlops(m, n, k), batchD * gemmBytes(m, n, k));
  tessel_batch_gemm_f32(batch, m, n, k, a->data(), a->strides[0], a->strides[1], b->data(),
                        b->strides[0], b->strides[1], bKN != 0 ? 1 : 0, out->data(),
                        out->strides[0], out->strides[1]);
}

// The same with stored expert weights (`_q`): the experts' (and shared
// experts') matrices as bytes, and after the scalars above the experts'
// format and hidden size, then the shared experts' (0 and 0 without them).
void _mlir_ciface_tessel_moe_q_f32(Matrix *x, Matrix *router, Bytes *up, Bytes *down, Matrix *out,
                                   int64_t topK, int64_t scoring, int64_t normalizeTopK,
                                   float routedScale, int64_t activation, int64_t tanhApprox,
                                   int64_t format, int64_t hidden, int64_t sharedFormat,
                                   int64_t sharedHidden, int64_t inputFormat) {
  storedMoe(x, router, up, nullptr, down, nullptr, nullptr, nullptr, out,
            {topK, scoring, normalizeTopK, routedScale, activation, tanhApprox},
            {format, hidden, sharedFormat, sharedHidden, inputFormat}, "tessel_moe_q_f32");
}
void _mlir_ciface_tessel_moe_q_gated_f32(Matrix *x, Matrix *router, Bytes *up, Bytes *gate,
                                         Bytes *down, Matrix *out, int64_t topK, int64_t scoring,
                                         int64_t normalizeTopK, float routedScale,
                                         int64_t activation, int64_t tanhApprox, int64_t format,
                                         int64_t hidden, int64_t sharedFormat, int64_t sharedHidden,
                                         int64_t inputFormat) {
  storedMoe(x, router, up, gate, down, nullptr, nullptr, nullptr, out,
            {topK, scoring, normalizeTopK, routedScale, activation, tanhApprox},
            {format, hidden, sharedFormat, sharedHidden, inputFormat}, "tessel_moe_q_gated_f32");
}
void _mlir_ciface_tessel_moe_q_shared_f32(Matrix *x, Matrix *router, Bytes *up, Bytes *down,
                                          Bytes *sharedUp, Bytes *sharedDown, Matrix *out,
                                          int64_t topK, int64_t scoring, int64_t normalizeTopK,
                                          float routedScale, int64_t activation, int64_t tanhApprox,
                                          int64_t format, int64_t hidden, int64_t sharedFormat,
                                          int64_t sharedHidden, int64_t inputFormat) {
  storedMoe(x, router, up, nullptr, down, sharedUp, nullptr, sharedDown, out,
            {topK, scoring, normalizeTopK, routedScale, activation, tanhApprox},
            {format, hidden, sharedFormat, sharedHidden, inputFormat}, "tessel_moe_q_shared_f32");
}
void _mlir_ciface_tessel_moe_q_gated_shared_f32(Matrix *x, Matrix *router, Bytes *up, Bytes *gate,
                                                Bytes *down, Bytes *sharedUp, Bytes *sharedGate,
                                                Bytes *sharedDown, Matrix *out, int64_t topK,
                                                int64_t scoring, int64_t normalizeTopK,
                                                float routedScale, int64_t activation,
                                                int64_t tanhApprox, int64_t format, int64_t hidden,
                                                int64_t sharedFormat, int64_t sharedHidden,
                                                int64_t inputFormat) {
  storedMoe(x, router, up, gate, down, sharedUp, sharedGate, sharedDown, out,
            {topK, scoring, normalizeTopK, routedScale, activation, tanhApprox},
            {format, hidden, sharedFormat, sharedHidden, inputFormat},
            "tessel_moe_q_gated_shared_f32");
}

// tessel-profile-ops puts these around every tessel op of a function
// compiled for profiling (`tessel run --profile`); `id` indexes the module's
// tessel.profile_ops table.
void tessel_profile_begin(int64_t id) {
  if (tessel::runtime::Profiler::enabled())
    tessel::runtime::Profiler::global().beginOp(id);
}
void tessel_profile_end(int64_t id) {
  if (tessel::runtime::Profiler::enabled())
    tessel::runtime::Profiler::global().endOp(id);
}

// memref.copy between non-contiguous buffers lowers to a call of this
// function (MLIR's runtime has it in libmlir_c_runner_utils; ours keeps
// compiled code free of that library). Memrefs arrive unranked: {rank,
// pointer to the ranked descriptor}; elements are `elementSize` bytes.
struct UnrankedMemRef {
  int64_t rank;
  void *descriptor;
};

void memrefCopy(int64_t elementSize, UnrankedMemRef *src, UnrankedMemRef *dst) {
  struct Header {
    char *allocated;
    char *aligned;
    int64_t offset;
  };
  const int64_t rank = src->rank;
  auto *s = static_cast<Header *>(src->descriptor);
  auto *d = static_cast<Header *>(dst->descriptor);
  const int64_t *sizes = reinterpret_cast<const int64_t *>(s + 1);
  const int64_t *srcStrides = sizes + rank;
  const int64_t *dstStrides = reinterpret_cast<const int64_t *>(d + 1) + rank;
  int64_t total = 1;
  for (int64_t i = 0; i < rank; ++i)
    total *= sizes[i];
  if (total == 0)
    return;
  std::vector<int64_t> index(rank, 0);
  // Copy runs of the innermost dimension when it is contiguous on both sides.
  const bool rowsContiguous = rank > 0 && srcStrides[rank - 1] == 1 && dstStrides[rank - 1] == 1;
  const int64_t run = rowsContiguous ? sizes[rank - 1] : 1;
  for (int64_t done = 0; done < total; done += run) {
    int64_t so = s->offset, doff = d->offset;
    for (int64_t i = 0; i < rank; ++i) {
      so += index[i] * srcStrides[i];
      doff += index[i] * dstStrides[i];
    }
    std::memcpy(d->aligned + doff * elementSize, s->aligned + so * elementSize,
                static_cast<size_t>(run * elementSize));
    for (int64_t i = rank - (rowsContiguous ? 2 : 1); i >= 0; --i) {
      if (++index[i] < sizes[i])
        break;
      index[i] = 0;
    }
  }
}

} // extern "C"

namespace tessel::codegen {

const std::vector<std::pair<const char *, void *>> &kernelAbiSymbols() {
  static const std::vector<std::pair<const char *, void *>> kSymbols = {
      {"_mlir_ciface_tessel_linear_f32", reinterpret_cast<void *>(&_mlir_ciface_tessel_linear_f32)},
      {"_mlir_ciface_tessel_linear_bias_f32",
       reinterpret_cast<void *>(&_mlir_ciface_tessel_linear_bias_f32)},
      {"_mlir_ciface_tessel_linear_residual_f32",
       reinterpret_cast<void *>(&_mlir_ciface_tessel_linear_residual_f32)},
      {"_mlir_ciface_tessel_linear_bias_residual_f32",
       reinterpret_cast<void *>(&_mlir_ciface_tessel_linear_bias_residual_f32)},
      {"_mlir_ciface_tessel_rms_norm_linear_f32",
       reinterpret_cast<void *>(&_mlir_ciface_tessel_rms_norm_linear_f32)},
      {"_mlir_ciface_tessel_linear_rope_f32",
       reinterpret_cast<void *>(&_mlir_ciface_tessel_linear_rope_f32)},
      {"_mlir_ciface_tessel_rms_norm_linear_rope_f32",
       reinterpret_cast<void *>(&_mlir_ciface_tessel_rms_norm_linear_rope_f32)},
      {"_mlir_ciface_tessel_attention_f32",
       reinterpret_cast<void *>(&_mlir_ciface_tessel_attention_f32)},
      {"_mlir_ciface_tessel_glu_f32", reinterpret_cast<void *>(&_mlir_ciface_tessel_glu_f32)},
      {"_mlir_ciface_tessel_rms_norm_rows_f32",
       reinterpret_cast<void *>(&_mlir_ciface_tessel_rms_norm_rows_f32)},
      {"_mlir_ciface_tessel_rope_rows_f32",
       reinterpret_cast<void *>(&_mlir_ciface_tessel_rope_rows_f32)},
      {"_mlir_ciface_tessel_linear_q_f32",
       reinterpret_cast<void *>(&_mlir_ciface_tessel_linear_q_f32)},
      {"_mlir_ciface_tessel_linear_q_bias_f32",
       reinterpret_cast<void *>(&_mlir_ciface_tessel_linear_q_bias_f32)},
      {"_mlir_ciface_tessel_linear_q_residual_f32",
       reinterpret_cast<void *>(&_mlir_ciface_tessel_linear_q_residual_f32)},
      {"_mlir_ciface_tessel_linear_q_bias_residual_f32",
       reinterpret_cast<void *>(&_mlir_ciface_tessel_linear_q_bias_residual_f32)},
      {"_mlir_ciface_tessel_glu_q_f32", reinterpret_cast<void *>(&_mlir_ciface_tessel_glu_q_f32)},
      {"_mlir_ciface_tessel_gated_activation_f32",
       reinterpret_cast<void *>(&_mlir_ciface_tessel_gated_activation_f32)},
      {"_mlir_ciface_tessel_dequantize_f32",
       reinterpret_cast<void *>(&_mlir_ciface_tessel_dequantize_f32)},
      {"_mlir_ciface_tessel_moe_f32", reinterpret_cast<void *>(&_mlir_ciface_tessel_moe_f32)},
      {"_mlir_ciface_tessel_moe_gated_f32",
       reinterpret_cast<void *>(&_mlir_ciface_tessel_moe_gated_f32)},
      {"_mlir_ciface_tessel_moe_shared_f32",
       reinterpret_cast<void *>(&_mlir_ciface_tessel_moe_shared_f32)},
      {"_mlir_ciface_tessel_moe_gated_shared_f32",
       reinterpret_cast<void *>(&_mlir_ciface_tessel_moe_gated_shared_f32)},
      {"_mlir_ciface_tessel_moe_q_f32", reinterpret_cast<void *>(&_mlir_ciface_tessel_moe_q_f32)},
      {"_mlir_ciface_tessel_batch_matmul_f32",
       reinterpret_cast<void *>(&_mlir_ciface_tessel_batch_matmul_f32)},
      {"_mlir_ciface_tessel_moe_q_gated_f32",
       reinterpret_cast<void *>(&_mlir_ciface_tessel_moe_q_gated_f32)},
      {"_mlir_ciface_tessel_moe_q_shared_f32",
       reinterpret_cast<void *>(&_mlir_ciface_tessel_moe_q_shared_f32)},
      {"_mlir_ciface_tessel_moe_q_gated_shared_f32",
       reinterpret_cast<void *>(&_mlir_ciface_tessel_moe_q_gated_shared_f32)},
      {"memrefCopy", reinterpret_cast<void *>(&memrefCopy)},
      {"tessel_profile_begin", reinterpret_cast<void *>(&tessel_profile_begin)},
      {"tessel_profile_end", reinterpret_cast<void *>(&tessel_profile_end)},
  };
  return kSymbols;
}

} // namespace tessel::codegen
