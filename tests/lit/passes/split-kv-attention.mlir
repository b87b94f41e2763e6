// RUN: tessel-opt %s --tessel-split-kv-attention="kv-tile-size=32" --canonicalize --split-input-file | FileCheck %s
// RUN: tessel-opt %s --tessel-split-kv-attention="kv-tile-size=32 max-query-len=-1" --canonicalize --split-input-file | FileCheck %s --check-prefix=ANY
// RUN: tessel-opt %s --tessel-split-kv-attention="num-splits=1" --split-input-file | FileCheck %s --check-prefix=ONE
// RUN: not tessel-opt %s --tessel-split-kv-attention="num-splits=0" 2>&1 | FileCheck %s --check-prefix=BAD

// Decode (q_len 1), GQA (8 query heads over 2 KV heads), causal, dynamic
// kv_len, the default 4 splits. Each split gets whole tiles:
// chunk = ceil(ceil(kv_len / 4) / 32) * 32 keys.
// CHECK-LABEL: func.func @decode_gqa
// CHECK: %[[KV:.*]] = tensor.dim %{{.*}}, %c1 : tensor<1x?x2x16xf32>
// CHECK: %[[Q5:.*]] = tensor.expand_shape %{{.*}} {{\[}}[0], [1], [2, 3], [4]] output_shape [1, 1, 2, 4, 16] : tensor<1x1x8x16xf32> into tensor<1x1x2x4x16xf32>
// CHECK: %[[PER:.*]] = arith.ceildivsi %[[KV]], %c4
// CHECK: %[[TILES:.*]] = arith.ceildivsi %[[PER]], %c32
// CHECK: %[[CHUNK:.*]] = arith.muli %[[TILES]], %c32
// The partial states: m, l [S, b, kv, g, i] and acc [S, b, i, kv, g, e].
// CHECK: %[[P:.*]]:3 = scf.forall (%[[S:.*]]) in (4) shared_outs(%[[MS:.*]] = %{{.*}}, %[[LS:.*]] = %{{.*}}, %[[AS:.*]] = %{{.*}}) -> (tensor<4x1x2x4x1xf32>, tensor<4x1x2x4x1xf32>, tensor<4x1x1x2x4x16xf32>)
// Split s covers keys [min(s * chunk, kv_len), min(begin + chunk, kv_len)).
// CHECK:   %[[START:.*]] = arith.muli %[[S]], %[[CHUNK]]
// CHECK:   %[[BEGIN:.*]] = arith.minsi %[[START]], %[[KV]]
// CHECK:   %[[STOP:.*]] = arith.addi %[[BEGIN]], %[[CHUNK]]
// CHECK:   %[[END:.*]] = arith.minsi %[[STOP]], %[[KV]]
// The split's state starts empty (m = -inf, l = 0, acc = 0) in its own row
// of the outputs; no sinks here.
// CHECK:   %[[M0:.*]] = tensor.extract_slice %[[MS]][%[[S]], 0, 0, 0, 0] [1, 1, 2, 4, 1] [1, 1, 1, 1, 1] : tensor<4x1x2x4x1xf32> to tensor<1x2x4x1xf32>
// CHECK:   linalg.fill ins(%cst{{.*}} : f32) outs(%[[M0]] : tensor<1x2x4x1xf32>)
// The same tile loop as tessel-tile-attention, over the split's keys only.
// CHECK:   %[[R:.*]]:3 = scf.for %[[T:.*]] = %[[BEGIN]] to %[[END]] step %c32 iter_args({{.*}}) -> (tensor<1x2x4x1xf32>, tensor<1x2x4x1xf32>, tensor<1x1x2x4x16xf32>)
// CHECK:     %[[N:.*]] = arith.minsi
// CHECK:     tensor.extract_slice %{{.*}}[0, %[[T]], 0, 0] [1, %[[N]], 2, 16] [1, 1, 1, 1] : tensor<1x?x2x16xf32> to tensor<1x?x2x16xf32>
// Causal on absolute key positions: t + j <= i + (kv_len - q_len).
// CHECK:     arith.cmpi sle
// CHECK:     arith.maximumf
// CHECK:     math.exp
// CHECK:     scf.yield
// CHECK:   scf.forall.in_parallel
// CHECK:     tensor.parallel_insert_slice %[[R]]#0 into %[[MS]][%[[S]], 0, 0, 0, 0] [1, 1, 2, 4, 1] [1, 1, 1, 1, 1] : tensor<1x2x4x1xf32> into tensor<4x1x2x4x1xf32>
// CHECK:     tensor.parallel_insert_slice %[[R]]#1 into %[[LS]]
// CHECK:     tensor.parallel_insert_slice %[[R]]#2 into %[[AS]][%[[S]], 0, 0, 0, 0, 0] [1, 1, 1, 2, 4, 16] [1, 1, 1, 1, 1, 1] : tensor<1x1x2x4x16xf32> into tensor<4x1x1x2x4x16xf32>
// Combine: M = max over splits (from -inf: no sinks) ...
// CHECK: %[[MMAX:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%[[P]]#0 : tensor<4x1x2x4x1xf32>) outs(%{{.*}} : tensor<1x2x4x1xf32>)
// CHECK:   arith.maximumf
// ... w_s = exp(m_s - M), 0 where m_s = -inf (a split that saw no key) ...
// CHECK: %[[W:.*]] = linalg.generic {{.*}} ins(%[[P]]#0, %[[MMAX]] : tensor<4x1x2x4x1xf32>, tensor<1x2x4x1xf32>) outs(%{{.*}} : tensor<4x1x2x4x1xf32>)
// CHECK:   arith.cmpf oeq
// CHECK:   math.exp
// CHECK:   arith.select
// ... L = sum_s w_s l_s and acc = sum_s w_s acc_s ...
// CHECK: %[[L:.*]] = linalg.generic {{.*}} ins(%[[W]], %[[P]]#1 : tensor<4x1x2x4x1xf32>, tensor<4x1x2x4x1xf32>) outs(%{{.*}} : tensor<1x2x4x1xf32>)
// CHECK: %[[ACC:.*]] = linalg.generic {{.*}} ins(%[[W]], %[[P]]#2 : tensor<4x1x2x4x1xf32>, tensor<4x1x1x2x4x16xf32>) outs(%{{.*}} : tensor<1x1x2x4x16xf32>)
// ... and acc / L (zeros where L = 0), back to [b, i, h, e].
// CHECK: linalg.generic {{.*}} ins(%[[ACC]], %[[L]] : tensor<1x1x2x4x16xf32>, tensor<1x2x4x1xf32>)
// CHECK:   arith.divf
// CHECK: tensor.collapse_shape %{{.*}} {{\[}}[0], [1], [2, 3], [4]] : tensor<1x1x2x4x16xf32> into tensor<1x1x8x16xf32>
// CHECK-NOT: tessel.attention
// ANY-LABEL: func.func @decode_gqa
// ANY: scf.forall
func.func @decode_gqa(%q: tensor<1x1x8x16xf32>, %k: tensor<1x?x2x16xf32>, %v: tensor<1x?x2x16xf32>) -> tensor<1x1x8x16xf32> {
  %o = tessel.attention %q, %k, %v {num_heads = 8 : i64, num_kv_heads = 2 : i64, causal} : (tensor<1x1x8x16xf32>, tensor<1x?x2x16xf32>, tensor<1x?x2x16xf32>) -> tensor<1x1x8x16xf32>
  return %o : tensor<1x1x8x16xf32>
}

