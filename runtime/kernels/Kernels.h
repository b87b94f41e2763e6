/*===- Kernels.h - Highway micro-kernels behind a small C ABI ----*- C -*-===//
 *
 * The CPU code generator emits loops around these kernels and calls them
 * through the `tessel_` C functions below; the runtime and the tests call the
 * same functions (plus the explicit-pool C++ overloads at the end). No
 * Highway type appears here: plain pointers, element counts and strides.
 *
 * Policy/SIMD split (as in gemma.cpp's ops/matmul.h vs matmul-inl.h): this
 * header and the `.cc` files hold the non-SIMD policy (blocking, threading,
 * argument checks); the `*-inl.h` files hold the per-target SIMD code, which
 * each `.cc` compiles once per Highway target (hwy/foreach_target.h) and
 * picks at run time with HWY_DYNAMIC_DISPATCH: AVX3 (AVX-512) on the build
 * machine, AVX2 / SSE4 / SSSE3 elsewhere, and a portable fallback (EMU128,
 * or SCALAR with GCC < 12.3, which Highway 1.0.3 uses instead); NEON on Arm.
 *
 * Conventions for every function:
 *  - f32 data, row-major. A "stride" is in elements (floats), not bytes, and
 *    is the distance between consecutive rows; it is >= the row length.
 *  - Sizes may be 0 (the call does nothing); pointers for empty data may be
 *    null. Nullable arguments are marked so.
 *  - Outputs may alias inputs only where a function says "in place is fine".
 *  - Accumulation is in f32 (the reference evaluator uses f64): results agree
 *    with it to about 1e-6 relative for the sizes of real models; the unit
 *    tests state the tolerance they check.
 *  - Functions marked "threaded" split their work across the global pool
 *    (tessel_set_num_threads); the rest run on the calling thread. Every
 *    function is reentrant: callers may run kernels from their own threads.
 *
 *===----------------------------------------------------------------------===*/
#ifndef TESSEL_RUNTIME_KERNELS_KERNELS_H
#define TESSEL_RUNTIME_KERNELS_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*===-------------------------------------------------------------------===*
 * Runtime configuration
 *===-------------------------------------------------------------------===*/

/** Threads used by the "threaded" kernels, the caller included (0 = one per
 *  hardware thread, or TESSEL_NUM_THREADS if set). Not while a kernel runs. */
void tessel_set_num_threads(int64_t num_threads);
int64_t tessel_get_num_threads(void);

/** Name of the Highway target the kernels dispatch to now ("AVX3", "AVX2",
 *  "SSE4", "EMU128", "NEON", ...). */
const char *tessel_kernels_target(void);

/*===-------------------------------------------------------------------===*
 * GEMM / GEMV:  c = a w^T (+ bias),  w in the PyTorch [out, in] layout
 *===-------------------------------------------------------------------===*/

/** c[m, n] = a[m, k] * w[n, k]^T + bias[n]. `bias` is nullable. Threaded.
 *  a[i, p] = a[i*lda + p], w[j, p] = w[j*ldw + p], c[i, j] = c[i*ldc + j].
 *  m <= 4 (decode, small batches) streams `w` directly, like GEMV; larger m
 *  packs panels of `w` and blocks of `a` for the cache (see below) and runs
 *  an 8 x 32 register-blocked micro-kernel (6 x 16 on AVX2). The blocking
 *  sizes and the reasons for them are in Internal.h (kKC, kMC, kNC) and
 *  gemm-inl.h (kMR). Threads split N (or M when N is narrow), never K: the
 *  result is bit for bit the same for any number of threads. */
void tessel_gemm_f32(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *w,
                     int64_t ldw, const float *bias, float *c, int64_t ldc);

/** c = a w^T + bias + addend: tessel_gemm_f32 with a residual added in the
 *  same pass, for the "x + linear(h)" that ends attention and FFN blocks.
 *  `bias` and `addend` are nullable; addend[i, j] = addend[i*ld_addend + j].
 *  In place is fine for the addend: addend == c with ld_addend == ldc
 *  computes c += a w^T (+ bias). No other overlap with c is allowed (nor
 *  between c and a or w). Why it can alias: the addend is added as each
 *  output tile of the first K block (256 deep, kKC) is stored, before c
 *  holds anything else, and later K blocks accumulate onto c; there is no
 *  second pass over c. So for k <= 256, and for any k when m <= 4, the
 *  result is bit for bit tessel_gemm_f32 followed by c += addend. Threaded
 *  like tessel_gemm_f32: the same result for any number of threads. */
void tessel_gemm_addend_f32(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                            const float *w, int64_t ldw, const float *bias, const float *addend,
                            int64_t ld_addend, float *c, int64_t ldc);

#define TESSEL_GLU_SILU 0 /* SwiGLU: silu(gate) * up */
#define TESSEL_GLU_GELU 1 /* GeGLU:  gelu(gate) * up */

