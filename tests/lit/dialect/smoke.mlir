// RUN: tessel-opt %s | tessel-opt | FileCheck %s
// CHECK: tessel.residual_add
func.func @f(%a: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %0 = tessel.residual_add %a, %a : tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}