// -----

// A dynamic q_len (one @step serves prefill chunks and decode): a run-time
// choice between the split path and the plain op, which is left for
// tessel-tile-attention. A window of 16 starts every split's range at
// max(0, kv_len - q_len - 15); the mask is sliced per tile; sinks enter
// only the combine, once.
// CHECK-LABEL: func.func @dynamic_q
// CHECK: %[[QLEN:.*]] = tensor.dim %{{.*}}, %c1 : tensor<1x?x4x8xf32>
// CHECK: %[[SHORT:.*]] = arith.cmpi sle, %[[QLEN]], %c4
// CHECK: scf.if %[[SHORT]] -> (tensor<1x?x4x8xf32>)
// CHECK:   %[[OLDEST:.*]] = arith.subi
// CHECK:   %[[FIRST:.*]] = arith.subi %[[OLDEST]], %c15
// CHECK:   %[[LO:.*]] = arith.maxsi %[[FIRST]], %c0
// CHECK:   scf.forall (%[[S:.*]]) in (4)
// CHECK:     %[[OFF:.*]] = arith.muli %[[S]]
// CHECK:     arith.addi %[[LO]], %[[OFF]]
// CHECK-NOT:   tensor.expand_shape %arg4
// CHECK:     scf.for
// CHECK:       tensor.extract_slice %arg3[0, %{{.*}}] [1, %{{.*}}] [1, 1] : tensor<1x?xi1> to tensor<1x?xi1>
// CHECK:       arith.cmpi slt
// CHECK:     scf.forall.in_parallel
// CHECK:   %[[SINKS:.*]] = tensor.expand_shape %arg4 {{\[}}[0, 1]] output_shape [4, 1] : tensor<4xf32> into tensor<4x1xf32>
// M starts at the sink ...
// CHECK:   %[[SINKROWS:.*]] = linalg.generic {{.*}} ins(%[[SINKS]] : tensor<4x1xf32>) outs(%{{.*}} : tensor<1x4x1x?xf32>)
// CHECK:   %[[MMAX:.*]] = linalg.generic {{.*}} outs(%[[SINKROWS]] : tensor<1x4x1x?xf32>)
// ... and L at exp(sink - M).
// CHECK:   %[[LINIT:.*]] = linalg.generic {{.*}} ins(%[[SINKROWS]], %[[MMAX]] : tensor<1x4x1x?xf32>, tensor<1x4x1x?xf32>)
// CHECK:     arith.subf
// CHECK:     math.exp
// CHECK:   linalg.generic {{.*}} outs(%[[LINIT]] : tensor<1x4x1x?xf32>)
// CHECK:   scf.yield
// CHECK: } else {
// CHECK:   %[[PLAIN:.*]] = tessel.attention %arg0, %arg1, %arg2 mask(%arg3) sinks(%arg4) {causal, num_heads = 4 : i64, num_kv_heads = 4 : i64, window = 16 : i64}
// CHECK:   scf.yield %[[PLAIN]]
// max-query-len=-1: every op is split, with no run-time choice.
// ANY-LABEL: func.func @dynamic_q
// ANY-NOT: scf.if
// ANY: scf.forall
// ANY-NOT: tessel.attention
func.func @dynamic_q(%q: tensor<1x?x4x8xf32>, %k: tensor<1x?x4x8xf32>, %v: tensor<1x?x4x8xf32>, %m: tensor<1x?xi1>, %s: tensor<4xf32>) -> tensor<1x?x4x8xf32> {
  %o = tessel.attention %q, %k, %v mask(%m) sinks(%s) {num_heads = 4 : i64, num_kv_heads = 4 : i64, causal, window = 16 : i64} : (tensor<1x?x4x8xf32>, tensor<1x?x4x8xf32>, tensor<1x?x4x8xf32>, tensor<1x?xi1>, tensor<4xf32>) -> tensor<1x?x4x8xf32>
  return %o : tensor<1x?x4x8xf32>
}