/** c[i, j] = act(sum_p a[i, p] w_gate[j, p]) * (sum_p a[i, p] w_up[j, p]):
 *  the gate and up projections of a gated FFN and their combination in one
 *  kernel. w_gate and w_up are [n, k] with the same stride ldw (anywhere in
 *  memory; e.g. halves of one fused [2n, k] weight). `activation` is
 *  TESSEL_GLU_SILU or TESSEL_GLU_GELU (exact erf form when tanh_approx == 0,
 *  else the tanh form), evaluated by the code of tessel_silu_mul_f32 and
 *  tessel_gelu_mul_f32. c must not overlap a, w_gate or w_up.
 *  Why fused: the [m, n] gate and up products never exist in memory in full,
 *  which saves writing both and reading them back for a separate activation
 *  pass. m <= 4 takes the dot products of four gate rows and the four up
 *  rows of the same outputs at a time and combines them at once; larger m
 *  runs the packed micro-kernel on a gate tile and the up tile of the same
 *  outputs from one packed A strip, keeps their running sums for one
 *  384 x 256 block of outputs in per-thread scratch across K blocks
 *  (kGluRows x kGluNC in Internal.h), and combines each pair of tiles into c
 *  after the last K block. Fusing changes the result by rounding only
 *  (the f32 sums and the activation's SIMD remainder handling differ from
 *  the unfused calls in the last bits). Threaded like tessel_gemm_f32
 *  (threads split N or M, never K): the same result for any number of
 *  threads. */
void tessel_gemm_glu_f32(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                         const float *w_gate, const float *w_up, int64_t ldw, int activation,
                         int tanh_approx, float *c, int64_t ldc);

/** c = rms_norm(a) w^T + bias: the RMSNorm that opens an attention or FFN
 *  block fused into the projection that reads it (norm prologue).
 *  rms_norm(a)[i, p] = a[i, p] / sqrt(mean_p(a[i, :]^2) + eps)
 *                      * (norm_w[p] + (unit_offset ? 1 : 0)),
 *  exactly tessel_rms_norm_f32 over the k features of each row; norm_w is
 *  [k]. Then c[i, j] = sum_p rms_norm(a)[i, p] w[j, p] + bias[j] with the
 *  layouts of tessel_gemm_f32 (a[i*lda + p], w[j*ldw + p], c[i*ldc + j];
 *  `bias` nullable). c must not overlap a, norm_w or w.
 *  Why fused: the normalised [m, k] activations are never written to
 *  memory; the unfused pair writes them and the GEMM reads them back. One
 *  pass over a computes each row's 1 / sqrt(mean square + eps) (m floats
 *  of scratch); the packed path then scales each 256-deep span of a row by
 *  it and by norm_w as it packs the span for the micro-kernel, in L1. With
 *  m <= 4 (decode) the few rows are normalised into scratch and w streamed
 *  as tessel_gemm_f32 does. The normalised values are those of
 *  tessel_rms_norm_f32 and the GEMM is tessel_gemm_f32's, so the result is
 *  bit for bit tessel_rms_norm_f32 followed by tessel_gemm_f32. Threaded
 *  like tessel_gemm_f32 (the statistics pass too, for m > 64): the same
 *  result for any number of threads. k = 0 gives c = bias (or 0). */
void tessel_rms_norm_gemm_f32(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                              const float *norm_w, float eps, int unit_offset, const float *w,
                              int64_t ldw, const float *bias, float *c, int64_t ldc);

/** c = layer_norm(a) w^T + bias: tessel_rms_norm_gemm_f32 with the
 *  LayerNorm of tessel_layer_norm_f32 (biased variance, two passes),
 *  layer_norm(a)[i, p] = (a[i, p] - mean_i) / sqrt(var_i + eps) * norm_w[p]
 *                        + norm_b[p],
 *  norm_w and norm_b [k], norm_b nullable. Same layouts, aliasing rules,
 *  paths and threading as tessel_rms_norm_gemm_f32 (the statistics pass
 *  computes each row's mean and inverse deviation), and likewise bit for
 *  bit tessel_layer_norm_f32 followed by tessel_gemm_f32. */
void tessel_layer_norm_gemm_f32(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                                const float *norm_w, const float *norm_b, float eps, const float *w,
                                int64_t ldw, const float *bias, float *c, int64_t ldc);

/** c = rope(a w^T + bias): the Q or K projection with its rotary position
 *  embedding (RoPE epilogue). The GEMM is tessel_gemm_f32 (same layouts;
 *  `bias` nullable); then in each row i of c, heads h < `heads` at columns
 *  [h*head_dim, (h+1)*head_dim) are rotated at position positions[i]
 *  ([m]) exactly as tessel_rope_f32 rotates token i's heads: `layout`
 *  TESSEL_ROPE_INTERLEAVED or TESSEL_ROPE_HALF_SPLIT, the same f64 angles
 *  from theta, linear_scaling and freq_factors ([rotary_dim/2], nullable),
 *  rotary_dim = 0 meaning head_dim (even, <= head_dim; the features past it
 *  pass through). heads * head_dim <= n, usually equal; columns from
 *  heads * head_dim to n are not rotated, so one call can project a fused
 *  QKV weight and rotate its Q and K heads (heads = q_heads + kv_heads)
 *  but not V. k = 0 gives c = rope(bias) (or 0). c must not overlap a, w,
 *  positions or freq_factors.
 *  Why fused: the rotation is applied to each block of output rows (at
 *  most 96 rows x 512 columns, in L2) as soon as the last K block has
 *  finished the heads in it, instead of a second pass that reads and
 *  writes all of c. With m <= 4, each chunk of whole heads (~512 columns)
 *  is rotated right after its dot products. The angle tables (at most
 *  2 x m x rotary_dim floats of scratch) are built once per row before the
 *  GEMM.
 *  The sums are tessel_gemm_f32's and the rotation is tessel_rope_f32's
 *  code on its tables, so the result is bit for bit tessel_gemm_f32
 *  followed by tessel_rope_f32. Threaded like tessel_gemm_f32, except that
 *  a column split cuts at multiples of head_dim as well (no head is split
 *  between threads; with too few such units the rows are split instead):
 *  the same result for any number of threads. */
