// Input of check_kernels_ptx.sh mma: tessel.linear ops with bf16 weights (as
// tessel-weights-to-arguments leaves them: the bytes through
// tessel.dequantize) at the shapes real models have, so that
// tessel-linear-to-gpu-mma writes every kernel variant at production sizes
// (the lit test uses tiny ones): K = 64, 768, 2048; N = 64, 2048, 8192;
// static and dynamic M (both layouts), bias and residual epilogues. The
// script adds f16 kernels through the pass's extra-kernels option.

// A projection with a bias on a step entry point: dynamic M picks the
// decode or the GEMM layout at run time.
func.func @q_proj_step(%x: tensor<1x?x768xf32>, %w: tensor<3145728xi8>, %b: tensor<2048xf32>) -> tensor<1x?x2048xf32> {
  %wq = tessel.dequantize %w {format = "bf16"} : tensor<3145728xi8> -> tensor<2048x768xf32>
  %y = tessel.linear %x, %wq bias(%b) : (tensor<1x?x768xf32>, tensor<2048x768xf32>, tensor<2048xf32>) -> tensor<1x?x2048xf32>
  return %y : tensor<1x?x2048xf32>
}

// An up-projection (K = 2048, N = 8192), any batch and length.
func.func @up_proj_step(%x: tensor<?x?x2048xf32>, %w: tensor<33554432xi8>) -> tensor<?x?x8192xf32> {
  %wu = tessel.dequantize %w {format = "bf16"} : tensor<33554432xi8> -> tensor<8192x2048xf32>
  %y = tessel.linear %x, %wu : (tensor<?x?x2048xf32>, tensor<8192x2048xf32>) -> tensor<?x?x8192xf32>
  return %y : tensor<?x?x8192xf32>
}

// stories260K's dim: 64 x 64 with the residual folded into the epilogue.
func.func @o_proj_residual_step(%x: tensor<1x?x64xf32>, %w: tensor<8192xi8>, %h: tensor<1x?x64xf32>) -> tensor<1x?x64xf32> {
  %wo = tessel.dequantize %w {format = "bf16"} : tensor<8192xi8> -> tensor<64x64xf32>
  %y = tessel.linear %x, %wo residual(%h) : (tensor<1x?x64xf32>, tensor<64x64xf32>, tensor<1x?x64xf32>) -> tensor<1x?x64xf32>
  return %y : tensor<1x?x64xf32>
}

// Decode only (static M = 1): an LM-head-like 8192 x 2048.
func.func @head_decode(%x: tensor<1x1x2048xf32>, %w: tensor<33554432xi8>) -> tensor<1x1x8192xf32> {
  %wh = tessel.dequantize %w {format = "bf16"} : tensor<33554432xi8> -> tensor<8192x2048xf32>
  %y = tessel.linear %x, %wh : (tensor<1x1x2048xf32>, tensor<8192x2048xf32>) -> tensor<1x1x8192xf32>
  return %y : tensor<1x1x8192xf32>
}

// Prefill only (static M = 4 * 128): N = 64, K = 768, bias and residual.
func.func @prefill_bias_residual(%x: tensor<4x128x768xf32>, %w: tensor<98304xi8>, %b: tensor<64xf32>, %h: tensor<4x128x64xf32>) -> tensor<4x128x64xf32> {
  %wd = tessel.dequantize %w {format = "bf16"} : tensor<98304xi8> -> tensor<64x768xf32>
  %y = tessel.linear %x, %wd bias(%b) residual(%h) : (tensor<4x128x768xf32>, tensor<64x768xf32>, tensor<64xf32>, tensor<4x128x64xf32>) -> tensor<4x128x64xf32>
  return %y : tensor<4x128x64xf32>
}

