//===- TesselOps.td - tessel dialect operations ---------------*- tablegen -*-===//
//
// Every op: a summary, a description with its reference semantics and an IR
// example, an assembly format that round-trips, and a C++ verifier
// (TesselOps.cpp) whose messages name the operand and what was expected.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_OPS_TD
#define TESSEL_OPS_TD

include "dialect/TesselDialect.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/IR/OpBase.td"

class Tessel_Op<string mnemonic, list<Trait> traits = []>
    : Op<Tessel_Dialect, mnemonic, !listconcat([Pure], traits)> {
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Embedding, linear, norms
//===----------------------------------------------------------------------===//

def Tessel_WeightOp : Tessel_Op<"weight"> {
  let summary = "A named model weight, bound at run time";
  let description = [{
    Refers to a weight of the loaded model by its canonical name (GGUF
    style: `token_embd.weight`, `blk.3.attn_q.weight`, ...). The IR stays
    small and format-independent: the runtime (or the reference evaluator)
    resolves the name against the model's weight store, where the data
    stays in its native, possibly quantized, form. The result type gives the
    logical shape in PyTorch order and must be static.

    `storage` (`"bf16"`, `"q8_0"` or `"q4_0"`, GGUF's block layouts) says
    that the compiled code reads the weight in that form, dequantizing
    inside the kernels instead of at load: `tessel-weights-to-arguments`
    then passes its bytes (`tensor<BYTESxi8>`) through `tessel.dequantize`.
    The values, and so the reference semantics, are those of the
    dequantized f32 weight either way. Only `[..., rows, k]` tensors of rank
    2 or more can have it (matrices, and the `[experts, rows, k]` stacks of
    a mixture of experts), with `k` a multiple of the format's block (32
    for q8_0 and q4_0); the rows of all leading dimensions are stored one
    after another.

    Example:
    ```mlir
    %wq = tessel.weight "blk.0.attn_q.weight" : tensor<64x64xf32>
    %wk = tessel.weight "blk.0.attn_k.weight" {storage = "q8_0"} : tensor<64x64xf32>
    ```
  }];
  let arguments = (ins StrAttr:$name, OptionalAttr<StrAttr>:$storage);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$name attr-dict `:` type($result)";
}

def Tessel_DequantizeOp : Tessel_Op<"dequantize"> {
  let summary = "A weight matrix from its stored bytes (bf16, f16, q8_0, q4_0)";
  let description = [{
    The f32 values of a `[..., rows, k]` weight (a matrix, or a stack of
    experts' matrices) stored row by row, leading dimensions outermost, in
    GGUF's `format`: `bf16` or `f16` (2 bytes a value; f16 only the CUDA
    pipeline keeps stored), `q8_0` (blocks of 32 values:
    an f16 scale and 32 int8, 34 bytes) or `q4_0` (an f16 scale and 16 bytes
    of 4-bit values minus 8, 18 bytes; low nibbles are values 0..15 of the
    block, high nibbles 16..31). `input` holds exactly `R * k / block *
    block_bytes` bytes, R the product of all dimensions but the last.

    `tessel-weights-to-arguments` creates it for weights with a `storage`
    attribute; `tessel-lower-to-kernels` then folds it into the linear
    layer's or the mixture of experts' kernel call (the kernel reads the
    bytes), and only a use no kernel can fold materialises the f32 values.

    Example:
    ```mlir
    %w = tessel.dequantize %bytes {format = "q8_0"} : tensor<2176xi8> -> tensor<64x64xf32>
    %up = tessel.dequantize %exps {format = "q4_0"} : tensor<73728xi8> -> tensor<8x128x64xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input, StrAttr:$format);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
}

def Tessel_EmbeddingOp : Tessel_Op<"embedding"> {
  let summary = "Look up rows of an embedding table by token id";
  let description = [{
    `result[..., :] = table[ids[...], :] * scale`. The table is `[vocab, dim]`;
    ids may have any shape and the result appends `dim` to it. `scale`
    (default 1) is Gemma's `sqrt(dim)` embedding multiplier. An id outside
    `[0, vocab)` is an error at run time.

    Example:
    ```mlir
    %h = tessel.embedding %table[%ids] {scale = 8.0 : f32}
        : tensor<512x64xf32>, tensor<1x4xi64> -> tensor<1x4x64xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$table, AnyRankedTensor:$ids,
                       DefaultValuedAttr<F32Attr, "1.0f">:$scale);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $table `[` $ids `]` attr-dict `:` type($table) `,` type($ids) `->` type($result)
  }];
}

