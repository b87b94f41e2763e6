// RUN: tessel-opt %s --tessel-lower-to-linalg --split-input-file | FileCheck %s

// linear: the bias is broadcast into the accumulator, then a contraction
// over `in` (loops: rows..., out, in).
// CHECK-LABEL: func.func @linear_bias
// CHECK: %[[B:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel"]} ins(%{{.*}} : tensor<32xf32>) outs(%{{.*}} : tensor<1x?x32xf32>)
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%{{.*}}, %{{.*}} : tensor<1x?x64xf32>, tensor<32x64xf32>) outs(%[[B]] : tensor<1x?x32xf32>)
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK-NOT: tessel.linear
func.func @linear_bias(%x: tensor<1x?x64xf32>, %w: tensor<32x64xf32>, %b: tensor<32xf32>) -> tensor<1x?x32xf32> {
  %y = tessel.linear %x, %w bias(%b) : (tensor<1x?x64xf32>, tensor<32x64xf32>, tensor<32xf32>) -> tensor<1x?x32xf32>
  return %y : tensor<1x?x32xf32>
}

// -----

// rms_norm: sum of squares per row, then x / sqrt(mean + eps) * (w + offset).
// CHECK-LABEL: func.func @rms_norm
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]{{.*}} outs(%{{.*}} : tensor<1x?xf32>)
// CHECK: math.sqrt
// CHECK: arith.divf
func.func @rms_norm(%x: tensor<1x?x64xf32>, %w: tensor<64xf32>) -> tensor<1x?x64xf32> {
  %y = tessel.rms_norm %x, %w {epsilon = 1.0e-05 : f32, unit_offset} : (tensor<1x?x64xf32>, tensor<64xf32>) -> tensor<1x?x64xf32>
  return %y : tensor<1x?x64xf32>
}

// -----

