// RUN: tessel-opt %s --tessel-lower-einsum --split-input-file | FileCheck %s
// RUN: tessel-opt %s --tessel-lower-einsum="use-batch-matmul=false" --split-input-file | FileCheck %s --check-prefix=GENERIC

// Attention scores: batch {b, h}, M {q}, N {k}, K {d}.
// CHECK-LABEL: func.func @scores
// CHECK: linalg.transpose ins(%{{.*}} : tensor<1x4x8x16xf32>) outs(%{{.*}} : tensor<1x8x4x16xf32>) permutation = [0, 2, 1, 3]
// CHECK: linalg.transpose ins(%{{.*}} : tensor<1x6x8x16xf32>) outs(%{{.*}} : tensor<1x8x16x6xf32>) permutation = [0, 2, 3, 1]
// CHECK: tensor.collapse_shape %{{.*}} {{\[}}[0, 1], [2], [3]] : tensor<1x8x4x16xf32> into tensor<8x4x16xf32>
// CHECK: linalg.batch_matmul ins(%{{.*}}, %{{.*}} : tensor<8x4x16xf32>, tensor<8x16x6xf32>) outs(%{{.*}} : tensor<8x4x6xf32>)
// CHECK: tensor.expand_shape %{{.*}} {{\[}}[0, 1], [2], [3]] output_shape [1, 8, 4, 6]
// CHECK-NOT: tessel.einsum
// GENERIC-LABEL: func.func @scores
// GENERIC: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]
// GENERIC-NOT: linalg.batch_matmul
func.func @scores(%q: tensor<1x4x8x16xf32>, %k: tensor<1x6x8x16xf32>) -> tensor<1x8x4x6xf32> {
  %s = tessel.einsum "bqhd,bkhd->bhqk" %q, %k : (tensor<1x4x8x16xf32>, tensor<1x6x8x16xf32>) -> tensor<1x8x4x6xf32>
  return %s : tensor<1x8x4x6xf32>
}

// -----

// Weighted values: the result comes back through a final transpose.
// CHECK-LABEL: func.func @values
// CHECK: linalg.batch_matmul ins(%{{.*}}, %{{.*}} : tensor<8x4x6xf32>, tensor<8x6x16xf32>)
// CHECK: linalg.transpose ins(%{{.*}} : tensor<1x8x4x16xf32>) outs(%{{.*}} : tensor<1x4x8x16xf32>) permutation = [0, 2, 1, 3]
func.func @values(%p: tensor<1x8x4x6xf32>, %v: tensor<1x6x8x16xf32>) -> tensor<1x4x8x16xf32> {
  %o = tessel.einsum "bhqk,bkhd->bqhd" %p, %v : (tensor<1x8x4x6xf32>, tensor<1x6x8x16xf32>) -> tensor<1x4x8x16xf32>
  return %o : tensor<1x4x8x16xf32>
}

// -----

// A plain matmul needs no transpose: unit batch dims are added by reshapes.
// CHECK-LABEL: func.func @matmul
// CHECK-NOT: linalg.transpose
// CHECK: tensor.expand_shape %{{.*}} {{\[}}[0, 1], [2]] output_shape [1, 3, 5]
// CHECK: linalg.batch_matmul
// CHECK: tensor.collapse_shape %{{.*}} {{\[}}[0, 1], [2]] : tensor<1x3x7xf32> into tensor<3x7xf32>
func.func @matmul(%a: tensor<3x5xf32>, %b: tensor<5x7xf32>) -> tensor<3x7xf32> {
  %s = tessel.einsum "ij,jk->ik" %a, %b : (tensor<3x5xf32>, tensor<5x7xf32>) -> tensor<3x7xf32>
  return %s : tensor<3x7xf32>
}

// -----

// A dot product to a scalar.
// CHECK-LABEL: func.func @dot
// CHECK: linalg.batch_matmul ins(%{{.*}}, %{{.*}} : tensor<1x1x5xf32>, tensor<1x5x1xf32>)
// CHECK: tensor.collapse_shape %{{.*}} [] : tensor<1x1x1xf32> into tensor<f32>
func.func @dot(%a: tensor<5xf32>, %b: tensor<5xf32>) -> tensor<f32> {
  %s = tessel.einsum "i,i->" %a, %b : (tensor<5xf32>, tensor<5xf32>) -> tensor<f32>
  return %s : tensor<f32>
}

// -----

// One operand, dynamic shape: a linalg.generic with tensor.dim for the init.
// CHECK-LABEL: func.func @transpose_dynamic
// CHECK: %[[D:.*]] = tensor.dim %{{.*}}, %c0 : tensor<?x5xf32>
// CHECK: tensor.empty(%[[D]]) : tensor<5x?xf32>
// CHECK: linalg.generic {indexing_maps = [#{{.*}}, #{{.*}}], iterator_types = ["parallel", "parallel"]}
func.func @transpose_dynamic(%a: tensor<?x5xf32>) -> tensor<5x?xf32> {
  %s = tessel.einsum "ij->ji" %a : (tensor<?x5xf32>) -> tensor<5x?xf32>
  return %s : tensor<5x?xf32>
}

// -----

// Three operands: always the generic form, a product of all three.
// CHECK-LABEL: func.func @chain
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction", "reduction"]
// CHECK: arith.mulf
// CHECK: arith.mulf
// CHECK: arith.addf
func.func @chain(%a: tensor<2x3xf32>, %b: tensor<3x4xf32>, %c: tensor<4x5xf32>) -> tensor<2x5xf32> {
  %s = tessel.einsum "ij,jk,kl->il" %a, %b, %c : (tensor<2x3xf32>, tensor<3x4xf32>, tensor<4x5xf32>) -> tensor<2x5xf32>
  return %s : tensor<2x5xf32>
}

// -----

// A label summed inside one operand ("ij,j->" sums i away in A alone) is
// not a plain contraction: generic.
// CHECK-LABEL: func.func @sum_inside
// CHECK-NOT: linalg.batch_matmul
// CHECK: linalg.generic
func.func @sum_inside(%a: tensor<2x3xf32>, %b: tensor<3xf32>) -> tensor<f32> {
  %s = tessel.einsum "ij,j->" %a, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<f32>
  return %s : tensor<f32>
}
