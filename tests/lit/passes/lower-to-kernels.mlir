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

// -----

// A fused residual is the GEMM's addend.
// CHECK-LABEL: func.func @linear_residual
// CHECK: %[[R:.*]] = tensor.collapse_shape %arg2
// CHECK: bufferization.to_buffer %[[R]] read_only
// CHECK: call @tessel_linear_residual_f32(
func.func @linear_residual(%x: tensor<1x?x64xf32>, %w: tensor<64x64xf32>, %h: tensor<1x?x64xf32>) -> tensor<1x?x64xf32> {
  %y = tessel.linear %x, %w residual(%h) : (tensor<1x?x64xf32>, tensor<64x64xf32>, tensor<1x?x64xf32>) -> tensor<1x?x64xf32>
  return %y : tensor<1x?x64xf32>
}

// -----

// RMSNorm into the GEMM's prologue: the call reads the un-normalised rows
// and the norm weight; the norm op is gone once nothing else reads it.
// CHECK-LABEL: func.func @norm_prologue
// CHECK-SAME: (%[[X:.*]]: tensor<1x?x64xf32>, %[[NW:.*]]: tensor<64xf32>, %[[W:.*]]: tensor<32x64xf32>)
// CHECK: %[[X2:.*]] = tensor.collapse_shape %[[X]]
// CHECK-DAG: %[[EPS:.*]] = arith.constant 9.99999974E-6 : f32
// CHECK-DAG: %[[OFF:.*]] = arith.constant 0 : i64
// CHECK: bufferization.to_buffer %[[X2]] read_only
// CHECK: bufferization.to_buffer %[[NW]] read_only
// CHECK: call @tessel_rms_norm_linear_f32(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[EPS]], %[[OFF]])
// CHECK-NOT: tessel.rms_norm
func.func @norm_prologue(%x: tensor<1x?x64xf32>, %nw: tensor<64xf32>, %w: tensor<32x64xf32>) -> tensor<1x?x32xf32> {
  %n = tessel.rms_norm %x, %nw {epsilon = 1.0e-05 : f32} : (tensor<1x?x64xf32>, tensor<64xf32>) -> tensor<1x?x64xf32>
  %y = tessel.linear %n, %w : (tensor<1x?x64xf32>, tensor<32x64xf32>) -> tensor<1x?x32xf32>
  return %y : tensor<1x?x32xf32>
}

// -----

