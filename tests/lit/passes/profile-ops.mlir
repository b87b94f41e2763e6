// RUN: tessel-opt %s --tessel-profile-ops --split-input-file | FileCheck %s
// RUN: tessel-opt %s --tessel-profile-ops --tessel-profile-ops --split-input-file | FileCheck %s
// After lowering, bufferization and canonicalization the calls still
// surround what each op became, in order:
// RUN: tessel-opt %s --split-input-file --pass-pipeline="builtin.module(tessel-profile-ops,tessel-lower-to-kernels,func.func(tessel-lower-to-linalg,canonicalize),one-shot-bufferize{bufferize-function-boundaries=1},canonicalize)" | FileCheck %s --check-prefix=LOWERED

// Each op gets its id and the table names op and layer (the name in a
// fused location wins over the file position); running the pass twice
// (second RUN line) changes nothing.
// CHECK: module attributes {tessel.profile_ops = ["tessel.rms_norm @ blk.0.attn_norm", "tessel.linear @ blk.0.attn_q", "tessel.residual_add @ blk.0.attn_residual"]}
// CHECK-NEXT: func.func private @tessel_profile_begin(i64)
// CHECK-NEXT: func.func private @tessel_profile_end(i64)
// CHECK-LABEL: func.func @layer
// CHECK: %[[C0:.*]] = arith.constant 0 : i64
// CHECK-NEXT: call @tessel_profile_begin(%[[C0]]) : (i64) -> ()
// CHECK-NEXT: tessel.rms_norm
// CHECK-NEXT: call @tessel_profile_end(%[[C0]]) : (i64) -> ()
// CHECK-NEXT: %[[C1:.*]] = arith.constant 1 : i64
// CHECK-NEXT: call @tessel_profile_begin(%[[C1]]) : (i64) -> ()
// CHECK-NEXT: tessel.linear
// CHECK-NEXT: call @tessel_profile_end(%[[C1]]) : (i64) -> ()
// CHECK-NEXT: %[[C2:.*]] = arith.constant 2 : i64
// CHECK-NEXT: call @tessel_profile_begin(%[[C2]]) : (i64) -> ()
// CHECK-NEXT: tessel.residual_add
// CHECK-NEXT: call @tessel_profile_end(%[[C2]]) : (i64) -> ()
// CHECK-NEXT: return
// CHECK-NOT: call @tessel_profile

// The norm is folded into the GEMM's prologue: its pair surrounds nothing
// and the linear layer's pair the fused kernel call.
// LOWERED-LABEL: func.func @layer
// LOWERED: call @tessel_profile_begin(%[[N:.*]]) : (i64) -> ()
// LOWERED-NEXT: call @tessel_profile_end(%[[N]]) : (i64) -> ()
// LOWERED-NEXT: call @tessel_profile_begin(%[[L:.*]]) : (i64) -> ()
// LOWERED-NOT: call @tessel_profile_end
// LOWERED: call @tessel_rms_norm_linear_f32
// LOWERED-NEXT: call @tessel_profile_end(%[[L]]) : (i64) -> ()
// LOWERED-NEXT: call @tessel_profile_begin(%[[R:.*]]) : (i64) -> ()
// LOWERED-NOT: call @tessel_profile_end
// LOWERED: linalg.generic
// LOWERED: call @tessel_profile_end(%[[R]]) : (i64) -> ()
// LOWERED-NEXT: return
func.func @layer(%x: tensor<4x64xf32>, %wn: tensor<64xf32>, %wq: tensor<64x64xf32>) -> tensor<4x64xf32> {
  %n = tessel.rms_norm %x, %wn : (tensor<4x64xf32>, tensor<64xf32>) -> tensor<4x64xf32> loc("blk.0.attn_norm")
  %q = tessel.linear %n, %wq : (tensor<4x64xf32>, tensor<64x64xf32>) -> tensor<4x64xf32> loc("blk.0.attn_q"("model.gguf":0:0))
  %y = tessel.residual_add %x, %q : tensor<4x64xf32> loc(fused["model.gguf":1:2, "blk.0.attn_residual"])
  return %y : tensor<4x64xf32>
}

// -----

// Ids count across functions; an op without a named location is named by
// its file position, or by its name alone; other dialects' ops are not
// timed.
// CHECK: module attributes {tessel.profile_ops = ["tessel.linear @ a.mlir:3:4", "tessel.linear"]}
// CHECK-LABEL: func.func @f
// CHECK: call @tessel_profile_begin
// CHECK-NEXT: tessel.linear
// CHECK-NEXT: call @tessel_profile_end
// CHECK-NEXT: tensor.expand_shape
// CHECK-NEXT: return
// CHECK-LABEL: func.func @g
// CHECK: %[[C1:.*]] = arith.constant 1 : i64
// CHECK-NEXT: call @tessel_profile_begin(%[[C1]])

// LOWERED-LABEL: func.func @f
// LOWERED: call @tessel_profile_begin
// LOWERED: call @tessel_linear_f32
// LOWERED-NEXT: call @tessel_profile_end
func.func @f(%x: tensor<2x8xf32>, %w: tensor<8x8xf32>) -> tensor<2x2x4xf32> {
  %y = tessel.linear %x, %w : (tensor<2x8xf32>, tensor<8x8xf32>) -> tensor<2x8xf32> loc("a.mlir":3:4)
  %z = tensor.expand_shape %y [[0], [1, 2]] output_shape [2, 2, 4] : tensor<2x8xf32> into tensor<2x2x4xf32>
  return %z : tensor<2x2x4xf32>
}
func.func @g(%x: tensor<2x8xf32>, %w: tensor<8x8xf32>) -> tensor<2x8xf32> {
  %y = tessel.linear %x, %w : (tensor<2x8xf32>, tensor<8x8xf32>) -> tensor<2x8xf32> loc(unknown)
  return %y : tensor<2x8xf32>
}
