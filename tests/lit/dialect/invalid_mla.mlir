// Verifier tests for tessel.mla: one split section per message.
// The valid baseline: dim 32, num_heads H = 4, kv_lora_rank r = 16,
// qk_nope_dim dn = 8, qk_rope_dim dr = 4, v_head_dim dv = 8, so
//   wq [H*(dn+dr), dim] = [48, 32]     (or wq_a [12, 32], q_norm [12], wq_b [48, 12])
//   wkv_a [r+dr, dim] = [20, 32], kv_norm [r] = [16], wkv_b [H*(dn+dv), r] = [64, 16]
//   wo [dim, H*dv] = [32, 32]
// Each section changes one thing.
//
// RUN: tessel-opt %s -split-input-file -verify-diagnostics

// The input must be f32.
func.func @input_type(%x: tensor<1x6x32xf16>, %pos: tensor<1x6xi64>, %wq: tensor<48x32xf32>,
    %wkv_a: tensor<20x32xf32>, %kv_norm: tensor<16xf32>, %wkv_b: tensor<64x16xf32>,
    %wo: tensor<32x32xf32>) {
  // expected-error @+1 {{input must have f32 elements, got 'f16'}}
  %0 = tessel.mla %x, %pos q(%wq) kv(%wkv_a, %kv_norm, %wkv_b) out(%wo)
      {num_heads = 4 : i64, kv_lora_rank = 16 : i64, qk_nope_dim = 8 : i64, qk_rope_dim = 4 : i64,
        v_head_dim = 8 : i64, causal}
      : (tensor<1x6x32xf16>, tensor<1x6xi64>, tensor<48x32xf32>, tensor<20x32xf32>, tensor<16xf32>,
        tensor<64x16xf32>, tensor<32x32xf32>) -> tensor<1x6x32xf16>
  return
}

// -----

// The input is [batch, seq, dim]; MLA owns its head split.
func.func @input_rank(%x: tensor<1x6x4x8xf32>, %pos: tensor<1x6xi64>, %wq: tensor<48x32xf32>,
    %wkv_a: tensor<20x32xf32>, %kv_norm: tensor<16xf32>, %wkv_b: tensor<64x16xf32>,
    %wo: tensor<32x32xf32>) {
  // expected-error @+1 {{input must have rank 3 [batch, seq, dim], got rank 4}}
  %0 = tessel.mla %x, %pos q(%wq) kv(%wkv_a, %kv_norm, %wkv_b) out(%wo)
      {num_heads = 4 : i64, kv_lora_rank = 16 : i64, qk_nope_dim = 8 : i64, qk_rope_dim = 4 : i64,
        v_head_dim = 8 : i64, causal}
      : (tensor<1x6x4x8xf32>, tensor<1x6xi64>, tensor<48x32xf32>, tensor<20x32xf32>, tensor<16xf32>,
        tensor<64x16xf32>, tensor<32x32xf32>) -> tensor<1x6x4x8xf32>
  return
}

// -----

// Positions are integers.
func.func @positions_type(%x: tensor<1x6x32xf32>, %pos: tensor<1x6xf32>, %wq: tensor<48x32xf32>,
    %wkv_a: tensor<20x32xf32>, %kv_norm: tensor<16xf32>, %wkv_b: tensor<64x16xf32>,
    %wo: tensor<32x32xf32>) {
  // expected-error @+1 {{positions must have integer elements, got 'f32'}}
  %0 = tessel.mla %x, %pos q(%wq) kv(%wkv_a, %kv_norm, %wkv_b) out(%wo)
      {num_heads = 4 : i64, kv_lora_rank = 16 : i64, qk_nope_dim = 8 : i64, qk_rope_dim = 4 : i64,
        v_head_dim = 8 : i64, causal}
      : (tensor<1x6x32xf32>, tensor<1x6xf32>, tensor<48x32xf32>, tensor<20x32xf32>, tensor<16xf32>,
        tensor<64x16xf32>, tensor<32x32xf32>) -> tensor<1x6x32xf32>
  return
}

// -----

// Positions are [batch, seq].
func.func @positions_shape(%x: tensor<1x6x32xf32>, %pos: tensor<6xi64>, %wq: tensor<48x32xf32>,
    %wkv_a: tensor<20x32xf32>, %kv_norm: tensor<16xf32>, %wkv_b: tensor<64x16xf32>,
    %wo: tensor<32x32xf32>) {
  // expected-error @+1 {{positions must have shape [1, 6] [batch, seq], got [6]}}
  %0 = tessel.mla %x, %pos q(%wq) kv(%wkv_a, %kv_norm, %wkv_b) out(%wo)
      {num_heads = 4 : i64, kv_lora_rank = 16 : i64, qk_nope_dim = 8 : i64, qk_rope_dim = 4 : i64,
        v_head_dim = 8 : i64, causal}
      : (tensor<1x6x32xf32>, tensor<6xi64>, tensor<48x32xf32>, tensor<20x32xf32>, tensor<16xf32>,
        tensor<64x16xf32>, tensor<32x32xf32>) -> tensor<1x6x32xf32>
  return
}

// -----

