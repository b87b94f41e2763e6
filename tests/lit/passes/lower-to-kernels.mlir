// RUN: tessel-opt %s --tessel-lower-to-kernels --split-input-file | FileCheck %s

// linear: leading dims collapse into rows; x and w are handed over as
// read-only views of their own buffers, the result is a fresh aligned buffer.
// CHECK: func.func private @tessel_linear_f32(memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>) attributes {llvm.emit_c_interface}
// CHECK-LABEL: func.func @linear
// CHECK: %[[X:.*]] = tensor.collapse_shape %{{.*}} {{\[\[}}0, 1], [2]] : tensor<1x?x64xf32> into tensor<?x64xf32>
// CHECK: %[[OUT:.*]] = memref.alloc(%{{.*}}) {alignment = 64 : i64} : memref<?x32xf32>
// CHECK: bufferization.to_buffer %[[X]] read_only
// CHECK: bufferization.to_buffer %{{.*}} read_only : tensor<32x64xf32>
// CHECK: call @tessel_linear_f32(
// CHECK: %[[R:.*]] = bufferization.to_tensor %[[OUT]] restrict writable : memref<?x32xf32> to tensor<?x32xf32>
// CHECK: tensor.expand_shape %[[R]] {{\[\[}}0, 1], [2]] output_shape [1, %{{.*}}, 32]
// CHECK-NOT: tessel.linear
func.func @linear(%x: tensor<1x?x64xf32>, %w: tensor<32x64xf32>) -> tensor<1x?x32xf32> {
  %y = tessel.linear %x, %w : (tensor<1x?x64xf32>, tensor<32x64xf32>) -> tensor<1x?x32xf32>
  return %y : tensor<1x?x32xf32>
}

// -----

// A bias is the kernel's third operand.
// CHECK-LABEL: func.func @linear_bias
// CHECK: call @tessel_linear_bias_f32(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) : (memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?xf32, strided<[?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>) -> ()
func.func @linear_bias(%x: tensor<4x64xf32>, %w: tensor<32x64xf32>, %b: tensor<32xf32>) -> tensor<4x32xf32> {
  %y = tessel.linear %x, %w bias(%b) : (tensor<4x64xf32>, tensor<32x64xf32>, tensor<32xf32>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

// SwiGLU: the activation is fused into the gate/up projection (one call,
// activation 0 = SiLU), then the down projection.
// CHECK-LABEL: func.func @swiglu
// CHECK-DAG: %[[SILU:.*]] = arith.constant 0 : i64
// CHECK: call @tessel_glu_f32(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[SILU]], %{{.*}})
// CHECK: %[[H:.*]] = bufferization.to_tensor %{{.*}} restrict writable : memref<?x128xf32>
// CHECK: bufferization.to_buffer %[[H]] read_only
// CHECK: call @tessel_linear_f32(
// CHECK-NOT: tessel.ffn
func.func @swiglu(%x: tensor<1x?x64xf32>, %up: tensor<128x64xf32>, %gate: tensor<128x64xf32>, %down: tensor<64x128xf32>) -> tensor<1x?x64xf32> {
  %y = tessel.ffn %x up(%up) gate(%gate) down(%down) {activation = #tessel.activation<swiglu>} : (tensor<1x?x64xf32>, tensor<128x64xf32>, tensor<128x64xf32>, tensor<64x128xf32>) -> tensor<1x?x64xf32>
  return %y : tensor<1x?x64xf32>
}

// -----

// An FFN with biases or no gate is left to tessel-lower-to-linalg.
// CHECK-LABEL: func.func @gelu_ffn
// CHECK: tessel.ffn
// CHECK-NOT: call @tessel_glu_f32
func.func @gelu_ffn(%x: tensor<1x4x16xf32>, %up: tensor<32x16xf32>, %down: tensor<16x32xf32>) -> tensor<1x4x16xf32> {
  %y = tessel.ffn %x up(%up) down(%down) {activation = #tessel.activation<gelu>} : (tensor<1x4x16xf32>, tensor<32x16xf32>, tensor<16x32xf32>) -> tensor<1x4x16xf32>
  return %y : tensor<1x4x16xf32>
}