def Tessel_LinearOp : Tessel_Op<"linear", [AttrSizedOperandSegments]> {
  let summary = "y = x W^T (+ b) (+ residual), W in the PyTorch [out, in] layout";
  let description = [{
    `input` is `[..., in]`, `weight` is `[out, in]`, the optional `bias` is
    `[out]`; the result is `[..., out]`. Accumulation is in f64 in the
    reference evaluator. The optional `residual` (the result's shape) is
    added last: `tessel-fuse-residual` folds a following
    `tessel.residual_add` into it, so the add happens in the GEMM's
    epilogue instead of in a pass of its own.

    `input_format = "q8_0"` rounds each row of `input` to q8_0 before the
    product, as llama.cpp rounds activations for its integer kernels: per
    block of 32 values, `d = max |x| / 127` and `q = x * (1/d)` rounded to
    the nearest integer (ties to even), giving the values `d * q`. The CPU
    kernels then multiply q8_0 / q4_0 weights in integers (AVX512-VNNI).
    The frontends set it on layers whose weights are stored as q8_0 or q4_0
    unless told not to (`--activations f32`); `in` must be a multiple of 32.
    `input_format = "bf16"` rounds each value of `input` to the nearest
    bf16 (ties to even), as llama.cpp does for bf16 weights: every product
    with a bf16 weight is then exact in f32, and the CPU kernels multiply
    with `vdpbf16ps` (AVX512_BF16). Set on layers whose weights are stored
    as bf16 unless told not to (`--activations q8_0` or `f32`).

    Example:
    ```mlir
    %q = tessel.linear %x, %wq bias(%bq)
        : (tensor<1x4x64xf32>, tensor<64x64xf32>, tensor<64xf32>) -> tensor<1x4x64xf32>
    %h2 = tessel.linear %a, %wo residual(%h)
        : (tensor<1x4x64xf32>, tensor<64x64xf32>, tensor<1x4x64xf32>) -> tensor<1x4x64xf32>
    %k = tessel.linear %x, %wk {input_format = "q8_0"}
        : (tensor<1x4x64xf32>, tensor<64x64xf32>) -> tensor<1x4x64xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input, AnyRankedTensor:$weight,
                       Optional<AnyRankedTensor>:$bias,
                       Optional<AnyRankedTensor>:$residual,
                       OptionalAttr<StrAttr>:$input_format);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`bias` `(` $bias^ `)`)? (`residual` `(` $residual^ `)`)? attr-dict
    `:` functional-type(operands, results)
  }];
}

def Tessel_RMSNormOp : Tessel_Op<"rms_norm"> {
  let summary = "Root-mean-square normalisation over the last dimension";
  let description = [{
    `y = x / sqrt(mean(x^2) + epsilon) * (weight + (unit_offset ? 1 : 0))`,
    over the last dimension of `input`; `weight` is `[dim]`. `unit_offset`
    is Gemma's `(1 + w)` convention.

    Example:
    ```mlir
    %n = tessel.rms_norm %x, %w {epsilon = 1.0e-05 : f32}
        : (tensor<1x4x64xf32>, tensor<64xf32>) -> tensor<1x4x64xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input, AnyRankedTensor:$weight,
                       DefaultValuedAttr<F32Attr, "1.0e-5f">:$epsilon,
                       UnitAttr:$unit_offset);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight attr-dict `:` functional-type(operands, results)
  }];
}