// num_heads must be positive.
func.func @num_heads_positive(%x: tensor<1x6x32xf32>, %pos: tensor<1x6xi64>, %wq: tensor<48x32xf32>,
    %wkv_a: tensor<20x32xf32>, %kv_norm: tensor<16xf32>, %wkv_b: tensor<64x16xf32>,
    %wo: tensor<32x32xf32>) {
  // expected-error @+1 {{num_heads must be positive, got 0}}
  %0 = tessel.mla %x, %pos q(%wq) kv(%wkv_a, %kv_norm, %wkv_b) out(%wo)
      {num_heads = 0 : i64, kv_lora_rank = 16 : i64, qk_nope_dim = 8 : i64, qk_rope_dim = 4 : i64,
        v_head_dim = 8 : i64, causal}
      : (tensor<1x6x32xf32>, tensor<1x6xi64>, tensor<48x32xf32>, tensor<20x32xf32>, tensor<16xf32>,
        tensor<64x16xf32>, tensor<32x32xf32>) -> tensor<1x6x32xf32>
  return
}

// -----

// kv_lora_rank must be positive.
func.func @kv_lora_rank_positive(%x: tensor<1x6x32xf32>, %pos: tensor<1x6xi64>,
    %wq: tensor<48x32xf32>, %wkv_a: tensor<20x32xf32>, %kv_norm: tensor<16xf32>,
    %wkv_b: tensor<64x16xf32>, %wo: tensor<32x32xf32>) {
  // expected-error @+1 {{kv_lora_rank must be positive, got 0}}
  %0 = tessel.mla %x, %pos q(%wq) kv(%wkv_a, %kv_norm, %wkv_b) out(%wo)
      {num_heads = 4 : i64, kv_lora_rank = 0 : i64, qk_nope_dim = 8 : i64, qk_rope_dim = 4 : i64,
        v_head_dim = 8 : i64, causal}
      : (tensor<1x6x32xf32>, tensor<1x6xi64>, tensor<48x32xf32>, tensor<20x32xf32>, tensor<16xf32>,
        tensor<64x16xf32>, tensor<32x32xf32>) -> tensor<1x6x32xf32>
  return
}

// -----

// qk_nope_dim must be positive.
func.func @qk_nope_dim_positive(%x: tensor<1x6x32xf32>, %pos: tensor<1x6xi64>,
    %wq: tensor<48x32xf32>, %wkv_a: tensor<20x32xf32>, %kv_norm: tensor<16xf32>,
    %wkv_b: tensor<64x16xf32>, %wo: tensor<32x32xf32>) {
  // expected-error @+1 {{qk_nope_dim must be positive, got 0}}
  %0 = tessel.mla %x, %pos q(%wq) kv(%wkv_a, %kv_norm, %wkv_b) out(%wo)
      {num_heads = 4 : i64, kv_lora_rank = 16 : i64, qk_nope_dim = 0 : i64, qk_rope_dim = 4 : i64,
        v_head_dim = 8 : i64, causal}
      : (tensor<1x6x32xf32>, tensor<1x6xi64>, tensor<48x32xf32>, tensor<20x32xf32>, tensor<16xf32>,
        tensor<64x16xf32>, tensor<32x32xf32>) -> tensor<1x6x32xf32>
  return
}

// -----

// qk_rope_dim must be positive.
func.func @qk_rope_dim_positive(%x: tensor<1x6x32xf32>, %pos: tensor<1x6xi64>,
    %wq: tensor<48x32xf32>, %wkv_a: tensor<20x32xf32>, %kv_norm: tensor<16xf32>,
    %wkv_b: tensor<64x16xf32>, %wo: tensor<32x32xf32>) {
  // expected-error @+1 {{qk_rope_dim must be positive, got 0}}
  %0 = tessel.mla %x, %pos q(%wq) kv(%wkv_a, %kv_norm, %wkv_b) out(%wo)
      {num_heads = 4 : i64, kv_lora_rank = 16 : i64, qk_nope_dim = 8 : i64, qk_rope_dim = 0 : i64,
        v_head_dim = 8 : i64, causal}
      : (tensor<1x6x32xf32>, tensor<1x6xi64>, tensor<48x32xf32>, tensor<20x32xf32>, tensor<16xf32>,
        tensor<64x16xf32>, tensor<32x32xf32>) -> tensor<1x6x32xf32>
  return
}

// -----

// v_head_dim must be positive.
func.func @v_head_dim_positive(%x: tensor<1x6x32xf32>, %pos: tensor<1x6xi64>,
    %wq: tensor<48x32xf32>, %wkv_a: tensor<20x32xf32>, %kv_norm: tensor<16xf32>,
    %wkv_b: tensor<64x16xf32>, %wo: tensor<32x32xf32>) {
  // expected-error @+1 {{v_head_dim must be positive, got 0}}
  %0 = tessel.mla %x, %pos q(%wq) kv(%wkv_a, %kv_norm, %wkv_b) out(%wo)
      {num_heads = 4 : i64, kv_lora_rank = 16 : i64, qk_nope_dim = 8 : i64, qk_rope_dim = 4 : i64,
        v_head_dim = 0 : i64, causal}
      : (tensor<1x6x32xf32>, tensor<1x6xi64>, tensor<48x32xf32>, tensor<20x32xf32>, tensor<16xf32>,
        tensor<64x16xf32>, tensor<32x32xf32>) -> tensor<1x6x32xf32>
  return
}

// -----

