// Input of check_kernels_ptx.sh attention: tessel.attention ops of the shapes real
// models have, so that tessel-attention-to-gpu writes every kernel variant
// at production head dims (the lit test uses tiny ones): prefill, split-KV
// and combine for head_dim 64, 128 and 256, GQA, MQA, MHA, causal, a
// sliding window, an explicit scale and v_head_dim != head_dim.

// Llama-style GQA (32 query heads over 8 KV heads, head_dim 128) on a step
// entry point: dynamic q_len picks prefill or split-KV at run time.
func.func @llama_step(%q: tensor<1x?x32x128xf32>, %k: tensor<1x?x8x128xf32>, %v: tensor<1x?x8x128xf32>) -> tensor<1x?x32x128xf32> {
  %o = tessel.attention %q, %k, %v {num_heads = 32 : i64, num_kv_heads = 8 : i64, causal}
      : (tensor<1x?x32x128xf32>, tensor<1x?x8x128xf32>, tensor<1x?x8x128xf32>) -> tensor<1x?x32x128xf32>
  return %o : tensor<1x?x32x128xf32>
}

// MHA, head_dim 64, sliding window of 512 keys, any batch.
func.func @window_step(%q: tensor<?x?x16x64xf32>, %k: tensor<?x?x16x64xf32>, %v: tensor<?x?x16x64xf32>) -> tensor<?x?x16x64xf32> {
  %o = tessel.attention %q, %k, %v {num_heads = 16 : i64, num_kv_heads = 16 : i64, causal, window = 512 : i64}
      : (tensor<?x?x16x64xf32>, tensor<?x?x16x64xf32>, tensor<?x?x16x64xf32>) -> tensor<?x?x16x64xf32>
  return %o : tensor<?x?x16x64xf32>
}

// MQA, head_dim 256 (the largest the pass takes), not causal, decode only.
func.func @mqa_decode(%q: tensor<1x1x8x256xf32>, %k: tensor<1x?x1x256xf32>, %v: tensor<1x?x1x256xf32>) -> tensor<1x1x8x256xf32> {
  %o = tessel.attention %q, %k, %v {num_heads = 8 : i64, num_kv_heads = 1 : i64}
      : (tensor<1x1x8x256xf32>, tensor<1x?x1x256xf32>, tensor<1x?x1x256xf32>) -> tensor<1x1x8x256xf32>
  return %o : tensor<1x1x8x256xf32>
}

// v_head_dim 64 != head_dim 192 (as MLA's naive form), explicit scale,
// prefill only.
func.func @mla_like_prefill(%q: tensor<1x128x16x192xf32>, %k: tensor<1x128x16x192xf32>, %v: tensor<1x128x16x64xf32>) -> tensor<1x128x16x64xf32> {
  %o = tessel.attention %q, %k, %v {num_heads = 16 : i64, num_kv_heads = 16 : i64, causal, scale = 0.0721687824 : f32}
      : (tensor<1x128x16x192xf32>, tensor<1x128x16x192xf32>, tensor<1x128x16x64xf32>) -> tensor<1x128x16x64xf32>
  return %o : tensor<1x128x16x64xf32>
}
