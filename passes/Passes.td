//===- Passes.td - tessel transformation passes -----------------*- tablegen -*-===//
//
// One pass per file (passes/<Name>.cpp), each with a lit test in
// tests/lit/passes/. Descriptions show the IR before and after.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_PASSES_TD
#define TESSEL_PASSES_TD

include "mlir/Pass/PassBase.td"

def TesselLowerEinsum : Pass<"tessel-lower-einsum", "mlir::func::FuncOp"> {
  let summary = "Lower tessel.einsum to transposes plus a batched contraction";
  let description = [{
    A two-operand equation whose labels split into batch (both inputs and
    the output), M (first input and output), N (second input and output) and
    K (both inputs only) becomes

      transpose(A) -> [batch, M, K], transpose(B) -> [batch, K, N],
      collapse to rank 3, `linalg.batch_matmul`, expand, transpose to the
      output order,

    so the contraction can use the GEMM kernels. Every other equation (one
    or three operands, labels summed away inside one operand, dynamic
    shapes) becomes one `linalg.generic` with the equation's indexing maps.

    Before:
    ```mlir
    %s = tessel.einsum "bqhd,bkhd->bhqk" %q, %k
        : (tensor<1x4x8x16xf32>, tensor<1x6x8x16xf32>) -> tensor<1x8x4x6xf32>
    ```
    After (abridged):
    ```mlir
    %qt = linalg.transpose ins(%q : tensor<1x4x8x16xf32>) outs(%e0 : tensor<1x8x4x16xf32>) permutation = [0, 2, 1, 3]
    %kt = linalg.transpose ins(%k : tensor<1x6x8x16xf32>) outs(%e1 : tensor<1x8x16x6xf32>) permutation = [0, 2, 3, 1]
    %a = tensor.collapse_shape %qt [[0, 1], [2], [3]] : tensor<1x8x4x16xf32> into tensor<8x4x16xf32>
    %b = tensor.collapse_shape %kt [[0, 1], [2], [3]] : tensor<1x8x16x6xf32> into tensor<8x16x6xf32>
    %c = linalg.batch_matmul ins(%a, %b : ...) outs(%zero : tensor<8x4x6xf32>) -> tensor<8x4x6xf32>
    %s = tensor.expand_shape %c [[0, 1], [2], [3]] output_shape [1, 8, 4, 6] : tensor<8x4x6xf32> into tensor<1x8x4x6xf32>
    ```
  }];
  let options = [
    Option<"useBatchMatmul", "use-batch-matmul", "bool", /*default=*/"true",
           "Rewrite eligible two-operand equations as transposes + linalg.batch_matmul "
           "(false: always one linalg.generic)">,
  ];
  let dependentDialects = ["mlir::linalg::LinalgDialect", "mlir::tensor::TensorDialect",
                           "mlir::arith::ArithDialect"];
}

def TesselTileAttention : Pass<"tessel-tile-attention", "mlir::func::FuncOp"> {
  let summary = "FlashAttention: tessel.attention as a loop over K/V tiles with online softmax";
  let description = [{
    Rewrites `tessel.attention` into an `scf.for` over tiles of `kv-tile-size`
    keys. Each step computes the scores of every query against one tile only,
    then updates a running maximum `m`, a running sum `l` and an accumulator
    rescaled by `exp(m_old - m_new)`; the result is `acc / l`. The N x N score
    matrix is never materialised: the largest temporary is
    `[batch, kv_heads, group, q_len, kv-tile-size]`.

    GQA/MQA lower by indexing: the query is viewed (`tensor.expand_shape`,
    no copy) as `[batch, q_len, kv_heads, group, head_dim]` and every tile
    reads K/V head `kv` for all `group` query heads that share it; K and V
    are never repeated.

    Causal masks, sliding windows and the mask operand become a select to
    -inf inside the score computation; attention sinks start the running
    state at `m = sink, l = 1`. Rows that see no key produce zeros, as the
    op's semantics require.

    Before:
    ```mlir
    %o = tessel.attention %q, %k, %v {num_heads = 8 : i64, num_kv_heads = 2 : i64, causal}
        : (tensor<1x?x8x16xf32>, tensor<1x?x2x16xf32>, tensor<1x?x2x16xf32>) -> tensor<1x?x8x16xf32>
    ```
    After (abridged):
    ```mlir
    %q5 = tensor.expand_shape %q [[0], [1], [2, 3], [4]] ... into tensor<1x?x2x4x16xf32>
    %r:3 = scf.for %t = %c0 to %kv_len step %c64 iter_args(%m = %m0, %l = %l0, %acc = %acc0) -> (...) {
      %kt = tensor.extract_slice %k[0, %t, 0, 0] [1, %n, 2, 16] [1, 1, 1, 1] ...
      %s = linalg.generic ... // q . k * scale, masked to -inf
      ...                    // m_new, p = exp(s - m_new), l_new, acc_new = alpha * acc + p v
    }
    %o5 = linalg.generic ... // acc / l
    %o = tensor.collapse_shape %o5 [[0], [1], [2, 3], [4]] ...
    ```
  }];
  let options = [
    Option<"kvTileSize", "kv-tile-size", "int64_t", /*default=*/"64",
           "Keys per tile; 64 keeps a tile of K and V for head_dim 128 in L1">,
  ];
  let dependentDialects = ["mlir::linalg::LinalgDialect", "mlir::tensor::TensorDialect",
                           "mlir::arith::ArithDialect", "mlir::math::MathDialect",
                           "mlir::scf::SCFDialect"];
}

def TesselLowerToLinalg : Pass<"tessel-lower-to-linalg", "mlir::func::FuncOp"> {
  let summary = "Lower tessel's dense ops to linalg on tensors";
  let description = [{
    The generic CPU path for the ops a decoder layer is made of, one
    `linalg.generic` (or a few) per op, all on tensors so that bufferization
    and fusion see through them: `embedding` (a gather through
    `tensor.extract`), `linear` (bias broadcast into the accumulator, then a
    contraction over `in`), `rms_norm`, `layer_norm`, `rope` (angles in f64,
    the pair partner read with `tensor.extract`), `ffn` (up/gate/down
    contractions around the activation), `residual_add`, `softmax`, and the
    KV cache ops (`kv_cache_update` -> `tensor.insert_slice`, in place once
    bufferized; `kv_cache_view` -> `tensor.extract_slice`, a view).
    Attention is left to `tessel-tile-attention` and einsum to
    `tessel-lower-einsum`; an op that no pass lowers yet (moe, mla, sample)
    is an error naming it.

    Before:
    ```mlir
    %n = tessel.rms_norm %x, %w {epsilon = 1.0e-05 : f32}
        : (tensor<1x?x64xf32>, tensor<64xf32>) -> tensor<1x?x64xf32>
    ```
    After (abridged):
    ```mlir
    %ss = linalg.generic {iterator_types = ["parallel", "parallel", "reduction"]}
        ins(%x) outs(%zeros : tensor<1x?xf32>) { sum of x * x }
    %n = linalg.generic {iterator_types = ["parallel", "parallel", "parallel"]}
        ins(%x, %ss, %w) outs(%e : tensor<1x?x64xf32>) { x * rsqrt(ss / 64 + eps) * w }
    ```
  }];
  let options = [
    Option<"allowUnlowered", "allow-unlowered", "bool", /*default=*/"false",
           "Leave ops this pass does not lower in place instead of failing">,
  ];
  let dependentDialects = ["mlir::linalg::LinalgDialect", "mlir::tensor::TensorDialect",
                           "mlir::arith::ArithDialect", "mlir::math::MathDialect"];
}