// -----

// Not eligible: a static q_len above max-query-len (prefill) is left to
// tessel-tile-attention.
// CHECK-LABEL: func.func @prefill
// CHECK-NOT: scf.forall
// CHECK-NOT: scf.if
// CHECK: tessel.attention
// ANY-LABEL: func.func @prefill
// ANY: scf.forall (%{{.*}}) in (4) {{.*}} -> (tensor<4x1x1x4x7xf32>, tensor<4x1x1x4x7xf32>, tensor<4x1x7x1x4x8xf32>)
// ANY-NOT: tessel.attention
func.func @prefill(%q: tensor<1x7x4x8xf32>, %k: tensor<1x?x1x8xf32>, %v: tensor<1x?x1x8xf32>) -> tensor<1x7x4x8xf32> {
  %o = tessel.attention %q, %k, %v {num_heads = 4 : i64, num_kv_heads = 1 : i64, causal} : (tensor<1x7x4x8xf32>, tensor<1x?x1x8xf32>, tensor<1x?x1x8xf32>) -> tensor<1x7x4x8xf32>
  return %o : tensor<1x7x4x8xf32>
}

// -----

// Not eligible: a context known to fit in one tile has nothing to split.
// CHECK-LABEL: func.func @one_tile
// CHECK-NOT: scf.forall
// CHECK: tessel.attention
// ANY-LABEL: func.func @one_tile
// ANY-NOT: scf.forall
// ANY: tessel.attention
func.func @one_tile(%q: tensor<1x1x4x8xf32>, %k: tensor<1x32x4x8xf32>, %v: tensor<1x32x4x8xf32>) -> tensor<1x1x4x8xf32> {
  %o = tessel.attention %q, %k, %v {num_heads = 4 : i64, num_kv_heads = 4 : i64, causal} : (tensor<1x1x4x8xf32>, tensor<1x32x4x8xf32>, tensor<1x32x4x8xf32>) -> tensor<1x1x4x8xf32>
  return %o : tensor<1x1x4x8xf32>
}

// num-splits=1 is the plain loop: nothing is rewritten.
// ONE-NOT: scf.forall
// ONE-NOT: scf.if
// ONE-COUNT-4: = tessel.attention
// ONE-NOT: scf.forall
// ONE-NOT: scf.if

// BAD: tessel-split-kv-attention needs num-splits >= 1, kv-tile-size >= 1 and max-query-len >= -1, got 0, 64 and 4
