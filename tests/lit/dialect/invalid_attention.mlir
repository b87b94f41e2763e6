// Verifier tests for tessel.attention: one split section per message.
// Shapes: query [batch, q_len, num_heads, head_dim], key/value
// [batch, kv_len, num_kv_heads, head_dim / v_head_dim], mask [batch, kv_len]
// or [batch, q_len, kv_len] (i1), sinks [num_heads].
//
// RUN: tessel-opt %s -split-input-file -verify-diagnostics

// The query must be f32.
func.func @query_type(%q: tensor<1x4x8x8xf16>, %k: tensor<1x4x4x8xf32>, %v: tensor<1x4x4x8xf32>) {
  // expected-error @+1 {{query must have f32 elements, got 'f16'}}
  %0 = tessel.attention %q, %k, %v {num_heads = 8 : i64, num_kv_heads = 4 : i64}
      : (tensor<1x4x8x8xf16>, tensor<1x4x4x8xf32>, tensor<1x4x4x8xf32>) -> tensor<1x4x8x8xf16>
  return
}

// -----

// The query is per head: [batch, q_len, num_heads, head_dim].
func.func @query_rank(%q: tensor<1x4x64xf32>, %k: tensor<1x4x4x8xf32>, %v: tensor<1x4x4x8xf32>) {
  // expected-error @+1 {{query must have rank 4 [batch, q_len, num_heads, head_dim], got rank 3}}
  %0 = tessel.attention %q, %k, %v {num_heads = 8 : i64, num_kv_heads = 4 : i64}
      : (tensor<1x4x64xf32>, tensor<1x4x4x8xf32>, tensor<1x4x4x8xf32>) -> tensor<1x4x8x8xf32>
  return
}

// -----

// The key must be f32.
func.func @key_type(%q: tensor<1x4x8x8xf32>, %k: tensor<1x4x4x8xbf16>, %v: tensor<1x4x4x8xf32>) {
  // expected-error @+1 {{key must have f32 elements, got 'bf16'}}
  %0 = tessel.attention %q, %k, %v {num_heads = 8 : i64, num_kv_heads = 4 : i64}
      : (tensor<1x4x8x8xf32>, tensor<1x4x4x8xbf16>, tensor<1x4x4x8xf32>) -> tensor<1x4x8x8xf32>
  return
}

// -----

// The key is per KV head.
func.func @key_rank(%q: tensor<1x4x8x8xf32>, %k: tensor<1x4x32xf32>, %v: tensor<1x4x4x8xf32>) {
  // expected-error @+1 {{key must have rank 4 [batch, kv_len, num_kv_heads, head_dim], got rank 3}}
  %0 = tessel.attention %q, %k, %v {num_heads = 8 : i64, num_kv_heads = 4 : i64}
      : (tensor<1x4x8x8xf32>, tensor<1x4x32xf32>, tensor<1x4x4x8xf32>) -> tensor<1x4x8x8xf32>
  return
}

// -----

// The value must be f32.
func.func @value_type(%q: tensor<1x4x8x8xf32>, %k: tensor<1x4x4x8xf32>, %v: tensor<1x4x4x8xf16>) {
  // expected-error @+1 {{value must have f32 elements, got 'f16'}}
  %0 = tessel.attention %q, %k, %v {num_heads = 8 : i64, num_kv_heads = 4 : i64}
      : (tensor<1x4x8x8xf32>, tensor<1x4x4x8xf32>, tensor<1x4x4x8xf16>) -> tensor<1x4x8x8xf32>
  return
}

// -----

// The value is per KV head.
func.func @value_rank(%q: tensor<1x4x8x8xf32>, %k: tensor<1x4x4x8xf32>, %v: tensor<4x32xf32>) {
  // expected-error @+1 {{value must have rank 4 [batch, kv_len, num_kv_heads, v_head_dim], got rank 2}}
  %0 = tessel.attention %q, %k, %v {num_heads = 8 : i64, num_kv_heads = 4 : i64}
      : (tensor<1x4x8x8xf32>, tensor<1x4x4x8xf32>, tensor<4x32xf32>) -> tensor<1x4x8x8xf32>
  return
}