// Norm and RoPE both fold into a query projection (llama's Q and K): the
// positions travel as a flat i64 vector, then the result is split into heads.
// CHECK-LABEL: func.func @norm_and_rope
// CHECK: %[[P:.*]] = tensor.collapse_shape %{{.*}} {{\[\[}}0, 1]] : tensor<1x?xi64> into tensor<?xi64>
// CHECK: bufferization.to_buffer %[[P]] read_only : tensor<?xi64> to memref<?xi64, strided<[?], offset: ?>>
// CHECK: call @tessel_rms_norm_linear_rope_f32(
// CHECK: tensor.expand_shape %{{.*}} {{\[\[}}0], [1], [2, 3]] output_shape [1, %{{.*}}, 4, 8] : tensor<1x?x32xf32> into tensor<1x?x4x8xf32>
// CHECK-NOT: tessel.rope
// The value projection (no rope) takes the norm alone; then nothing reads
// the norm any more.
// CHECK: call @tessel_rms_norm_linear_f32(
func.func @norm_and_rope(%x: tensor<1x?x64xf32>, %nw: tensor<64xf32>, %wq: tensor<32x64xf32>, %wv: tensor<32x64xf32>, %pos: tensor<1x?xi64>) -> (tensor<1x?x4x8xf32>, tensor<1x?x32xf32>) {
  %c1 = arith.constant 1 : index
  %s = tensor.dim %x, %c1 : tensor<1x?x64xf32>
  %n = tessel.rms_norm %x, %nw {epsilon = 1.0e-05 : f32} : (tensor<1x?x64xf32>, tensor<64xf32>) -> tensor<1x?x64xf32>
  %q = tessel.linear %n, %wq : (tensor<1x?x64xf32>, tensor<32x64xf32>) -> tensor<1x?x32xf32>
  %qh = tensor.expand_shape %q [[0], [1], [2, 3]] output_shape [1, %s, 4, 8] : tensor<1x?x32xf32> into tensor<1x?x4x8xf32>
  %qr = tessel.rope %qh, %pos {layout = #tessel.rope_layout<half_split>} : (tensor<1x?x4x8xf32>, tensor<1x?xi64>) -> tensor<1x?x4x8xf32>
  %v = tessel.linear %n, %wv : (tensor<1x?x64xf32>, tensor<32x64xf32>) -> tensor<1x?x32xf32>
  return %qr, %v : tensor<1x?x4x8xf32>, tensor<1x?x32xf32>
}

// -----

// RoPE alone (a projection of un-normalised input), with its parameters
// (head_dim 8, half-split = 1, theta, rotary_dim 4, scaling) as scalars.
// CHECK-LABEL: func.func @rope_epilogue
// CHECK-DAG: %[[HD:.*]] = arith.constant 8 : i64
// CHECK-DAG: %[[LAYOUT:.*]] = arith.constant 1 : i64
// CHECK-DAG: %[[THETA:.*]] = arith.constant 5.000000e+05 : f32
// CHECK-DAG: %[[ROT:.*]] = arith.constant 4 : i64
// CHECK: call @tessel_linear_rope_f32(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[HD]], %[[LAYOUT]], %[[THETA]], %[[ROT]], %{{.*}})
func.func @rope_epilogue(%x: tensor<1x?x64xf32>, %wk: tensor<16x64xf32>, %pos: tensor<1x?xi64>) -> tensor<1x?x2x8xf32> {
  %c1 = arith.constant 1 : index
  %s = tensor.dim %x, %c1 : tensor<1x?x64xf32>
  %k = tessel.linear %x, %wk : (tensor<1x?x64xf32>, tensor<16x64xf32>) -> tensor<1x?x16xf32>
  %kh = tensor.expand_shape %k [[0], [1], [2, 3]] output_shape [1, %s, 2, 8] : tensor<1x?x16xf32> into tensor<1x?x2x8xf32>
  %kr = tessel.rope %kh, %pos {layout = #tessel.rope_layout<half_split>, theta = 5.0e+05 : f32, rotary_dim = 4 : i64} : (tensor<1x?x2x8xf32>, tensor<1x?xi64>) -> tensor<1x?x2x8xf32>
  return %kr : tensor<1x?x2x8xf32>
}

// -----

// Mixtral-style MoE (SwiGLU, top-2 of 4, softmax, normalised): one call of
// the MoE kernel, which routes, groups tokens by expert and runs the experts'
// FFNs itself. The gate weights put `_gated` in the symbol (the C interface
// needs one signature per symbol); expert weights pass as rank-3 views; the
// scalars are top_k 2, softmax 0, normalize 1, routed_scale, SwiGLU 3,
// tanh_approx 0.
// CHECK: func.func private @tessel_moe_gated_f32(memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?x?x?xf32, strided<[?, ?, ?], offset: ?>>, memref<?x?x?xf32, strided<[?, ?, ?], offset: ?>>, memref<?x?x?xf32, strided<[?, ?, ?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>, i64, i64, i64, f32, i64, i64) attributes {llvm.emit_c_interface}
// CHECK-LABEL: func.func @moe_mixtral
// CHECK: %[[X:.*]] = tensor.collapse_shape %{{.*}} {{\[\[}}0, 1], [2]] : tensor<1x?x16xf32> into tensor<?x16xf32>
// CHECK: %[[K:.*]] = arith.constant 2 : i64
// CHECK-NEXT: %[[SCORING:.*]] = arith.constant 0 : i64
// CHECK-NEXT: %[[NORM:.*]] = arith.constant 1 : i64
// CHECK-NEXT: %[[SCALE:.*]] = arith.constant 1.000000e+00 : f32
// CHECK-NEXT: %[[ACT:.*]] = arith.constant 3 : i64
// CHECK-NEXT: %[[TANH:.*]] = arith.constant 0 : i64
// CHECK: %[[OUT:.*]] = memref.alloc(%{{.*}}) {alignment = 64 : i64} : memref<?x16xf32>
// CHECK: bufferization.to_buffer %[[X]] read_only
// CHECK: bufferization.to_buffer %{{.*}} read_only : tensor<4x32x16xf32> to memref<4x32x16xf32, strided<[?, ?, ?], offset: ?>>
// CHECK: call @tessel_moe_gated_f32(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[K]], %[[SCORING]], %[[NORM]], %[[SCALE]], %[[ACT]], %[[TANH]])
// CHECK: %[[R:.*]] = bufferization.to_tensor %[[OUT]] restrict writable : memref<?x16xf32> to tensor<?x16xf32>
// CHECK: tensor.expand_shape %[[R]] {{\[\[}}0, 1], [2]] output_shape [1, %{{.*}}, 16]
// CHECK-NOT: tessel.moe
func.func @moe_mixtral(%x: tensor<1x?x16xf32>, %r: tensor<4x16xf32>, %up: tensor<4x32x16xf32>, %gate: tensor<4x32x16xf32>, %down: tensor<4x16x32xf32>) -> tensor<1x?x16xf32> {
  %y = tessel.moe %x router(%r) experts(%up, %gate, %down) {top_k = 2 : i64, scoring = #tessel.moe_scoring<softmax>, normalize_top_k, activation = #tessel.activation<swiglu>} : (tensor<1x?x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<1x?x16xf32>
  return %y : tensor<1x?x16xf32>
}

// -----

// DeepSeek-style: shared experts add `_shared` and their [hidden, dim]
// matrices after the experts'; sigmoid scoring is 1, routed_scale 2.5.
// CHECK-LABEL: func.func @moe_shared_sigmoid
// CHECK: arith.constant 2 : i64
// CHECK-NEXT: %[[SIGMOID:.*]] = arith.constant 1 : i64
// CHECK-NEXT: arith.constant 1 : i64
// CHECK-NEXT: %[[SCALE:.*]] = arith.constant 2.500000e+00 : f32
// CHECK: call @tessel_moe_gated_shared_f32(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[SIGMOID]], %{{.*}}, %[[SCALE]], %{{.*}}, %{{.*}}) : (memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?x?x?xf32, strided<[?, ?, ?], offset: ?>>, memref<?x?x?xf32, strided<[?, ?, ?], offset: ?>>, memref<?x?x?xf32, strided<[?, ?, ?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>, i64, i64, i64, f32, i64, i64) -> ()
// CHECK-NOT: tessel.moe
func.func @moe_shared_sigmoid(%x: tensor<2x3x16xf32>, %r: tensor<8x16xf32>, %up: tensor<8x8x16xf32>, %gate: tensor<8x8x16xf32>, %down: tensor<8x16x8xf32>, %sup: tensor<12x16xf32>, %sgate: tensor<12x16xf32>, %sdown: tensor<16x12xf32>) -> tensor<2x3x16xf32> {
  %y = tessel.moe %x router(%r) experts(%up, %gate, %down) shared(%sup, %sgate, %sdown) {top_k = 2 : i64, scoring = #tessel.moe_scoring<sigmoid>, normalize_top_k, routed_scale = 2.5 : f32, activation = #tessel.activation<swiglu>} : (tensor<2x3x16xf32>, tensor<8x16xf32>, tensor<8x8x16xf32>, tensor<8x8x16xf32>, tensor<8x16x8xf32>, tensor<12x16xf32>, tensor<12x16xf32>, tensor<16x12xf32>) -> tensor<2x3x16xf32>
  return %y : tensor<2x3x16xf32>
}

// -----

// Non-gated experts (GELU, tanh form: activation 1, tanh_approx 1), a
// rank-2 input (no reshape), no shared experts: the plain symbol.
// CHECK-LABEL: func.func @moe_gelu
// CHECK-NOT: tensor.collapse_shape
// CHECK: arith.constant 1.000000e+00 : f32
// CHECK-NEXT: %[[ACT:.*]] = arith.constant 1 : i64
// CHECK-NEXT: %[[TANH:.*]] = arith.constant 1 : i64
// CHECK: call @tessel_moe_f32(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[ACT]], %[[TANH]]) : (memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?x?x?xf32, strided<[?, ?, ?], offset: ?>>, memref<?x?x?xf32, strided<[?, ?, ?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>, i64, i64, i64, f32, i64, i64) -> ()
// CHECK-NOT: tessel.moe
func.func @moe_gelu(%x: tensor<5x16xf32>, %r: tensor<3x16xf32>, %up: tensor<3x24x16xf32>, %down: tensor<3x16x24xf32>) -> tensor<5x16xf32> {
  %y = tessel.moe %x router(%r) experts(%up, %down) {top_k = 1 : i64, scoring = #tessel.moe_scoring<softmax>, activation = #tessel.activation<gelu>, tanh_approx} : (tensor<5x16xf32>, tensor<3x16xf32>, tensor<3x24x16xf32>, tensor<3x16x24xf32>) -> tensor<5x16xf32>
  return %y : tensor<5x16xf32>
}

// -----

// A stored weight: the kernel reads the bytes (tessel_linear_q*), with the
// format (GGML's type id: 8 = q8_0), the matrix's shape and the input's
// format (0: f32 rows) as scalars; no norm or RoPE is fused into it, and no
// dequantized matrix is built.
// CHECK: func.func private @tessel_linear_q_residual_f32(memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?xi8, strided<[?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>, i64, i64, i64, i64)
// CHECK-LABEL: func.func @stored_linear
// CHECK-DAG: %[[Q8:.*]] = arith.constant 8 : i64
// CHECK-DAG: %[[N:.*]] = arith.constant 32 : i64
// CHECK-DAG: %[[K:.*]] = arith.constant 64 : i64
// CHECK-DAG: %[[F32IN:.*]] = arith.constant 0 : i64
// CHECK: call @tessel_linear_q_residual_f32({{.*}}, %[[Q8]], %[[N]], %[[K]], %[[F32IN]])
// CHECK-NOT: dequantize
// CHECK: return
func.func @stored_linear(%x: tensor<1x?x64xf32>, %r: tensor<1x?x32xf32>, %bytes: tensor<2176xi8>) -> tensor<1x?x32xf32> {
  %w = tessel.dequantize %bytes {format = "q8_0"} : tensor<2176xi8> -> tensor<32x64xf32>
  %y = tessel.linear %x, %w residual(%r) : (tensor<1x?x64xf32>, tensor<32x64xf32>, tensor<1x?x32xf32>) -> tensor<1x?x32xf32>
  return %y : tensor<1x?x32xf32>
}

// -----

// input_format = "q8_0" on a stored q4_0 (= 2) weight: the last scalar is
// the input's format, 8 (q8_0): the kernel rounds x and multiplies in
// integers.
// CHECK-LABEL: func.func @q8_input_linear
// CHECK-DAG: %[[Q4:.*]] = arith.constant 2 : i64
// CHECK-DAG: %[[Q8IN:.*]] = arith.constant 8 : i64
// CHECK: call @tessel_linear_q_f32({{.*}}, %[[Q4]], %{{.*}}, %{{.*}}, %[[Q8IN]])
func.func @q8_input_linear(%x: tensor<1x?x64xf32>, %bytes: tensor<576xi8>) -> tensor<1x?x16xf32> {
  %w = tessel.dequantize %bytes {format = "q4_0"} : tensor<576xi8> -> tensor<16x64xf32>
  %y = tessel.linear %x, %w {input_format = "q8_0"} : (tensor<1x?x64xf32>, tensor<16x64xf32>) -> tensor<1x?x16xf32>
  return %y : tensor<1x?x16xf32>
}

// -----

// input_format = "bf16" on a stored bf16 (= 30) weight: the input format
// scalar is 30 too: the kernel rounds x to bf16 (vdpbf16ps products).
// CHECK-LABEL: func.func @bf16_input_linear
// CHECK: call @tessel_linear_q_f32(%{{.*}}, %{{.*}}, %{{.*}}, %c30_i64{{.*}}, %c16_i64{{.*}}, %c64_i64{{.*}}, %c30_i64{{.*}})
func.func @bf16_input_linear(%x: tensor<1x?x64xf32>, %bytes: tensor<2048xi8>) -> tensor<1x?x16xf32> {
  %w = tessel.dequantize %bytes {format = "bf16"} : tensor<2048xi8> -> tensor<16x64xf32>
  %y = tessel.linear %x, %w {input_format = "bf16"} : (tensor<1x?x64xf32>, tensor<16x64xf32>) -> tensor<1x?x16xf32>
  return %y : tensor<1x?x16xf32>
}

// -----

// The norm and RoPE around stored weights, which no GEMM fuses, are kernel
// calls of their own: the heads merged into rows for the rotation.
// CHECK-LABEL: func.func @stored_norm_rope
// CHECK: call @tessel_rms_norm_rows_f32
// CHECK: call @tessel_linear_q_f32
// CHECK: tensor.collapse_shape {{.*}} {{\[}}[0, 1], [2, 3]]
// CHECK: call @tessel_rope_rows_f32
// CHECK: tensor.expand_shape
// CHECK-NOT: tessel.rope
// CHECK-NOT: tessel.rms_norm
func.func @stored_norm_rope(%x: tensor<1x?x64xf32>, %nw: tensor<64xf32>, %bytes: tensor<576xi8>, %pos: tensor<1x?xi64>) -> tensor<1x?x2x8xf32> {
  %c1 = arith.constant 1 : index
  %s = tensor.dim %x, %c1 : tensor<1x?x64xf32>
  %n = tessel.rms_norm %x, %nw {epsilon = 1.0e-05 : f32} : (tensor<1x?x64xf32>, tensor<64xf32>) -> tensor<1x?x64xf32>
  %w = tessel.dequantize %bytes {format = "q4_0"} : tensor<576xi8> -> tensor<16x64xf32>
  %k = tessel.linear %n, %w : (tensor<1x?x64xf32>, tensor<16x64xf32>) -> tensor<1x?x16xf32>
  %kh = tensor.expand_shape %k [[0], [1], [2, 3]] output_shape [1, %s, 2, 8] : tensor<1x?x16xf32> into tensor<1x?x2x8xf32>
  %kr = tessel.rope %kh, %pos {layout = #tessel.rope_layout<interleaved>} : (tensor<1x?x2x8xf32>, tensor<1x?xi64>) -> tensor<1x?x2x8xf32>
  return %kr : tensor<1x?x2x8xf32>
}

// -----

// A gated FFN on stored (q4_0 = 2) weights: gate and up, stored alike, in
// one call on their bytes (format, rows, k, input format 0, SwiGLU 0, no
// tanh), then the down projection. A stored matrix something else reads is
// dequantized by a kernel.
// CHECK-LABEL: func.func @stored_ffn
// CHECK: call @tessel_dequantize_f32
// CHECK: call @tessel_glu_q_f32(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %c2_i64{{.*}}, %c64_i64{{.*}}, %c64_i64{{.*}}, %c0_i64{{.*}}, %c0_i64{{.*}}, %c0_i64{{.*}})
// CHECK-NOT: tessel_gated_activation_f32
// CHECK: call @tessel_linear_q_f32
// CHECK-NOT: tessel.dequantize
// CHECK: return
func.func @stored_ffn(%x: tensor<1x?x64xf32>, %g: tensor<2304xi8>, %u: tensor<2304xi8>, %d: tensor<2304xi8>) -> (tensor<1x?x64xf32>, tensor<64x64xf32>) {
  %wg = tessel.dequantize %g {format = "q4_0"} : tensor<2304xi8> -> tensor<64x64xf32>
  %wu = tessel.dequantize %u {format = "q4_0"} : tensor<2304xi8> -> tensor<64x64xf32>
  %wd = tessel.dequantize %d {format = "q4_0"} : tensor<2304xi8> -> tensor<64x64xf32>
  %y = tessel.ffn %x up(%wu) gate(%wg) down(%wd) {activation = #tessel.activation<swiglu>} : (tensor<1x?x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>) -> tensor<1x?x64xf32>
  return %y, %wd : tensor<1x?x64xf32>, tensor<64x64xf32>
}

// -----

// The same with input_format = "q8_0" on q8_0 (= 8) weights: the input
// format scalar is 8 for the gate/up call and for the down projection.
// CHECK-LABEL: func.func @stored_ffn_q8_inputs
// CHECK: call @tessel_glu_q_f32(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %c8_i64{{.*}}, %c64_i64{{.*}}, %c64_i64{{.*}}, %c8_i64{{.*}}, %c0_i64{{.*}}, %c0_i64{{.*}})
// CHECK: call @tessel_linear_q_f32(%{{.*}}, %{{.*}}, %{{.*}}, %c8_i64{{.*}}, %c64_i64{{.*}}, %c64_i64{{.*}}, %c8_i64{{.*}})
func.func @stored_ffn_q8_inputs(%x: tensor<1x?x64xf32>, %g: tensor<4352xi8>, %u: tensor<4352xi8>, %d: tensor<4352xi8>) -> tensor<1x?x64xf32> {
  %wg = tessel.dequantize %g {format = "q8_0"} : tensor<4352xi8> -> tensor<64x64xf32>
  %wu = tessel.dequantize %u {format = "q8_0"} : tensor<4352xi8> -> tensor<64x64xf32>
  %wd = tessel.dequantize %d {format = "q8_0"} : tensor<4352xi8> -> tensor<64x64xf32>
  %y = tessel.ffn %x up(%wu) gate(%wg) down(%wd) {activation = #tessel.activation<swiglu>, input_format = "q8_0"} : (tensor<1x?x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>) -> tensor<1x?x64xf32>
  return %y : tensor<1x?x64xf32>
}

// -----

// Gate and up stored in two formats (q8_0 gate, q4_0 up): two GEMMs on the
// bytes, the activation as a call of its own, then the down projection.
// CHECK-LABEL: func.func @stored_ffn_two_formats
// CHECK: call @tessel_linear_q_f32(%{{.*}}, %{{.*}}, %{{.*}}, %c8_i64
// CHECK: call @tessel_linear_q_f32(%{{.*}}, %{{.*}}, %{{.*}}, %c2_i64
// CHECK: call @tessel_gated_activation_f32
// CHECK-NOT: tessel_glu_q_f32
// CHECK: call @tessel_linear_q_f32
func.func @stored_ffn_two_formats(%x: tensor<1x?x64xf32>, %g: tensor<4352xi8>, %u: tensor<2304xi8>, %d: tensor<2304xi8>) -> tensor<1x?x64xf32> {
  %wg = tessel.dequantize %g {format = "q8_0"} : tensor<4352xi8> -> tensor<64x64xf32>
  %wu = tessel.dequantize %u {format = "q4_0"} : tensor<2304xi8> -> tensor<64x64xf32>
  %wd = tessel.dequantize %d {format = "q4_0"} : tensor<2304xi8> -> tensor<64x64xf32>
  %y = tessel.ffn %x up(%wu) gate(%wg) down(%wd) {activation = #tessel.activation<swiglu>} : (tensor<1x?x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>) -> tensor<1x?x64xf32>
  return %y : tensor<1x?x64xf32>
}

// -----

// Stored expert stacks (q4_0 = 2, [4 experts, 32 hidden, 64 dim]) and
// stored shared experts (q8_0 = 8): the MoE kernel reads the bytes
// (tessel_moe_q*), with the formats and hidden sizes as four more scalars,
// then the input's format (input_format "q8_0": 8).
// CHECK: func.func private @tessel_moe_q_gated_shared_f32(memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?xi8, strided<[?], offset: ?>>, memref<?xi8, strided<[?], offset: ?>>, memref<?xi8, strided<[?], offset: ?>>, memref<?xi8, strided<[?], offset: ?>>, memref<?xi8, strided<[?], offset: ?>>, memref<?xi8, strided<[?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>, i64, i64, i64, f32, i64, i64, i64, i64, i64, i64, i64)
// CHECK-LABEL: func.func @stored_moe
// CHECK: call @tessel_moe_q_gated_shared_f32({{.*}}, {{%c2_i64[_0-9]*}}, {{%c32_i64[_0-9]*}}, {{%c8_i64[_0-9]*}}, {{%c32_i64[_0-9]*}}, {{%c8_i64[_0-9]*}})
// CHECK-NOT: dequantize
// CHECK: return
func.func @stored_moe(%x: tensor<1x?x64xf32>, %r: tensor<4x64xf32>, %u: tensor<4608xi8>, %g: tensor<4608xi8>, %d: tensor<4608xi8>, %su: tensor<2176xi8>, %sg: tensor<2176xi8>, %sd: tensor<2176xi8>) -> tensor<1x?x64xf32> {
  %up = tessel.dequantize %u {format = "q4_0"} : tensor<4608xi8> -> tensor<4x32x64xf32>
  %gate = tessel.dequantize %g {format = "q4_0"} : tensor<4608xi8> -> tensor<4x32x64xf32>
  %down = tessel.dequantize %d {format = "q4_0"} : tensor<4608xi8> -> tensor<4x64x32xf32>
  %sup = tessel.dequantize %su {format = "q8_0"} : tensor<2176xi8> -> tensor<32x64xf32>
  %sgate = tessel.dequantize %sg {format = "q8_0"} : tensor<2176xi8> -> tensor<32x64xf32>
  %sdown = tessel.dequantize %sd {format = "q8_0"} : tensor<2176xi8> -> tensor<64x32xf32>
  %y = tessel.moe %x router(%r) experts(%up, %gate, %down) shared(%sup, %sgate, %sdown) {top_k = 2 : i64, scoring = #tessel.moe_scoring<softmax>, activation = #tessel.activation<swiglu>, input_format = "q8_0"} : (tensor<1x?x64xf32>, tensor<4x64xf32>, tensor<4x32x64xf32>, tensor<4x32x64xf32>, tensor<4x64x32xf32>, tensor<32x64xf32>, tensor<32x64xf32>, tensor<64x32xf32>) -> tensor<1x?x64xf32>
  return %y : tensor<1x?x64xf32>
}

// -----

// Experts in two formats (q4_0 up, q8_0 gate) take the f32 kernel: each
// stack is dequantized as one [experts * rows, k] matrix, then reshaped.
// CHECK-LABEL: func.func @mixed_moe
// CHECK-DAG: %[[ROWS:.*]] = arith.constant 128 : i64
// CHECK: call @tessel_dequantize_f32({{.*}}, %{{.*}}, %[[ROWS]], %{{.*}})
// CHECK: tensor.expand_shape {{.*}} {{\[\[}}0, 1], [2]] output_shape [4, 32, 64] : tensor<128x64xf32> into tensor<4x32x64xf32>
// CHECK: call @tessel_dequantize_f32
// CHECK: call @tessel_moe_gated_f32
// CHECK-NOT: tessel.dequantize
// CHECK: return
func.func @mixed_moe(%x: tensor<1x?x64xf32>, %r: tensor<4x64xf32>, %u: tensor<4608xi8>, %g: tensor<8704xi8>, %down: tensor<4x64x32xf32>) -> tensor<1x?x64xf32> {
  %up = tessel.dequantize %u {format = "q4_0"} : tensor<4608xi8> -> tensor<4x32x64xf32>
  %gate = tessel.dequantize %g {format = "q8_0"} : tensor<8704xi8> -> tensor<4x32x64xf32>
  %y = tessel.moe %x router(%r) experts(%up, %gate, %down) {top_k = 2 : i64, scoring = #tessel.moe_scoring<softmax>, activation = #tessel.activation<swiglu>} : (tensor<1x?x64xf32>, tensor<4x64xf32>, tensor<4x32x64xf32>, tensor<4x32x64xf32>, tensor<4x64x32xf32>) -> tensor<1x?x64xf32>
  return %y : tensor<1x?x64xf32>
}

// -----

// MLA's absorbed query, one decode step: per head h, q_nope [s, d] times
// W_uk [d, r] read where it lies (a slice of wkv_b: [k, n] per head, flag
// 1); q_nope is transposed to [h, s, d] first and the [h, s, r] product
// back to the output's order.
// CHECK-LABEL: func.func @einsum_absorb_query
// CHECK: linalg.transpose
// CHECK: call @tessel_batch_matmul_f32({{.*}}, %c1_i64) : (memref<?x?x?xf32, strided<[?, ?, ?], offset: ?>>, memref<?x?x?xf32, strided<[?, ?, ?], offset: ?>>, memref<?x?x?xf32, strided<[?, ?, ?], offset: ?>>, i64) -> ()
// CHECK: tensor.expand_shape
// CHECK: linalg.transpose
// CHECK-NOT: tessel.einsum
// CHECK: return
func.func @einsum_absorb_query(%q: tensor<1x?x4x16xf32>, %w: tensor<4x32x8xf32>) -> tensor<1x?x4x8xf32> {
  %wuk = tensor.extract_slice %w[0, 0, 0] [4, 16, 8] [1, 1, 1] : tensor<4x32x8xf32> to tensor<4x16x8xf32>
  %y = tessel.einsum "bshd,hdr->bshr" %q, %wuk : (tensor<1x?x4x16xf32>, tensor<4x16x8xf32>) -> tensor<1x?x4x8xf32>
  return %y : tensor<1x?x4x8xf32>
}

// -----

// MLA's output heads: o [s, r] per head times W_uv^T, W_uv [v, r] per head
// being [n, k] (flag 0): no copy of the weight.
// CHECK-LABEL: func.func @einsum_absorb_value
// CHECK: call @tessel_batch_matmul_f32({{.*}}, %c0_i64)
// CHECK-NOT: tessel.einsum
func.func @einsum_absorb_value(%o: tensor<1x?x4x8xf32>, %wuv: tensor<4x16x8xf32>) -> tensor<1x?x4x16xf32> {
  %y = tessel.einsum "bshr,hvr->bshv" %o, %wuv : (tensor<1x?x4x8xf32>, tensor<4x16x8xf32>) -> tensor<1x?x4x16xf32>
  return %y : tensor<1x?x4x16xf32>
}

// -----

// Not a batched contraction (no batch label; one operand): left for
// tessel-lower-einsum.
// CHECK-LABEL: func.func @einsum_left_alone
// CHECK: tessel.einsum "ij,jk->ik"
// CHECK: tessel.einsum "ij->ji"
// CHECK-NOT: call @tessel_batch_matmul_f32
func.func @einsum_left_alone(%a: tensor<3x4xf32>, %b: tensor<4x5xf32>) -> (tensor<3x5xf32>, tensor<4x3xf32>) {
  %y = tessel.einsum "ij,jk->ik" %a, %b : (tensor<3x4xf32>, tensor<4x5xf32>) -> tensor<3x5xf32>
  %t = tessel.einsum "ij->ji" %a : (tensor<3x4xf32>) -> tensor<4x3xf32>
  return %y, %t : tensor<3x5xf32>, tensor<4x3xf32>
}