void tessel_gemm_rope_f32(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                          const float *w, int64_t ldw, const float *bias, float *c, int64_t ldc,
                          int64_t heads, int64_t head_dim, const int64_t *positions, int layout,
                          float theta, int64_t rotary_dim, float linear_scaling,
                          const float *freq_factors);

/** y[n] = w[n, k] x[k] + bias[n] (one token of a linear layer). `bias` is
 *  nullable. Threaded: rows of `w` are split across the pool. Bound by
 *  memory bandwidth: every weight is read exactly once. */
void tessel_gemv_f32(int64_t n, int64_t k, const float *x, const float *w, int64_t ldw,
                     const float *bias, float *y);

/** Weights packed once ahead of time (at load), so that prefill GEMMs skip
 *  the packing step. The packed layout does not depend on the SIMD target:
 *  n is cut into panels of TESSEL_GEMM_PANEL = 32 outputs (zero-padded at
 *  the end); panel q holds k rows of 32 floats,
 *      packed[(q*k + p)*32 + j] = w[(32*q + j)*ldw + p]   (0 if 32q+j >= n),
 *  i.e. panel-major, then k, then the 32 outputs. Why 32: two AVX-512
 *  vectors, the widest register tile of the micro-kernel; narrower targets
 *  walk a panel in slices (2 on AVX2, 4 on SSE4). 128 bytes = two cache
 *  lines per k step.
 *  `packed` must hold tessel_gemm_packed_size_f32(n, k) floats and be
 *  64-byte aligned. */
#define TESSEL_GEMM_PANEL 32
int64_t tessel_gemm_packed_size_f32(int64_t n, int64_t k);
void tessel_gemm_pack_w_f32(int64_t n, int64_t k, const float *w, int64_t ldw, float *packed);
/** c = a w^T + bias with w pre-packed by tessel_gemm_pack_w_f32. Threaded. */
void tessel_gemm_packed_f32(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                            const float *packed, const float *bias, float *c, int64_t ldc);

/** Batched products, for einsums that contract per batch index (MLA's
 *  absorbed heads: q_nope W_uk and o W_uv^T per head): for b < batch,
 *  C_b[m, n] = A_b[m, k] B_b with A_b[i, p] = a[b*a_bs + i*lda + p],
 *  C_b[i, j] = c[b*c_bs + i*ldc + j], and B_b either [k, n] (b_kn != 0:
 *  B_b[p, j] = b[b*b_bs + p*ldb + j]) or [n, k] (b_kn == 0: b[b*b_bs +
 *  j*ldb + p], the w^T of tessel_gemm_f32), so neither layout of a weight
 *  is copied. Each product is computed as tessel_gemm_f32 computes it (the
 *  skinny or packed path, by m). Threaded: products too small to split
 *  (decode's per-head GEMVs) are spread over the pool whole, larger ones
 *  each split as tessel_gemm_f32 splits; the same bits for any number of
 *  threads. */
void tessel_batch_gemm_f32(int64_t batch, int64_t m, int64_t n, int64_t k, const float *a,
                           int64_t a_bs, int64_t lda, const float *b, int64_t b_bs, int64_t ldb,
                           int b_kn, float *c, int64_t c_bs, int64_t ldc);

/*===-------------------------------------------------------------------===*
 * GEMV / GEMM on weights in GGUF block formats, dequantized in the kernel
 *===-------------------------------------------------------------------===*/

/* The formats, by their GGML type ids (frontends::WeightType's). Row j of
 * W[n, k] starts at (const uint8_t *)w + j * ldw_bytes (any byte offset;
 * even for bf16) and holds k values:
 *  - BF16: k x 2 bytes, the upper halves of f32 (little-endian).
 *  - Q8_0: k / 32 blocks of 34 bytes: an f16 scale d, then 32 int8 q;
 *          value j of a block is d * q[j].
 *  - Q4_0: k / 32 blocks of 18 bytes: an f16 scale d, then 16 bytes; byte
 *          j holds value j in its low nibble and value j + 16 in its high
 *          one, each d * (nibble - 8).
 * k must be a multiple of 32 for Q8_0 and Q4_0 (GGUF rows are whole
 * blocks); any k for BF16. The values are exactly frontends' dequantizeRow
 * values (d * q is exact in f32). */
#define TESSEL_WEIGHT_F32 0 /* plain f32 rows (the MoE kernel takes either) */
#define TESSEL_WEIGHT_Q4_0 2
#define TESSEL_WEIGHT_Q8_0 8
#define TESSEL_WEIGHT_BF16 30

/** y[n] = W[n, k] x[k] + bias[n], W in a block format as above; `bias`
 *  nullable. Threaded like tessel_gemv_f32 (rows of W split across the
 *  pool, each row computed by one thread): the same result for any number
 *  of threads. Each weight byte is read once and dequantized in registers;
 *  per 32-value block the products are summed in f32 and scaled by d once.
 *  Agrees with the f64 dot product of the dequantized weights to 1e-5 of
 *  sum |w x| (see the tests). */
