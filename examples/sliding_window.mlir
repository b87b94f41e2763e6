// Mistral-style sliding-window attention: each query sees itself and the
// 3 keys before it (window = 4), on top of the causal mask. With a window
// the KV cache only ever needs the last `window` rows (a rolling buffer).
// Sizes: dim 32, 4 query heads over 2 KV heads (GQA), head_dim 8, seq 8,
// batch 1; pre-norm and the residual connection included.
//
//   visible(i, j) = j <= i  and  i - j < 4
//   query 7 sees keys 4, 5, 6, 7; query 2 sees keys 0, 1, 2.
//
// Run it (parse, verify, print):
//   tessel-opt examples/sliding_window.mlir
// Every activation and weight is an argument of @main.
//
// CHECK-LABEL: func.func @main
// CHECK: tessel.rms_norm
// CHECK-COUNT-2: tessel.rope
// CHECK: tessel.attention {{.*}} {causal, num_heads = 4 : i64, num_kv_heads = 2 : i64, window = 4 : i64}
// CHECK: tessel.residual_add
func.func @main(
    %x: tensor<1x8x32xf32>,          // [batch, seq, dim]
    %positions: tensor<1x8xi64>,     // [batch, seq]
    %attn_norm: tensor<32xf32>,
    %wq: tensor<32x32xf32>,          // 4 heads * 8
    %wk: tensor<16x32xf32>,          // 2 KV heads * 8
    %wv: tensor<16x32xf32>,
    %wo: tensor<32x32xf32>)
    -> tensor<1x8x32xf32> {
  %h = tessel.rms_norm %x, %attn_norm : (tensor<1x8x32xf32>, tensor<32xf32>) -> tensor<1x8x32xf32>
  %q = tessel.linear %h, %wq : (tensor<1x8x32xf32>, tensor<32x32xf32>) -> tensor<1x8x32xf32>
  %k = tessel.linear %h, %wk : (tensor<1x8x32xf32>, tensor<16x32xf32>) -> tensor<1x8x16xf32>
  %v = tessel.linear %h, %wv : (tensor<1x8x32xf32>, tensor<16x32xf32>) -> tensor<1x8x16xf32>
  %q4 = tensor.expand_shape %q [[0], [1], [2, 3]] output_shape [1, 8, 4, 8]
      : tensor<1x8x32xf32> into tensor<1x8x4x8xf32>
  %k4 = tensor.expand_shape %k [[0], [1], [2, 3]] output_shape [1, 8, 2, 8]
      : tensor<1x8x16xf32> into tensor<1x8x2x8xf32>
  %v4 = tensor.expand_shape %v [[0], [1], [2, 3]] output_shape [1, 8, 2, 8]
      : tensor<1x8x16xf32> into tensor<1x8x2x8xf32>
  %qr = tessel.rope %q4, %positions {layout = #tessel.rope_layout<half_split>, theta = 10000.0 : f32}
      : (tensor<1x8x4x8xf32>, tensor<1x8xi64>) -> tensor<1x8x4x8xf32>
  %kr = tessel.rope %k4, %positions {layout = #tessel.rope_layout<half_split>, theta = 10000.0 : f32}
      : (tensor<1x8x2x8xf32>, tensor<1x8xi64>) -> tensor<1x8x2x8xf32>
  // `window` requires `causal` (the verifier says so if you forget it).
  %attn = tessel.attention %qr, %kr, %v4 {num_heads = 4 : i64, num_kv_heads = 2 : i64, causal, window = 4 : i64}
      : (tensor<1x8x4x8xf32>, tensor<1x8x2x8xf32>, tensor<1x8x2x8xf32>) -> tensor<1x8x4x8xf32>
  %attn3 = tensor.collapse_shape %attn [[0], [1], [2, 3]]
      : tensor<1x8x4x8xf32> into tensor<1x8x32xf32>
  %o = tessel.linear %attn3, %wo : (tensor<1x8x32xf32>, tensor<32x32xf32>) -> tensor<1x8x32xf32>
  %out = tessel.residual_add %x, %o : tensor<1x8x32xf32>
  return %out : tensor<1x8x32xf32>
}