// The decoupled RoPE part rotates in pairs.
func.func @qk_rope_dim_odd(%x: tensor<1x6x32xf32>, %pos: tensor<1x6xi64>, %wq: tensor<48x32xf32>,
    %wkv_a: tensor<20x32xf32>, %kv_norm: tensor<16xf32>, %wkv_b: tensor<64x16xf32>,
    %wo: tensor<32x32xf32>) {
  // expected-error @+1 {{qk_rope_dim must be even to be rotated, got 3}}
  %0 = tessel.mla %x, %pos q(%wq) kv(%wkv_a, %kv_norm, %wkv_b) out(%wo)
      {num_heads = 4 : i64, kv_lora_rank = 16 : i64, qk_nope_dim = 8 : i64, qk_rope_dim = 3 : i64,
        v_head_dim = 8 : i64, causal}
      : (tensor<1x6x32xf32>, tensor<1x6xi64>, tensor<48x32xf32>, tensor<20x32xf32>, tensor<16xf32>,
        tensor<64x16xf32>, tensor<32x32xf32>) -> tensor<1x6x32xf32>
  return
}

// -----

// Every projection weight must be f32.
func.func @q_weight_type(%x: tensor<1x6x32xf32>, %pos: tensor<1x6xi64>, %wq: tensor<48x32xf16>,
    %wkv_a: tensor<20x32xf32>, %kv_norm: tensor<16xf32>, %wkv_b: tensor<64x16xf32>,
    %wo: tensor<32x32xf32>) {
  // expected-error @+1 {{every weight must have f32 elements, got 'f16'}}
  %0 = tessel.mla %x, %pos q(%wq) kv(%wkv_a, %kv_norm, %wkv_b) out(%wo)
      {num_heads = 4 : i64, kv_lora_rank = 16 : i64, qk_nope_dim = 8 : i64, qk_rope_dim = 4 : i64,
        v_head_dim = 8 : i64, causal}
      : (tensor<1x6x32xf32>, tensor<1x6xi64>, tensor<48x32xf16>, tensor<20x32xf32>, tensor<16xf32>,
        tensor<64x16xf32>, tensor<32x32xf32>) -> tensor<1x6x32xf32>
  return
}

// -----

// Every projection weight must be f32, in kv(...) too.
func.func @kv_weight_type(%x: tensor<1x6x32xf32>, %pos: tensor<1x6xi64>, %wq: tensor<48x32xf32>,
    %wkv_a: tensor<20x32xf32>, %kv_norm: tensor<16xbf16>, %wkv_b: tensor<64x16xf32>,
    %wo: tensor<32x32xf32>) {
  // expected-error @+1 {{every weight must have f32 elements, got 'bf16'}}
  %0 = tessel.mla %x, %pos q(%wq) kv(%wkv_a, %kv_norm, %wkv_b) out(%wo)
      {num_heads = 4 : i64, kv_lora_rank = 16 : i64, qk_nope_dim = 8 : i64, qk_rope_dim = 4 : i64,
        v_head_dim = 8 : i64, causal}
      : (tensor<1x6x32xf32>, tensor<1x6xi64>, tensor<48x32xf32>, tensor<20x32xf32>, tensor<16xbf16>,
        tensor<64x16xf32>, tensor<32x32xf32>) -> tensor<1x6x32xf32>
  return
}

// -----

// The output projection must be f32.
func.func @wo_type(%x: tensor<1x6x32xf32>, %pos: tensor<1x6xi64>, %wq: tensor<48x32xf32>,
    %wkv_a: tensor<20x32xf32>, %kv_norm: tensor<16xf32>, %wkv_b: tensor<64x16xf32>,
    %wo: tensor<32x32xf16>) {
  // expected-error @+1 {{wo must have f32 elements, got 'f16'}}
  %0 = tessel.mla %x, %pos q(%wq) kv(%wkv_a, %kv_norm, %wkv_b) out(%wo)
      {num_heads = 4 : i64, kv_lora_rank = 16 : i64, qk_nope_dim = 8 : i64, qk_rope_dim = 4 : i64,
        v_head_dim = 8 : i64, causal}
      : (tensor<1x6x32xf32>, tensor<1x6xi64>, tensor<48x32xf32>, tensor<20x32xf32>, tensor<16xf32>,
        tensor<64x16xf32>, tensor<32x32xf16>) -> tensor<1x6x32xf32>
  return
}

// -----

// q_lora_rank must be positive.
func.func @q_lora_rank_positive(%x: tensor<1x6x32xf32>, %pos: tensor<1x6xi64>,
    %wq_a: tensor<12x32xf32>, %q_norm: tensor<12xf32>, %wq_b: tensor<48x12xf32>,
    %wkv_a: tensor<20x32xf32>, %kv_norm: tensor<16xf32>, %wkv_b: tensor<64x16xf32>,
    %wo: tensor<32x32xf32>) {
  // expected-error @+1 {{q_lora_rank must be positive, got 0}}
  %0 = tessel.mla %x, %pos q(%wq_a, %q_norm, %wq_b) kv(%wkv_a, %kv_norm, %wkv_b) out(%wo)
      {num_heads = 4 : i64, kv_lora_rank = 16 : i64, qk_nope_dim = 8 : i64, qk_rope_dim = 4 : i64,
        v_head_dim = 8 : i64, q_lora_rank = 0 : i64, causal}
      : (tensor<1x6x32xf32>, tensor<1x6xi64>, tensor<12x32xf32>, tensor<12xf32>, tensor<48x12xf32>,
        tensor<20x32xf32>, tensor<16xf32>, tensor<64x16xf32>,
        tensor<32x32xf32>) -> tensor<1x6x32xf32>
  return
}

