// RUN: tessel-opt %s --tessel-lower-to-kernels --split-input-file --verify-diagnostics

// input_format = "q8_0" exists only in the CPU's integer kernels, and
// "bf16" only in the kernels of bf16 weights: a layer whose weight those
// kernels do not read (an f32 matrix, or another format) is an error
// rather than a product that silently skips the rounding.

func.func @f32_weight(%x: tensor<2x64xf32>, %w: tensor<16x64xf32>) -> tensor<2x16xf32> {
  // expected-error @+1 {{input_format = "q8_0" needs weights stored as q8_0 or q4_0}}
  %y = tessel.linear %x, %w {input_format = "q8_0"} : (tensor<2x64xf32>, tensor<16x64xf32>) -> tensor<2x16xf32>
  return %y : tensor<2x16xf32>
}

// -----

func.func @bf16_weight(%x: tensor<2x64xf32>, %b: tensor<2048xi8>) -> tensor<2x16xf32> {
  %w = tessel.dequantize %b {format = "bf16"} : tensor<2048xi8> -> tensor<16x64xf32>
  // expected-error @+1 {{input_format = "q8_0" needs weights stored as q8_0 or q4_0}}
  %y = tessel.linear %x, %w {input_format = "q8_0"} : (tensor<2x64xf32>, tensor<16x64xf32>) -> tensor<2x16xf32>
  return %y : tensor<2x16xf32>
}

// -----

func.func @bf16_input_q8_0_weight(%x: tensor<2x64xf32>, %b: tensor<1088xi8>) -> tensor<2x16xf32> {
  %w = tessel.dequantize %b {format = "q8_0"} : tensor<1088xi8> -> tensor<16x64xf32>
  // expected-error @+1 {{input_format = "bf16" weights stored as bf16}}
  %y = tessel.linear %x, %w {input_format = "bf16"} : (tensor<2x64xf32>, tensor<16x64xf32>) -> tensor<2x16xf32>
  return %y : tensor<2x16xf32>
}

// -----

// Expert stacks in two formats: the MoE kernel would read them as f32,
// without the rounding.
func.func @moe_mixed_formats(%x: tensor<2x64xf32>, %r: tensor<4x64xf32>, %u: tensor<4608xi8>, %g: tensor<8704xi8>, %d: tensor<4608xi8>) -> tensor<2x64xf32> {
  %up = tessel.dequantize %u {format = "q4_0"} : tensor<4608xi8> -> tensor<4x32x64xf32>
  %gate = tessel.dequantize %g {format = "q8_0"} : tensor<8704xi8> -> tensor<4x32x64xf32>
  %down = tessel.dequantize %d {format = "q4_0"} : tensor<4608xi8> -> tensor<4x64x32xf32>
  // expected-error @+1 {{input_format = "q8_0" needs weights stored as q8_0 or q4_0}}
  %y = tessel.moe %x router(%r) experts(%up, %gate, %down) {top_k = 2 : i64, scoring = #tessel.moe_scoring<softmax>, activation = #tessel.activation<swiglu>, input_format = "q8_0"} : (tensor<2x64xf32>, tensor<4x64xf32>, tensor<4x32x64xf32>, tensor<4x32x64xf32>, tensor<4x64x32xf32>) -> tensor<2x64xf32>
  return %y : tensor<2x64xf32>
}