void tessel_gemv_q8_0_f32(int64_t n, int64_t k, const float *x, const void *w, int64_t ldw_bytes,
                          const float *bias, float *y);
void tessel_gemv_q4_0_f32(int64_t n, int64_t k, const float *x, const void *w, int64_t ldw_bytes,
                          const float *bias, float *y);
void tessel_gemv_bf16_f32(int64_t n, int64_t k, const float *x, const void *w, int64_t ldw_bytes,
                          const float *bias, float *y);

/** c[m, n] = a[m, k] W^T + bias[n] (prefill), a and c as in tessel_gemm_f32,
 *  W as above; `bias` nullable. m <= 4 runs the GEMV above once per row of
 *  a (bit for bit its result). Larger m: blocks of 256 weight rows x 256
 *  (kKC) deep are dequantized into per-thread scratch (256 KiB) and run
 *  through tessel_gemm_f32's packed path, so W is decoded once per call
 *  and the result is bit for bit tessel_gemm_f32 on the dequantized W.
 *  Threaded like tessel_gemm_f32: the same result for any number of
 *  threads. */
void tessel_gemm_q8_0_f32(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                          const void *w, int64_t ldw_bytes, const float *bias, float *c,
                          int64_t ldc);
void tessel_gemm_q4_0_f32(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                          const void *w, int64_t ldw_bytes, const float *bias, float *c,
                          int64_t ldc);
void tessel_gemm_bf16_f32(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                          const void *w, int64_t ldw_bytes, const float *bias, float *c,
                          int64_t ldc);

/** c[m, n] = q8_0(a)[m, k] W^T + bias[n] for W in Q8_0 or Q4_0
 *  (weight_type): every row of a is first rounded to q8_0 as llama.cpp
 *  rounds activations (per 32 values x_j: d = max |x_j| / 127, q_j =
 *  x_j * (1/d) rounded to nearest, ties to even; the values d * q_j), then
 *  each block product is an exact integer dot product scaled by the two
 *  blocks' d (AVX512-VNNI where the CPU has it). The semantics of
 *  `input_format = "q8_0"` on tessel.linear / tessel.ffn. Threaded over
 *  rows of W; each c[i, j] is the same for any number of threads and any
 *  m below kQ8InputPanelMinRows (then it is the GEMV's), and the same for
 *  any m from it on (the panel kernel's order of the f32 sum over blocks;
 *  see kQ8InputPanelMinRows). */
void tessel_gemm_q8in_f32(int weight_type, int64_t m, int64_t n, int64_t k, const float *a,
                          int64_t lda, const void *w, int64_t ldw_bytes, const float *bias,
                          float *c, int64_t ldc);

/** out[j, :] = the f32 values of row j of W[n, k] stored as above (what
 *  frontends' dequantizeRow gives), out[j, p] = out[j*ldo + p]. Threaded
 *  over rows. For a stored weight that no kernel reads directly. */
void tessel_dequantize_rows_f32(int weight_type, int64_t n, int64_t k, const void *w,
                                int64_t ldw_bytes, float *out, int64_t ldo);

/*===-------------------------------------------------------------------===*
 * Normalisation (over the last dimension; `rows` rows of `dim` contiguous
 * floats; in place is fine)
 *===-------------------------------------------------------------------===*/

/** y = x / sqrt(mean(x^2) + eps) * (w + (unit_offset ? 1 : 0)); w is [dim]. */
void tessel_rms_norm_f32(int64_t rows, int64_t dim, const float *x, const float *w, float eps,
                         int unit_offset, float *y);

/** y = (x - mean) / sqrt(var + eps) * w + bias, biased variance; `bias`
 *  ([dim]) is nullable. Two passes (mean, then the centred variance), which
 *  is as accurate as the reference for inputs with a large mean. */
void tessel_layer_norm_f32(int64_t rows, int64_t dim, const float *x, const float *w,
                           const float *bias, float eps, float *y);

/*===-------------------------------------------------------------------===*
 * Rotary position embedding
 *===-------------------------------------------------------------------===*/

#define TESSEL_ROPE_INTERLEAVED 0 /* pairs (x[2i], x[2i+1])           */
#define TESSEL_ROPE_HALF_SPLIT 1  /* pairs (x[i], x[i + rotary_dim/2]) */

/** Rotates `heads` heads of `head_dim` floats for each of `tokens` tokens.
 *  Token t's heads start at x + t*x_stride (heads contiguous, head h at
 *  h*head_dim), likewise for y; in place (y == x, same stride) is fine, so Q
 *  and K can be rotated inside a fused QKV buffer. positions[t] is token t's
 *  absolute position. Pair i (0 <= i < rotary_dim/2) turns by
 *      angle = (pos / linear_scaling) * theta^(-2i / rotary_dim) / ff[i]
 *  with ff = freq_factors ([rotary_dim/2], nullable = all 1):
 *  (a, b) -> (a cos - b sin, a sin + b cos). rotary_dim = 0 means head_dim;
 *  it must be even and <= head_dim; the features past it pass through.
 *  The angles and their sin/cos are computed in f64 once per token (shared
 *  by all heads): an f32 angle would be off by ~1e-4 rad at position 4096. */