// -----

// With q_lora_rank, q(...) takes the low-rank triple, not wq.
func.func @q_lora_rank_one_weight(%x: tensor<1x6x32xf32>, %pos: tensor<1x6xi64>,
    %wq: tensor<48x32xf32>, %wkv_a: tensor<20x32xf32>, %kv_norm: tensor<16xf32>,
    %wkv_b: tensor<64x16xf32>, %wo: tensor<32x32xf32>) {
  // expected-error @+1 {{q_lora_rank is set, so q(...) must be (wq_a, q_norm, wq_b), got 1 weights}}
  %0 = tessel.mla %x, %pos q(%wq) kv(%wkv_a, %kv_norm, %wkv_b) out(%wo)
      {num_heads = 4 : i64, kv_lora_rank = 16 : i64, qk_nope_dim = 8 : i64, qk_rope_dim = 4 : i64,
        v_head_dim = 8 : i64, q_lora_rank = 12 : i64, causal}
      : (tensor<1x6x32xf32>, tensor<1x6xi64>, tensor<48x32xf32>, tensor<20x32xf32>, tensor<16xf32>,
        tensor<64x16xf32>, tensor<32x32xf32>) -> tensor<1x6x32xf32>
  return
}

// -----

// wq_a is [q_lora_rank, dim].
func.func @wq_a_shape(%x: tensor<1x6x32xf32>, %pos: tensor<1x6xi64>, %wq_a: tensor<16x32xf32>,
    %q_norm: tensor<12xf32>, %wq_b: tensor<48x12xf32>, %wkv_a: tensor<20x32xf32>,
    %kv_norm: tensor<16xf32>, %wkv_b: tensor<64x16xf32>, %wo: tensor<32x32xf32>) {
  // expected-error @+1 {{wq_a must have shape [12, 32] [q_lora_rank, dim], got [16, 32]}}
  %0 = tessel.mla %x, %pos q(%wq_a, %q_norm, %wq_b) kv(%wkv_a, %kv_norm, %wkv_b) out(%wo)
      {num_heads = 4 : i64, kv_lora_rank = 16 : i64, qk_nope_dim = 8 : i64, qk_rope_dim = 4 : i64,
        v_head_dim = 8 : i64, q_lora_rank = 12 : i64, causal}
      : (tensor<1x6x32xf32>, tensor<1x6xi64>, tensor<16x32xf32>, tensor<12xf32>, tensor<48x12xf32>,
        tensor<20x32xf32>, tensor<16xf32>, tensor<64x16xf32>,
        tensor<32x32xf32>) -> tensor<1x6x32xf32>
  return
}

// -----

// q_norm is [q_lora_rank].
func.func @q_norm_shape(%x: tensor<1x6x32xf32>, %pos: tensor<1x6xi64>, %wq_a: tensor<12x32xf32>,
    %q_norm: tensor<32xf32>, %wq_b: tensor<48x12xf32>, %wkv_a: tensor<20x32xf32>,
    %kv_norm: tensor<16xf32>, %wkv_b: tensor<64x16xf32>, %wo: tensor<32x32xf32>) {
  // expected-error @+1 {{q_norm must have shape [12] [q_lora_rank], got [32]}}
  %0 = tessel.mla %x, %pos q(%wq_a, %q_norm, %wq_b) kv(%wkv_a, %kv_norm, %wkv_b) out(%wo)
      {num_heads = 4 : i64, kv_lora_rank = 16 : i64, qk_nope_dim = 8 : i64, qk_rope_dim = 4 : i64,
        v_head_dim = 8 : i64, q_lora_rank = 12 : i64, causal}
      : (tensor<1x6x32xf32>, tensor<1x6xi64>, tensor<12x32xf32>, tensor<32xf32>, tensor<48x12xf32>,
        tensor<20x32xf32>, tensor<16xf32>, tensor<64x16xf32>,
        tensor<32x32xf32>) -> tensor<1x6x32xf32>
  return
}

// -----

// wq_b is [num_heads*(qk_nope_dim+qk_rope_dim), q_lora_rank]; here it forgot the RoPE part.
func.func @wq_b_shape(%x: tensor<1x6x32xf32>, %pos: tensor<1x6xi64>, %wq_a: tensor<12x32xf32>,
    %q_norm: tensor<12xf32>, %wq_b: tensor<32x12xf32>, %wkv_a: tensor<20x32xf32>,
    %kv_norm: tensor<16xf32>, %wkv_b: tensor<64x16xf32>, %wo: tensor<32x32xf32>) {
  // expected-error @+1 {{wq_b must have shape [48, 12] [num_heads*(qk_nope_dim+qk_rope_dim), q_lora_rank], got [32, 12]}}
  %0 = tessel.mla %x, %pos q(%wq_a, %q_norm, %wq_b) kv(%wkv_a, %kv_norm, %wkv_b) out(%wo)
      {num_heads = 4 : i64, kv_lora_rank = 16 : i64, qk_nope_dim = 8 : i64, qk_rope_dim = 4 : i64,
        v_head_dim = 8 : i64, q_lora_rank = 12 : i64, causal}
      : (tensor<1x6x32xf32>, tensor<1x6xi64>, tensor<12x32xf32>, tensor<12xf32>, tensor<32x12xf32>,
        tensor<20x32xf32>, tensor<16xf32>, tensor<64x16xf32>,
        tensor<32x32xf32>) -> tensor<1x6x32xf32>
  return
}