def Tessel_LayerNormOp : Tessel_Op<"layer_norm"> {
  let summary = "Layer normalisation over the last dimension";
  let description = [{
    `y = (x - mean(x)) / sqrt(var(x) + epsilon) * weight (+ bias)`, with the
    biased variance, over the last dimension; `weight` and `bias` are `[dim]`.

    Example:
    ```mlir
    %n = tessel.layer_norm %x, %w bias(%b) {epsilon = 1.0e-05 : f32}
        : (tensor<1x4x64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<1x4x64xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input, AnyRankedTensor:$weight,
                       Optional<AnyRankedTensor>:$bias,
                       DefaultValuedAttr<F32Attr, "1.0e-5f">:$epsilon);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`bias` `(` $bias^ `)`)? attr-dict `:` functional-type(operands, results)
  }];
}

//===----------------------------------------------------------------------===//
// Position encoding and attention
//===----------------------------------------------------------------------===//

def Tessel_RopeOp : Tessel_Op<"rope"> {
  let summary = "Rotary position embedding, interleaved or half-split";
  let description = [{
    `input` is `[batch, seq, heads, head_dim]`, `positions` is `[batch, seq]`
    (integer). The first `rotary_dim` features (default: all) are rotated in
    pairs; the rest pass through. Pair `i` (`0 <= i < rotary_dim/2`) turns by
    `angle = (pos / linear_scaling) * theta^(-2i / rotary_dim)`:
    `(a, b) -> (a cos - b sin, a sin + b cos)`. `layout` picks the pairs:
    `interleaved` = `(x[2i], x[2i+1])`, `half_split` = `(x[i], x[i + rotary_dim/2])`.
    The optional `freq_factors` (f32, `[rotary_dim/2]`) divide each pair's
    frequency: `angle_i /= freq_factors[i]`. This is how Llama 3 rope scaling
    (and llama.cpp's `rope_freqs` tensor) is expressed.

    Example:
    ```mlir
    %qr = tessel.rope %q, %pos {layout = #tessel.rope_layout<half_split>, theta = 10000.0 : f32}
        : (tensor<1x4x8x8xf32>, tensor<1x4xi64>) -> tensor<1x4x8x8xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input, AnyRankedTensor:$positions,
                       Optional<AnyRankedTensor>:$freq_factors,
                       Tessel_RopeLayoutAttr:$layout,
                       DefaultValuedAttr<F32Attr, "10000.0f">:$theta,
                       OptionalAttr<I64Attr>:$rotary_dim,
                       DefaultValuedAttr<F32Attr, "1.0f">:$linear_scaling);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $input `,` $positions (`freq_factors` `(` $freq_factors^ `)`)? attr-dict
    `:` functional-type(operands, results)
  }];
}

