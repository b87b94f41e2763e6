// One GPT-2 transformer block: LayerNorm with bias, q/k/v/o projections with
// bias, causal multi-head attention (MHA: every query head has its own K/V
// head) and a GELU MLP (tanh approximation, biases on both projections).
// GPT-2 has no RoPE: its learned position embeddings are added to the token
// embeddings before the first block, so the block takes no positions.
// Sizes: dim 32, 4 heads, head_dim 8, MLP hidden 64 (GPT-2 uses 4 * dim;
// 2 * dim keeps this small), seq 6, batch 1.
//
//   h   = x + c_proj(attention(c_attn(ln_1(x))))
//   out = h + mlp_proj(gelu_tanh(mlp_fc(ln_2(h))))
//
// HF stores GPT-2's Conv1D weights as [in, out]; Tessel's linear weights are
// PyTorch's [out, in], so a frontend transposes them, and splits the fused
// c_attn [dim, 3 * dim] into the three projections below.
//
// Run it (parse, verify, print):
//   tessel-opt examples/gpt2_block.mlir
// Every activation and weight is an argument of @main.
//
// CHECK-LABEL: func.func @main
// CHECK: tessel.layer_norm %{{.*}}, %{{.*}} bias(%{{.*}})
// CHECK-COUNT-3: tessel.linear %{{.*}}, %{{.*}} bias(%{{.*}})
// CHECK: tessel.attention {{.*}} {causal, num_heads = 4 : i64, num_kv_heads = 4 : i64}
// CHECK: tessel.linear %{{.*}}, %{{.*}} bias(%{{.*}})
// CHECK: tessel.residual_add
// CHECK: tessel.layer_norm %{{.*}}, %{{.*}} bias(%{{.*}})
// CHECK: tessel.ffn %{{.*}} up(%{{.*}}) down(%{{.*}}) up_bias(%{{.*}}) down_bias(%{{.*}}) {activation = #tessel.activation<gelu>, tanh_approx}
// CHECK: tessel.residual_add
func.func @main(
    %x: tensor<1x6x32xf32>,          // [batch, seq, dim]
    %ln1_w: tensor<32xf32>,          // ln_1.weight
    %ln1_b: tensor<32xf32>,          // ln_1.bias
    %wq: tensor<32x32xf32>,          // attn.c_attn, query third, transposed
    %bq: tensor<32xf32>,
    %wk: tensor<32x32xf32>,          // attn.c_attn, key third
    %bk: tensor<32xf32>,
    %wv: tensor<32x32xf32>,          // attn.c_attn, value third
    %bv: tensor<32xf32>,
    %wo: tensor<32x32xf32>,          // attn.c_proj
    %bo: tensor<32xf32>,
    %ln2_w: tensor<32xf32>,          // ln_2.weight
    %ln2_b: tensor<32xf32>,          // ln_2.bias
    %w_fc: tensor<64x32xf32>,        // mlp.c_fc   [hidden, dim]
    %b_fc: tensor<64xf32>,
    %w_proj: tensor<32x64xf32>,      // mlp.c_proj [dim, hidden]
    %b_proj: tensor<32xf32>)
    -> tensor<1x6x32xf32> {
  // --- attention sub-block ---------------------------------------------------
  %h = tessel.layer_norm %x, %ln1_w bias(%ln1_b) {epsilon = 1.0e-05 : f32}
      : (tensor<1x6x32xf32>, tensor<32xf32>, tensor<32xf32>) -> tensor<1x6x32xf32>
  %q = tessel.linear %h, %wq bias(%bq)
      : (tensor<1x6x32xf32>, tensor<32x32xf32>, tensor<32xf32>) -> tensor<1x6x32xf32>
  %k = tessel.linear %h, %wk bias(%bk)
      : (tensor<1x6x32xf32>, tensor<32x32xf32>, tensor<32xf32>) -> tensor<1x6x32xf32>
  %v = tessel.linear %h, %wv bias(%bv)
      : (tensor<1x6x32xf32>, tensor<32x32xf32>, tensor<32xf32>) -> tensor<1x6x32xf32>
  %q4 = tensor.expand_shape %q [[0], [1], [2, 3]] output_shape [1, 6, 4, 8]
      : tensor<1x6x32xf32> into tensor<1x6x4x8xf32>
  %k4 = tensor.expand_shape %k [[0], [1], [2, 3]] output_shape [1, 6, 4, 8]
      : tensor<1x6x32xf32> into tensor<1x6x4x8xf32>
  %v4 = tensor.expand_shape %v [[0], [1], [2, 3]] output_shape [1, 6, 4, 8]
      : tensor<1x6x32xf32> into tensor<1x6x4x8xf32>
  %attn = tessel.attention %q4, %k4, %v4 {num_heads = 4 : i64, num_kv_heads = 4 : i64, causal}
      : (tensor<1x6x4x8xf32>, tensor<1x6x4x8xf32>, tensor<1x6x4x8xf32>) -> tensor<1x6x4x8xf32>
  %attn3 = tensor.collapse_shape %attn [[0], [1], [2, 3]]
      : tensor<1x6x4x8xf32> into tensor<1x6x32xf32>
  %o = tessel.linear %attn3, %wo bias(%bo)
      : (tensor<1x6x32xf32>, tensor<32x32xf32>, tensor<32xf32>) -> tensor<1x6x32xf32>
  %h1 = tessel.residual_add %x, %o : tensor<1x6x32xf32>

  // --- MLP sub-block ----------------------------------------------------------
  %n = tessel.layer_norm %h1, %ln2_w bias(%ln2_b) {epsilon = 1.0e-05 : f32}
      : (tensor<1x6x32xf32>, tensor<32xf32>, tensor<32xf32>) -> tensor<1x6x32xf32>
  // GPT-2's "gelu_new": 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
  %f = tessel.ffn %n up(%w_fc) down(%w_proj) up_bias(%b_fc) down_bias(%b_proj)
      {activation = #tessel.activation<gelu>, tanh_approx}
      : (tensor<1x6x32xf32>, tensor<64x32xf32>, tensor<32x64xf32>, tensor<64xf32>, tensor<32xf32>)
      -> tensor<1x6x32xf32>
  %out = tessel.residual_add %h1, %f : tensor<1x6x32xf32>
  return %out : tensor<1x6x32xf32>
}