// rope: the pair partner is read with tensor.extract; angles in f64.
// CHECK-LABEL: func.func @rope
// CHECK: linalg.generic
// CHECK: tensor.extract %{{.*}}[%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}] : tensor<1x?x4x8xf32>
// CHECK: arith.sitofp %{{.*}} : i64 to f64
// CHECK: math.cos %{{.*}} : f64
// CHECK: math.sin %{{.*}} : f64
// CHECK: arith.truncf %{{.*}} : f64 to f32
func.func @rope(%x: tensor<1x?x4x8xf32>, %pos: tensor<1x?xi64>) -> tensor<1x?x4x8xf32> {
  %y = tessel.rope %x, %pos {layout = #tessel.rope_layout<interleaved>} : (tensor<1x?x4x8xf32>, tensor<1x?xi64>) -> tensor<1x?x4x8xf32>
  return %y : tensor<1x?x4x8xf32>
}

// -----

// ffn swiglu: up and gate contractions, silu(gate) * up, down contraction.
// CHECK-LABEL: func.func @swiglu
// CHECK-COUNT-2: iterator_types = ["parallel", "parallel", "parallel", "reduction"]
// CHECK: math.exp
// CHECK: arith.divf
// CHECK: arith.mulf
// CHECK: iterator_types = ["parallel", "parallel", "parallel", "reduction"]
func.func @swiglu(%x: tensor<1x?x16xf32>, %up: tensor<32x16xf32>, %gate: tensor<32x16xf32>, %down: tensor<16x32xf32>) -> tensor<1x?x16xf32> {
  %y = tessel.ffn %x up(%up) gate(%gate) down(%down) {activation = #tessel.activation<swiglu>} : (tensor<1x?x16xf32>, tensor<32x16xf32>, tensor<32x16xf32>, tensor<16x32xf32>) -> tensor<1x?x16xf32>
  return %y : tensor<1x?x16xf32>
}

// -----

// embedding: a gather, one tensor.extract per element.
// CHECK-LABEL: func.func @embedding
// CHECK: linalg.generic {{.*}} ins(%{{.*}} : tensor<1x?xi64>) outs(%{{.*}} : tensor<1x?x16xf32>)
// CHECK: arith.index_cast
// CHECK: tensor.extract %{{.*}}[%{{.*}}, %{{.*}}] : tensor<100x16xf32>
func.func @embedding(%t: tensor<100x16xf32>, %ids: tensor<1x?xi64>) -> tensor<1x?x16xf32> {
  %y = tessel.embedding %t[%ids] : tensor<100x16xf32>, tensor<1x?xi64> -> tensor<1x?x16xf32>
  return %y : tensor<1x?x16xf32>
}

// -----

// softmax along axis 1: max, sum of exp, divide; the axis is the inner loop.
// CHECK-LABEL: func.func @softmax
// CHECK: arith.maximumf
// CHECK: math.exp
// CHECK: arith.divf
func.func @softmax(%x: tensor<2x5x3xf32>) -> tensor<2x5x3xf32> {
  %y = tessel.softmax %x {axis = 1 : i64} : tensor<2x5x3xf32>
  return %y : tensor<2x5x3xf32>
}

// -----

// axis = -1 is the last axis: the reduction reads x through (d0, d1, d2)
// and keeps the [2, 5] row statistics.
// CHECK-DAG: #[[X:.*]] = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// CHECK-DAG: #[[ROW:.*]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-LABEL: func.func @softmax_last_axis
// CHECK: linalg.generic {indexing_maps = [#[[X]], #[[ROW]]], iterator_types = ["parallel", "parallel", "reduction"]} {{.*}} outs(%{{.*}} : tensor<2x5xf32>)
func.func @softmax_last_axis(%x: tensor<2x5x3xf32>) -> tensor<2x5x3xf32> {
  %y = tessel.softmax %x {axis = -1 : i64} : tensor<2x5x3xf32>
  return %y : tensor<2x5x3xf32>
}


// -----

// KV cache: the update is an insert_slice at the position (in place once
// the cache is a writable argument), the view an extract_slice of `length` rows.
// CHECK-LABEL: func.func @kv_cache
// CHECK: %[[P:.*]] = arith.index_cast %{{.*}} : i64 to index
// CHECK: %[[C:.*]] = tensor.insert_slice %{{.*}} into %{{.*}}[0, %[[P]], 0, 0] [1, %{{.*}}, 4, 8] [1, 1, 1, 1] : tensor<1x?x4x8xf32> into tensor<1x512x4x8xf32>
// CHECK: %[[L:.*]] = arith.index_cast %{{.*}} : i64 to index
// CHECK: tensor.extract_slice %[[C]][0, 0, 0, 0] [1, %[[L]], 4, 8] [1, 1, 1, 1] : tensor<1x512x4x8xf32> to tensor<1x?x4x8xf32>
func.func @kv_cache(%cache: tensor<1x512x4x8xf32>, %k: tensor<1x?x4x8xf32>, %pos: i64, %len: i64) -> (tensor<1x?x4x8xf32>, tensor<1x512x4x8xf32>) {
  %c = tessel.kv_cache_update %cache, %k, %pos : (tensor<1x512x4x8xf32>, tensor<1x?x4x8xf32>, i64) -> tensor<1x512x4x8xf32>
  %v = tessel.kv_cache_view %c, %len : (tensor<1x512x4x8xf32>, i64) -> tensor<1x?x4x8xf32>
  return %v, %c : tensor<1x?x4x8xf32>, tensor<1x512x4x8xf32>
}

// -----

// A fused residual starts the accumulator (plus the bias, if any).
// CHECK-LABEL: func.func @linear_residual
// CHECK: %[[INIT:.*]] = linalg.generic {{.*}} ins(%arg3, %arg2 : tensor<2x8xf32>, tensor<8xf32>)
// CHECK: arith.addf
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]} ins(%arg0, %arg1 : tensor<2x4xf32>, tensor<8x4xf32>) outs(%[[INIT]] : tensor<2x8xf32>)
func.func @linear_residual(%x: tensor<2x4xf32>, %w: tensor<8x4xf32>, %b: tensor<8xf32>, %h: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %y = tessel.linear %x, %w bias(%b) residual(%h) : (tensor<2x4xf32>, tensor<8x4xf32>, tensor<8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  return %y : tensor<2x8xf32>
}

// -----

// attention_probs: the query heads grouped over their KV head (expand_shape,
// no copy of K), scores contracted over head_dim, hidden keys (causal,
// window of 3) set to -inf, then max, sum and a division that keeps rows
// without a visible key at zero; the heads are merged back.
// CHECK-LABEL: func.func @attention_probs
// CHECK: tensor.expand_shape %{{.*}} {{\[}}[0], [1], [2, 3], [4]] {{.*}} into tensor<1x?x4x2x16xf32>
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%{{.*}}, %{{.*}} : tensor<1x?x4x2x16xf32>, tensor<1x?x4x16xf32>) outs(%{{.*}} : tensor<1x4x2x?x?xf32>)
// CHECK: linalg.index 3
// CHECK: linalg.index 4
// CHECK: arith.cmpi sle
// CHECK: arith.cmpi slt
// CHECK: arith.select
// CHECK: arith.maximumf
// CHECK: math.exp
// CHECK: arith.cmpf oeq
// CHECK: arith.divf
// CHECK: tensor.collapse_shape %{{.*}} {{\[}}[0], [1, 2], [3], [4]] : tensor<1x4x2x?x?xf32> into tensor<1x8x?x?xf32>
// CHECK-NOT: tessel.attention_probs
func.func @attention_probs(%q: tensor<1x?x8x16xf32>, %k: tensor<1x?x4x16xf32>) -> tensor<1x8x?x?xf32> {
  %p = tessel.attention_probs %q, %k {num_heads = 8 : i64, num_kv_heads = 4 : i64, causal, window = 3 : i64} : (tensor<1x?x8x16xf32>, tensor<1x?x4x16xf32>) -> tensor<1x8x?x?xf32>
  return %p : tensor<1x8x?x?xf32>
}

