// One LLaMA-style decoder block (pre-norm, GQA, RoPE, SwiGLU), at the size of
// the stories260K model in ../shared: dim 64, 8 query heads over 4 KV heads
// (GQA, 2 query heads per KV head), head_dim 8, FFN hidden 172. One prompt of
// 8 tokens (batch 1), no KV cache: this is the prefill form of the block.
//
//   h   = x + wo(attention(rope(wq(norm(x))), rope(wk(norm(x))), wv(norm(x))))
//   out = h + ffn_swiglu(norm(h))
//
// Run it (parse, verify, print):
//   tessel-opt examples/llama_decoder_block.mlir
// Every activation and weight is an argument of @main, so a reference
// evaluator can feed it random inputs. Weights use PyTorch's [out, in] layout.
//
// tests/lit/examples/llama_decoder_block.mlir round-trips this file and checks
// the lines below.
// CHECK-LABEL: func.func @main
// CHECK: tessel.rms_norm
// CHECK-COUNT-3: tessel.linear
// CHECK-COUNT-3: tensor.expand_shape
// CHECK-COUNT-2: tessel.rope {{.*}} {layout = #tessel.rope_layout<half_split>}
// CHECK: tessel.attention {{.*}} {causal, num_heads = 8 : i64, num_kv_heads = 4 : i64}
// CHECK: tensor.collapse_shape
// CHECK: tessel.linear
// CHECK: tessel.residual_add
// CHECK: tessel.rms_norm
// CHECK: tessel.ffn {{.*}} up(%{{.*}}) gate(%{{.*}}) down(%{{.*}}) {activation = #tessel.activation<swiglu>}
// CHECK: tessel.residual_add
func.func @main(
    %x: tensor<1x8x64xf32>,            // hidden states entering the block [batch, seq, dim]
    %positions: tensor<1x8xi64>,       // absolute position of each token [batch, seq]
    %attn_norm: tensor<64xf32>,        // attention_norm.weight
    %wq: tensor<64x64xf32>,            // attention.wq: 8 heads * 8
    %wk: tensor<32x64xf32>,            // attention.wk: 4 KV heads * 8
    %wv: tensor<32x64xf32>,            // attention.wv: 4 KV heads * 8
    %wo: tensor<64x64xf32>,            // attention.wo
    %ffn_norm: tensor<64xf32>,         // ffn_norm.weight
    %w_gate: tensor<172x64xf32>,       // feed_forward.w1 (silu is applied to this one)
    %w_up: tensor<172x64xf32>,         // feed_forward.w3
    %w_down: tensor<64x172xf32>)       // feed_forward.w2
    -> tensor<1x8x64xf32> {
  // --- attention sub-block ---------------------------------------------------
  %h = tessel.rms_norm %x, %attn_norm {epsilon = 1.0e-05 : f32}
      : (tensor<1x8x64xf32>, tensor<64xf32>) -> tensor<1x8x64xf32>
  %q = tessel.linear %h, %wq : (tensor<1x8x64xf32>, tensor<64x64xf32>) -> tensor<1x8x64xf32>
  %k = tessel.linear %h, %wk : (tensor<1x8x64xf32>, tensor<32x64xf32>) -> tensor<1x8x32xf32>
  %v = tessel.linear %h, %wv : (tensor<1x8x64xf32>, tensor<32x64xf32>) -> tensor<1x8x32xf32>

  // Split the feature dimension into heads: [b, s, heads * head_dim] -> [b, s, heads, head_dim].
  // Only a reshape; the data does not move.
  %q4 = tensor.expand_shape %q [[0], [1], [2, 3]] output_shape [1, 8, 8, 8]
      : tensor<1x8x64xf32> into tensor<1x8x8x8xf32>
  %k4 = tensor.expand_shape %k [[0], [1], [2, 3]] output_shape [1, 8, 4, 8]
      : tensor<1x8x32xf32> into tensor<1x8x4x8xf32>
  %v4 = tensor.expand_shape %v [[0], [1], [2, 3]] output_shape [1, 8, 4, 8]
      : tensor<1x8x32xf32> into tensor<1x8x4x8xf32>

  // RoPE on queries and keys (HF "rotate_half" pairing), never on values.
  %qr = tessel.rope %q4, %positions {layout = #tessel.rope_layout<half_split>, theta = 10000.0 : f32}
      : (tensor<1x8x8x8xf32>, tensor<1x8xi64>) -> tensor<1x8x8x8xf32>
  %kr = tessel.rope %k4, %positions {layout = #tessel.rope_layout<half_split>, theta = 10000.0 : f32}
      : (tensor<1x8x4x8xf32>, tensor<1x8xi64>) -> tensor<1x8x4x8xf32>

  // GQA: query head h reads KV head h / 2. Scale defaults to 1/sqrt(head_dim).
  %attn = tessel.attention %qr, %kr, %v4 {num_heads = 8 : i64, num_kv_heads = 4 : i64, causal}
      : (tensor<1x8x8x8xf32>, tensor<1x8x4x8xf32>, tensor<1x8x4x8xf32>) -> tensor<1x8x8x8xf32>

  // Merge the heads back and project: [b, s, heads, head_dim] -> [b, s, dim].
  %attn3 = tensor.collapse_shape %attn [[0], [1], [2, 3]]
      : tensor<1x8x8x8xf32> into tensor<1x8x64xf32>
  %o = tessel.linear %attn3, %wo : (tensor<1x8x64xf32>, tensor<64x64xf32>) -> tensor<1x8x64xf32>
  %h1 = tessel.residual_add %x, %o : tensor<1x8x64xf32>

  // --- feed-forward sub-block -------------------------------------------------
  %n = tessel.rms_norm %h1, %ffn_norm {epsilon = 1.0e-05 : f32}
      : (tensor<1x8x64xf32>, tensor<64xf32>) -> tensor<1x8x64xf32>
  // SwiGLU: w2(silu(w1 x) * w3 x).
  %f = tessel.ffn %n up(%w_up) gate(%w_gate) down(%w_down) {activation = #tessel.activation<swiglu>}
      : (tensor<1x8x64xf32>, tensor<172x64xf32>, tensor<172x64xf32>, tensor<64x172xf32>)
      -> tensor<1x8x64xf32>
  %out = tessel.residual_add %h1, %f : tensor<1x8x64xf32>
  return %out : tensor<1x8x64xf32>
}