def Tessel_AttentionOp : Tessel_Op<"attention", [AttrSizedOperandSegments]> {
  let summary = "Scaled dot-product attention: MHA, GQA and MQA; causal, windowed, masked";
  let description = [{
    `query` is `[batch, q_len, num_heads, head_dim]`, `key` is
    `[batch, kv_len, num_kv_heads, head_dim]` and `value` is
    `[batch, kv_len, num_kv_heads, v_head_dim]`; the result is
    `[batch, q_len, num_heads, v_head_dim]`. `num_heads == num_kv_heads` is
    MHA, `num_kv_heads == 1` MQA, anything dividing `num_heads` GQA: query
    head `h` reads K/V head `h / (num_heads / num_kv_heads)`.

    Query row `i` sits at absolute position `i + kv_len - q_len` (the
    queries are the newest tokens, as in decode with a KV cache). Key `j` is
    visible to query `i` when all of these hold:
      * `causal`: `j <= pos(i)`;
      * `window = W` (needs `causal`): `pos(i) - j < W`, i.e. the last W keys;
      * `mask` (`i1`, `[batch, kv_len]` padding mask or `[batch, q_len, kv_len]`):
        `mask[b, (i,) j]` is true.
    `scores = scale * q.k` (default `scale = 1/sqrt(head_dim)`), softmax over
    visible keys, then a weighted sum of values. `sinks` (`[num_heads]`, f32)
    adds one learned logit per head to the softmax denominator (attention
    sinks). A row that sees no key yields zeros.

    Example (GQA, 8 query heads over 4 KV heads):
    ```mlir
    %o = tessel.attention %q, %k, %v {num_heads = 8 : i64, num_kv_heads = 4 : i64, causal}
        : (tensor<1x4x8x8xf32>, tensor<1x4x4x8xf32>, tensor<1x4x4x8xf32>) -> tensor<1x4x8x8xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$query, AnyRankedTensor:$key,
                       AnyRankedTensor:$value,
                       Optional<AnyRankedTensor>:$mask,
                       Optional<AnyRankedTensor>:$sinks,
                       I64Attr:$num_heads, I64Attr:$num_kv_heads,
                       UnitAttr:$causal,
                       OptionalAttr<I64Attr>:$window,
                       OptionalAttr<F32Attr>:$scale);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $query `,` $key `,` $value (`mask` `(` $mask^ `)`)? (`sinks` `(` $sinks^ `)`)?
    attr-dict `:` functional-type(operands, results)
  }];
}

def Tessel_AttentionProbsOp : Tessel_Op<"attention_probs", [AttrSizedOperandSegments]> {
  let summary = "The softmax probabilities tessel.attention weighs the values with";
  let description = [{
    What `tessel.attention` with the same operands and attributes computes
    before it reads the values: for every head, query and key, the
    probability `p[b, h, i, j]` that query `i` gives key `j`, with the same
    visibility rules (`causal`, `window`, `mask`), `scale` and `sinks`.
    Each row sums to 1 (less the sink's share with `sinks`); hidden keys get
    0, and a row that sees no key is all zeros.

    `query` is `[batch, q_len, num_heads, head_dim]`, `key`
    `[batch, kv_len, num_kv_heads, head_dim]`; the result is
    `[batch, num_heads, q_len, kv_len]`. Models never need it: it exists so
    that an instrumented entry point (`@attention_probs`, built for attention
    maps) can return what a layer attends to through the compiled pipeline.
    `tessel-lower-to-linalg` lowers it to a scores contraction, a masked
    scale and a softmax.

    Example (GQA, 8 query heads over 4 KV heads):
    ```mlir
    %p = tessel.attention_probs %q, %k {num_heads = 8 : i64, num_kv_heads = 4 : i64, causal}
        : (tensor<1x4x8x8xf32>, tensor<1x4x4x8xf32>) -> tensor<1x8x4x4xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$query, AnyRankedTensor:$key,
                       Optional<AnyRankedTensor>:$mask,
                       Optional<AnyRankedTensor>:$sinks,
                       I64Attr:$num_heads, I64Attr:$num_kv_heads,
                       UnitAttr:$causal,
                       OptionalAttr<I64Attr>:$window,
                       OptionalAttr<F32Attr>:$scale);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $query `,` $key (`mask` `(` $mask^ `)`)? (`sinks` `(` $sinks^ `)`)?
    attr-dict `:` functional-type(operands, results)
  }];
}