// -----

// attention_probs with sinks and a padding mask: the sinks ([heads] seen as
// [kv_heads, group]) start the max and the denominator; the mask is read
// per key.
// CHECK-LABEL: func.func @attention_probs_sinks
// CHECK: tensor.expand_shape %{{.*}} {{\[}}[0, 1]] {{.*}} : tensor<8xf32> into tensor<4x2xf32>
// CHECK: ins(%{{.*}} : tensor<4x2xf32>) outs(%{{.*}} : tensor<1x4x2x4xf32>)
// CHECK: arith.maximumf
// CHECK: ins(%{{.*}}, %{{.*}} : tensor<4x2xf32>, tensor<1x4x2x4xf32>) outs(%{{.*}} : tensor<1x4x2x4xf32>)
// CHECK: math.exp
func.func @attention_probs_sinks(%q: tensor<1x4x8x16xf32>, %k: tensor<1x6x4x16xf32>, %m: tensor<1x6xi1>, %s: tensor<8xf32>) -> tensor<1x8x4x6xf32> {
  %p = tessel.attention_probs %q, %k mask(%m) sinks(%s) {num_heads = 8 : i64, num_kv_heads = 4 : i64} : (tensor<1x4x8x16xf32>, tensor<1x6x4x16xf32>, tensor<1x6xi1>, tensor<8xf32>) -> tensor<1x8x4x6xf32>
  return %p : tensor<1x8x4x6xf32>
}

// -----

// A bf16 weight from its stored bytes (the CUDA pipeline's fallback; on the
// CPU kernels read the bytes): bytes 2e and 2e + 1 become the high half of
// value e's f32.
// CHECK-LABEL: func.func @dequantize_bf16
// CHECK-SAME: (%[[BYTES:.*]]: tensor<40xi8>)
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel"]} outs(%{{.*}} : tensor<4x5xf32>)
// CHECK-DAG: %[[ROW:.*]] = linalg.index 0
// CHECK-DAG: %[[COL:.*]] = linalg.index 1
// CHECK: %[[ROWSTART:.*]] = arith.muli %[[ROW]], %{{.*}} : index
// CHECK: %[[E:.*]] = arith.addi %[[ROWSTART]], %[[COL]]
// CHECK: %[[LO:.*]] = arith.muli %[[E]], %{{.*}} : index
// CHECK: %[[HI:.*]] = arith.addi %[[LO]], %{{.*}} : index
// CHECK-DAG: %[[HIBYTE:.*]] = tensor.extract %[[BYTES]][%[[HI]]]
// CHECK-DAG: %[[LOBYTE:.*]] = tensor.extract %[[BYTES]][%[[LO]]]
// CHECK: %[[BITS:.*]] = arith.ori
// CHECK: arith.bitcast %[[BITS]] : i32 to f32
func.func @dequantize_bf16(%bytes: tensor<40xi8>) -> tensor<4x5xf32> {
  %w = tessel.dequantize %bytes {format = "bf16"} : tensor<40xi8> -> tensor<4x5xf32>
  return %w : tensor<4x5xf32>
}
