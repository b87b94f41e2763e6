// RUN: tessel-opt %s --tessel-attention-to-kernel --split-input-file | FileCheck %s

// GQA, causal, over a KV-cache view: one kernel call with the head counts,
// causal = 1, no window (0) and the default scale (0 = 1/sqrt(head_dim)).
// CHECK: func.func private @tessel_attention_f32(memref<?x?x?x?xf32, strided<[?, ?, ?, ?], offset: ?>>, memref<?x?x?x?xf32, strided<[?, ?, ?, ?], offset: ?>>, memref<?x?x?x?xf32, strided<[?, ?, ?, ?], offset: ?>>, memref<?x?x?x?xf32, strided<[?, ?, ?, ?], offset: ?>>, i64, i64, i64, i64, f32) attributes {llvm.emit_c_interface}
// CHECK-LABEL: func.func @gqa
// CHECK-DAG: %[[H:.*]] = arith.constant 8 : i64
// CHECK-DAG: %[[KVH:.*]] = arith.constant 4 : i64
// CHECK-DAG: %[[CAUSAL:.*]] = arith.constant 1 : i64
// CHECK-DAG: %[[WINDOW:.*]] = arith.constant 0 : i64
// CHECK-DAG: %[[SCALE:.*]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[OUT:.*]] = memref.alloc(%{{.*}}) {alignment = 64 : i64} : memref<1x?x8x8xf32>
// CHECK: bufferization.to_buffer %arg0 read_only
// CHECK: call @tessel_attention_f32(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[H]], %[[KVH]], %[[CAUSAL]], %[[WINDOW]], %[[SCALE]])
// CHECK: bufferization.to_tensor %[[OUT]] restrict writable
// CHECK-NOT: tessel.attention
func.func @gqa(%q: tensor<1x?x8x8xf32>, %k: tensor<1x?x4x8xf32>, %v: tensor<1x?x4x8xf32>) -> tensor<1x?x8x8xf32> {
  %o = tessel.attention %q, %k, %v {num_heads = 8 : i64, num_kv_heads = 4 : i64, causal}
      : (tensor<1x?x8x8xf32>, tensor<1x?x4x8xf32>, tensor<1x?x4x8xf32>) -> tensor<1x?x8x8xf32>
  return %o : tensor<1x?x8x8xf32>
}

// -----

// A sliding window and an explicit scale travel as scalars.
// CHECK-LABEL: func.func @window
// CHECK-DAG: arith.constant 16 : i64
// CHECK-DAG: arith.constant 2.500000e-01 : f32
// CHECK: call @tessel_attention_f32(
func.func @window(%q: tensor<1x4x2x16xf32>, %k: tensor<1x4x2x16xf32>, %v: tensor<1x4x2x16xf32>) -> tensor<1x4x2x16xf32> {
  %o = tessel.attention %q, %k, %v {num_heads = 2 : i64, num_kv_heads = 2 : i64, causal, window = 16 : i64, scale = 0.25 : f32}
      : (tensor<1x4x2x16xf32>, tensor<1x4x2x16xf32>, tensor<1x4x2x16xf32>) -> tensor<1x4x2x16xf32>
  return %o : tensor<1x4x2x16xf32>
}

// -----

// Masks and sinks are left for tessel-tile-attention.
// CHECK-LABEL: func.func @masked
// CHECK: tessel.attention
// CHECK-NOT: call @tessel_attention_f32
func.func @masked(%q: tensor<1x4x2x8xf32>, %k: tensor<1x4x2x8xf32>, %v: tensor<1x4x2x8xf32>, %m: tensor<1x4xi1>) -> tensor<1x4x2x8xf32> {
  %o = tessel.attention %q, %k, %v mask(%m) {num_heads = 2 : i64, num_kv_heads = 2 : i64, causal}
      : (tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>, tensor<1x4xi1>) -> tensor<1x4x2x8xf32>
  return %o : tensor<1x4x2x8xf32>
}
