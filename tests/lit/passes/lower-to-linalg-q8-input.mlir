// RUN: not tessel-opt %s --tessel-lower-to-linalg 2>&1 | FileCheck %s

// input_format = "q8_0" has no linalg lowering (only the CPU's integer
// kernels round, in tessel-lower-to-kernels): an error, not a product that
// silently drops the rounding.
// CHECK: error: 'tessel.linear' op with input_format = "q8_0" has no linalg lowering
func.func @q8_input(%x: tensor<2x64xf32>, %w: tensor<16x64xf32>) -> tensor<2x16xf32> {
  %y = tessel.linear %x, %w {input_format = "q8_0"} : (tensor<2x64xf32>, tensor<16x64xf32>) -> tensor<2x16xf32>
  return %y : tensor<2x16xf32>
}
