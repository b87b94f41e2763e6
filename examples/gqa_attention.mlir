// Grouped-query attention (GQA) with a padding mask, for a batch of two
// prompts of 6 tokens: dim 32, 8 query heads sharing 2 KV heads (each KV head
// serves a group of 4 query heads), head_dim 4. RoPE uses the interleaved
// layout (llama2.c, GPT-J). num_kv_heads = num_heads would be MHA,
// num_kv_heads = 1 MQA: only the attribute and the K/V shapes change.
//
// The padding mask is [batch, kv_len] i1: false marks a padding token no
// query may attend to (e.g. the shorter prompt of the batch, left-padded).
// It combines with `causal`; a query row that sees no key yields zeros.
//
// Run it (parse, verify, print):
//   tessel-opt examples/gqa_attention.mlir
// Every activation and weight is an argument of @main.
//
// CHECK-LABEL: func.func @main
// CHECK-COUNT-3: tessel.linear
// CHECK-COUNT-2: tessel.rope {{.*}} {layout = #tessel.rope_layout<interleaved>}
// CHECK: tessel.attention {{.*}} mask(%{{.*}}) {causal, num_heads = 8 : i64, num_kv_heads = 2 : i64} : (tensor<2x6x8x4xf32>, tensor<2x6x2x4xf32>, tensor<2x6x2x4xf32>, tensor<2x6xi1>) -> tensor<2x6x8x4xf32>
// CHECK: tessel.linear
func.func @main(
    %x: tensor<2x6x32xf32>,          // hidden states [batch, seq, dim]
    %positions: tensor<2x6xi64>,     // [batch, seq]
    %mask: tensor<2x6xi1>,           // padding mask [batch, kv_len]: true = a real token
    %wq: tensor<32x32xf32>,          // 8 heads * 4
    %wk: tensor<8x32xf32>,           // 2 KV heads * 4: K and V are 4x smaller than Q
    %wv: tensor<8x32xf32>,
    %wo: tensor<32x32xf32>)
    -> tensor<2x6x32xf32> {
  %q = tessel.linear %x, %wq : (tensor<2x6x32xf32>, tensor<32x32xf32>) -> tensor<2x6x32xf32>
  %k = tessel.linear %x, %wk : (tensor<2x6x32xf32>, tensor<8x32xf32>) -> tensor<2x6x8xf32>
  %v = tessel.linear %x, %wv : (tensor<2x6x32xf32>, tensor<8x32xf32>) -> tensor<2x6x8xf32>
  %q4 = tensor.expand_shape %q [[0], [1], [2, 3]] output_shape [2, 6, 8, 4]
      : tensor<2x6x32xf32> into tensor<2x6x8x4xf32>
  %k4 = tensor.expand_shape %k [[0], [1], [2, 3]] output_shape [2, 6, 2, 4]
      : tensor<2x6x8xf32> into tensor<2x6x2x4xf32>
  %v4 = tensor.expand_shape %v [[0], [1], [2, 3]] output_shape [2, 6, 2, 4]
      : tensor<2x6x8xf32> into tensor<2x6x2x4xf32>
  %qr = tessel.rope %q4, %positions {layout = #tessel.rope_layout<interleaved>}
      : (tensor<2x6x8x4xf32>, tensor<2x6xi64>) -> tensor<2x6x8x4xf32>
  %kr = tessel.rope %k4, %positions {layout = #tessel.rope_layout<interleaved>}
      : (tensor<2x6x2x4xf32>, tensor<2x6xi64>) -> tensor<2x6x2x4xf32>
  // Query heads 0-3 read KV head 0, heads 4-7 KV head 1. The lowering shares
  // K/V by indexing; no head is copied.
  %attn = tessel.attention %qr, %kr, %v4 mask(%mask) {num_heads = 8 : i64, num_kv_heads = 2 : i64, causal}
      : (tensor<2x6x8x4xf32>, tensor<2x6x2x4xf32>, tensor<2x6x2x4xf32>, tensor<2x6xi1>)
      -> tensor<2x6x8x4xf32>
  %attn3 = tensor.collapse_shape %attn [[0], [1], [2, 3]]
      : tensor<2x6x8x4xf32> into tensor<2x6x32xf32>
  %out = tessel.linear %attn3, %wo : (tensor<2x6x32xf32>, tensor<32x32xf32>) -> tensor<2x6x32xf32>
  return %out : tensor<2x6x32xf32>
}