def TesselWeightsToArguments : Pass<"tessel-weights-to-arguments", "mlir::ModuleOp"> {
  let summary = "Turn tessel.weight ops into trailing function arguments";
  let description = [{
    Compiled code receives the model's weights from the runtime rather than
    embedding them: each distinct `tessel.weight` name becomes one new
    argument, appended in order of first use, and the function gets a
    `tessel.weights` array attribute listing their names so the runtime can
    bind them.

    Before:
    ```mlir
    func.func @forward(%tokens: tensor<1x?xi64>) -> ... {
      %w = tessel.weight "token_embd.weight" : tensor<512x64xf32>
    ```
    After:
    ```mlir
    func.func @forward(%tokens: tensor<1x?xi64>, %w: tensor<512x64xf32>) -> ...
        attributes {tessel.weights = ["token_embd.weight"]} {
    ```

    A weight with a `storage` format becomes an argument holding its bytes,
    dequantized where it was used (a kernel reads the bytes directly once
    `tessel-lower-to-kernels` folds the `tessel.dequantize` into its call):
    ```mlir
    %w = tessel.weight "blk.0.attn_q.weight" {storage = "q8_0"} : tensor<64x64xf32>
    // becomes an argument %bytes: tensor<2176xi8> and
    %w = tessel.dequantize %bytes {format = "q8_0"} : tensor<2176xi8> -> tensor<64x64xf32>
    ```

    A block function (a layer shared by several layers, see
    `frontends::EntryPoints::shareLayers`) names its weights relative to the
    layer; it gets arguments for them like any function, and each call of
    it, which carries `tessel.weight_prefix`, passes the caller's arguments
    for the prefixed names (bytes for stored weights, so the block's
    `tessel.dequantize` still folds into its kernels):
    ```mlir
    func.func private @block_0(%h: tensor<1x?x64xf32>) -> tensor<1x?x64xf32> {
      %w = tessel.weight "attn_q.weight" : tensor<64x64xf32>
    ...
    %h1 = func.call @block_0(%h0) {tessel.weight_prefix = "blk.1."}
    // become
    func.func private @block_0(%h: tensor<1x?x64xf32>, %w: tensor<64x64xf32>)
        attributes {tessel.weights = ["attn_q.weight"]}
    ...
    %h1 = func.call @block_0(%h0, %blk1_attn_q) {tessel.weight_prefix = "blk.1."}
    ```
    where `%blk1_attn_q` is the caller's argument for "blk.1.attn_q.weight".
  }];
}