def Tessel_MLAOp : Tessel_Op<"mla", [AttrSizedOperandSegments]> {
  let summary = "DeepSeek-V2/V3 multi-head latent attention, projections included";
  let description = [{
    MLA compresses keys and values into a per-token latent of `kv_lora_rank`
    values plus a `qk_rope_dim` RoPE key shared by all heads, so the op owns
    its projections (the decode lowering absorbs `wkv_b` into the query and
    output projections). With `H = num_heads`, `dn = qk_nope_dim`,
    `dr = qk_rope_dim`, `dv = v_head_dim`, `r = kv_lora_rank`:

      * `q_weights` is `(wq : [H*(dn+dr), dim])`, or, with `q_lora_rank = rq`,
        `(wq_a : [rq, dim], q_norm : [rq], wq_b : [H*(dn+dr), rq])` and
        `q = rms_norm(x wq_a^T, q_norm) wq_b^T`;
      * `kv_weights` is `(wkv_a : [r+dr, dim], kv_norm : [r], wkv_b : [H*(dn+dv), r])`:
        `ckv = x wkv_a^T`, latent `c = ckv[:r]`, `k_rope = ckv[r:]`,
        `[k_nope, v] = rms_norm(c, kv_norm) wkv_b^T` split per head;
      * `q_rope` and `k_rope` get RoPE (`rope_layout`, `rope_theta`) at `positions`;
      * keys are `concat(k_nope, k_rope)`, queries `concat(q_nope, q_rope)`;
        attention as in `tessel.attention` (`causal`, `window`, `mask`,
        default `scale = 1/sqrt(dn+dr)`);
      * the result is `attn [batch, seq, H*dv] wo^T` with `wo : [dim, H*dv]`.
    Norms use `epsilon`. `input_format` (`"q8_0"` or `"bf16"`) rounds the
    inputs of the products with `wq` (or `wq_a`, `wq_b`), `wkv_a` and `wo`,
    as on `tessel.linear`; `wkv_b`'s stays f32.

    Example:
    ```mlir
    %y = tessel.mla %x, %pos q(%wq) kv(%wkv_a, %kv_norm, %wkv_b) out(%wo)
        {num_heads = 4 : i64, kv_lora_rank = 16 : i64, qk_nope_dim = 8 : i64,
         qk_rope_dim = 4 : i64, v_head_dim = 8 : i64, causal}
        : (tensor<1x6x32xf32>, tensor<1x6xi64>, tensor<48x32xf32>, tensor<20x32xf32>,
           tensor<16xf32>, tensor<64x16xf32>, tensor<32x32xf32>) -> tensor<1x6x32xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input, AnyRankedTensor:$positions,
                       Variadic<AnyRankedTensor>:$q_weights,
                       Variadic<AnyRankedTensor>:$kv_weights,
                       AnyRankedTensor:$wo,
                       Optional<AnyRankedTensor>:$mask,
                       I64Attr:$num_heads, I64Attr:$kv_lora_rank,
                       I64Attr:$qk_nope_dim, I64Attr:$qk_rope_dim,
                       I64Attr:$v_head_dim,
                       OptionalAttr<I64Attr>:$q_lora_rank,
                       DefaultValuedAttr<Tessel_RopeLayoutAttr,
                           "::tessel::RopeLayout::interleaved">:$rope_layout,
                       DefaultValuedAttr<F32Attr, "10000.0f">:$rope_theta,
                       DefaultValuedAttr<F32Attr, "1.0e-6f">:$epsilon,
                       UnitAttr:$causal,
                       OptionalAttr<I64Attr>:$window,
                       OptionalAttr<F32Attr>:$scale,
                       OptionalAttr<StrAttr>:$input_format);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $input `,` $positions `q` `(` $q_weights `)` `kv` `(` $kv_weights `)` `out` `(` $wo `)`
    (`mask` `(` $mask^ `)`)? attr-dict `:` functional-type(operands, results)
  }];
}

//===----------------------------------------------------------------------===//
// Feed-forward and mixture of experts
//===----------------------------------------------------------------------===//

def Tessel_FFNOp : Tessel_Op<"ffn", [AttrSizedOperandSegments]> {
  let summary = "Feed-forward block: relu, gelu, silu, SwiGLU or GeGLU";
  let description = [{
    `input` is `[..., dim]`, `w_up` and `w_gate` are `[hidden, dim]`,
    `w_down` is `[dim, hidden]`, biases are `[hidden]` and `[dim]`.
      * plain (`relu`, `gelu`, `silu`): `h = act(x w_up^T + b_up)`;
      * gated (`swiglu`, `geglu`, need `gate`): `h = act(x w_gate^T) * (x w_up^T + b_up)`;
      * `y = h w_down^T + b_down (+ residual)`.
    `gelu` is exact (erf) unless `tanh_approx` is set (GPT-2, Gemma). The
    optional `residual` (the input's shape) is added last, in the down
    projection's epilogue (see `tessel-fuse-residual`). `input_format`
    (`"q8_0"` or `"bf16"`) rounds the inputs of all the block's products,
    `x` and `h`, as on `tessel.linear`; for q8_0 `dim` and `hidden` must be
    multiples of 32.

    Example (LLaMA's SwiGLU, `w2(silu(w1 x) * w3 x)`: w1 is the gate, w3 the up projection):
    ```mlir
    %y = tessel.ffn %x up(%w3) gate(%w1) down(%w2) {activation = #tessel.activation<swiglu>}
        : (tensor<1x4x64xf32>, tensor<172x64xf32>, tensor<172x64xf32>, tensor<64x172xf32>)
        -> tensor<1x4x64xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input, AnyRankedTensor:$w_up,
                       Optional<AnyRankedTensor>:$w_gate,
                       AnyRankedTensor:$w_down,
                       Optional<AnyRankedTensor>:$b_up,
                       Optional<AnyRankedTensor>:$b_down,
                       Optional<AnyRankedTensor>:$residual,
                       Tessel_ActivationAttr:$activation,
                       UnitAttr:$tanh_approx,
                       OptionalAttr<StrAttr>:$input_format);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $input `up` `(` $w_up `)` (`gate` `(` $w_gate^ `)`)? `down` `(` $w_down `)`
    (`up_bias` `(` $b_up^ `)`)? (`down_bias` `(` $b_down^ `)`)?
    (`residual` `(` $residual^ `)`)? attr-dict `:` functional-type(operands, results)
  }];
}