void tessel_rope_f32(int64_t tokens, int64_t heads, int64_t head_dim, const float *x,
                     int64_t x_stride, float *y, int64_t y_stride, const int64_t *positions,
                     int layout, float theta, int64_t rotary_dim, float linear_scaling,
                     const float *freq_factors);

/*===-------------------------------------------------------------------===*
 * Softmax, activations, top-k (contiguous rows; in place is fine)
 *===-------------------------------------------------------------------===*/

/** y = softmax(x) over each row of n (max-subtracted). */
void tessel_softmax_f32(int64_t rows, int64_t n, const float *x, float *y);

/** y = silu(x) = x * sigmoid(x), n elements. */
void tessel_silu_f32(int64_t n, const float *x, float *y);
/** y = silu(g) * u (SwiGLU's hidden activation). */
void tessel_silu_mul_f32(int64_t n, const float *g, const float *u, float *y);
/** y = gelu(x): exact 0.5 x (1 + erf(x / sqrt 2)) when tanh_approx == 0,
 *  else the tanh form 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
 *  Both are evaluated without cancellation for negative x (through erfc and
 *  a sigmoid), so the relative error stays ~1e-6 in the tails too. */
void tessel_gelu_f32(int64_t n, const float *x, int tanh_approx, float *y);
/** y = gelu(g) * u (GeGLU). */
void tessel_gelu_mul_f32(int64_t n, const float *g, const float *u, int tanh_approx, float *y);

/** For each of `rows` rows of n floats: the k largest values in descending
 *  order, ties going to the lower index (the order of a stable sort, as the
 *  reference's MoE routing and sampler use). out_idx/out_val are [rows, k];
 *  out_val is nullable. NaN ranks below every number. With k > n the slots
 *  past n get index -1 and value NaN. Small k (<= 128) scans with SIMD
 *  compares against the current k-th value; larger k uses a heap. */
void tessel_topk_f32(int64_t rows, int64_t n, int64_t k, const float *x, int64_t *out_idx,
                     float *out_val);

/*===-------------------------------------------------------------------===*
 * Mixture of experts (tessel.moe)
 *===-------------------------------------------------------------------===*/

#define TESSEL_MOE_SOFTMAX 0 /* scores = softmax(logits) over the experts */
#define TESSEL_MOE_SIGMOID 1 /* scores = sigmoid(logits), each on its own */

/* The FFN activation of every expert (tessel.ffn's): the numbering of the
 * dialect's `activation` enum. Gated ones need w_gate (and shared_gate). */
#define TESSEL_MOE_RELU 0   /* relu(x wu^T)                */
#define TESSEL_MOE_GELU 1   /* gelu(x wu^T)                */
#define TESSEL_MOE_SILU 2   /* silu(x wu^T)                */
#define TESSEL_MOE_SWIGLU 3 /* silu(x wg^T) * (x wu^T)     */
#define TESSEL_MOE_GEGLU 4  /* gelu(x wg^T) * (x wu^T)     */

/** A mixture-of-experts FFN, tessel.moe semantics, for `tokens` rows
 *  x[t*ldx + d] (d < dim) into out[t*ldo + d]. Threaded. Per token:
 *   - logits = x router^T, router [num_experts, dim];
 *   - scores = softmax(logits) or sigmoid(logits) (`scoring`);
 *   - the top_k highest scores pick the experts, ties to the lower index
 *     (a stable sort's order), 1 <= top_k <= num_experts; weight_k =
 *     score_k (/ sum of the picked scores if normalize_topk) * routed_scale;
 *   - out = sum_k weight_k FFN_{e_k}(x) + FFN_shared(x) (shared experts
 *     are not weighted nor scaled).
 *  Expert weights are contiguous: w_up and w_gate [num_experts, hidden,
 *  dim], w_down [num_experts, dim, hidden]; expert e's are the [hidden,
 *  dim] / [dim, hidden] matrices at e * hidden * dim. w_gate is null for
 *  non-gated activations (see TESSEL_MOE_*); tanh_approx selects the tanh
 *  form of GELU. The shared experts (shared_hidden > 0; 0 = none) are one
 *  FFN: shared_up and shared_gate [shared_hidden, dim] (gate null when not
 *  gated), shared_down [dim, shared_hidden]. out must not overlap the
 *  other arguments.
 *  How: the router logits are one GEMM; scores, top-k and weights are
 *  computed per token in f64 exactly as the reference evaluator does (so
 *  the same logits route the same way, ties and saturated sigmoids
 *  included); then the rows routed to each expert are gathered into a
 *  contiguous block (at most 384 rows at a time) and run through that
 *  expert's FFN with the fused kernels (tessel_gemm_glu_f32 for gated
 *  activations, else tessel_gemm_f32 + the activation), and its output rows
 *  are added, times their weights, into out. The shared experts run over
 *  all tokens first and write out directly. An expert that no token picked
 *  is never read: one decoding token streams the router, exactly top_k
 *  experts' weights and the shared experts', i.e. its time is bound by
 *  those bytes, not by all experts' (see tessel_moe_bytes_read). Experts
 *  run one after another (their GEMMs are threaded), and per token the
 *  contributions are added in expert order: the result is the same for any
 *  number of threads. */
