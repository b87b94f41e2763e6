// RUN: tessel-opt %s --tessel-tile-attention="kv-tile-size=32" --canonicalize --split-input-file | FileCheck %s
// RUN: not tessel-opt %s --tessel-tile-attention="kv-tile-size=0" 2>&1 | FileCheck %s --check-prefix=BAD

// GQA (8 query heads over 2 KV heads), causal, dynamic lengths.
// The query is viewed as [b, i, kv, g, d] without a copy, K/V are read per
// tile, and the state (m, l, acc) is carried by the loop.
// CHECK-LABEL: func.func @gqa_causal
// CHECK: tensor.expand_shape %{{.*}} {{\[}}[0], [1], [2, 3], [4]] output_shape [1, %{{.*}}, 2, 4, 16] : tensor<1x?x8x16xf32> into tensor<1x?x2x4x16xf32>
// CHECK: %[[R:.*]]:3 = scf.for %[[T:.*]] = %c0 to %{{.*}} step %c32 iter_args(%[[M:.*]] = %{{.*}}, %[[L:.*]] = %{{.*}}, %[[ACC:.*]] = %{{.*}}) -> (tensor<1x2x4x?xf32>, tensor<1x2x4x?xf32>, tensor<1x?x2x4x16xf32>)
// CHECK:   %[[N:.*]] = arith.minsi
// CHECK:   tensor.extract_slice %{{.*}}[0, %[[T]], 0, 0] [1, %[[N]], 2, 16] [1, 1, 1, 1] : tensor<1x?x2x16xf32> to tensor<1x?x2x16xf32>
// Scores for one tile only: [b, kv, g, i, j] with j < tile.
// CHECK:   linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "reduction"]{{.*}} outs(%{{.*}} : tensor<1x2x4x?x?xf32>)
// Causal: key t + j is visible to query i when t + j <= i + (kv_len - q_len).
// CHECK:   arith.cmpi sle
// CHECK:   arith.select %{{.*}}, %{{.*}}, %cst
// Online softmax: running max, exp, rescale by exp(m_old - m_new).
// CHECK:   arith.maximumf
// CHECK:   math.exp
// CHECK:   scf.yield
// The result: acc / l, back to [b, i, h, e].
// CHECK: arith.divf
// CHECK: tensor.collapse_shape %{{.*}} {{\[}}[0], [1], [2, 3], [4]] : tensor<1x?x2x4x16xf32> into tensor<1x?x8x16xf32>
// CHECK-NOT: tessel.attention
func.func @gqa_causal(%q: tensor<1x?x8x16xf32>, %k: tensor<1x?x2x16xf32>, %v: tensor<1x?x2x16xf32>) -> tensor<1x?x8x16xf32> {
  %o = tessel.attention %q, %k, %v {num_heads = 8 : i64, num_kv_heads = 2 : i64, causal} : (tensor<1x?x8x16xf32>, tensor<1x?x2x16xf32>, tensor<1x?x2x16xf32>) -> tensor<1x?x8x16xf32>
  return %o : tensor<1x?x8x16xf32>
}

// -----

// A sliding window adds pos - j < W; a padding mask is sliced per tile.
// CHECK-LABEL: func.func @window_mask
// CHECK: scf.for
// CHECK:   tensor.extract_slice %{{.*}}[0, %{{.*}}] [2, %{{.*}}] [1, 1] : tensor<2x?xi1> to tensor<2x?xi1>
// CHECK:   arith.cmpi slt
// CHECK:   arith.andi
func.func @window_mask(%q: tensor<2x?x4x8xf32>, %k: tensor<2x?x4x8xf32>, %v: tensor<2x?x4x8xf32>, %m: tensor<2x?xi1>) -> tensor<2x?x4x8xf32> {
  %o = tessel.attention %q, %k, %v mask(%m) {num_heads = 4 : i64, num_kv_heads = 4 : i64, causal, window = 16 : i64} : (tensor<2x?x4x8xf32>, tensor<2x?x4x8xf32>, tensor<2x?x4x8xf32>, tensor<2x?xi1>) -> tensor<2x?x4x8xf32>
  return %o : tensor<2x?x4x8xf32>
}

// -----

// Sinks start the softmax state at m = sink, l = 1.
// CHECK-LABEL: func.func @sinks
// CHECK: tensor.expand_shape %{{.*}} {{\[}}[0, 1]] output_shape [1, 4] : tensor<4xf32> into tensor<1x4xf32>
// CHECK: linalg.fill ins(%cst{{.*}} : f32) outs(%{{.*}} : tensor<1x1x4x7xf32>)
func.func @sinks(%q: tensor<1x7x4x8xf32>, %k: tensor<1x7x1x8xf32>, %v: tensor<1x7x1x8xf32>, %s: tensor<4xf32>) -> tensor<1x7x4x8xf32> {
  %o = tessel.attention %q, %k, %v sinks(%s) {num_heads = 4 : i64, num_kv_heads = 1 : i64, causal} : (tensor<1x7x4x8xf32>, tensor<1x7x1x8xf32>, tensor<1x7x1x8xf32>, tensor<4xf32>) -> tensor<1x7x4x8xf32>
  return %o : tensor<1x7x4x8xf32>
}

// BAD: kv-tile-size must be positive, got 0
