// Encoder-decoder cross-attention (T5, Whisper, BART): 3 decoder positions
// attend to all 7 encoder states of their own input, not causally; queries
// come from the decoder's hidden state, keys and values from the encoder's
// output. The padding mask [batch, enc_len] hides the encoder padding of the
// shorter input (batch row 1 has 5 real tokens). dim 16, 4 heads of 4.
// `tessel.attention` needs nothing special for it: q_len and kv_len differ,
// `causal` is absent, and the mask covers the encoder side.
//
// Run it (parse, verify, print; or evaluate with the reference):
//   tessel-opt examples/cross_attention.mlir
//   tessel eval examples/cross_attention.mlir
//
// CHECK-LABEL: func.func @main
// CHECK: tessel.linear
// CHECK-COUNT-2: tessel.linear
// CHECK: tessel.attention {{.*}} mask(%{{.*}}) {num_heads = 4 : i64, num_kv_heads = 4 : i64} : (tensor<2x3x4x4xf32>, tensor<2x7x4x4xf32>, tensor<2x7x4x4xf32>, tensor<2x7xi1>) -> tensor<2x3x4x4xf32>
// CHECK: tessel.linear
func.func @main(%decoder: tensor<2x3x16xf32>, %encoder: tensor<2x7x16xf32>,
                %encoder_mask: tensor<2x7xi1>, %wq: tensor<16x16xf32>,
                %wk: tensor<16x16xf32>, %wv: tensor<16x16xf32>,
                %wo: tensor<16x16xf32>) -> tensor<2x3x16xf32> {
  %q = tessel.linear %decoder, %wq : (tensor<2x3x16xf32>, tensor<16x16xf32>) -> tensor<2x3x16xf32>
  %k = tessel.linear %encoder, %wk : (tensor<2x7x16xf32>, tensor<16x16xf32>) -> tensor<2x7x16xf32>
  %v = tessel.linear %encoder, %wv : (tensor<2x7x16xf32>, tensor<16x16xf32>) -> tensor<2x7x16xf32>
  %qh = tensor.expand_shape %q [[0], [1], [2, 3]] output_shape [2, 3, 4, 4]
      : tensor<2x3x16xf32> into tensor<2x3x4x4xf32>
  %kh = tensor.expand_shape %k [[0], [1], [2, 3]] output_shape [2, 7, 4, 4]
      : tensor<2x7x16xf32> into tensor<2x7x4x4xf32>
  %vh = tensor.expand_shape %v [[0], [1], [2, 3]] output_shape [2, 7, 4, 4]
      : tensor<2x7x16xf32> into tensor<2x7x4x4xf32>
  %o = tessel.attention %qh, %kh, %vh mask(%encoder_mask) {num_heads = 4 : i64, num_kv_heads = 4 : i64}
      : (tensor<2x3x4x4xf32>, tensor<2x7x4x4xf32>, tensor<2x7x4x4xf32>, tensor<2x7xi1>)
      -> tensor<2x3x4x4xf32>
  %oh = tensor.collapse_shape %o [[0], [1], [2, 3]] : tensor<2x3x4x4xf32> into tensor<2x3x16xf32>
  %y = tessel.linear %oh, %wo : (tensor<2x3x16xf32>, tensor<16x16xf32>) -> tensor<2x3x16xf32>
  return %y : tensor<2x3x16xf32>
}