// -----

// Without q_lora_rank, q(...) is the single wq.
func.func @wq_triple_without_q_lora_rank(%x: tensor<1x6x32xf32>, %pos: tensor<1x6xi64>,
    %wq_a: tensor<12x32xf32>, %q_norm: tensor<12xf32>, %wq_b: tensor<48x12xf32>,
    %wkv_a: tensor<20x32xf32>, %kv_norm: tensor<16xf32>, %wkv_b: tensor<64x16xf32>,
    %wo: tensor<32x32xf32>) {
  // expected-error @+1 {{without q_lora_rank, q(...) must be (wq), got 3 weights}}
  %0 = tessel.mla %x, %pos q(%wq_a, %q_norm, %wq_b) kv(%wkv_a, %kv_norm, %wkv_b) out(%wo)
      {num_heads = 4 : i64, kv_lora_rank = 16 : i64, qk_nope_dim = 8 : i64, qk_rope_dim = 4 : i64,
        v_head_dim = 8 : i64, causal}
      : (tensor<1x6x32xf32>, tensor<1x6xi64>, tensor<12x32xf32>, tensor<12xf32>, tensor<48x12xf32>,
        tensor<20x32xf32>, tensor<16xf32>, tensor<64x16xf32>,
        tensor<32x32xf32>) -> tensor<1x6x32xf32>
  return
}

// -----

// wq is [num_heads*(qk_nope_dim+qk_rope_dim), dim].
func.func @wq_shape(%x: tensor<1x6x32xf32>, %pos: tensor<1x6xi64>, %wq: tensor<32x32xf32>,
    %wkv_a: tensor<20x32xf32>, %kv_norm: tensor<16xf32>, %wkv_b: tensor<64x16xf32>,
    %wo: tensor<32x32xf32>) {
  // expected-error @+1 {{wq must have shape [48, 32] [num_heads*(qk_nope_dim+qk_rope_dim), dim], got [32, 32]}}
  %0 = tessel.mla %x, %pos q(%wq) kv(%wkv_a, %kv_norm, %wkv_b) out(%wo)
      {num_heads = 4 : i64, kv_lora_rank = 16 : i64, qk_nope_dim = 8 : i64, qk_rope_dim = 4 : i64,
        v_head_dim = 8 : i64, causal}
      : (tensor<1x6x32xf32>, tensor<1x6xi64>, tensor<32x32xf32>, tensor<20x32xf32>, tensor<16xf32>,
        tensor<64x16xf32>, tensor<32x32xf32>) -> tensor<1x6x32xf32>
  return
}

// -----

// kv(...) is always the triple (wkv_a, kv_norm, wkv_b).
func.func @kv_two_weights(%x: tensor<1x6x32xf32>, %pos: tensor<1x6xi64>, %wq: tensor<48x32xf32>,
    %wkv_a: tensor<20x32xf32>, %wkv_b: tensor<64x16xf32>, %wo: tensor<32x32xf32>) {
  // expected-error @+1 {{kv(...) must be (wkv_a, kv_norm, wkv_b), got 2 weights}}
  %0 = tessel.mla %x, %pos q(%wq) kv(%wkv_a, %wkv_b) out(%wo)
      {num_heads = 4 : i64, kv_lora_rank = 16 : i64, qk_nope_dim = 8 : i64, qk_rope_dim = 4 : i64,
        v_head_dim = 8 : i64, causal}
      : (tensor<1x6x32xf32>, tensor<1x6xi64>, tensor<48x32xf32>, tensor<20x32xf32>,
        tensor<64x16xf32>, tensor<32x32xf32>) -> tensor<1x6x32xf32>
  return
}

// -----

// wkv_a produces the latent and the shared RoPE key: [kv_lora_rank+qk_rope_dim, dim].
func.func @wkv_a_shape(%x: tensor<1x6x32xf32>, %pos: tensor<1x6xi64>, %wq: tensor<48x32xf32>,
    %wkv_a: tensor<16x32xf32>, %kv_norm: tensor<16xf32>, %wkv_b: tensor<64x16xf32>,
    %wo: tensor<32x32xf32>) {
  // expected-error @+1 {{wkv_a must have shape [20, 32] [kv_lora_rank+qk_rope_dim, dim], got [16, 32]}}
  %0 = tessel.mla %x, %pos q(%wq) kv(%wkv_a, %kv_norm, %wkv_b) out(%wo)
      {num_heads = 4 : i64, kv_lora_rank = 16 : i64, qk_nope_dim = 8 : i64, qk_rope_dim = 4 : i64,
        v_head_dim = 8 : i64, causal}
      : (tensor<1x6x32xf32>, tensor<1x6xi64>, tensor<48x32xf32>, tensor<16x32xf32>, tensor<16xf32>,
        tensor<64x16xf32>, tensor<32x32xf32>) -> tensor<1x6x32xf32>
  return
}

// -----

