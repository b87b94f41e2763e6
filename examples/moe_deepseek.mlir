// A DeepSeek-V3-style mixture-of-experts FFN sub-block: 8 routed experts,
// 2 picked per token with sigmoid scores, the picked weights renormalised and
// scaled by routed_scale, plus one always-on shared expert; every expert is a
// SwiGLU FFN. Sizes: dim 16, expert hidden 8, shared hidden 16, seq 6, batch 1.
//
// Per token x (see tessel.moe in dialect/TesselOps.td):
//   s       = sigmoid(x router^T)                   8 scores
//   e1, e2  = the two highest scores (ties: lower expert index)
//   w_i     = routed_scale * s_ei / (s_e1 + s_e2)   (normalize_top_k)
//   y       = w_1 FFN_e1(x) + w_2 FFN_e2(x) + FFN_shared(x)
// Not modelled: V3's per-expert score-correction bias and group-limited
// routing (they only change which experts are picked). Mixtral is the same op
// with scoring = softmax and no shared(...).
//
// Run it (parse, verify, print):
//   tessel-opt examples/moe_deepseek.mlir
// Every activation and weight is an argument of @main.
//
// CHECK-LABEL: func.func @main
// CHECK: tessel.rms_norm
// CHECK: tessel.moe %{{.*}} router(%{{.*}}) experts(%{{.*}}, %{{.*}}, %{{.*}}) shared(%{{.*}}, %{{.*}}, %{{.*}}) {activation = #tessel.activation<swiglu>, normalize_top_k, routed_scale = 2.500000e+00 : f32, scoring = #tessel.moe_scoring<sigmoid>, top_k = 2 : i64}
// CHECK: tessel.residual_add
func.func @main(
    %x: tensor<1x6x16xf32>,              // [batch, seq, dim]
    %ffn_norm: tensor<16xf32>,           // post_attention_layernorm.weight
    %router: tensor<8x16xf32>,           // gate.weight [experts, dim]
    %experts_up: tensor<8x8x16xf32>,     // experts.*.up_proj   stacked [experts, hidden, dim]
    %experts_gate: tensor<8x8x16xf32>,   // experts.*.gate_proj stacked
    %experts_down: tensor<8x16x8xf32>,   // experts.*.down_proj stacked [experts, dim, hidden]
    %shared_up: tensor<16x16xf32>,       // shared_experts.up_proj   [shared_hidden, dim]
    %shared_gate: tensor<16x16xf32>,     // shared_experts.gate_proj
    %shared_down: tensor<16x16xf32>)     // shared_experts.down_proj [dim, shared_hidden]
    -> tensor<1x6x16xf32> {
  %h = tessel.rms_norm %x, %ffn_norm {epsilon = 1.0e-06 : f32}
      : (tensor<1x6x16xf32>, tensor<16xf32>) -> tensor<1x6x16xf32>
  %moe = tessel.moe %h router(%router) experts(%experts_up, %experts_gate, %experts_down)
      shared(%shared_up, %shared_gate, %shared_down)
      {top_k = 2 : i64, scoring = #tessel.moe_scoring<sigmoid>, normalize_top_k,
       routed_scale = 2.5 : f32, activation = #tessel.activation<swiglu>}
      : (tensor<1x6x16xf32>, tensor<8x16xf32>, tensor<8x8x16xf32>, tensor<8x8x16xf32>,
         tensor<8x16x8xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>)
      -> tensor<1x6x16xf32>
  %out = tessel.residual_add %x, %moe : tensor<1x6x16xf32>
  return %out : tensor<1x6x16xf32>
}