def Tessel_MoEOp : Tessel_Op<"moe", [AttrSizedOperandSegments]> {
  let summary = "Mixture of experts: router, top-k, expert FFNs, shared experts";
  let description = [{
    For each token `x` (`[..., dim]`) with `E` experts:
      * `logits = x router^T` (`router : [E, dim]`), `scores = softmax(logits)`
        or `sigmoid(logits)` per `scoring`;
      * the `top_k` highest scores are picked (ties: lower expert index);
        with `normalize_top_k` their weights are divided by their sum;
        then multiplied by `routed_scale`;
      * `y = sum_k w_k * FFN_{e_k}(x) + FFN_shared(x)`.
    `experts` is `(up : [E, hidden, dim], gate : [E, hidden, dim], down : [E, dim, hidden])`
    for gated activations, `(up, down)` otherwise; `shared` is the same
    without the leading `E` (`[shared_hidden, dim]` ...), or absent. Every
    expert FFN uses `activation` as in `tessel.ffn`. `input_format`
    (`"q8_0"` or `"bf16"`) rounds the inputs of every expert's and shared
    expert's products (`x` and their `h`), as on `tessel.ffn`; the router
    reads `x` as it is.

    Example (Mixtral-style top-2 of 4):
    ```mlir
    %y = tessel.moe %x router(%r) experts(%up, %gate, %down)
        {top_k = 2 : i64, scoring = #tessel.moe_scoring<softmax>, normalize_top_k,
         activation = #tessel.activation<swiglu>}
        : (tensor<1x4x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x32x16xf32>,
           tensor<4x16x32xf32>) -> tensor<1x4x16xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input, AnyRankedTensor:$router,
                       Variadic<AnyRankedTensor>:$experts,
                       Variadic<AnyRankedTensor>:$shared,
                       I64Attr:$top_k,
                       Tessel_MoeScoringAttr:$scoring,
                       UnitAttr:$normalize_top_k,
                       DefaultValuedAttr<F32Attr, "1.0f">:$routed_scale,
                       Tessel_ActivationAttr:$activation,
                       UnitAttr:$tanh_approx,
                       OptionalAttr<StrAttr>:$input_format);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $input `router` `(` $router `)` `experts` `(` $experts `)`
    (`shared` `(` $shared^ `)`)? attr-dict `:` functional-type(operands, results)
  }];
}

//===----------------------------------------------------------------------===//
// Tensor algebra
//===----------------------------------------------------------------------===//

def Tessel_EinsumOp : Tessel_Op<"einsum"> {
  let summary = "Einstein summation over one or more tensors";
  let description = [{
    `equation` is explicit, `"in0,in1,...->out"`, one letter per dimension.
    Labels missing from the output are summed over; a label's extent must
    agree wherever it appears. Repeated labels within one term and `...`
    are not supported.

    Example (attention scores):
    ```mlir
    %s = tessel.einsum "bqhd,bkhd->bhqk" %q, %k
        : (tensor<1x4x8x16xf32>, tensor<1x6x8x16xf32>) -> tensor<1x8x4x6xf32>
    ```
  }];
  let arguments = (ins StrAttr:$equation, Variadic<AnyRankedTensor>:$inputs);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $equation $inputs attr-dict `:` functional-type($inputs, results)
  }];
}

def Tessel_SoftmaxOp : Tessel_Op<"softmax", [SameOperandsAndResultType]> {
  let summary = "Numerically stable softmax along one axis";
  let description = [{
    `y = exp(x - max(x)) / sum(exp(x - max(x)))` along `axis` (negative
    counts from the end; default -1).

    Example:
    ```mlir
    %p = tessel.softmax %s {axis = -1 : i64} : tensor<1x8x4x6xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input,
                       DefaultValuedAttr<I64Attr, "-1">:$axis);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

def Tessel_ResidualAddOp : Tessel_Op<"residual_add", [SameOperandsAndResultType]> {
  let summary = "Element-wise residual connection, y = a + b";
  let description = [{
    Both operands and the result have the same type; there is no
    broadcasting. Kept apart from `arith.addf` so that fusion can fold it
    into the epilogue of the matmul that produces `branch`.

    Example:
    ```mlir
    %h2 = tessel.residual_add %h, %attn : tensor<1x4x64xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$residual, AnyRankedTensor:$branch);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$residual `,` $branch attr-dict `:` type($result)";
}

//===----------------------------------------------------------------------===//
// KV cache and sampling
//===----------------------------------------------------------------------===//

def Tessel_KVCacheUpdateOp : Tessel_Op<"kv_cache_update"> {
  let summary = "Write new keys or values into a cache at a position";
  let description = [{
    `cache` is `[batch, max_len, kv_heads, head_dim]`, `update` is
    `[batch, n, kv_heads, head_dim]` and `position` an `i64`. The result is
    the cache with rows `[position, position + n)` replaced by `update`
    (value semantics; bufferisation makes it in place). Writing past
    `max_len` is an error at run time.

    Example:
    ```mlir
    %kc2 = tessel.kv_cache_update %kc, %k, %pos
        : (tensor<1x512x4x8xf32>, tensor<1x1x4x8xf32>, i64) -> tensor<1x512x4x8xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$cache, AnyRankedTensor:$update, I64:$position);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $cache `,` $update `,` $position attr-dict `:` functional-type(operands, results)
  }];
}

def Tessel_KVCacheViewOp : Tessel_Op<"kv_cache_view"> {
  let summary = "The first `length` rows of a KV cache";
  let description = [{
    `result = cache[:, 0:length]`: `[batch, length, kv_heads, head_dim]`,
    ready to be the key or value of `tessel.attention`. The result's length
    dimension is usually dynamic; if static it must equal `length` at run
    time.

    Example:
    ```mlir
    %k = tessel.kv_cache_view %kc, %len
        : (tensor<1x512x4x8xf32>, i64) -> tensor<1x?x4x8xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$cache, I64:$length);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $cache `,` $length attr-dict `:` functional-type(operands, results)
  }];
}

def Tessel_SampleOp : Tessel_Op<"sample"> {
  let summary = "Pick next-token ids from logits: greedy, temperature, top-k, top-p";
  let description = [{
    `logits` is `[..., vocab]`; the result (`i64`) drops the last dimension.
    `temperature = 0` (the default) is greedy (argmax, lowest id on ties).
    Otherwise logits are divided by `temperature`, cut to the `top_k`
    largest (0 = all), turned into probabilities, cut to the smallest set
    whose mass reaches `top_p`, renormalised, and one id is drawn with a
    SplitMix64 generator seeded by `seed` (one draw per row, in order).

    Example:
    ```mlir
    %next = tessel.sample %logits {temperature = 0.8 : f32, top_k = 40 : i64, top_p = 0.95 : f32, seed = 7 : i64}
        : tensor<1x512xf32> -> tensor<1xi64>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$logits,
                       DefaultValuedAttr<F32Attr, "0.0f">:$temperature,
                       DefaultValuedAttr<I64Attr, "0">:$top_k,
                       DefaultValuedAttr<F32Attr, "1.0f">:$top_p,
                       DefaultValuedAttr<I64Attr, "0">:$seed);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$logits attr-dict `:` type($logits) `->` type($result)";
}

#endif // TESSEL_OPS_TD