// kv_norm normalises the latent: [kv_lora_rank].
func.func @kv_norm_shape(%x: tensor<1x6x32xf32>, %pos: tensor<1x6xi64>, %wq: tensor<48x32xf32>,
    %wkv_a: tensor<20x32xf32>, %kv_norm: tensor<20xf32>, %wkv_b: tensor<64x16xf32>,
    %wo: tensor<32x32xf32>) {
  // expected-error @+1 {{kv_norm must have shape [16] [kv_lora_rank], got [20]}}
  %0 = tessel.mla %x, %pos q(%wq) kv(%wkv_a, %kv_norm, %wkv_b) out(%wo)
      {num_heads = 4 : i64, kv_lora_rank = 16 : i64, qk_nope_dim = 8 : i64, qk_rope_dim = 4 : i64,
        v_head_dim = 8 : i64, causal}
      : (tensor<1x6x32xf32>, tensor<1x6xi64>, tensor<48x32xf32>, tensor<20x32xf32>, tensor<20xf32>,
        tensor<64x16xf32>, tensor<32x32xf32>) -> tensor<1x6x32xf32>
  return
}

// -----

// wkv_b is [num_heads*(qk_nope_dim+v_head_dim), kv_lora_rank].
func.func @wkv_b_shape(%x: tensor<1x6x32xf32>, %pos: tensor<1x6xi64>, %wq: tensor<48x32xf32>,
    %wkv_a: tensor<20x32xf32>, %kv_norm: tensor<16xf32>, %wkv_b: tensor<16x64xf32>,
    %wo: tensor<32x32xf32>) {
  // expected-error @+1 {{wkv_b must have shape [64, 16] [num_heads*(qk_nope_dim+v_head_dim), kv_lora_rank], got [16, 64]}}
  %0 = tessel.mla %x, %pos q(%wq) kv(%wkv_a, %kv_norm, %wkv_b) out(%wo)
      {num_heads = 4 : i64, kv_lora_rank = 16 : i64, qk_nope_dim = 8 : i64, qk_rope_dim = 4 : i64,
        v_head_dim = 8 : i64, causal}
      : (tensor<1x6x32xf32>, tensor<1x6xi64>, tensor<48x32xf32>, tensor<20x32xf32>, tensor<16xf32>,
        tensor<16x64xf32>, tensor<32x32xf32>) -> tensor<1x6x32xf32>
  return
}

// -----

// wo is [dim, num_heads*v_head_dim] (PyTorch [out, in]).
func.func @wo_shape(%x: tensor<1x6x32xf32>, %pos: tensor<1x6xi64>, %wq: tensor<48x32xf32>,
    %wkv_a: tensor<20x32xf32>, %kv_norm: tensor<16xf32>, %wkv_b: tensor<64x16xf32>,
    %wo: tensor<32x16xf32>) {
  // expected-error @+1 {{wo must have shape [32, 32] [dim, num_heads*v_head_dim], got [32, 16]}}
  %0 = tessel.mla %x, %pos q(%wq) kv(%wkv_a, %kv_norm, %wkv_b) out(%wo)
      {num_heads = 4 : i64, kv_lora_rank = 16 : i64, qk_nope_dim = 8 : i64, qk_rope_dim = 4 : i64,
        v_head_dim = 8 : i64, causal}
      : (tensor<1x6x32xf32>, tensor<1x6xi64>, tensor<48x32xf32>, tensor<20x32xf32>, tensor<16xf32>,
        tensor<64x16xf32>, tensor<32x16xf32>) -> tensor<1x6x32xf32>
  return
}

// -----

// A window of 0 keys would hide everything.
func.func @window_positive(%x: tensor<1x6x32xf32>, %pos: tensor<1x6xi64>, %wq: tensor<48x32xf32>,
    %wkv_a: tensor<20x32xf32>, %kv_norm: tensor<16xf32>, %wkv_b: tensor<64x16xf32>,
    %wo: tensor<32x32xf32>) {
  // expected-error @+1 {{window must be positive, got 0}}
  %0 = tessel.mla %x, %pos q(%wq) kv(%wkv_a, %kv_norm, %wkv_b) out(%wo)
      {num_heads = 4 : i64, kv_lora_rank = 16 : i64, qk_nope_dim = 8 : i64, qk_rope_dim = 4 : i64,
        v_head_dim = 8 : i64, causal, window = 0 : i64}
      : (tensor<1x6x32xf32>, tensor<1x6xi64>, tensor<48x32xf32>, tensor<20x32xf32>, tensor<16xf32>,
        tensor<64x16xf32>, tensor<32x32xf32>) -> tensor<1x6x32xf32>
  return
}

// -----

// A sliding window only makes sense with causal.
func.func @window_without_causal(%x: tensor<1x6x32xf32>, %pos: tensor<1x6xi64>,
    %wq: tensor<48x32xf32>, %wkv_a: tensor<20x32xf32>, %kv_norm: tensor<16xf32>,
    %wkv_b: tensor<64x16xf32>, %wo: tensor<32x32xf32>) {
  // expected-error @+1 {{window requires causal: a sliding window only limits how far back a query looks}}
  %0 = tessel.mla %x, %pos q(%wq) kv(%wkv_a, %kv_norm, %wkv_b) out(%wo)
      {num_heads = 4 : i64, kv_lora_rank = 16 : i64, qk_nope_dim = 8 : i64, qk_rope_dim = 4 : i64,
        v_head_dim = 8 : i64, window = 4 : i64}
      : (tensor<1x6x32xf32>, tensor<1x6xi64>, tensor<48x32xf32>, tensor<20x32xf32>, tensor<16xf32>,
        tensor<64x16xf32>, tensor<32x32xf32>) -> tensor<1x6x32xf32>
  return
}