// Fused forms (bf16: the norm's prologue takes bf16 only).
// A llama FFN block on a step entry point: RMSNorm in the gated kernel's
// prologue, SwiGLU in its epilogue (dim 2048, hidden 5632), then the down
// projection with the residual.
func.func @ffn_swiglu_step(%h: tensor<1x?x2048xf32>, %g: tensor<2048xf32>, %wg: tensor<23068672xi8>, %wu: tensor<23068672xi8>, %wd: tensor<23068672xi8>) -> tensor<1x?x2048xf32> {
  %n = tessel.rms_norm %h, %g {epsilon = 1.0e-05 : f32} : (tensor<1x?x2048xf32>, tensor<2048xf32>) -> tensor<1x?x2048xf32>
  %gate = tessel.dequantize %wg {format = "bf16"} : tensor<23068672xi8> -> tensor<5632x2048xf32>
  %up = tessel.dequantize %wu {format = "bf16"} : tensor<23068672xi8> -> tensor<5632x2048xf32>
  %down = tessel.dequantize %wd {format = "bf16"} : tensor<23068672xi8> -> tensor<2048x5632xf32>
  %y = tessel.ffn %n up(%up) gate(%gate) down(%down) residual(%h) {activation = #tessel.activation<swiglu>}
      : (tensor<1x?x2048xf32>, tensor<5632x2048xf32>, tensor<5632x2048xf32>, tensor<2048x5632xf32>, tensor<1x?x2048xf32>) -> tensor<1x?x2048xf32>
  return %y : tensor<1x?x2048xf32>
}

// Gemma-like GeGLU (tanh) with the unit-offset norm, exact GeLU without.
func.func @ffn_geglu_step(%h: tensor<1x?x2048xf32>, %g: tensor<2048xf32>, %wg: tensor<67108864xi8>, %wu: tensor<67108864xi8>, %wd: tensor<67108864xi8>) -> (tensor<1x?x2048xf32>, tensor<1x?x2048xf32>) {
  %n = tessel.rms_norm %h, %g {epsilon = 1.0e-06 : f32, unit_offset} : (tensor<1x?x2048xf32>, tensor<2048xf32>) -> tensor<1x?x2048xf32>
  %gate = tessel.dequantize %wg {format = "bf16"} : tensor<67108864xi8> -> tensor<16384x2048xf32>
  %up = tessel.dequantize %wu {format = "bf16"} : tensor<67108864xi8> -> tensor<16384x2048xf32>
  %down = tessel.dequantize %wd {format = "bf16"} : tensor<67108864xi8> -> tensor<2048x16384xf32>
  %y = tessel.ffn %n up(%up) gate(%gate) down(%down) {activation = #tessel.activation<geglu>, tanh_approx}
      : (tensor<1x?x2048xf32>, tensor<16384x2048xf32>, tensor<16384x2048xf32>, tensor<2048x16384xf32>) -> tensor<1x?x2048xf32>
  %y2 = tessel.ffn %h up(%up) gate(%gate) down(%down) {activation = #tessel.activation<geglu>}
      : (tensor<1x?x2048xf32>, tensor<16384x2048xf32>, tensor<16384x2048xf32>, tensor<2048x16384xf32>) -> tensor<1x?x2048xf32>
  return %y, %y2 : tensor<1x?x2048xf32>, tensor<1x?x2048xf32>
}

// Q, K, V off one norm; RoPE in Q's epilogue (half-split, 128-wide heads:
// the widest warp tile) and K's (interleaved over 32 of 64 dims, bias).
func.func @qkv_rope_step(%h: tensor<1x?x2048xf32>, %g: tensor<2048xf32>, %pos: tensor<1x?xi64>, %wq: tensor<8388608xi8>, %wk: tensor<1048576xi8>, %bk: tensor<256xf32>, %wv: tensor<1048576xi8>)
    -> (tensor<1x?x16x128xf32>, tensor<1x?x4x64xf32>, tensor<1x?x256xf32>) {
  %c1 = arith.constant 1 : index
  %len = tensor.dim %h, %c1 : tensor<1x?x2048xf32>
  %n = tessel.rms_norm %h, %g {epsilon = 1.0e-05 : f32} : (tensor<1x?x2048xf32>, tensor<2048xf32>) -> tensor<1x?x2048xf32>
  %q = tessel.dequantize %wq {format = "bf16"} : tensor<8388608xi8> -> tensor<2048x2048xf32>
  %k = tessel.dequantize %wk {format = "bf16"} : tensor<1048576xi8> -> tensor<256x2048xf32>
  %v = tessel.dequantize %wv {format = "bf16"} : tensor<1048576xi8> -> tensor<256x2048xf32>
  %q0 = tessel.linear %n, %q : (tensor<1x?x2048xf32>, tensor<2048x2048xf32>) -> tensor<1x?x2048xf32>
  %qh = tensor.expand_shape %q0 [[0], [1], [2, 3]] output_shape [1, %len, 16, 128] : tensor<1x?x2048xf32> into tensor<1x?x16x128xf32>
  %qr = tessel.rope %qh, %pos {layout = #tessel.rope_layout<half_split>, theta = 500000.0 : f32} : (tensor<1x?x16x128xf32>, tensor<1x?xi64>) -> tensor<1x?x16x128xf32>
  %k0 = tessel.linear %n, %k bias(%bk) : (tensor<1x?x2048xf32>, tensor<256x2048xf32>, tensor<256xf32>) -> tensor<1x?x256xf32>
  %kh = tensor.expand_shape %k0 [[0], [1], [2, 3]] output_shape [1, %len, 4, 64] : tensor<1x?x256xf32> into tensor<1x?x4x64xf32>
  %kr = tessel.rope %kh, %pos {layout = #tessel.rope_layout<interleaved>, rotary_dim = 32 : i64} : (tensor<1x?x4x64xf32>, tensor<1x?xi64>) -> tensor<1x?x4x64xf32>
  %v0 = tessel.linear %n, %v : (tensor<1x?x2048xf32>, tensor<256x2048xf32>) -> tensor<1x?x256xf32>
  return %qr, %kr, %v0 : tensor<1x?x16x128xf32>, tensor<1x?x4x64xf32>, tensor<1x?x256xf32>
}