void tessel_moe_f32(int64_t tokens, int64_t dim, int64_t hidden, int64_t num_experts, int64_t top_k,
                    const float *x, int64_t ldx, const float *router, const float *w_up,
                    const float *w_gate, const float *w_down, int scoring, int normalize_topk,
                    float routed_scale, int activation, int tanh_approx, const float *shared_up,
                    const float *shared_gate, const float *shared_down, int64_t shared_hidden,
                    float *out, int64_t ldo);

/** tessel_moe_f32 with the experts' matrices, and the shared experts',
 *  in a stored format (TESSEL_WEIGHT_*; TESSEL_WEIGHT_F32 for f32):
 *  `weight_type` for w_up, w_gate and w_down, `shared_weight_type` for the
 *  shared ones. The stacks are the GGUF layout: expert e's up (gate) rows
 *  are rows [e * hidden, (e + 1) * hidden) of a [num_experts * hidden, dim]
 *  stored matrix, its down rows [e * dim, (e + 1) * dim) of a
 *  [num_experts * dim, hidden] one. Each expert's FFN reads its bytes with
 *  the stored-weight GEMV / GEMM (tessel_gemm_q8_0_f32 ...): gate and up as
 *  two products, then act(gate) * up, then down; so a decoding token
 *  streams top_k experts' stored bytes, a quarter (q8_0) to an eighth (q4_0)
 *  of their f32 size. k (dim for up/gate, hidden for down) must fill whole
 *  blocks for q8_0 and q4_0. Routing and the combine are tessel_moe_f32's.
 *  round_inputs != 0 (tessel.moe's input_format): the experts' and shared
 *  experts' products round their input rows to their weights' type first
 *  (gemmQuant's roundInput: q8_0 for q8_0 / q4_0 weights, multiplied in
 *  integers; bf16 for bf16 ones). */
void tessel_moe_stored_f32(int64_t tokens, int64_t dim, int64_t hidden, int64_t num_experts,
                           int64_t top_k, const float *x, int64_t ldx, const float *router,
                           int weight_type, const void *w_up, const void *w_gate,
                           const void *w_down, int scoring, int normalize_topk, float routed_scale,
                           int activation, int tanh_approx, int shared_weight_type,
                           const void *shared_up, const void *shared_gate, const void *shared_down,
                           int64_t shared_hidden, float *out, int64_t ldo, int round_inputs);

/** Bytes of weights the MoE calls handed to their GEMMs since the last
 *  reset, summed over all threads: each router, expert or shared matrix
 *  counts once per GEMM that reads it (an expert group of more than 384
 *  rows is run in blocks, each re-reading the expert), in its stored size.
 *  For an f32 call with one token that is exactly 4 * (num_experts * dim +
 *  top_k * (2 or 3) * hidden * dim + (2 or 3) * shared_hidden * dim): the
 *  measure behind "decode reads only the selected experts". */
int64_t tessel_moe_bytes_read(void);
/** Measured machine limits, for roofline fractions (tessel bench); each the
 *  best of `reps` runs. Read bandwidth in GB/s: the global pool's threads
 *  sum a `bytes` buffer (make it larger than the last-level cache). */
double tessel_measure_read_gbps(int64_t bytes, int64_t reps);
/** f32 FMA throughput in GFLOP/s on `threads` of the global pool's threads
 *  (1: one core's peak), registers only. */
double tessel_measure_fma_gflops(int64_t threads, int64_t reps);
void tessel_moe_reset_bytes_read(void);

/*===-------------------------------------------------------------------===*
 * Attention (flash attention: online softmax over KV tiles; never N x N)
 *===-------------------------------------------------------------------===*/

/** Full attention, tessel.attention semantics. Threaded. Layouts:
 *    q   [batch, q_len, num_heads, head_dim]:
 *          q[b, i, h, d] = q[b*q_bs + i*q_rs + h*head_dim + d]
 *    k   [batch, kv_len, num_kv_heads, head_dim]:     k_bs, k_rs likewise
 *    v   [batch, kv_len, num_kv_heads, v_head_dim]:   v_bs, v_rs
 *    out [batch, q_len, num_heads, v_head_dim]:       out_bs, out_rs
 *  (Row strides make KV-cache views and fused QKV buffers usable as is.)
 *  Query head h reads KV head h / (num_heads / num_kv_heads) (GQA/MQA by
 *  indexing). Query i sits at position pos = i + kv_len - q_len; key j is
 *  visible when (!causal || j <= pos) && (window <= 0 || pos - j < window)
 *  && (!mask || mask[b*mask_bs + i*mask_rs + j] != 0); mask_rs = 0 gives a
 *  [batch, kv_len] padding mask. `sinks` ([num_heads], nullable) adds
 *  exp(sink[h]) to each softmax denominator. scale = 0 means
 *  1/sqrt(head_dim). A row that sees no key yields zeros.
 *  kv_tile = 0 picks TESSEL_ATTENTION_KV_TILE. Query blocks of a KV head
 *  group's heads are processed together, so K/V tiles are loaded once per
 *  group; with fewer blocks than threads (decode) the KV range is split
 *  across threads (flash-decoding) and combined. */
/*  Why 128 keys per tile: with the 64 query rows of a block (see Internal.h)
 *  the scores tile is 64 x 128 x 4 B = 32 KiB, L1-sized; the per-tile costs
 *  (packing the K tile for the QK^T micro-kernel, one exp and one rescale
 *  of the accumulator per row) are spread over 128 keys; and a multiple of
 *  the 32-wide GEMM panel keeps the QK^T micro-kernel free of remainders. */