// -----

// The mask is i1.
func.func @mask_type(%x: tensor<1x6x32xf32>, %pos: tensor<1x6xi64>, %wq: tensor<48x32xf32>,
    %wkv_a: tensor<20x32xf32>, %kv_norm: tensor<16xf32>, %wkv_b: tensor<64x16xf32>,
    %wo: tensor<32x32xf32>, %m: tensor<1x6xi8>) {
  // expected-error @+1 {{mask must have i1 elements, got 'i8'}}
  %0 = tessel.mla %x, %pos q(%wq) kv(%wkv_a, %kv_norm, %wkv_b) out(%wo) mask(%m)
      {num_heads = 4 : i64, kv_lora_rank = 16 : i64, qk_nope_dim = 8 : i64, qk_rope_dim = 4 : i64,
        v_head_dim = 8 : i64, causal}
      : (tensor<1x6x32xf32>, tensor<1x6xi64>, tensor<48x32xf32>, tensor<20x32xf32>, tensor<16xf32>,
        tensor<64x16xf32>, tensor<32x32xf32>, tensor<1x6xi8>) -> tensor<1x6x32xf32>
  return
}

// -----

// The mask is rank 2 or 3.
func.func @mask_rank(%x: tensor<1x6x32xf32>, %pos: tensor<1x6xi64>, %wq: tensor<48x32xf32>,
    %wkv_a: tensor<20x32xf32>, %kv_norm: tensor<16xf32>, %wkv_b: tensor<64x16xf32>,
    %wo: tensor<32x32xf32>, %m: tensor<6xi1>) {
  // expected-error @+1 {{mask must have rank 2 [batch, kv_len] or rank 3 [batch, q_len, kv_len], got rank 1}}
  %0 = tessel.mla %x, %pos q(%wq) kv(%wkv_a, %kv_norm, %wkv_b) out(%wo) mask(%m)
      {num_heads = 4 : i64, kv_lora_rank = 16 : i64, qk_nope_dim = 8 : i64, qk_rope_dim = 4 : i64,
        v_head_dim = 8 : i64, causal}
      : (tensor<1x6x32xf32>, tensor<1x6xi64>, tensor<48x32xf32>, tensor<20x32xf32>, tensor<16xf32>,
        tensor<64x16xf32>, tensor<32x32xf32>, tensor<6xi1>) -> tensor<1x6x32xf32>
  return
}

// -----

// A rank-2 mask is [batch, kv_len] with kv_len = seq.
func.func @mask_rank2_shape(%x: tensor<1x6x32xf32>, %pos: tensor<1x6xi64>, %wq: tensor<48x32xf32>,
    %wkv_a: tensor<20x32xf32>, %kv_norm: tensor<16xf32>, %wkv_b: tensor<64x16xf32>,
    %wo: tensor<32x32xf32>, %m: tensor<1x4xi1>) {
  // expected-error @+1 {{mask must have shape [1, 6] [batch, kv_len], got [1, 4]}}
  %0 = tessel.mla %x, %pos q(%wq) kv(%wkv_a, %kv_norm, %wkv_b) out(%wo) mask(%m)
      {num_heads = 4 : i64, kv_lora_rank = 16 : i64, qk_nope_dim = 8 : i64, qk_rope_dim = 4 : i64,
        v_head_dim = 8 : i64, causal}
      : (tensor<1x6x32xf32>, tensor<1x6xi64>, tensor<48x32xf32>, tensor<20x32xf32>, tensor<16xf32>,
        tensor<64x16xf32>, tensor<32x32xf32>, tensor<1x4xi1>) -> tensor<1x6x32xf32>
  return
}

// -----

// A rank-3 mask is [batch, q_len, kv_len] with both = seq.
func.func @mask_rank3_shape(%x: tensor<1x6x32xf32>, %pos: tensor<1x6xi64>, %wq: tensor<48x32xf32>,
    %wkv_a: tensor<20x32xf32>, %kv_norm: tensor<16xf32>, %wkv_b: tensor<64x16xf32>,
    %wo: tensor<32x32xf32>, %m: tensor<1x6x5xi1>) {
  // expected-error @+1 {{mask must have shape [1, 6, 6] [batch, q_len, kv_len], got [1, 6, 5]}}
  %0 = tessel.mla %x, %pos q(%wq) kv(%wkv_a, %kv_norm, %wkv_b) out(%wo) mask(%m)
      {num_heads = 4 : i64, kv_lora_rank = 16 : i64, qk_nope_dim = 8 : i64, qk_rope_dim = 4 : i64,
        v_head_dim = 8 : i64, causal}
      : (tensor<1x6x32xf32>, tensor<1x6xi64>, tensor<48x32xf32>, tensor<20x32xf32>, tensor<16xf32>,
        tensor<64x16xf32>, tensor<32x32xf32>, tensor<1x6x5xi1>) -> tensor<1x6x32xf32>
  return
}

// -----

