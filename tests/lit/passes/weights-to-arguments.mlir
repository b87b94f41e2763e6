// RUN: tessel-opt %s --tessel-weights-to-arguments | FileCheck %s

// Each distinct weight becomes one trailing argument, in order of first
// use; a weight used twice is bound once.
// CHECK-LABEL: func.func @forward
// CHECK-SAME: (%[[X:.*]]: tensor<1x4x8xf32>, %[[W:.*]]: tensor<8xf32>, %[[E:.*]]: tensor<16x8xf32>)
// CHECK-SAME: attributes {tessel.weights = ["blk.0.attn_norm.weight", "token_embd.weight"]}
// CHECK-NOT: tessel.weight "
// CHECK: tessel.rms_norm %[[X]], %[[W]]
// CHECK: tessel.rms_norm %{{.*}}, %[[W]]
// CHECK: tessel.linear %{{.*}}, %[[E]]
func.func @forward(%x: tensor<1x4x8xf32>) -> tensor<1x4x16xf32> {
  %w = tessel.weight "blk.0.attn_norm.weight" : tensor<8xf32>
  %n = tessel.rms_norm %x, %w : (tensor<1x4x8xf32>, tensor<8xf32>) -> tensor<1x4x8xf32>
  %w2 = tessel.weight "blk.0.attn_norm.weight" : tensor<8xf32>
  %n2 = tessel.rms_norm %n, %w2 : (tensor<1x4x8xf32>, tensor<8xf32>) -> tensor<1x4x8xf32>
  %e = tessel.weight "token_embd.weight" : tensor<16x8xf32>
  %y = tessel.linear %n2, %e : (tensor<1x4x8xf32>, tensor<16x8xf32>) -> tensor<1x4x16xf32>
  return %y : tensor<1x4x16xf32>
}

// A weight with a storage format arrives as its bytes (32 rows x 2 blocks
// of 34 bytes for q8_0) and is dequantized where it was used.
// CHECK-LABEL: func.func @stored
// CHECK-SAME: (%{{.*}}: tensor<1x4x64xf32>, %[[BYTES:.*]]: tensor<2176xi8>)
// CHECK-SAME: tessel.weights = ["blk.0.attn_q.weight"]
// CHECK: %[[W:.*]] = tessel.dequantize %[[BYTES]] {format = "q8_0"} : tensor<2176xi8> -> tensor<32x64xf32>
// CHECK: tessel.linear %{{.*}}, %[[W]]
func.func @stored(%x: tensor<1x4x64xf32>) -> tensor<1x4x32xf32> {
  %w = tessel.weight "blk.0.attn_q.weight" {storage = "q8_0"} : tensor<32x64xf32>
  %y = tessel.linear %x, %w : (tensor<1x4x64xf32>, tensor<32x64xf32>) -> tensor<1x4x32xf32>
  return %y : tensor<1x4x32xf32>
}

// An expert stack ([experts, rows, k]) is stored row after row: 4 x 32
// rows of 2 q4_0 blocks (18 bytes each).
// CHECK-LABEL: func.func @stored_experts
// CHECK-SAME: %[[BYTES:.*]]: tensor<4608xi8>
// CHECK: tessel.dequantize %[[BYTES]] {format = "q4_0"} : tensor<4608xi8> -> tensor<4x32x64xf32>
func.func @stored_experts() -> tensor<4x32x64xf32> {
  %w = tessel.weight "blk.0.ffn_up_exps.weight" {storage = "q4_0"} : tensor<4x32x64xf32>
  return %w : tensor<4x32x64xf32>
}

// A block function names its weights relative to the layer: they become its
// arguments as anywhere (a stored one as bytes, dequantized inside), and
// each call passes the caller's arguments for the names under the call's
// tessel.weight_prefix, bytes as bytes (64 rows x 2 q8_0 blocks of 34
// bytes). The block is converted first although it comes last.
// CHECK-LABEL: func.func @two_layers
// CHECK-SAME: (%[[X:.*]]: tensor<1x4x64xf32>, %[[N0:.*]]: tensor<64xf32>, %[[Q0:.*]]: tensor<4352xi8>, %[[N1:.*]]: tensor<64xf32>, %[[Q1:.*]]: tensor<4352xi8>)
// CHECK-SAME: tessel.weights = ["blk.0.attn_norm.weight", "blk.0.attn_q.weight", "blk.1.attn_norm.weight", "blk.1.attn_q.weight"]
// CHECK: %[[H:.*]] = call @block(%[[X]], %[[N0]], %[[Q0]]) {tessel.weight_prefix = "blk.0."}
// CHECK: call @block(%[[H]], %[[N1]], %[[Q1]]) {tessel.weight_prefix = "blk.1."}
// CHECK-LABEL: func.func private @block
// CHECK-SAME: (%[[H:.*]]: tensor<1x4x64xf32>, %[[N:.*]]: tensor<64xf32>, %[[BYTES:.*]]: tensor<4352xi8>)
// CHECK-SAME: tessel.weights = ["attn_norm.weight", "attn_q.weight"]
// CHECK: tessel.rms_norm %[[H]], %[[N]]
// CHECK: tessel.dequantize %[[BYTES]] {format = "q8_0"}
func.func @two_layers(%x: tensor<1x4x64xf32>) -> tensor<1x4x64xf32> {
  %h = func.call @block(%x) {tessel.weight_prefix = "blk.0."} : (tensor<1x4x64xf32>) -> tensor<1x4x64xf32>
  %y = func.call @block(%h) {tessel.weight_prefix = "blk.1."} : (tensor<1x4x64xf32>) -> tensor<1x4x64xf32>
  return %y : tensor<1x4x64xf32>
}
func.func private @block(%h: tensor<1x4x64xf32>) -> tensor<1x4x64xf32> {
  %n = tessel.weight "attn_norm.weight" : tensor<64xf32>
  %x = tessel.rms_norm %h, %n : (tensor<1x4x64xf32>, tensor<64xf32>) -> tensor<1x4x64xf32>
  %w = tessel.weight "attn_q.weight" {storage = "q8_0"} : tensor<64x64xf32>
  %y = tessel.linear %x, %w : (tensor<1x4x64xf32>, tensor<64x64xf32>) -> tensor<1x4x64xf32>
  return %y : tensor<1x4x64xf32>
}