#define TESSEL_ATTENTION_KV_TILE 128
void tessel_attention_f32(int64_t batch, int64_t q_len, int64_t kv_len, int64_t num_heads,
                          int64_t num_kv_heads, int64_t head_dim, int64_t v_head_dim,
                          const float *q, int64_t q_bs, int64_t q_rs, const float *k, int64_t k_bs,
                          int64_t k_rs, const float *v, int64_t v_bs, int64_t v_rs,
                          const uint8_t *mask, int64_t mask_bs, int64_t mask_rs, const float *sinks,
                          int causal, int64_t window, float scale, int64_t kv_tile, float *out,
                          int64_t out_bs, int64_t out_rs);

/** The running state of `rows` query rows: m[rows] (running max of the
 *  scaled scores), l[rows] (running sum of exp(score - m)) and
 *  acc[r*acc_stride + d], d < v_dim (running sum of exp(score - m) * v).
 *  Init sets m = -inf, l = 0, acc = 0. (For an attention sink s, start from
 *  m = s, l = 1, acc = 0 instead.) */
void tessel_flash_init_f32(int64_t rows, int64_t v_dim, float *m, float *l, float *acc,
                           int64_t acc_stride);

/** One query block against one K/V block: s = scale * q k^T (rows x keys,
 *  in scratch, never larger than one tile), invisible keys dropped, then
 *      m' = max(m, max_j s),  l' = l e^(m - m') + sum_j e^(s_j - m'),
 *      acc' = acc e^(m - m') + sum_j e^(s_j - m') v_j.
 *  q[r*q_stride + d], k[j*k_stride + d], v[j*v_stride + d].
 *  Visibility of key j to row r: q_pos (nullable = no position rule) holds
 *  row r's absolute position and key j sits at k_pos0 + j; then
 *  (!causal || k_pos0 + j <= q_pos[r]) &&
 *  (window <= 0 || q_pos[r] - (k_pos0 + j) < window), and, if mask is not
 *  null, mask[r*mask_stride + j] != 0. Rows that see no key are unchanged. */
void tessel_flash_tile_f32(int64_t rows, int64_t keys, int64_t head_dim, int64_t v_dim,
                           const float *q, int64_t q_stride, const float *k, int64_t k_stride,
                           const float *v, int64_t v_stride, float scale, const int64_t *q_pos,
                           int64_t k_pos0, int causal, int64_t window, const uint8_t *mask,
                           int64_t mask_stride, float *m, float *l, float *acc, int64_t acc_stride);

/** out[r*out_stride + d] = acc / l, or 0 where l == 0 (the row saw no key). */
void tessel_flash_finalize_f32(int64_t rows, int64_t v_dim, const float *l, const float *acc,
                               int64_t acc_stride, float *out, int64_t out_stride);

/** Split-KV (flash-decoding) combine: `splits` partial states of the same
 *  rows, each over a disjoint KV range: m[s*rows + r], l[s*rows + r],
 *  acc[(s*rows + r)*v_dim + d]. Writes the finalized result:
 *      M = max_s m_s,  out = sum_s e^(m_s - M) acc_s / sum_s e^(m_s - M) l_s,
 *  zeros for a row no split saw a key for. */
void tessel_flash_combine_f32(int64_t splits, int64_t rows, int64_t v_dim, const float *m,
                              const float *l, const float *acc, float *out, int64_t out_stride);

#ifdef __cplusplus
} // extern "C"