def TesselLowerToKernels : Pass<"tessel-lower-to-kernels", "mlir::ModuleOp"> {
  let summary = "Replace linear layers and gated FFNs by calls to the Highway micro-kernels, fusing norms, RoPE and activations into them";
  let description = [{
    The contractions that dominate a decoder's run time go to the packed
    GEMM / GEMV kernels of `runtime/kernels` instead of compiled loops:

      * `tessel.linear` -> `tessel_linear[_bias][_residual]_f32`
        (`out = x w^T (+ bias) (+ residual)`, the residual added in the
        GEMM's epilogue; leading dims of `x` are collapsed into rows);
      * fusion around a bias-free linear layer: an input coming from
        `tessel.rms_norm` is normalised in the GEMM's prologue
        (`tessel_rms_norm_linear_f32`: the normalised activations are never
        written), and an output split into heads (`tensor.expand_shape`) and
        rotated by `tessel.rope` (no frequency factors) is rotated in the
        epilogue (`tessel_linear_rope_f32`); llama's Q and K get both
        (`tessel_rms_norm_linear_rope_f32`). The norm op stays while other
        users (the FFN) need its result;
      * `tessel.moe` -> one call of the MoE kernel,
        `tessel_moe[_gated][_shared]_f32` (routing, top-k, tokens grouped
        per expert, each expert's FFN as fused GEMMs over its group,
        weighted scatter-add, shared experts; a decode step reads only the
        selected experts' weights);
      * a gated `tessel.ffn` without biases (SwiGLU, GeGLU) ->
        `tessel_glu_f32` (`act(x wg^T) * (x wu^T)`, the activation fused into
        the up-projection's epilogue) then `tessel_linear[_residual]_f32`
        for the down-projection;
      * a weight that comes from `tessel.dequantize` (a stored bf16, q8_0
        or q4_0 matrix) is read as its bytes: `tessel_linear_q[_bias]
        [_residual]_f32(x, bytes, ..., format, rows, k)` (format = GGML's
        type id), with no norm or RoPE fused; a gated FFN whose gate and up
        are stored alike becomes `tessel_glu_q_f32(x, gate bytes, up bytes,
        ..., format, rows, k, input format, activation, tanh)` (both
        products and the activation in one call, the input rounded once)
        and the down projection (in two formats: two `tessel_linear_q*`,
        `tessel_gated_activation_f32` and the down projection). Stored MoE expert stacks (and shared experts) go to
        `tessel_moe_q[_gated][_shared]_f32`. A `tessel.dequantize` still used
        by anything else is materialised by `tessel_dequantize_f32` (an
        expert stack as one [rows, k] matrix, then reshaped);
      * a `tessel.einsum` that is a batched contraction, with its second
        operand's labels ordered batch, then a k and an n run (either
        order) -> `tessel_batch_matmul_f32(a [batch, m, k], b, out, b_kn)`:
        b is read where it lies ([k, n] or [n, k] per batch index: MLA's
        per-head slices of wkv_b are never copied), a is transposed to
        [batch, m, k] when its labels come in another order. Other einsums
        are left for `tessel-lower-einsum`, which runs after this pass.

    Each call takes its operands as memrefs of any layout
    (`bufferization.to_buffer read_only`: the tensor's own buffer, no copy)
    and writes a fresh 64-byte aligned buffer that becomes the result
    (`bufferization.to_tensor restrict writable`). The callees are declared
    `llvm.emit_c_interface`; their definitions live in
    `codegen/KernelAbi.cpp`, which the JIT registers and AOT libraries link.
    Everything else is left for `tessel-lower-to-linalg`.

    Before:
    ```mlir
    %y = tessel.linear %x, %w : (tensor<1x?x64xf32>, tensor<128x64xf32>) -> tensor<1x?x128xf32>
    ```
    After:
    ```mlir
    %x2 = tensor.collapse_shape %x [[0, 1], [2]] : tensor<1x?x64xf32> into tensor<?x64xf32>
    %out = memref.alloc(%m) {alignment = 64 : i64} : memref<?x128xf32>
    %xb = bufferization.to_buffer %x2 read_only : tensor<?x64xf32> to memref<?x64xf32, strided<[?, ?], offset: ?>>
    %wb = bufferization.to_buffer %w read_only : ...
    call @tessel_linear_f32(%xb_cast, %wb_cast, %out_cast) : (memref<?x?xf32, strided<[?, ?], offset: ?>>, ...) -> ()
    %r = bufferization.to_tensor %out restrict writable : memref<?x128xf32> to tensor<?x128xf32>
    %y = tensor.expand_shape %r [[0, 1], [2]] output_shape [1, %m, 128] : tensor<?x128xf32> into tensor<1x?x128xf32>
    ```
  }];
  let dependentDialects = ["mlir::bufferization::BufferizationDialect",
                           "mlir::memref::MemRefDialect", "mlir::tensor::TensorDialect",
                           "mlir::arith::ArithDialect", "mlir::func::FuncDialect",
                           "mlir::LLVM::LLVMDialect"];
}

def TesselDropAliasedResults : Pass<"tessel-drop-aliased-results", "mlir::func::FuncOp"> {
  let summary = "Drop function results that are one of the function's own (updated) arguments";
  let description = [{
    Run after one-shot bufferization. A KV cache is a function argument
    marked `bufferization.writable`; `tessel.kv_cache_update` writes it in
    place, and the function returns the updated cache to keep value
    semantics at the tensor level. Once bufferized, that result *is* the
    argument's buffer. Returning it would make the deallocation pipeline
    clone the whole cache on every call, so this pass removes such results:
    the caller already holds the buffer, and sees the update in place.
    (Upstream `drop-equivalent-buffer-results` does the same for private
    functions only; entry points are public.)

    Before:
    ```mlir
    func.func @step(%tokens: memref<1x?xi64>, %cache: memref<1x512x4x8xf32>) -> (memref<1x1x512xf32>, memref<1x512x4x8xf32>) {
      ...
      return %logits, %cache : memref<1x1x512xf32>, memref<1x512x4x8xf32>
    }
    ```
    After:
    ```mlir
    func.func @step(%tokens: memref<1x?xi64>, %cache: memref<1x512x4x8xf32>) -> memref<1x1x512xf32> {
      ...
      return %logits : memref<1x1x512xf32>
    }
    ```
  }];
}

def TesselFuseResidual : Pass<"tessel-fuse-residual", "mlir::func::FuncOp"> {
  let summary = "Fold residual adds into the epilogue of the projection that feeds them";
  let description = [{
    A transformer layer ends each half with `h + proj(...)`: the attention
    output projection and the FFN's down projection. Done separately, the
    add reads both [tokens, dim] tensors back and writes a third; folded
    into the projection (`tessel.linear` / `tessel.ffn` with `residual`),
    the GEMM adds the residual while it stores its tile
    (`tessel_gemm_addend_f32`), so the projection's output is never written
    on its own.

    A `tessel.residual_add` is folded when either operand is a `linear` or
    `ffn` without a residual whose only use is the add, and the other
    operand is defined before it (so the fused op can take it).

    Before:
    ```mlir
    %o = tessel.linear %a, %wo : (tensor<1x?x64xf32>, tensor<64x64xf32>) -> tensor<1x?x64xf32>
    %h2 = tessel.residual_add %h, %o : tensor<1x?x64xf32>
    ```
    After:
    ```mlir
    %h2 = tessel.linear %a, %wo residual(%h)
        : (tensor<1x?x64xf32>, tensor<64x64xf32>, tensor<1x?x64xf32>) -> tensor<1x?x64xf32>
    ```
  }];
}

def TesselSplitKvAttention : Pass<"tessel-split-kv-attention", "mlir::func::FuncOp"> {
  let summary = "Flash-decoding: split the keys of short-query attention into independent chunks";
  let description = [{
    In decode, `q_len` is 1 (or a few tokens) and `kv_len` is long: the
    single loop of `tessel-tile-attention` walks every K/V tile in sequence
    and leaves nothing to run in parallel. This pass splits the keys into
    `num-splits` chunks of whole tiles and writes the attention as an
    `scf.forall` over the chunks: each runs the same online-softmax tile
    loop over its keys from an empty state and writes its partial state
    `(m_s, l_s, acc_s)` into row `s` of `[num-splits, ...]` tensors. A
    combine step then merges them:

      M = max(sink, max_s m_s),  w_s = exp(m_s - M) (0 where m_s = -inf),
      out = (sum_s w_s acc_s) / (exp(sink - M) + sum_s w_s l_s),

    zeros for a row that no split saw a key of. Sinks enter once, in the
    combine; a split that saw no key (past the end, or all masked) has
    weight 0 and never computes `-inf - -inf`. Causal positions, windows
    and masks are tested on absolute key positions exactly as in
    `tessel-tile-attention`. With a sliding window, keys older than the
    oldest query's window are left out of every split.

    Applies to `tessel.attention` ops whose `q_len` is at most
    `max-query-len` and whose `kv_len` is not known to fit in one tile. When
    `q_len` is dynamic (a `@step` entry point serves prefill chunks and
    decode), the op becomes an `scf.if` on `q_len <= max-query-len` whose
    else branch keeps the plain `tessel.attention` for
    `tessel-tile-attention`, so run this pass before that one. After
    bufferization, `scf-forall-to-for` (sequential) or
    `scf-forall-to-parallel` lowers the `scf.forall`.

    Before:
    ```mlir
    %o = tessel.attention %q, %k, %v {num_heads = 8 : i64, num_kv_heads = 2 : i64, causal}
        : (tensor<1x1x8x16xf32>, tensor<1x?x2x16xf32>, tensor<1x?x2x16xf32>) -> tensor<1x1x8x16xf32>
    ```
    After (abridged, `num-splits=4`):
    ```mlir
    %q5 = tensor.expand_shape %q [[0], [1], [2, 3], [4]] ... into tensor<1x1x2x4x16xf32>
    %chunk = ...  // ceil(ceil(kv_len / 4) / 64) * 64 keys per split
    %p:3 = scf.forall (%s) in (4) shared_outs(%M = %e0, %L = %e1, %A = %e2)
        -> (tensor<4x1x2x4x1xf32>, tensor<4x1x2x4x1xf32>, tensor<4x1x1x2x4x16xf32>) {
      %begin = arith.minsi ...  // s * chunk, clamped to kv_len
      %end = arith.minsi ...    // begin + chunk, clamped to kv_len
      %m0 = tensor.extract_slice %M[%s, 0, 0, 0, 0] [1, 1, 2, 4, 1] [1, 1, 1, 1, 1] ...
      %r:3 = scf.for %t = %begin to %end step %c64 iter_args(...) {  // as in tessel-tile-attention
      scf.forall.in_parallel {
        tensor.parallel_insert_slice %r#0 into %M[%s, 0, 0, 0, 0] [1, 1, 2, 4, 1] [1, 1, 1, 1, 1] ...
        ...
      }
    }
    %mmax = linalg.generic ... ins(%p#0) outs(%minit)        // max over s
    %w = linalg.generic ... ins(%p#0, %mmax)                 // exp(m_s - M) or 0
    %l = linalg.generic ... ins(%w, %p#1) outs(%linit)       // sum over s of w l
    %acc = linalg.generic ... ins(%w, %p#2) outs(%zeros)     // sum over s of w acc
    %o5 = linalg.generic ... ins(%acc, %l)                   // acc / l, 0 where l = 0
    %o = tensor.collapse_shape %o5 [[0], [1], [2, 3], [4]] ...
    ```
  }];
  let options = [
    Option<"numSplits", "num-splits", "int64_t", /*default=*/"4",
           "Chunks the keys are split into (1: leave every op to tessel-tile-attention). "
           "4 gives each core of a 2-core host two chunks once the splits run in parallel, "
           "so a short last chunk costs little, and the combine reads only 4 partial "
           "states per row; a GPU wants about SMs / (batch * kv_heads)">,
    Option<"maxQueryLen", "max-query-len", "int64_t", /*default=*/"4",
           "Largest q_len split (decode is 1; speculative decoding verifies a few tokens; "
           "longer queries are parallel over rows already). -1: every op, with no run-time "
           "check of a dynamic q_len">,
    Option<"kvTileSize", "kv-tile-size", "int64_t", /*default=*/"64",
           "Keys per tile inside each chunk (as tessel-tile-attention's); chunks are "
           "whole tiles">,
  ];
  let dependentDialects = ["mlir::linalg::LinalgDialect", "mlir::tensor::TensorDialect",
                           "mlir::arith::ArithDialect", "mlir::math::MathDialect",
                           "mlir::scf::SCFDialect"];
}

def TesselPlanMemory : Pass<"tessel-plan-memory", "mlir::func::FuncOp"> {
  let summary = "Static memory planning: buffers whose lifetimes do not overlap share one allocation";
  let description = [{
    Run after bufferization (and `tessel-drop-aliased-results`), before the
    deallocation pipeline. Bufferization gives every intermediate its own
    `memref.alloc`, and ownership-based deallocation frees the entry
    block's buffers only at its end, so every activation of every layer is
    live at once. A decoder repeats the same buffers in every layer with
    short lifetimes: this pass makes them share.

    Each `memref.alloc` in the function's entry block (not in loops) is a
    buffer. Its aliases are followed: results of view-like ops (casts,
    subviews, expand/collapse_shape, reinterpret_cast, `memref.view`),
    `bufferization.to_tensor`/`to_buffer`, and for a buffer carried by an
    `scf.for` (FlashAttention's running state) the iter_arg, the values
    yielded in its place and the loop's result. Its live range runs from
    the alloc to the last op of the entry block that uses it or an alias
    (a use inside a loop or a linalg body counts at the loop). A buffer is
    planned only if every other use is a plain read or write:
    `memref.load`/`store` (as the memref), `memref.copy`, `memref.dim`,
    linalg ops on buffers, and `func.call`s of the `tessel_*` kernel ABI
    with no results (the kernels never keep a pointer). Anything else
    (returned, yielded from `scf.if`/`scf.while`, stored, passed to any
    other op or call) leaves the buffer as it is.

    Sizes are `bytes * product(extents)`, dynamic extents traced back to
    their origin (`memref.dim` of a function argument, an expand_shape's
    output_shape, a collapse_shape of `[1, ?]`, a cast, another alloc's
    operand), so that the sequence length, recomputed in every layer, is
    recognised as one value. Sizes are compared only between buffers with
    the same dynamic extents, where the comparison holds for every length.

    Buffers are assigned largest first to slots: a buffer takes a slot
    none of whose occupants is live at any point of its range (one's last
    use strictly before the other's alloc), preferring one of its own
    shape, else the smallest that holds it; else it opens a new slot. A
    slot whose occupants all have one shape is the earliest one's alloc,
    which the others then use. Any other slot is one byte buffer,
    allocated where its earliest occupant was, that each occupant sees
    through a `memref.view` (identity layout, offset 0: the kernels see
    what they saw before). Deallocation then frees each slot once.

    The plan is recorded on the function as `tessel.memory_plan`:
    `buffers` (allocs in the entry block), `planned`, `reused` (allocs
    removed), `bytes_before` / `bytes_after` (bytes allocated for the
    planned buffers, as a polynomial in the dynamic extents: `arg0.dim1`
    is dimension 1 of argument 0, the sequence length; other extents are
    `sN`, described under `symbols`), `live_peak` (per term, the most of
    those bytes live at one point: no plan needs less) and `slots` (type,
    bytes, number of buffers and their location names, e.g.
    `blk.3.attn_q` when the model was built with debug info).

    Before (four projections in a chain, `%n` tokens):
    ```mlir
    %a = memref.alloc(%n) {alignment = 64 : i64} : memref<?x64xf32>
    call @tessel_linear_f32(%x, %w, %a) : ...
    %b = memref.alloc(%n) {alignment = 64 : i64} : memref<?x64xf32>
    call @tessel_linear_f32(%a, %w, %b) : ...      // last use of %a
    %c = memref.alloc(%n) {alignment = 64 : i64} : memref<?x172xf32>
    call @tessel_linear_f32(%b, %w, %c) : ...      // last use of %b
    %d = memref.alloc(%n) {alignment = 64 : i64} : memref<?x64xf32>
    call @tessel_linear_f32(%c, %w, %d) : ...
    ```
    After: `%a` and `%c` share 688 bytes per token, `%d` takes `%b`'s alloc.
    ```mlir
    %bytes = arith.muli %c688, %n : index
    %slot = memref.alloc(%bytes) {alignment = 64 : i64} : memref<?xi8>
    %a = memref.view %slot[%c0][%n] : memref<?xi8> to memref<?x64xf32>
    call @tessel_linear_f32(%x, %w, %a) : ...
    %b = memref.alloc(%n) {alignment = 64 : i64} : memref<?x64xf32>
    call @tessel_linear_f32(%a, %w, %b) : ...
    %c = memref.view %slot[%c0][%n] : memref<?xi8> to memref<?x172xf32>
    call @tessel_linear_f32(%b, %w, %c) : ...
    call @tessel_linear_f32(%c, %w, %b) : ...
    ```
    with `tessel.memory_plan = {buffers = 4, planned = 4, reused = 2,
    bytes_before = "1456 * arg0.dim0", bytes_after = "944 * arg0.dim0",
    live_peak = "944 * arg0.dim0", slots = [...]}`.
  }];
  let options = [
    Option<"sameTypeOnly", "same-type-only", "bool", /*default=*/"false",
           "Share a slot only between buffers of one shape (no memref.view byte slots)">,
    Option<"report", "report", "bool", /*default=*/"false",
           "Print the plan (slots, their buffers, what was not planned and why) to stderr">,
  ];
  let dependentDialects = ["mlir::arith::ArithDialect", "mlir::memref::MemRefDialect"];
}

def TesselAttentionToKernel : Pass<"tessel-attention-to-kernel", "mlir::ModuleOp"> {
  let summary = "Replace tessel.attention by a call of the Highway flash-attention kernel";
  let description = [{
    The CPU alternative to `tessel-tile-attention`: the whole attention
    becomes one call of `tessel_attention_f32` (runtime/kernels), which
    runs the same FlashAttention algorithm (K/V tiles of 128 keys, online
    softmax, never N x N) with SIMD micro-kernels, blocks of 64 query rows,
    GQA/MQA by indexing, threads across query blocks and heads, and a
    split-KV (flash-decoding) split across threads when a decode step has
    too few query blocks to keep every core busy. Q, K and V are passed as
    views of their buffers (a KV-cache view is used in place: the kernel
    takes row strides). Ops with a mask or sinks are left for
    `tessel-tile-attention`.

    Before:
    ```mlir
    %o = tessel.attention %q, %k, %v {num_heads = 8 : i64, num_kv_heads = 4 : i64, causal}
        : (tensor<1x?x8x8xf32>, tensor<1x?x4x8xf32>, tensor<1x?x4x8xf32>) -> tensor<1x?x8x8xf32>
    ```
    After (abridged):
    ```mlir
    %out = memref.alloc(%s) {alignment = 64 : i64} : memref<1x?x8x8xf32>
    call @tessel_attention_f32(%qb, %kb, %vb, %outb, %c8, %c4, %c1_causal, %c0_window, %cst0_scale)
        : (memref<?x?x?x?xf32, strided<[?, ?, ?, ?], offset: ?>>, ..., i64, i64, i64, i64, f32) -> ()
    %o = bufferization.to_tensor %out restrict writable : memref<1x?x8x8xf32> to tensor<1x?x8x8xf32>
    ```
  }];
  let dependentDialects = ["mlir::bufferization::BufferizationDialect",
                           "mlir::memref::MemRefDialect", "mlir::tensor::TensorDialect",
                           "mlir::arith::ArithDialect", "mlir::func::FuncDialect",
                           "mlir::LLVM::LLVMDialect"];
}

def TesselLowerMla : Pass<"tessel-lower-mla", "mlir::func::FuncOp"> {
  let summary = "Expand tessel.mla into its projections, RoPE and a tessel.attention (the naive form)";
  let description = [{
    DeepSeek's multi-head latent attention, step by step as its reference
    semantics define it: the query (directly, or through `wq_a`, its RMSNorm
    and `wq_b`), the compressed latent and shared RoPE key (`wkv_a`), the
    latent's RMSNorm and up-projection `wkv_b` to per-head keys and values,
    RoPE on the query's and the key's rope parts, keys and queries as
    `concat(nope, rope)` (the shared RoPE key broadcast to every head), one
    `tessel.attention` with the value head size `v_head_dim`, and `wo`.
    This is the naive form (full keys and values per head), the right one
    for a prefill of many tokens; the cached decode form keeps only the
    latent and RoPE key per token. Afterwards the pieces take the usual
    paths (kernel calls, attention kernel or tiles).

    Before:
    ```mlir
    %y = tessel.mla %x, %pos q(%wq) kv(%wkv_a, %kv_norm, %wkv_b) out(%wo)
        {num_heads = 4 : i64, kv_lora_rank = 16 : i64, qk_nope_dim = 8 : i64,
         qk_rope_dim = 4 : i64, v_head_dim = 8 : i64, causal} : (...) -> tensor<1x?x32xf32>
    ```
    After (abridged):
    ```mlir
    %q = tessel.linear %x, %wq ...            // [1, s, 4 * 12] -> split into heads
    %ckv = tessel.linear %x, %wkv_a ...       // [1, s, 16 + 4]: latent | rope key
    %kv = tessel.linear (tessel.rms_norm latent, %kv_norm), %wkv_b ...
    %query = tensor.concat dim(3) %q_nope, (tessel.rope %q_rope, %pos) ...
    %key = tensor.concat dim(3) %k_nope, (linalg.broadcast (tessel.rope %k_rope, %pos)) ...
    %o = tessel.attention %query, %key, %v {num_heads = 4, num_kv_heads = 4, causal} ...
    %y = tessel.linear (tensor.collapse_shape %o), %wo ...
    ```
  }];
  let dependentDialects = ["mlir::tensor::TensorDialect", "mlir::linalg::LinalgDialect",
                           "mlir::arith::ArithDialect"];
}

def TesselProfileOps : Pass<"tessel-profile-ops", "mlir::ModuleOp"> {
  let summary = "Time every tessel op: calls of tessel_profile_begin/end around it";
  let description = [{
    For `tessel run --profile` (CpuOptions::profile, first in the CPU
    pipeline). Every op of the tessel dialect gets a call of
    `tessel_profile_begin(id)` before it and `tessel_profile_end(id)` after
    it, with one i64 constant id per op, numbered in walk order across the
    module. The module's `tessel.profile_ops` array maps each id to
    "op name @ location" (the first name of the op's location: the model
    layer and tensor, such as `blk.0.attn_q`; else file:line:col), which
    the runtime reads to name what it timed. The callees are private
    declarations; `codegen/KernelAbi.cpp` defines them (they record into
    `runtime::Profiler`).

    Calls of external functions have unknown side effects, so the ops
    between a pair keep their place through fusion, bufferization and
    lowering: what later passes make of an op (the kernel call that fuses a
    norm or RoPE into a linear layer, the loops of a lowered op) runs
    between its calls. An op folded into another (an RMSNorm fused into
    the GEMM's prologue) keeps its pair around nothing. Running the pass on
    a module that has `tessel.profile_ops` already changes nothing.

    Before:
    ```mlir
    %n = tessel.rms_norm %x, %w : (...) -> tensor<1x?x64xf32> loc("blk.0.attn_norm")
    %q = tessel.linear %n, %wq : (...) -> tensor<1x?x64xf32> loc("blk.0.attn_q")
    ```
    After:
    ```mlir
    module attributes {tessel.profile_ops = ["tessel.rms_norm @ blk.0.attn_norm",
                                             "tessel.linear @ blk.0.attn_q"]} {
      func.func private @tessel_profile_begin(i64)
      func.func private @tessel_profile_end(i64)
      ...
      %c0 = arith.constant 0 : i64
      call @tessel_profile_begin(%c0) : (i64) -> ()
      %n = tessel.rms_norm %x, %w : (...) -> tensor<1x?x64xf32>
      call @tessel_profile_end(%c0) : (i64) -> ()
      %c1 = arith.constant 1 : i64
      call @tessel_profile_begin(%c1) : (i64) -> ()
      %q = tessel.linear %n, %wq : (...) -> tensor<1x?x64xf32>
      call @tessel_profile_end(%c1) : (i64) -> ()
    ```
  }];
  let dependentDialects = ["mlir::arith::ArithDialect", "mlir::func::FuncDialect"];
}

def TesselGpuHostBuffers : Pass<"tessel-gpu-host-buffers", "mlir::func::FuncOp"> {
  let summary = "Host-side buffers of a GPU entry point live in device memory";
  let description = [{
    Run on bufferized host functions of the GPU pipeline, after the
    deallocation pipeline and before the parallel loops become kernels.
    Every buffer the host code of an entry point allocates is read and
    written only by kernels, so it is allocated in device memory
    (`gpu.alloc`, freed by `gpu.dealloc`), and every copy between buffers
    becomes a `linalg.copy`, which later turns into a kernel like any other
    linalg op (a KV cache slot write is a strided copy into a subview; the
    host must never dereference device memory). The function's arguments
    (weights, KV caches, token ids) are device buffers the runtime owns.

    Allocations inside `gpu.launch` bodies and `memref.alloca`s (small host
    scratch of the deallocation helpers, holding pointers, not data) are left
    alone.

    Before:
    ```mlir
    func.func @step(%x: memref<1x64xf32>, %cache: memref<1x128x4x8xf32>) -> memref<1x64xf32> {
      %a = memref.alloc() {alignment = 64 : i64} : memref<1x64xf32>
      memref.copy %x, %a : memref<1x64xf32> to memref<1x64xf32>
      return %a : memref<1x64xf32>
    }
    ```
    After:
    ```mlir
    func.func @step(%x: memref<1x64xf32>, %cache: memref<1x128x4x8xf32>) -> memref<1x64xf32> {
      %a = gpu.alloc () : memref<1x64xf32>
      linalg.copy ins(%x : memref<1x64xf32>) outs(%a : memref<1x64xf32>)
      return %a : memref<1x64xf32>
    }
    ```
  }];
  let dependentDialects = ["mlir::gpu::GPUDialect", "mlir::linalg::LinalgDialect"];
}

def TesselAttentionToGpu : Pass<"tessel-attention-to-gpu", "mlir::ModuleOp"> {
  let summary = "Replace tessel.attention by launches of GPU FlashAttention kernels";
  let description = [{
    The GPU pipeline's attention: each `tessel.attention` inside a
    `func.func` with static `head_dim` and `v_head_dim` (at most 256), no
    `mask` and no `sinks` becomes launches of kernels that this pass writes
    into `gpu.module @tessel_attention_kernels` (one kernel per distinct
    combination of heads, dims, causal, window and scale, named after it;
    the module becomes a `gpu.container_module`). Other ops are left for
    the generic path. Batch, q_len and kv_len may be static or dynamic;
    the kernels read them from their memref arguments.

      * `flash_attention_*` (FlashAttention-2): grid
        `(ceil(q_len / block-q), num_heads, batch)`, `block-q *
        threads-per-row` threads; K/V tiles of `block-kv` keys staged in
        workgroup memory between `gpu.barrier`s, online softmax per query
        row in registers, tiles hidden by `causal`/`window` skipped;
      * `flash_decoding_*` + `flash_decoding_combine_*` (split-KV) when
        q_len is at most `decode-max-query-len` (a run-time `scf.if` when
        q_len is dynamic): grid `(splits, num_heads, batch * q_len)`; each
        block reduces a contiguous range of keys to a partial state in a
        workspace, and the combine kernel (grid `(num_heads, batch *
        q_len)`) merges the splits. `splits = clamp(ceil(kv_len /
        decode-keys-per-split), 1, decode-max-splits)`, at run time.

    GQA/MQA by indexing (query head `h` reads K/V head `h / (num_heads /
    num_kv_heads)`), query row `i` at position `i + kv_len - q_len`, rows
    that see no key give zeros, as the op defines. Q, K and V are read in
    place through `bufferization.to_buffer` (any strides: a KV-cache view
    is not copied); the result is a new buffer returned through
    `bufferization.to_tensor restrict writable`, so one-shot-bufferize
    accepts the function. The pass also declares what `gpu.launch_func`
    does to memory (reads and writes its memrefs; upstream leaves it
    unknown, which the deallocation pipeline rejects); a tool that replays
    later stages on IR with the launches calls
    `tessel::registerGpuLaunchMemoryEffects` (passes/GpuKernelBuilder.h).

    Before:
    ```mlir
    %o = tessel.attention %q, %k, %v {num_heads = 8 : i64, num_kv_heads = 4 : i64, causal}
        : (tensor<1x?x8x64xf32>, tensor<1x?x4x64xf32>, tensor<1x?x4x64xf32>) -> tensor<1x?x8x64xf32>
    ```
    After (abridged):
    ```mlir
    module attributes {gpu.container_module} {
      func.func @f(...) {
        %qb = bufferization.to_buffer %q read_only : tensor<1x?x8x64xf32> to memref<1x?x8x64xf32, strided<[?, ?, ?, ?], offset: ?>>
        ...
        %ob = memref.alloc(%len) : memref<1x?x8x64xf32>
        scf.if %nonempty {
          scf.if %short {   // q_len <= decode-max-query-len
            %wsm = memref.alloc(%rows, %splits) : memref<?x8x?xf32>
            ...
            gpu.launch_func @tessel_attention_kernels::@flash_decoding_h8_kv4_d64_causal
                blocks in (%splits, %c8, %rows) threads in (%c128, %c1, %c1) args(%qc : ..., %wsm : ..., ...)
            gpu.launch_func @tessel_attention_kernels::@flash_decoding_combine_h8_dv64
                blocks in (%c8, %rows, %c1) threads in (%c64, %c1, %c1) args(...)
          } else {
            gpu.launch_func @tessel_attention_kernels::@flash_attention_h8_kv4_d64_causal
                blocks in (%qblocks, %c8, %c1) threads in (%c256, %c1, %c1) args(%qc : ..., %kc : ..., %vc : ..., %oc : ...)
          }
        }
        %o = bufferization.to_tensor %ob restrict writable : memref<1x?x8x64xf32> to tensor<1x?x8x64xf32>
      }
      gpu.module @tessel_attention_kernels {
        gpu.func @flash_attention_h8_kv4_d64_causal(%q: memref<?x?x8x64xf32, strided<[?, ?, ?, ?], offset: ?>>, ...)
            workgroup(%kt : memref<32x64xf32, #gpu.address_space<workgroup>>, %vt : memref<32x64xf32, #gpu.address_space<workgroup>>)
            kernel attributes {known_block_size = array<i32: 256, 1, 1>} { ... }
        ...
      }
    }
    ```
  }];
  let options = [
    Option<"blockQ", "block-q", "int64_t", /*default=*/"64",
           "Query rows per flash-attention block: every K/V tile loaded into shared memory "
           "serves 64 rows (64 FMAs per element loaded from global memory), and 64 x 4 "
           "threads = 8 warps hide shared-memory latency. A multiple of 32 unless "
           "threads-per-row is 1">,
    Option<"blockKv", "block-kv", "int64_t", /*default=*/"32",
           "Keys per shared-memory K/V tile (rounded down to a multiple of 8, and lowered "
           "until the K and V tiles fit the 48 KiB of static shared memory): 32 keys of "
           "head_dim 128 take 32 KiB, so two blocks share an A100/H100 SM">,
    Option<"threadsPerRow", "threads-per-row", "int64_t", /*default=*/"4",
           "Lanes sharing one query row (power of two <= 32; lowered to divide head_dim and "
           "v_head_dim). Each lane keeps head_dim/4 query and v_head_dim/4 accumulator "
           "values in registers (64 for head_dim 128) at the cost of 2 shuffles per key">,
    Option<"decodeMaxQueryLen", "decode-max-query-len", "int64_t", /*default=*/"4",
           "Largest q_len that uses the split-KV kernels (decode is 1; speculative decoding "
           "verifies a few tokens); 0 disables them">,
    Option<"decodeThreads", "decode-threads", "int64_t", /*default=*/"128",
           "Threads per split-KV block (a multiple of 32): 4 warps, 16 keys in flight">,
    Option<"decodeThreadsPerKey", "decode-threads-per-key", "int64_t", /*default=*/"8",
           "Lanes sharing one key's dot product in the split-KV kernel (power of two <= 32; "
           "raised until a lane holds at most 16 dims, lowered to divide head_dim and "
           "v_head_dim): 8 lanes read a 32-byte sector of a key row per load">,
    Option<"decodeKeysPerSplit", "decode-keys-per-split", "int64_t", /*default=*/"256",
           "Keys per split: splits = ceil(kv_len / 256) at run time, so a 4096-key context "
           "with 32 heads gives 512 blocks, enough for every SM, while a short one uses few">,
    Option<"decodeMaxSplits", "decode-max-splits", "int64_t", /*default=*/"64",
           "Most splits (bounds the workspace and the combine's loop)">,
  ];
  let dependentDialects = ["mlir::gpu::GPUDialect", "mlir::memref::MemRefDialect",
                           "mlir::bufferization::BufferizationDialect", "mlir::scf::SCFDialect",
                           "mlir::arith::ArithDialect", "mlir::math::MathDialect",
                           "mlir::tensor::TensorDialect"];
}

def TesselGpuKernelsToCpu : Pass<"tessel-gpu-kernels-to-cpu", "mlir::ModuleOp"> {
  let summary = "For testing: GPU kernels become CPU functions the GPU emulator runs";
  let description = [{
    Testing only (CI has no GPU): rewrites the GPU code of the CUDA pipeline
    so that tests/gpu/emulator runs it on the CPU, one coroutine per GPU
    thread, with exact `gpu.barrier` and `gpu.shuffle` semantics.

    Every `gpu.func` kernel of every `gpu.module` becomes a `func.func
    @<module>__<kernel>` (with `llvm.emit_c_interface`) in the top-level
    module. It takes the kernel's arguments, then one memref per workgroup
    attribution (the address space dropped; the emulator allocates a fresh
    buffer per block), then twelve `index` arguments: thread id x/y/z,
    block id x/y/z, block dims x/y/z and grid dims x/y/z, which replace
    `gpu.thread_id`, `gpu.block_id`, `gpu.block_dim` and `gpu.grid_dim`
    (`gpu.global_id` and `gpu.lane_id` are computed from them). Private
    attributions become `memref.alloca`s. `gpu.barrier` becomes `call
    @tessel_emu_barrier()`; `gpu.shuffle` (f32 or i32, any mode) becomes
    `call @tessel_emu_shuffle_f32(value, offset, width, mode)` (or `_i32`;
    mode 0 xor, 1 down, 2 up, 3 idx) and, when its `valid` result is used,
    `call @tessel_emu_shuffle_valid()`. `nvvm.mma.sync` in the forms
    tessel-linear-to-gpu-mma emits (m16n8k16, row.col, bf16 or f16
    multiplicands two to a 32-bit register, f32 accumulators) becomes `call
    @tessel_emu_mma_m16n8k16_bf16(a0, a1, a2, a3, b0, b1, c0, c1, c2, c3,
    %d)` (or `_f16`): the registers as `i32`, `%d` a 4 x f32 `llvm.alloca`
    in the kernel's entry block that the call fills with the lane's D (read
    back with `llvm.load`s; the emulator answers once the whole warp has
    called, and computes D = A * B + C with the PTX ISA's fragment layout).
    In kernels, `arith.truncf` / `arith.extf` between f32 and bf16 become
    integer arithmetic (round to nearest even, as the GPU rounds), which
    the CPU backend would otherwise leave to a runtime function. Any other
    GPU op in a kernel (`gpu.all_reduce`, `gpu.subgroup_reduce`, other
    NVVM ops and mma forms, dynamic shared memory, ...) is an error that
    names it: nothing is translated approximately. Kernels may keep
    `vector` ops (the GEMMs' staging): run `convert-vector-to-llvm` before
    the CPU's lowering to LLVM.

    Without `record-launches` the `gpu.module`s and the `gpu.launch_func`s
    are erased: a test calls the kernels itself through the emulator. With
    it, the host code keeps working on the CPU: each `gpu.launch_func`
    becomes `call @tessel_emu_launch_<module>__<kernel>(grid x/y/z, block
    x/y/z, args...)`, a generated function that passes the arguments
    (memref descriptors and scalars, packed as the ExecutionEngine's
    `_mlir_ciface_` wrappers take them), the workgroup buffer shapes and
    `@tessel_emu_thread_<module>__<kernel>` (which unpacks them and calls
    the kernel) to the C function `tessel_emu_launch`; host-side
    `gpu.alloc`, `gpu.dealloc` and `gpu.memcpy` (and a plain `gpu.wait`) become their
    memref equivalents. The whole host function then runs on the CPU
    unchanged, its kernels in the emulator; the kernel functions are then
    private (only the trampolines call them).

    Before:
    ```mlir
    module attributes {gpu.container_module} {
      func.func @f(%x: memref<64xf32>) {
        %c1 = arith.constant 1 : index
        %c64 = arith.constant 64 : index
        gpu.launch_func @kernels::@scale blocks in (%c1, %c1, %c1) threads in (%c64, %c1, %c1)
            args(%x : memref<64xf32>)
        return
      }
      gpu.module @kernels {
        gpu.func @scale(%x: memref<64xf32>)
            workgroup(%t : memref<64xf32, #gpu.address_space<workgroup>>) kernel {
          %i = gpu.thread_id x
          %v = memref.load %x[%i] : memref<64xf32>
          memref.store %v, %t[%i] : memref<64xf32, #gpu.address_space<workgroup>>
          gpu.barrier
          ...
          gpu.return
        }
      }
    }
    ```
    After (without `record-launches`):
    ```mlir
    module {
      func.func @f(%x: memref<64xf32>) {
        ...
        return
      }
      func.func @kernels__scale(%x: memref<64xf32>, %t: memref<64xf32>,
          %tx: index, %ty: index, %tz: index, %bx: index, %by: index, %bz: index,
          %ntx: index, %nty: index, %ntz: index, %nbx: index, %nby: index, %nbz: index)
          attributes {llvm.emit_c_interface} {
        %v = memref.load %x[%tx] : memref<64xf32>
        memref.store %v, %t[%tx] : memref<64xf32>
        call @tessel_emu_barrier() : () -> ()
        ...
        return
      }
      func.func private @tessel_emu_barrier()
    }
    ```
  }];
  let options = [
    Option<"recordLaunches", "record-launches", "bool", /*default=*/"false",
           "Keep the host code: each gpu.launch_func becomes a call that runs the kernel "
           "in the emulator (tessel_emu_launch), and host gpu.alloc/dealloc/memcpy "
           "become memref ops">,
  ];
  let dependentDialects = ["mlir::func::FuncDialect", "mlir::memref::MemRefDialect",
                           "mlir::arith::ArithDialect", "mlir::LLVM::LLVMDialect"];
}

def TesselLinearToGpuMma : Pass<"tessel-linear-to-gpu-mma", "mlir::ModuleOp"> {
  let summary = "Replace tessel.linear / gated tessel.ffn with bf16 weights by tensor-core GEMM "
                "launches, with RMSNorm, RoPE and the GLU activation fused";
  let description = [{
    The GPU pipeline's linear layers with 16-bit weights: each
    `tessel.linear` inside a `func.func` whose weight is a
    `tessel.dequantize` with format `bf16` (or `f16`, once the verifier
    accepts it), with `K` (in features) a multiple of 16 and `N` (out
    features) a multiple of 8, becomes a launch of a kernel that this pass
    writes into `gpu.module @tessel_mma_kernels` (one kernel per weight
    type, `N`, `K`, bias and residual, named after them; the module becomes a
    `gpu.container_module`). The weight stays in its stored form on the
    device: its bytes are viewed (`memref.view`) as the `[N, K]` bf16 matrix
    they are, and the tensor cores multiply it with `x` rounded to bf16,
    accumulating in f32 (`nvvm.mma.sync` m16n8k16: sm_80 and later). Other
    linear layers (f32 or q8_0/q4_0 weights, other shapes) are left alone.

      * `mma_gemm_*`: grid `(N / block-n, ceil(M / block-m))`, `32 *
        warps-m * warps-n` threads; tiles of `x` and `W` of `block-k`
        columns staged in workgroup memory between `gpu.barrier`s,
        accumulators in registers, then `+ bias[n]`, `+ residual[m, n]` and
        the store of the rows `m < M` (`M` = the product of `x`'s leading
        dims, static or dynamic).
      * `mma_gemv_*` (decode: `M <= decode-max-rows`, an `scf.if` at run time
        when `M` is dynamic): the same kernel with 16-row tiles of
        `decode-block-n` columns and `decode-warps-k` warps splitting the
        reduction: decode reads every weight once, and narrow tiles give
        enough blocks to stream `W` at full bandwidth.

    Fusions (the kernels' names say which; see GpuMmaBuilder.cpp):
      * a linear layer whose input is a `tessel.rms_norm` (bf16 weight)
        applies the norm in its prologue (`_rms`, `_rmsu` for
        `unit_offset`): `x * gamma` is staged, the squares of `x` summed on
        the way, and the sums scaled by `1 / rms` per row. The norm stays
        only while another op reads its result (q, k and v share one).
      * a linear layer whose only use is split into heads and rotated by a
        `tessel.rope` (i64 positions, no `freq_factors`; interleaved, or
        half-split with `rotary_dim` a multiple of 16) rotates in its
        epilogue (`_rope_i` / `_rope_h_dD_rR`; a half-split block is one
        head wide).
      * a gated `tessel.ffn` (`swiglu`, `geglu`, no biases) whose three
        weights are bf16 becomes two launches: `_glu_silu` / `_glu_gelu` /
        `_glu_gelutanh` (gate and up GEMMs over one x tile, the input's norm
        folded in, `act(g) * u` in the epilogue, h written once), then the
        down projection with the residual.
    FFNs with biases, plain activations or other weights are left to
    tessel-lower-to-linalg, as are norms and ropes that cannot be folded.

    Tiles shrink to divisors of `N` and `K` (only rows are masked). `x` and
    `residual` are read in place (`bufferization.to_buffer`, flattened to
    `[M, .]`); the result is a new buffer returned through
    `bufferization.to_tensor restrict writable`, so one-shot-bufferize
    accepts the function; the pass registers what `gpu.launch_func` does to
    memory, as tessel-attention-to-gpu does. The weight's bytes must be
    16-byte aligned (one device allocation per weight: 256).

    Before:
    ```mlir
    %w = tessel.dequantize %bytes {format = "bf16"} : tensor<8192xi8> -> tensor<64x64xf32>
    %y = tessel.linear %x, %w bias(%b) : (tensor<1x?x64xf32>, tensor<64x64xf32>, tensor<64xf32>) -> tensor<1x?x64xf32>
    ```
    After (abridged):
    ```mlir
    module attributes {gpu.container_module} {
      func.func @f(...) {
        %xc = tensor.collapse_shape %x [[0, 1], [2]] : tensor<1x?x64xf32> into tensor<?x64xf32>
        %xb = bufferization.to_buffer %xc read_only : tensor<?x64xf32> to memref<?x64xf32, strided<[?, ?], offset: ?>>
        %bytesb = bufferization.to_buffer %bytes read_only : tensor<8192xi8> to memref<8192xi8>
        %wv = memref.view %bytesb[%c0][] : memref<8192xi8> to memref<64x64xbf16>
        ...
        %yb = memref.alloc(%len) : memref<1x?x64xf32>
        %yc = memref.collapse_shape %yb [[0, 1], [2]] : memref<1x?x64xf32> into memref<?x64xf32>
        scf.if %nonempty {
          scf.if %short {   // M <= decode-max-rows
            gpu.launch_func @tessel_mma_kernels::@mma_gemv_bf16_n64_k64_bias
                blocks in (%c4, %mblocks16, %c1) threads in (%c128, %c1, %c1) args(%xb : ..., %wv : ..., %bb : ..., %yc : ...)
          } else {
            gpu.launch_func @tessel_mma_kernels::@mma_gemm_bf16_n64_k64_bias
                blocks in (%c1, %mblocks64, %c1) threads in (%c128, %c1, %c1) args(...)
          }
        }
        %y = bufferization.to_tensor %yb restrict writable : memref<1x?x64xf32> to tensor<1x?x64xf32>
      }
      gpu.module @tessel_mma_kernels {
        gpu.func @mma_gemm_bf16_n64_k64_bias(%x: memref<?x64xf32, strided<[?, ?], offset: ?>>, %w: memref<64x64xbf16>,
                                             %b: memref<64xf32, strided<[?], offset: ?>>, %y: memref<?x64xf32>)
            workgroup(%as : memref<64x20xi32, #gpu.address_space<workgroup>>, %bs : memref<64x20xi32, #gpu.address_space<workgroup>>)
            kernel attributes {known_block_size = array<i32: 128, 1, 1>} {
          ... nvvm.mma.sync A[...] B[...] C[...] {shape = #nvvm.shape<m = 16, n = 8, k = 16>, ...} ...
        }
      }
    }
    ```
  }];
  let options = [
    Option<"blockM", "block-m", "int64_t", /*default=*/"64",
           "Rows of x per block (a multiple of 16 * warps-m): every element of W staged in "
           "shared memory serves 64 rows">,
    Option<"blockN", "block-n", "int64_t", /*default=*/"64",
           "Output columns per block (a multiple of 8 * warps-n; lowered to divide N): every "
           "staged element of x serves 64 columns">,
    Option<"blockK", "block-k", "int64_t", /*default=*/"32",
           "Columns of the reduction staged per step (a multiple of 16; lowered to divide K): "
           "x and W tiles of 64 x 32 take 10 KiB with padding, so several blocks share an SM">,
    Option<"warpsM", "warps-m", "int64_t", /*default=*/"2",
           "Warps across a block's rows: 2 x 2 warps of 32 x 32 (8 mmas per k16 step, 32 "
           "accumulator registers per lane)">,
    Option<"warpsN", "warps-n", "int64_t", /*default=*/"2",
           "Warps across a block's columns">,
    Option<"decodeMaxRows", "decode-max-rows", "int64_t", /*default=*/"16",
           "Largest M that uses the decode layout (one m16 tile of rows); 0 disables it">,
    Option<"decodeBlockN", "decode-block-n", "int64_t", /*default=*/"16",
           "Output columns per decode block (a multiple of 8; lowered to divide N): N / 16 "
           "blocks (128 at N = 2048) keep every SM reading W">,
    Option<"decodeBlockK", "decode-block-k", "int64_t", /*default=*/"128",
           "Columns of the reduction per decode step (a multiple of 16 * decode-warps-k; "
           "lowered to divide K): 4 KiB of W per step and block at decode-block-n = 16">,
    Option<"decodeWarpsK", "decode-warps-k", "int64_t", /*default=*/"4",
           "Warps splitting each decode step's k16 slices; their partial sums meet in shared "
           "memory at the end">,
    ListOption<"extraKernels", "extra-kernels", "std::string",
               "Also build these kernels, whether or not an op asks for them, in both layouts "
               "(E_nN_kK[_rms|_rmsu][_glu_silu|_glu_gelu|_glu_gelutanh][_rope_i|_rope_h"
               "_dD_rR][_bias][_residual], E = bf16 or f16): for tests and ahead-of-time "
               "checks of paths no model reaches yet (f16)">,
  ];
  let dependentDialects = ["mlir::gpu::GPUDialect", "mlir::memref::MemRefDialect",
                           "mlir::bufferization::BufferizationDialect", "mlir::scf::SCFDialect",
                           "mlir::arith::ArithDialect", "mlir::tensor::TensorDialect",
                           "mlir::vector::VectorDialect", "mlir::NVVM::NVVMDialect",
                           "mlir::LLVM::LLVMDialect", "mlir::math::MathDialect"];
}

#endif // TESSEL_PASSES_TD
