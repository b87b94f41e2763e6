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

// -----

// Mixtral-style MoE (SwiGLU, top-2 of 4, softmax, normalised): tokens
// flattened, softmax scores, then one (max, argmax) reduction over the
// experts per round, the second skipping the first's pick; only the picked
// experts' weights are read, at the expert index, and the expert outputs
// are summed with their weights.
// CHECK-LABEL: func.func @moe_mixtral
// CHECK-SAME: (%[[X:.*]]: tensor<1x?x16xf32>, %{{.*}}: tensor<4x16xf32>, %[[UP:.*]]: tensor<4x32x16xf32>, %[[GATE:.*]]: tensor<4x32x16xf32>, %[[DOWN:.*]]: tensor<4x16x32xf32>)
// CHECK: %[[FLAT:.*]] = tensor.collapse_shape %[[X]] {{\[\[}}0, 1], [2]]
// CHECK: arith.maximumf
// CHECK: math.exp
// CHECK: %[[R0:.*]]:2 = linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]} ins(%[[SCORES:.*]] : tensor<?x4xf32>) outs(%{{.*}}, %{{.*}} : tensor<?xf32>, tensor<?xi64>)
// CHECK: %[[E0:.*]] = linalg.index 1
// CHECK: arith.cmpf ogt
// CHECK: linalg.yield %{{.*}}, %{{.*}} : f32, i64
// CHECK: %[[R1:.*]]:2 = linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]} ins(%[[SCORES]], %[[R0]]#1 : tensor<?x4xf32>, tensor<?xi64>)
// CHECK: %[[E1:.*]] = arith.index_cast
// CHECK: arith.cmpi ne, %[[E1]], %{{.*}} : i64
// CHECK: %[[IDS:.*]] = linalg.generic {{.*}} ins(%[[R0]]#1, %[[R1]]#1 : tensor<?xi64>, tensor<?xi64>) outs(%{{.*}} : tensor<?x2xi64>)
// CHECK: %[[PICKED:.*]] = linalg.generic {{.*}} ins(%[[R0]]#0, %[[R1]]#0 : tensor<?xf32>, tensor<?xf32>) outs(%{{.*}} : tensor<?x2xf32>)
// CHECK: %[[SUM:.*]] = linalg.generic {{.*}} ins(%[[PICKED]] : tensor<?x2xf32>) outs(%{{.*}} : tensor<?xf32>)
// CHECK: %[[W:.*]] = linalg.generic {{.*}} ins(%[[PICKED]], %[[SUM]] : tensor<?x2xf32>, tensor<?xf32>)
// CHECK: arith.divf
// CHECK: %[[U:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%[[FLAT]], %[[IDS]] : tensor<?x16xf32>, tensor<?x2xi64>) outs(%{{.*}} : tensor<?x2x32xf32>)
// CHECK: tensor.extract %[[UP]][%{{.*}}, %{{.*}}, %{{.*}}] : tensor<4x32x16xf32>
// CHECK: %[[G:.*]] = linalg.generic {{.*}} ins(%[[FLAT]], %[[IDS]] : tensor<?x16xf32>, tensor<?x2xi64>)
// CHECK: tensor.extract %[[GATE]][%{{.*}}, %{{.*}}, %{{.*}}] : tensor<4x32x16xf32>
// CHECK: %[[A:.*]] = linalg.generic {{.*}} ins(%[[G]], %[[U]] : tensor<?x2x32xf32>, tensor<?x2x32xf32>)
// CHECK: math.exp
// CHECK: %[[D:.*]] = linalg.generic {{.*}} ins(%[[A]], %[[IDS]] : tensor<?x2x32xf32>, tensor<?x2xi64>) outs(%{{.*}} : tensor<?x2x16xf32>)
// CHECK: tensor.extract %[[DOWN]][%{{.*}}, %{{.*}}, %{{.*}}] : tensor<4x16x32xf32>
// CHECK: %[[Y:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[W]], %[[D]] : tensor<?x2xf32>, tensor<?x2x16xf32>) outs(%{{.*}} : tensor<?x16xf32>)
// CHECK: tensor.expand_shape %[[Y]] {{\[\[}}0, 1], [2]] output_shape [1, %{{.*}}, 16]
// CHECK-NOT: tessel.moe
func.func @moe_mixtral(%x: tensor<1x?x16xf32>, %r: tensor<4x16xf32>, %up: tensor<4x32x16xf32>, %gate: tensor<4x32x16xf32>, %down: tensor<4x16x32xf32>) -> tensor<1x?x16xf32> {
  %y = tessel.moe %x router(%r) experts(%up, %gate, %down) {top_k = 2 : i64, scoring = #tessel.moe_scoring<softmax>, normalize_top_k, activation = #tessel.activation<swiglu>} : (tensor<1x?x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<1x?x16xf32>
  return %y : tensor<1x?x16xf32>
}

// -----

// Sigmoid scores, three rounds (the third skips both earlier picks), no
// normalisation but routed_scale, ungated GELU experts, and a shared expert
// FFN whose output starts the weighted sum.
// CHECK-LABEL: func.func @moe_shared_sigmoid
// CHECK-SAME: %[[SUP:[^:]*]]: tensor<12x16xf32>, %[[SDOWN:[^:]*]]: tensor<16x12xf32>)
// CHECK: arith.negf
// CHECK: math.exp
// CHECK: %[[R0:.*]]:2 = linalg.generic
// CHECK: %[[R1:.*]]:2 = linalg.generic {{.*}} ins(%{{.*}}, %[[R0]]#1 : tensor<6x8xf32>, tensor<6xi64>)
// CHECK: %[[R2:.*]]:2 = linalg.generic {{.*}} ins(%{{.*}}, %[[R0]]#1, %[[R1]]#1 : tensor<6x8xf32>, tensor<6xi64>, tensor<6xi64>)
// CHECK-COUNT-2: arith.cmpi ne
// CHECK: arith.constant 2.500000e+00 : f32
// CHECK: tensor.extract %{{.*}} : tensor<8x8x16xf32>
// CHECK: math.tanh
// CHECK: %[[D:.*]] = linalg.generic
// CHECK: tensor.extract %{{.*}} : tensor<8x16x8xf32>
// CHECK: linalg.generic {{.*}} ins(%{{.*}}, %[[SUP]] : tensor<6x16xf32>, tensor<12x16xf32>)
// CHECK: %[[SHARED:.*]] = linalg.generic {{.*}} ins(%{{.*}}, %[[SDOWN]] : tensor<6x12xf32>, tensor<16x12xf32>)
// CHECK: linalg.generic {{.*}} ins(%{{.*}}, %[[D]] : tensor<6x3xf32>, tensor<6x3x16xf32>) outs(%[[SHARED]] : tensor<6x16xf32>)
// CHECK: tensor.expand_shape
// CHECK-NOT: tessel.moe
func.func @moe_shared_sigmoid(%x: tensor<2x3x16xf32>, %r: tensor<8x16xf32>, %up: tensor<8x8x16xf32>, %down: tensor<8x16x8xf32>, %sup: tensor<12x16xf32>, %sdown: tensor<16x12xf32>) -> tensor<2x3x16xf32> {
  %y = tessel.moe %x router(%r) experts(%up, %down) shared(%sup, %sdown) {top_k = 3 : i64, scoring = #tessel.moe_scoring<sigmoid>, routed_scale = 2.5 : f32, activation = #tessel.activation<gelu>, tanh_approx} : (tensor<2x3x16xf32>, tensor<8x16xf32>, tensor<8x8x16xf32>, tensor<8x16x8xf32>, tensor<12x16xf32>, tensor<16x12xf32>) -> tensor<2x3x16xf32>
  return %y : tensor<2x3x16xf32>
}