namespace tessel::kernels {

class ThreadPool;

/** Bytes of one row of k values stored as `weightType` (TESSEL_WEIGHT_*):
 *  4 per value for f32, 2 for bf16, 34 per 32-value block for q8_0 and 18
 *  for q4_0 (k a multiple of 32 for those). */
constexpr int64_t weightRowBytes(int weightType, int64_t k) {
  return weightType == TESSEL_WEIGHT_Q8_0   ? k / 32 * 34
         : weightType == TESSEL_WEIGHT_Q4_0 ? k / 32 * 18
         : weightType == TESSEL_WEIGHT_BF16 ? k * 2
                                            : k * 4;
}

/** Explicit-pool overloads: `pool` null runs on the calling thread. The C
 *  functions above call these with ThreadPool::global(). */
void gemm(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *w, int64_t ldw,
          const float *bias, float *c, int64_t ldc, ThreadPool *pool);
void gemmAddend(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *w,
                int64_t ldw, const float *bias, const float *addend, int64_t ldAddend, float *c,
                int64_t ldc, ThreadPool *pool);
void gemmGlu(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *wGate,
             const float *wUp, int64_t ldw, int activation, bool tanhApprox, float *c, int64_t ldc,
             ThreadPool *pool);
void rmsNormGemm(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *normW,
                 float eps, int unitOffset, const float *w, int64_t ldw, const float *bias,
                 float *c, int64_t ldc, ThreadPool *pool);
void layerNormGemm(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *normW,
                   const float *normB, float eps, const float *w, int64_t ldw, const float *bias,
                   float *c, int64_t ldc, ThreadPool *pool);
void gemmRope(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *w,
              int64_t ldw, const float *bias, float *c, int64_t ldc, int64_t heads, int64_t headDim,
              const int64_t *positions, int layout, float theta, int64_t rotaryDim,
              float linearScaling, const float *freqFactors, ThreadPool *pool);
void gemmPacked(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *packed,
                const float *bias, float *c, int64_t ldc, ThreadPool *pool);
void gemv(int64_t n, int64_t k, const float *x, const float *w, int64_t ldw, const float *bias,
          float *y, ThreadPool *pool);
void batchGemm(int64_t batch, int64_t m, int64_t n, int64_t k, const float *a, int64_t aBatch,
               int64_t lda, const float *b, int64_t bBatch, int64_t ldb, bool bKN, float *c,
               int64_t cBatch, int64_t ldc, ThreadPool *pool);
/** tessel_gemv_{q8_0,q4_0,bf16}_f32 and tessel_gemm_*_f32 by weight type
 *  (TESSEL_WEIGHT_*). With `roundInput` the input rows are first rounded
 *  to the weights' own type, as llama.cpp does (`input_format`): Q8_0 /
 *  Q4_0 weights as tessel_gemm_q8in_f32 rounds them (q8_0, integer block
 *  products); BF16 weights to bf16, nearest with ties to even (every
 *  product then exact in f32; `vdpbf16ps` from kBf16InputPanelMinRows rows
 *  on where the CPU has AVX512_BF16, which treats denormals as zero). */
void gemvQuant(int weightType, int64_t n, int64_t k, const float *x, const void *w,
               int64_t ldwBytes, const float *bias, float *y, ThreadPool *pool,
               bool roundInput = false);
void gemmQuant(int weightType, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
               const void *w, int64_t ldwBytes, const float *bias, float *c, int64_t ldc,
               ThreadPool *pool, bool roundInput = false);
/** From this many rows on, gemmQuant of bf16 weights with `roundInput`
 *  runs the `vdpbf16ps` panel kernel (bf16act-inl.h) where the CPU has
 *  AVX512_BF16; below it, and elsewhere, the bf16-weight GEMV / GEMM on
 *  the rounded rows. The two sum in different f32 orders. */
inline constexpr int64_t kBf16InputPanelMinRows = 8;
/** From this many rows of a on, gemmQuant with `roundInput` (and
 *  tessel_gemm_q8in_f32) runs the panel kernel on VNNI CPUs (q8act-inl.h's
 *  Q8Panel): the same exact block products, summed over blocks in another
 *  f32 order than the GEMV's. Below it every row is the GEMV of that row. */
inline constexpr int64_t kQ8InputPanelMinRows = 8;

/** c0 = a w0^T and c1 = a w1^T (no bias) for two weights of one shape and
 *  format, a gated FFN's up and gate: the values of two gemmQuant calls, bit
 *  for bit. With `roundInput` the rows of a are rounded once for both and the
 *  two products share one hand-off to the pool. */
void gemmQuantPair(int weightType, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                   const void *w0, const void *w1, int64_t ldwBytes, float *c0, int64_t ldc0,
                   float *c1, int64_t ldc1, ThreadPool *pool, bool roundInput = false);

/** The arguments of tessel_attention_f32, by name. */
struct AttentionArgs {
  int64_t batch = 1, qLen = 0, kvLen = 0, numHeads = 1, numKvHeads = 1;
  int64_t headDim = 0, vHeadDim = 0;
  const float *q = nullptr, *k = nullptr, *v = nullptr;
  int64_t qBatchStride = 0, qRowStride = 0, kBatchStride = 0, kRowStride = 0;
  int64_t vBatchStride = 0, vRowStride = 0;
  const uint8_t *mask = nullptr;
  int64_t maskBatchStride = 0, maskRowStride = 0;
  const float *sinks = nullptr;
  bool causal = false;
  int64_t window = 0;
  float scale = 0.0f;
  int64_t kvTile = 0;
  float *out = nullptr;
  int64_t outBatchStride = 0, outRowStride = 0;
};
void attention(const AttentionArgs &args, ThreadPool *pool);

/** The arguments of tessel_moe_f32, by name. */
struct MoeArgs {
  int64_t tokens = 0, dim = 0, hidden = 0, numExperts = 0, topK = 1;
  const float *x = nullptr;
  int64_t ldx = 0;
  const float *router = nullptr;
  /// The experts' matrices: f32 (weightType TESSEL_WEIGHT_F32) or stored
  /// bytes in that format, and likewise the shared experts'.
  const void *wUp = nullptr, *wGate = nullptr, *wDown = nullptr;
  int weightType = TESSEL_WEIGHT_F32;
  int scoring = TESSEL_MOE_SOFTMAX;
  bool normalizeTopK = false;
  float routedScale = 1.0f;
  int activation = TESSEL_MOE_SWIGLU;
  bool tanhApprox = false;
  const void *sharedUp = nullptr, *sharedGate = nullptr, *sharedDown = nullptr;
  int sharedWeightType = TESSEL_WEIGHT_F32;
  int64_t sharedHidden = 0;
  float *out = nullptr;
  int64_t ldo = 0;
  /// The stored experts' products take their inputs rounded to their
  /// weights' type (gemmQuant's roundInput).
  bool roundInputs = false;
};
void moe(const MoeArgs &args, ThreadPool *pool);

} // namespace tessel::kernels
#endif // __cplusplus

#endif // TESSEL_RUNTIME_KERNELS_KERNELS_H