// -----

// num_heads must be positive.
func.func @num_heads_positive(%q: tensor<1x4x8x8xf32>, %k: tensor<1x4x4x8xf32>,
    %v: tensor<1x4x4x8xf32>) {
  // expected-error @+1 {{num_heads must be positive, got 0}}
  %0 = tessel.attention %q, %k, %v {num_heads = 0 : i64, num_kv_heads = 4 : i64}
      : (tensor<1x4x8x8xf32>, tensor<1x4x4x8xf32>, tensor<1x4x4x8xf32>) -> tensor<1x4x8x8xf32>
  return
}

// -----

// num_kv_heads must be positive (and is checked before the modulo).
func.func @num_kv_heads_positive(%q: tensor<1x4x8x8xf32>, %k: tensor<1x4x4x8xf32>,
    %v: tensor<1x4x4x8xf32>) {
  // expected-error @+1 {{num_kv_heads must be positive, got 0}}
  %0 = tessel.attention %q, %k, %v {num_heads = 8 : i64, num_kv_heads = 0 : i64}
      : (tensor<1x4x8x8xf32>, tensor<1x4x4x8xf32>, tensor<1x4x4x8xf32>) -> tensor<1x4x8x8xf32>
  return
}

// -----

// GQA: query heads are split evenly across KV heads.
func.func @heads_not_multiple(%q: tensor<1x4x8x8xf32>, %k: tensor<1x4x3x8xf32>,
    %v: tensor<1x4x3x8xf32>) {
  // expected-error @+1 {{num_heads (8) must be a multiple of num_kv_heads (3)}}
  %0 = tessel.attention %q, %k, %v {num_heads = 8 : i64, num_kv_heads = 3 : i64}
      : (tensor<1x4x8x8xf32>, tensor<1x4x3x8xf32>, tensor<1x4x3x8xf32>) -> tensor<1x4x8x8xf32>
  return
}

// -----

// The query's head dimension must equal num_heads.
func.func @query_heads(%q: tensor<1x4x8x8xf32>, %k: tensor<1x4x4x8xf32>, %v: tensor<1x4x4x8xf32>) {
  // expected-error @+1 {{query dimension 2 (num_heads) must be 16, got 8}}
  %0 = tessel.attention %q, %k, %v {num_heads = 16 : i64, num_kv_heads = 4 : i64}
      : (tensor<1x4x8x8xf32>, tensor<1x4x4x8xf32>, tensor<1x4x4x8xf32>) -> tensor<1x4x8x8xf32>
  return
}

// -----

// Key and query batch sizes must agree.
func.func @key_batch(%q: tensor<1x4x8x8xf32>, %k: tensor<2x4x4x8xf32>, %v: tensor<1x4x4x8xf32>) {
  // expected-error @+1 {{key dimension 0 (batch, as in query) must be 1, got 2}}
  %0 = tessel.attention %q, %k, %v {num_heads = 8 : i64, num_kv_heads = 4 : i64}
      : (tensor<1x4x8x8xf32>, tensor<2x4x4x8xf32>, tensor<1x4x4x8xf32>) -> tensor<1x4x8x8xf32>
  return
}

// -----

// The key's head dimension must equal num_kv_heads (here MHA-shaped K with GQA attributes).
func.func @key_heads(%q: tensor<1x4x8x8xf32>, %k: tensor<1x4x8x8xf32>, %v: tensor<1x4x4x8xf32>) {
  // expected-error @+1 {{key dimension 2 (num_kv_heads) must be 4, got 8}}
  %0 = tessel.attention %q, %k, %v {num_heads = 8 : i64, num_kv_heads = 4 : i64}
      : (tensor<1x4x8x8xf32>, tensor<1x4x8x8xf32>, tensor<1x4x4x8xf32>) -> tensor<1x4x8x8xf32>
  return
}

