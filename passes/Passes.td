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

#endif // TESSEL_PASSES_TD
