// RUN: tessel-opt %s --tessel-weights-to-arguments --split-input-file --verify-diagnostics

// A weight prefix on a call of a function that is only declared: there
// are no block weights to complete.
func.func private @elsewhere(tensor<1x4x64xf32>) -> tensor<1x4x64xf32>
func.func @caller(%x: tensor<1x4x64xf32>) -> tensor<1x4x64xf32> {
  // expected-error @+1 {{has a `tessel.weight_prefix` string but its callee is not a function defined in this module that calls no block itself}}
  %y = func.call @elsewhere(%x) {tessel.weight_prefix = "blk.0."} : (tensor<1x4x64xf32>) -> tensor<1x4x64xf32>
  return %y : tensor<1x4x64xf32>
}

// -----

// Two layers' names meet in one caller with different storage: one name,
// two argument types.
func.func @caller(%x: tensor<1x4x64xf32>) -> tensor<1x4x64xf32> {
  %w = tessel.weight "blk.0.attn_q.weight" : tensor<64x64xf32>
  %h = tessel.linear %x, %w : (tensor<1x4x64xf32>, tensor<64x64xf32>) -> tensor<1x4x64xf32>
  // expected-error @+1 {{weight 'blk.0.attn_q.weight' is used with two types: 'tensor<64x64xf32>' and 'tensor<4352xi8>'}}
  %y = func.call @block(%h) {tessel.weight_prefix = "blk.0."} : (tensor<1x4x64xf32>) -> tensor<1x4x64xf32>
  return %y : tensor<1x4x64xf32>
}
func.func private @block(%h: tensor<1x4x64xf32>) -> tensor<1x4x64xf32> {
  %w = tessel.weight "attn_q.weight" {storage = "q8_0"} : tensor<64x64xf32>
  %y = tessel.linear %h, %w : (tensor<1x4x64xf32>, tensor<64x64xf32>) -> tensor<1x4x64xf32>
  return %y : tensor<1x4x64xf32>
}
