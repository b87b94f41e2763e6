// DeepSeek-V2/V3 multi-head latent attention (MLA), with a low-rank query
// (q_lora_rank), inside a pre-norm residual block. Sizes (tiny, DeepSeek's
// proportions): dim 32, 4 heads, q_lora_rank 12, kv_lora_rank 16,
// qk_nope_dim 8, qk_rope_dim 4, v_head_dim 8, seq 6, batch 1.
//
// What the op computes (see tessel.mla in dialect/TesselOps.td):
//   q      = rms_norm(x wq_a^T, q_norm) wq_b^T            per head: [q_nope 8 | q_rope 4]
//   ckv    = x wkv_a^T = [c (16) | k_rope (4)]              k_rope is shared by all heads
//   [k_nope 8 | v 8] per head = rms_norm(c, kv_norm) wkv_b^T
//   RoPE on q_rope and k_rope only; keys = [k_nope | k_rope], queries = [q_nope | q_rope]
//   causal attention (scale 1/sqrt(8 + 4)), then wo.
// A decode step only needs to cache c and k_rope: 16 + 4 = 20 floats per
// token instead of 4 heads * (12 + 8) = 80 for plain MHA.
//
// Run it (parse, verify, print):
//   tessel-opt examples/mla_attention.mlir
// Every activation and weight is an argument of @main.
//
// CHECK-LABEL: func.func @main
// CHECK: tessel.rms_norm
// CHECK: tessel.mla %{{.*}}, %{{.*}} q(%{{.*}}, %{{.*}}, %{{.*}}) kv(%{{.*}}, %{{.*}}, %{{.*}}) out(%{{.*}}) {causal, kv_lora_rank = 16 : i64, num_heads = 4 : i64, q_lora_rank = 12 : i64, qk_nope_dim = 8 : i64, qk_rope_dim = 4 : i64, v_head_dim = 8 : i64}
// CHECK: tessel.residual_add
func.func @main(
    %x: tensor<1x6x32xf32>,          // [batch, seq, dim]
    %positions: tensor<1x6xi64>,     // [batch, seq]
    %attn_norm: tensor<32xf32>,      // input_layernorm.weight
    %wq_a: tensor<12x32xf32>,        // q_a_proj      [q_lora_rank, dim]
    %q_norm: tensor<12xf32>,         // q_a_layernorm [q_lora_rank]
    %wq_b: tensor<48x12xf32>,        // q_b_proj      [heads*(8+4), q_lora_rank]
    %wkv_a: tensor<20x32xf32>,       // kv_a_proj_with_mqa [kv_lora_rank+4, dim]
    %kv_norm: tensor<16xf32>,        // kv_a_layernorm     [kv_lora_rank]
    %wkv_b: tensor<64x16xf32>,       // kv_b_proj          [heads*(8+8), kv_lora_rank]
    %wo: tensor<32x32xf32>)          // o_proj             [dim, heads*8]
    -> tensor<1x6x32xf32> {
  %h = tessel.rms_norm %x, %attn_norm {epsilon = 1.0e-06 : f32}
      : (tensor<1x6x32xf32>, tensor<32xf32>) -> tensor<1x6x32xf32>
  // Defaults made explicit here: interleaved RoPE (DeepSeek's decoupled RoPE),
  // theta 10000, epsilon 1e-6 for the two latent norms.
  %attn = tessel.mla %h, %positions q(%wq_a, %q_norm, %wq_b) kv(%wkv_a, %kv_norm, %wkv_b) out(%wo)
      {num_heads = 4 : i64, q_lora_rank = 12 : i64, kv_lora_rank = 16 : i64,
       qk_nope_dim = 8 : i64, qk_rope_dim = 4 : i64, v_head_dim = 8 : i64, causal,
       rope_layout = #tessel.rope_layout<interleaved>, rope_theta = 10000.0 : f32,
       epsilon = 1.0e-06 : f32}
      : (tensor<1x6x32xf32>, tensor<1x6xi64>, tensor<12x32xf32>, tensor<12xf32>, tensor<48x12xf32>,
         tensor<20x32xf32>, tensor<16xf32>, tensor<64x16xf32>, tensor<32x32xf32>) -> tensor<1x6x32xf32>
  %out = tessel.residual_add %x, %attn : tensor<1x6x32xf32>
  return %out : tensor<1x6x32xf32>
}