// -----

// Query and key head_dim must agree for the dot product.
func.func @key_head_dim(%q: tensor<1x4x8x8xf32>, %k: tensor<1x4x4x16xf32>,
    %v: tensor<1x4x4x8xf32>) {
  // expected-error @+1 {{key dimension 3 (head_dim, as in query) must be 8, got 16}}
  %0 = tessel.attention %q, %k, %v {num_heads = 8 : i64, num_kv_heads = 4 : i64}
      : (tensor<1x4x8x8xf32>, tensor<1x4x4x16xf32>, tensor<1x4x4x8xf32>) -> tensor<1x4x8x8xf32>
  return
}

// -----

// Value must match key in batch, kv_len and num_kv_heads.
func.func @value_shape(%q: tensor<1x4x8x8xf32>, %k: tensor<1x4x4x8xf32>, %v: tensor<1x5x4x16xf32>) {
  // expected-error @+1 {{value must have shape [1, 4, 4, 16] [batch, kv_len, num_kv_heads, v_head_dim] (as in key), got [1, 5, 4, 16]}}
  %0 = tessel.attention %q, %k, %v {num_heads = 8 : i64, num_kv_heads = 4 : i64}
      : (tensor<1x4x8x8xf32>, tensor<1x4x4x8xf32>, tensor<1x5x4x16xf32>) -> tensor<1x4x8x16xf32>
  return
}

// -----

// Causal: queries are the newest keys, so there cannot be more queries than keys.
func.func @causal_q_longer(%q: tensor<1x4x8x8xf32>, %k: tensor<1x2x4x8xf32>,
    %v: tensor<1x2x4x8xf32>) {
  // expected-error @+1 {{causal attention needs q_len (4) <= kv_len (2): queries are the newest keys}}
  %0 = tessel.attention %q, %k, %v {num_heads = 8 : i64, num_kv_heads = 4 : i64, causal}
      : (tensor<1x4x8x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) -> tensor<1x4x8x8xf32>
  return
}

// -----

// A window of 0 keys would hide everything.
func.func @window_positive(%q: tensor<1x4x8x8xf32>, %k: tensor<1x4x4x8xf32>,
    %v: tensor<1x4x4x8xf32>) {
  // expected-error @+1 {{window must be positive, got 0}}
  %0 = tessel.attention %q, %k, %v {num_heads = 8 : i64, num_kv_heads = 4 : i64, causal, window = 0 : i64}
      : (tensor<1x4x8x8xf32>, tensor<1x4x4x8xf32>, tensor<1x4x4x8xf32>) -> tensor<1x4x8x8xf32>
  return
}

// -----

// A sliding window only makes sense with causal.
func.func @window_without_causal(%q: tensor<1x4x8x8xf32>, %k: tensor<1x4x4x8xf32>,
    %v: tensor<1x4x4x8xf32>) {
  // expected-error @+1 {{window requires causal: a sliding window only limits how far back a query looks}}
  %0 = tessel.attention %q, %k, %v {num_heads = 8 : i64, num_kv_heads = 4 : i64, window = 2 : i64}
      : (tensor<1x4x8x8xf32>, tensor<1x4x4x8xf32>, tensor<1x4x4x8xf32>) -> tensor<1x4x8x8xf32>
  return
}

// -----

// The mask is i1 (true = visible), not an additive f32 bias.
func.func @mask_type(%q: tensor<1x4x8x8xf32>, %k: tensor<1x4x4x8xf32>, %v: tensor<1x4x4x8xf32>,
    %m: tensor<1x4xf32>) {
  // expected-error @+1 {{mask must have i1 elements, got 'f32'}}
  %0 = tessel.attention %q, %k, %v mask(%m) {num_heads = 8 : i64, num_kv_heads = 4 : i64}
      : (tensor<1x4x8x8xf32>, tensor<1x4x4x8xf32>, tensor<1x4x4x8xf32>,
        tensor<1x4xf32>) -> tensor<1x4x8x8xf32>
  return
}

