// RUN: tessel-opt %s --tessel-fuse-residual --split-input-file | FileCheck %s

// The attention output projection takes the residual into its epilogue.
// CHECK-LABEL: func.func @linear
// CHECK-SAME: (%[[H:.*]]: tensor<1x?x64xf32>, %[[A:.*]]: tensor<1x?x64xf32>, %[[W:.*]]: tensor<64x64xf32>)
// CHECK: %[[Y:.*]] = tessel.linear %[[A]], %[[W]] residual(%[[H]])
// CHECK-NOT: tessel.residual_add
// CHECK: return %[[Y]]
func.func @linear(%h: tensor<1x?x64xf32>, %a: tensor<1x?x64xf32>, %w: tensor<64x64xf32>) -> tensor<1x?x64xf32> {
  %o = tessel.linear %a, %w : (tensor<1x?x64xf32>, tensor<64x64xf32>) -> tensor<1x?x64xf32>
  %y = tessel.residual_add %h, %o : tensor<1x?x64xf32>
  return %y : tensor<1x?x64xf32>
}

// -----

// The FFN's down projection, with the operands of the add in either order;
// biases stay.
// CHECK-LABEL: func.func @ffn
// CHECK: %[[Y:.*]] = tessel.ffn %{{.*}} up(%{{.*}}) down(%{{.*}}) up_bias(%{{.*}}) down_bias(%{{.*}}) residual(%arg0) {activation = #tessel.activation<gelu>}
// CHECK-NOT: tessel.residual_add
func.func @ffn(%h: tensor<1x4x16xf32>, %up: tensor<32x16xf32>, %down: tensor<16x32xf32>, %bu: tensor<32xf32>, %bd: tensor<16xf32>) -> tensor<1x4x16xf32> {
  %f = tessel.ffn %h up(%up) down(%down) up_bias(%bu) down_bias(%bd) {activation = #tessel.activation<gelu>} : (tensor<1x4x16xf32>, tensor<32x16xf32>, tensor<16x32xf32>, tensor<32xf32>, tensor<16xf32>) -> tensor<1x4x16xf32>
  %y = tessel.residual_add %f, %h : tensor<1x4x16xf32>
  return %y : tensor<1x4x16xf32>
}

// -----

// A projection whose plain output is used elsewhere is left alone.
// CHECK-LABEL: func.func @shared
// CHECK: tessel.linear %{{.*}}, %{{.*}} :
// CHECK: tessel.residual_add
func.func @shared(%h: tensor<2x8xf32>, %a: tensor<2x8xf32>, %w: tensor<8x8xf32>) -> (tensor<2x8xf32>, tensor<2x8xf32>) {
  %o = tessel.linear %a, %w : (tensor<2x8xf32>, tensor<8x8xf32>) -> tensor<2x8xf32>
  %y = tessel.residual_add %h, %o : tensor<2x8xf32>
  return %y, %o : tensor<2x8xf32>, tensor<2x8xf32>
}

// -----

// A residual defined after the projection cannot move into it.
// CHECK-LABEL: func.func @late_residual
// CHECK: tessel.residual_add
func.func @late_residual(%a: tensor<2x8xf32>, %w: tensor<8x8xf32>, %w2: tensor<8x8xf32>) -> tensor<2x8xf32> {
  %o = tessel.linear %a, %w : (tensor<2x8xf32>, tensor<8x8xf32>) -> tensor<2x8xf32>
  %r = tessel.linear %a, %w2 : (tensor<2x8xf32>, tensor<8x8xf32>) -> tensor<2x8xf32>
  %y = tessel.residual_add %r, %o : tensor<2x8xf32>
  return %y : tensor<2x8xf32>
}
