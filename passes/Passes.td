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

def TesselWeightsToArguments : Pass<"tessel-weights-to-arguments", "mlir::func::FuncOp"> {
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
  }];
}

def TesselLowerToKernels : Pass<"tessel-lower-to-kernels", "mlir::ModuleOp"> {
  let summary = "Replace linear layers and gated FFNs by calls to the Highway micro-kernels";
  let description = [{
    The contractions that dominate a decoder's run time go to the packed
    GEMM / GEMV kernels of `runtime/kernels` instead of compiled loops:

      * `tessel.linear` -> `tessel_linear_f32` / `tessel_linear_bias_f32`
        (`out = x w^T (+ bias)`; leading dims of `x` are collapsed into rows);
      * a gated `tessel.ffn` without biases (SwiGLU, GeGLU) ->
        `tessel_glu_f32` (`act(x wg^T) * (x wu^T)`, the activation fused into
        the up-projection's epilogue) then `tessel_linear_f32` for the
        down-projection.

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

#endif // TESSEL_PASSES_TD