// -----

// The mask is rank 2 or 3, not per head.
func.func @mask_rank(%q: tensor<1x4x8x8xf32>, %k: tensor<1x4x4x8xf32>, %v: tensor<1x4x4x8xf32>,
    %m: tensor<1x8x4x4xi1>) {
  // expected-error @+1 {{mask must have rank 2 [batch, kv_len] or rank 3 [batch, q_len, kv_len], got rank 4}}
  %0 = tessel.attention %q, %k, %v mask(%m) {num_heads = 8 : i64, num_kv_heads = 4 : i64}
      : (tensor<1x4x8x8xf32>, tensor<1x4x4x8xf32>, tensor<1x4x4x8xf32>,
        tensor<1x8x4x4xi1>) -> tensor<1x4x8x8xf32>
  return
}

// -----

// A rank-2 mask is [batch, kv_len].
func.func @mask_rank2_shape(%q: tensor<1x4x8x8xf32>, %k: tensor<1x4x4x8xf32>,
    %v: tensor<1x4x4x8xf32>, %m: tensor<1x5xi1>) {
  // expected-error @+1 {{mask must have shape [1, 4] [batch, kv_len], got [1, 5]}}
  %0 = tessel.attention %q, %k, %v mask(%m) {num_heads = 8 : i64, num_kv_heads = 4 : i64}
      : (tensor<1x4x8x8xf32>, tensor<1x4x4x8xf32>, tensor<1x4x4x8xf32>,
        tensor<1x5xi1>) -> tensor<1x4x8x8xf32>
  return
}

// -----

// A rank-3 mask is [batch, q_len, kv_len]; here the query (2) and key (6) lengths differ.
func.func @mask_rank3_shape(%q: tensor<1x2x8x8xf32>, %k: tensor<1x6x4x8xf32>,
    %v: tensor<1x6x4x8xf32>, %m: tensor<1x6x2xi1>) {
  // expected-error @+1 {{mask must have shape [1, 2, 6] [batch, q_len, kv_len], got [1, 6, 2]}}
  %0 = tessel.attention %q, %k, %v mask(%m) {num_heads = 8 : i64, num_kv_heads = 4 : i64}
      : (tensor<1x2x8x8xf32>, tensor<1x6x4x8xf32>, tensor<1x6x4x8xf32>,
        tensor<1x6x2xi1>) -> tensor<1x2x8x8xf32>
  return
}

// -----

// Sinks are f32 logits.
func.func @sinks_type(%q: tensor<1x4x8x8xf32>, %k: tensor<1x4x4x8xf32>, %v: tensor<1x4x4x8xf32>,
    %s: tensor<8xf16>) {
  // expected-error @+1 {{sinks must have f32 elements, got 'f16'}}
  %0 = tessel.attention %q, %k, %v sinks(%s) {num_heads = 8 : i64, num_kv_heads = 4 : i64}
      : (tensor<1x4x8x8xf32>, tensor<1x4x4x8xf32>, tensor<1x4x4x8xf32>,
        tensor<8xf16>) -> tensor<1x4x8x8xf32>
  return
}

// -----

// One sink per query head, not per KV head.
func.func @sinks_shape(%q: tensor<1x4x8x8xf32>, %k: tensor<1x4x4x8xf32>, %v: tensor<1x4x4x8xf32>,
    %s: tensor<4xf32>) {
  // expected-error @+1 {{sinks must have shape [8] [num_heads], got [4]}}
  %0 = tessel.attention %q, %k, %v sinks(%s) {num_heads = 8 : i64, num_kv_heads = 4 : i64}
      : (tensor<1x4x8x8xf32>, tensor<1x4x4x8xf32>, tensor<1x4x4x8xf32>,
        tensor<4xf32>) -> tensor<1x4x8x8xf32>
  return
}

// -----