// rope_theta must be positive.
func.func @rope_theta_positive(%x: tensor<1x6x32xf32>, %pos: tensor<1x6xi64>,
    %wq: tensor<48x32xf32>, %wkv_a: tensor<20x32xf32>, %kv_norm: tensor<16xf32>,
    %wkv_b: tensor<64x16xf32>, %wo: tensor<32x32xf32>) {
  // expected-error @+1 {{rope_theta must be positive, got 0}}
  %0 = tessel.mla %x, %pos q(%wq) kv(%wkv_a, %kv_norm, %wkv_b) out(%wo)
      {num_heads = 4 : i64, kv_lora_rank = 16 : i64, qk_nope_dim = 8 : i64, qk_rope_dim = 4 : i64,
        v_head_dim = 8 : i64, causal, rope_theta = 0.0 : f32}
      : (tensor<1x6x32xf32>, tensor<1x6xi64>, tensor<48x32xf32>, tensor<20x32xf32>, tensor<16xf32>,
        tensor<64x16xf32>, tensor<32x32xf32>) -> tensor<1x6x32xf32>
  return
}

// -----

// epsilon must be positive.
func.func @epsilon_positive(%x: tensor<1x6x32xf32>, %pos: tensor<1x6xi64>, %wq: tensor<48x32xf32>,
    %wkv_a: tensor<20x32xf32>, %kv_norm: tensor<16xf32>, %wkv_b: tensor<64x16xf32>,
    %wo: tensor<32x32xf32>) {
  // expected-error @+1 {{epsilon must be positive, got -1}}
  %0 = tessel.mla %x, %pos q(%wq) kv(%wkv_a, %kv_norm, %wkv_b) out(%wo)
      {num_heads = 4 : i64, kv_lora_rank = 16 : i64, qk_nope_dim = 8 : i64, qk_rope_dim = 4 : i64,
        v_head_dim = 8 : i64, causal, epsilon = -1.0 : f32}
      : (tensor<1x6x32xf32>, tensor<1x6xi64>, tensor<48x32xf32>, tensor<20x32xf32>, tensor<16xf32>,
        tensor<64x16xf32>, tensor<32x32xf32>) -> tensor<1x6x32xf32>
  return
}

// -----

// scale must be positive.
func.func @scale_positive(%x: tensor<1x6x32xf32>, %pos: tensor<1x6xi64>, %wq: tensor<48x32xf32>,
    %wkv_a: tensor<20x32xf32>, %kv_norm: tensor<16xf32>, %wkv_b: tensor<64x16xf32>,
    %wo: tensor<32x32xf32>) {
  // expected-error @+1 {{scale must be positive, got 0}}
  %0 = tessel.mla %x, %pos q(%wq) kv(%wkv_a, %kv_norm, %wkv_b) out(%wo)
      {num_heads = 4 : i64, kv_lora_rank = 16 : i64, qk_nope_dim = 8 : i64, qk_rope_dim = 4 : i64,
        v_head_dim = 8 : i64, causal, scale = 0.0 : f32}
      : (tensor<1x6x32xf32>, tensor<1x6xi64>, tensor<48x32xf32>, tensor<20x32xf32>, tensor<16xf32>,
        tensor<64x16xf32>, tensor<32x32xf32>) -> tensor<1x6x32xf32>
  return
}

// -----

// The result has the input's element type.
func.func @result_type(%x: tensor<1x6x32xf32>, %pos: tensor<1x6xi64>, %wq: tensor<48x32xf32>,
    %wkv_a: tensor<20x32xf32>, %kv_norm: tensor<16xf32>, %wkv_b: tensor<64x16xf32>,
    %wo: tensor<32x32xf32>) {
  // expected-error @+1 {{result must have 'f32' elements, got 'f16'}}
  %0 = tessel.mla %x, %pos q(%wq) kv(%wkv_a, %kv_norm, %wkv_b) out(%wo)
      {num_heads = 4 : i64, kv_lora_rank = 16 : i64, qk_nope_dim = 8 : i64, qk_rope_dim = 4 : i64,
        v_head_dim = 8 : i64, causal}
      : (tensor<1x6x32xf32>, tensor<1x6xi64>, tensor<48x32xf32>, tensor<20x32xf32>, tensor<16xf32>,
        tensor<64x16xf32>, tensor<32x32xf32>) -> tensor<1x6x32xf16>
  return
}

// -----

// wo projects back to dim: the result has the input's shape.
func.func @result_shape(%x: tensor<1x6x32xf32>, %pos: tensor<1x6xi64>, %wq: tensor<48x32xf32>,
    %wkv_a: tensor<20x32xf32>, %kv_norm: tensor<16xf32>, %wkv_b: tensor<64x16xf32>,
    %wo: tensor<32x32xf32>) {
  // expected-error @+1 {{result must have shape [1, 6, 32] (the input's shape), got [1, 6, 4, 8]}}
  %0 = tessel.mla %x, %pos q(%wq) kv(%wkv_a, %kv_norm, %wkv_b) out(%wo)
      {num_heads = 4 : i64, kv_lora_rank = 16 : i64, qk_nope_dim = 8 : i64, qk_rope_dim = 4 : i64,
        v_head_dim = 8 : i64, causal}
      : (tensor<1x6x32xf32>, tensor<1x6xi64>, tensor<48x32xf32>, tensor<20x32xf32>, tensor<16xf32>,
        tensor<64x16xf32>, tensor<32x32xf32>) -> tensor<1x6x4x8xf32>
  return
}