// The score scale must be positive.
func.func @scale_positive(%q: tensor<1x4x8x8xf32>, %k: tensor<1x4x4x8xf32>,
    %v: tensor<1x4x4x8xf32>) {
  // expected-error @+1 {{scale must be positive, got 0}}
  %0 = tessel.attention %q, %k, %v {num_heads = 8 : i64, num_kv_heads = 4 : i64, scale = 0.0 : f32}
      : (tensor<1x4x8x8xf32>, tensor<1x4x4x8xf32>, tensor<1x4x4x8xf32>) -> tensor<1x4x8x8xf32>
  return
}

// -----

// The result has the query's element type.
func.func @result_type(%q: tensor<1x4x8x8xf32>, %k: tensor<1x4x4x8xf32>, %v: tensor<1x4x4x8xf32>) {
  // expected-error @+1 {{result must have 'f32' elements, got 'f16'}}
  %0 = tessel.attention %q, %k, %v {num_heads = 8 : i64, num_kv_heads = 4 : i64}
      : (tensor<1x4x8x8xf32>, tensor<1x4x4x8xf32>, tensor<1x4x4x8xf32>) -> tensor<1x4x8x8xf16>
  return
}

// -----

// The result has num_heads heads, not num_kv_heads.
func.func @result_shape_heads(%q: tensor<1x4x8x8xf32>, %k: tensor<1x4x4x8xf32>,
    %v: tensor<1x4x4x8xf32>) {
  // expected-error @+1 {{result must have shape [1, 4, 8, 8] [batch, q_len, num_heads, v_head_dim], got [1, 4, 4, 8]}}
  %0 = tessel.attention %q, %k, %v {num_heads = 8 : i64, num_kv_heads = 4 : i64}
      : (tensor<1x4x8x8xf32>, tensor<1x4x4x8xf32>, tensor<1x4x4x8xf32>) -> tensor<1x4x4x8xf32>
  return
}

// -----

// The result's last dimension is the value's head size.
func.func @result_shape_v_head_dim(%q: tensor<1x4x8x8xf32>, %k: tensor<1x4x4x8xf32>,
    %v: tensor<1x4x4x16xf32>) {
  // expected-error @+1 {{result must have shape [1, 4, 8, 16] [batch, q_len, num_heads, v_head_dim], got [1, 4, 8, 8]}}
  %0 = tessel.attention %q, %k, %v {num_heads = 8 : i64, num_kv_heads = 4 : i64}
      : (tensor<1x4x8x8xf32>, tensor<1x4x4x8xf32>, tensor<1x4x4x16xf32>) -> tensor<1x4x8x8xf32>
  return
}

// -----

// attention_probs shares attention's checks and has its own result layout.
func.func @attention_probs_result(%q: tensor<1x4x8x16xf32>, %k: tensor<1x4x4x16xf32>) -> tensor<1x4x8x4xf32> {
  // expected-error @+1 {{result must have shape [1, 8, 4, 4] [batch, num_heads, q_len, kv_len], got [1, 4, 8, 4]}}
  %0 = tessel.attention_probs %q, %k {num_heads = 8 : i64, num_kv_heads = 4 : i64}
      : (tensor<1x4x8x16xf32>, tensor<1x4x4x16xf32>) -> tensor<1x4x8x4xf32>
  return %0 : tensor<1x4x8x4xf32>
}

// -----

func.func @attention_probs_heads(%q: tensor<1x4x8x16xf32>, %k: tensor<1x4x3x16xf32>) -> tensor<1x8x4x4xf32> {
  // expected-error @+1 {{num_heads (8) must be a multiple of num_kv_heads (3)}}
  %0 = tessel.attention_probs %q, %k {num_heads = 8 : i64, num_kv_heads = 3 : i64}
      : (tensor<1x4x8x16xf32>, tensor<1x4x3x16xf32>) -> tensor<1x8x4x4xf32>
  return %0 : tensor<1x8x4x4xf32>
}
