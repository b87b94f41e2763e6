// Verifier tests for the simple ops: embedding, linear, rms_norm, layer_norm,
// rope, softmax, residual_add, kv_cache_update, kv_cache_view and sample.
// One split section per verifier message (TesselOps.cpp); each checks the
// whole message text, so a reworded message shows up here.
// Attention and MLA: invalid_attention.mlir, invalid_mla.mlir; FFN and MoE:
// invalid_ffn_moe.mlir; einsum: invalid_einsum.mlir.
//
// RUN: tessel-opt %s -split-input-file -verify-diagnostics

// embedding: the table must be f32.
func.func @embedding_table_type(%t: tensor<512x64xf16>, %ids: tensor<1x4xi64>) {
  // expected-error @+1 {{table must have f32 elements, got 'f16'}}
  %0 = tessel.embedding %t[%ids] : tensor<512x64xf16>, tensor<1x4xi64> -> tensor<1x4x64xf16>
  return
}

// -----

// embedding: the table is [vocab, dim].
func.func @embedding_table_rank(%t: tensor<512xf32>, %ids: tensor<1x4xi64>) {
  // expected-error @+1 {{table must have rank 2 [vocab, dim], got rank 1}}
  %0 = tessel.embedding %t[%ids] : tensor<512xf32>, tensor<1x4xi64> -> tensor<1x4xf32>
  return
}

// -----

// embedding: ids are integers, not floats.
func.func @embedding_ids_type(%t: tensor<512x64xf32>, %ids: tensor<1x4xf32>) {
  // expected-error @+1 {{ids must have integer elements, got 'f32'}}
  %0 = tessel.embedding %t[%ids] : tensor<512x64xf32>, tensor<1x4xf32> -> tensor<1x4x64xf32>
  return
}

// -----

// embedding: index is not a signless integer type either.
func.func @embedding_ids_index(%t: tensor<512x64xf32>, %ids: tensor<1x4xindex>) {
  // expected-error @+1 {{ids must have integer elements, got 'index'}}
  %0 = tessel.embedding %t[%ids] : tensor<512x64xf32>, tensor<1x4xindex> -> tensor<1x4x64xf32>
  return
}

// -----

// embedding: the result has the table's element type.
func.func @embedding_result_type(%t: tensor<512x64xf32>, %ids: tensor<1x4xi64>) {
  // expected-error @+1 {{result must have 'f32' elements, got 'f16'}}
  %0 = tessel.embedding %t[%ids] : tensor<512x64xf32>, tensor<1x4xi64> -> tensor<1x4x64xf16>
  return
}

// -----

// embedding: the result is the ids shape plus [dim].
func.func @embedding_result_shape(%t: tensor<512x64xf32>, %ids: tensor<1x4xi64>) {
  // expected-error @+1 {{result must have shape [1, 4, 64] (ids shape + [dim]), got [4, 64]}}
  %0 = tessel.embedding %t[%ids] : tensor<512x64xf32>, tensor<1x4xi64> -> tensor<4x64xf32>
  return
}

// -----

// linear: the input must be f32.
func.func @linear_input_type(%x: tensor<4x64xbf16>, %w: tensor<32x64xf32>) {
  // expected-error @+1 {{input must have f32 elements, got 'bf16'}}
  %0 = tessel.linear %x, %w : (tensor<4x64xbf16>, tensor<32x64xf32>) -> tensor<4x32xf32>
  return
}

// -----

// linear: a scalar input has no feature dimension.
func.func @linear_input_rank(%x: tensor<f32>, %w: tensor<32x64xf32>) {
  // expected-error @+1 {{input must have rank >= 1, got rank 0}}
  %0 = tessel.linear %x, %w : (tensor<f32>, tensor<32x64xf32>) -> tensor<32xf32>
  return
}

// -----

// linear: the weight must be f32.
func.func @linear_weight_type(%x: tensor<4x64xf32>, %w: tensor<32x64xf16>) {
  // expected-error @+1 {{weight must have f32 elements, got 'f16'}}
  %0 = tessel.linear %x, %w : (tensor<4x64xf32>, tensor<32x64xf16>) -> tensor<4x32xf32>
  return
}

// -----

// linear: the weight is [out, in].
func.func @linear_weight_rank(%x: tensor<4x64xf32>, %w: tensor<2x32x64xf32>) {
  // expected-error @+1 {{weight must have rank 2 [out, in], got rank 3}}
  %0 = tessel.linear %x, %w : (tensor<4x64xf32>, tensor<2x32x64xf32>) -> tensor<4x32xf32>
  return
}

// -----

// linear: a weight in the [in, out] layout is caught by its in features.
func.func @linear_weight_in(%x: tensor<4x64xf32>, %w: tensor<64x32xf32>) {
  // expected-error @+1 {{weight dimension 1 (in features = input's last dimension) must be 64, got 32}}
  %0 = tessel.linear %x, %w : (tensor<4x64xf32>, tensor<64x32xf32>) -> tensor<4x64xf32>
  return
}

// -----

// linear: q8_0 and bf16 are the only input formats.
func.func @linear_input_format(%x: tensor<4x64xf32>, %w: tensor<32x64xf32>) {
  // expected-error @+1 {{input_format must be "q8_0" or "bf16", not "q4_0"}}
  %0 = tessel.linear %x, %w {input_format = "q4_0"} : (tensor<4x64xf32>, tensor<32x64xf32>) -> tensor<4x32xf32>
  return
}

// -----

// linear: q8_0 rounds whole blocks of 32 values.
func.func @linear_input_format_blocks(%x: tensor<4x48xf32>, %w: tensor<32x48xf32>) {
  // expected-error @+1 {{input_format q8_0 rounds blocks of 32 values; a row of 48 is not a whole number of blocks}}
  %0 = tessel.linear %x, %w {input_format = "q8_0"} : (tensor<4x48xf32>, tensor<32x48xf32>) -> tensor<4x32xf32>
  return
}

// -----

// linear: the bias must be f32.
func.func @linear_bias_type(%x: tensor<4x64xf32>, %w: tensor<32x64xf32>, %b: tensor<32xf16>) {
  // expected-error @+1 {{bias must have f32 elements, got 'f16'}}
  %0 = tessel.linear %x, %w bias(%b)
      : (tensor<4x64xf32>, tensor<32x64xf32>, tensor<32xf16>) -> tensor<4x32xf32>
  return
}

// -----

// linear: the bias is [out].
func.func @linear_bias_shape(%x: tensor<4x64xf32>, %w: tensor<32x64xf32>, %b: tensor<64xf32>) {
  // expected-error @+1 {{bias must have shape [32] [out], got [64]}}
  %0 = tessel.linear %x, %w bias(%b)
      : (tensor<4x64xf32>, tensor<32x64xf32>, tensor<64xf32>) -> tensor<4x32xf32>
  return
}

// -----

// linear: a residual has the result's shape.
func.func @linear_residual_shape(%x: tensor<4x64xf32>, %w: tensor<32x64xf32>, %h: tensor<4x64xf32>) {
  // expected-error @+1 {{residual must have shape [4, 32] (the result's shape), got [4, 64]}}
  %0 = tessel.linear %x, %w residual(%h)
      : (tensor<4x64xf32>, tensor<32x64xf32>, tensor<4x64xf32>) -> tensor<4x32xf32>
  return
}

// -----

// linear: the result has the input's element type.
func.func @linear_result_type(%x: tensor<4x64xf32>, %w: tensor<32x64xf32>) {
  // expected-error @+1 {{result must have 'f32' elements, got 'f16'}}
  %0 = tessel.linear %x, %w : (tensor<4x64xf32>, tensor<32x64xf32>) -> tensor<4x32xf16>
  return
}

// -----

// linear: the result is [..., out].
func.func @linear_result_shape(%x: tensor<4x64xf32>, %w: tensor<32x64xf32>) {
  // expected-error @+1 {{result must have shape [4, 32] [..., out], got [4, 64]}}
  %0 = tessel.linear %x, %w : (tensor<4x64xf32>, tensor<32x64xf32>) -> tensor<4x64xf32>
  return
}

// -----

// rms_norm: the input must be f32.
func.func @rms_norm_input_type(%x: tensor<4x64xf16>, %w: tensor<64xf32>) {
  // expected-error @+1 {{input must have f32 elements, got 'f16'}}
  %0 = tessel.rms_norm %x, %w : (tensor<4x64xf16>, tensor<64xf32>) -> tensor<4x64xf16>
  return
}

// -----

// rms_norm: a scalar has nothing to normalise over.
func.func @rms_norm_input_rank(%x: tensor<f32>, %w: tensor<64xf32>) {
  // expected-error @+1 {{input must have rank >= 1, got rank 0}}
  %0 = tessel.rms_norm %x, %w : (tensor<f32>, tensor<64xf32>) -> tensor<f32>
  return
}

// -----

// rms_norm: the weight must be f32.
func.func @rms_norm_weight_type(%x: tensor<4x64xf32>, %w: tensor<64xf16>) {
  // expected-error @+1 {{weight must have f32 elements, got 'f16'}}
  %0 = tessel.rms_norm %x, %w : (tensor<4x64xf32>, tensor<64xf16>) -> tensor<4x64xf32>
  return
}

// -----

// rms_norm: the weight is [dim], dim = the last input dimension.
func.func @rms_norm_weight_shape(%x: tensor<4x64xf32>, %w: tensor<4xf32>) {
  // expected-error @+1 {{weight must have shape [64] [dim], got [4]}}
  %0 = tessel.rms_norm %x, %w : (tensor<4x64xf32>, tensor<4xf32>) -> tensor<4x64xf32>
  return
}

// -----

// rms_norm: epsilon must be positive.
func.func @rms_norm_epsilon(%x: tensor<4x64xf32>, %w: tensor<64xf32>) {
  // expected-error @+1 {{epsilon must be positive, got 0}}
  %0 = tessel.rms_norm %x, %w {epsilon = 0.0 : f32}
      : (tensor<4x64xf32>, tensor<64xf32>) -> tensor<4x64xf32>
  return
}

// -----

// rms_norm: the result has the input's element type.
func.func @rms_norm_result_type(%x: tensor<4x64xf32>, %w: tensor<64xf32>) {
  // expected-error @+1 {{result must have 'f32' elements, got 'f16'}}
  %0 = tessel.rms_norm %x, %w : (tensor<4x64xf32>, tensor<64xf32>) -> tensor<4x64xf16>
  return
}

// -----

// rms_norm: the result has the input's shape.
func.func @rms_norm_result_shape(%x: tensor<4x64xf32>, %w: tensor<64xf32>) {
  // expected-error @+1 {{result must have shape [4, 64] (the input's shape), got [64, 4]}}
  %0 = tessel.rms_norm %x, %w : (tensor<4x64xf32>, tensor<64xf32>) -> tensor<64x4xf32>
  return
}

// -----

// layer_norm: the input must be f32.
func.func @layer_norm_input_type(%x: tensor<4x64xf16>, %w: tensor<64xf32>) {
  // expected-error @+1 {{input must have f32 elements, got 'f16'}}
  %0 = tessel.layer_norm %x, %w : (tensor<4x64xf16>, tensor<64xf32>) -> tensor<4x64xf16>
  return
}

// -----

// layer_norm: a scalar has nothing to normalise over.
func.func @layer_norm_input_rank(%x: tensor<f32>, %w: tensor<64xf32>) {
  // expected-error @+1 {{input must have rank >= 1, got rank 0}}
  %0 = tessel.layer_norm %x, %w : (tensor<f32>, tensor<64xf32>) -> tensor<f32>
  return
}

// -----

// layer_norm: the weight must be f32.
func.func @layer_norm_weight_type(%x: tensor<4x64xf32>, %w: tensor<64xf16>) {
  // expected-error @+1 {{weight must have f32 elements, got 'f16'}}
  %0 = tessel.layer_norm %x, %w : (tensor<4x64xf32>, tensor<64xf16>) -> tensor<4x64xf32>
  return
}

// -----

// layer_norm: the weight is [dim], dim = the last input dimension.
func.func @layer_norm_weight_shape(%x: tensor<4x64xf32>, %w: tensor<4xf32>) {
  // expected-error @+1 {{weight must have shape [64] [dim], got [4]}}
  %0 = tessel.layer_norm %x, %w : (tensor<4x64xf32>, tensor<4xf32>) -> tensor<4x64xf32>
  return
}

// -----

// layer_norm: epsilon must be positive.
func.func @layer_norm_epsilon(%x: tensor<4x64xf32>, %w: tensor<64xf32>) {
  // expected-error @+1 {{epsilon must be positive, got 0}}
  %0 = tessel.layer_norm %x, %w {epsilon = 0.0 : f32}
      : (tensor<4x64xf32>, tensor<64xf32>) -> tensor<4x64xf32>
  return
}

// -----

// layer_norm: the result has the input's element type.
func.func @layer_norm_result_type(%x: tensor<4x64xf32>, %w: tensor<64xf32>) {
  // expected-error @+1 {{result must have 'f32' elements, got 'f16'}}
  %0 = tessel.layer_norm %x, %w : (tensor<4x64xf32>, tensor<64xf32>) -> tensor<4x64xf16>
  return
}

// -----

// layer_norm: the result has the input's shape.
func.func @layer_norm_result_shape(%x: tensor<4x64xf32>, %w: tensor<64xf32>) {
  // expected-error @+1 {{result must have shape [4, 64] (the input's shape), got [64, 4]}}
  %0 = tessel.layer_norm %x, %w : (tensor<4x64xf32>, tensor<64xf32>) -> tensor<64x4xf32>
  return
}

// -----

// layer_norm: the bias must be f32.
func.func @layer_norm_bias_type(%x: tensor<4x64xf32>, %w: tensor<64xf32>, %b: tensor<64xi32>) {
  // expected-error @+1 {{bias must have f32 elements, got 'i32'}}
  %0 = tessel.layer_norm %x, %w bias(%b)
      : (tensor<4x64xf32>, tensor<64xf32>, tensor<64xi32>) -> tensor<4x64xf32>
  return
}

// -----

// layer_norm: the bias is [dim].
func.func @layer_norm_bias_shape(%x: tensor<4x64xf32>, %w: tensor<64xf32>, %b: tensor<1x64xf32>) {
  // expected-error @+1 {{bias must have shape [64] [dim], got [1, 64]}}
  %0 = tessel.layer_norm %x, %w bias(%b)
      : (tensor<4x64xf32>, tensor<64xf32>, tensor<1x64xf32>) -> tensor<4x64xf32>
  return
}

// -----

// rms_norm: a negative epsilon is caught too.
func.func @rms_norm_epsilon_negative(%x: tensor<4x64xf32>, %w: tensor<64xf32>) {
  // expected-error @+1 {{epsilon must be positive, got -1e-05}}
  %0 = tessel.rms_norm %x, %w {epsilon = -1.0e-05 : f32, unit_offset}
      : (tensor<4x64xf32>, tensor<64xf32>) -> tensor<4x64xf32>
  return
}

// -----

// rope: the input must be f32.
func.func @rope_input_type(%q: tensor<1x4x8x8xf16>, %pos: tensor<1x4xi64>) {
  // expected-error @+1 {{input must have f32 elements, got 'f16'}}
  %0 = tessel.rope %q, %pos {layout = #tessel.rope_layout<half_split>}
      : (tensor<1x4x8x8xf16>, tensor<1x4xi64>) -> tensor<1x4x8x8xf16>
  return
}

// -----

// rope: the input is per head; a [batch, seq, dim] tensor needs an expand_shape first.
func.func @rope_input_rank(%q: tensor<1x4x64xf32>, %pos: tensor<1x4xi64>) {
  // expected-error @+1 {{input must have rank 4 [batch, seq, heads, head_dim], got rank 3}}
  %0 = tessel.rope %q, %pos {layout = #tessel.rope_layout<half_split>}
      : (tensor<1x4x64xf32>, tensor<1x4xi64>) -> tensor<1x4x64xf32>
  return
}

// -----

// rope: positions are integers.
func.func @rope_positions_type(%q: tensor<1x4x8x8xf32>, %pos: tensor<1x4xf32>) {
  // expected-error @+1 {{positions must have integer elements, got 'f32'}}
  %0 = tessel.rope %q, %pos {layout = #tessel.rope_layout<half_split>}
      : (tensor<1x4x8x8xf32>, tensor<1x4xf32>) -> tensor<1x4x8x8xf32>
  return
}

// -----

// rope: positions are [batch, seq], not [seq].
func.func @rope_positions_shape(%q: tensor<1x4x8x8xf32>, %pos: tensor<4xi64>) {
  // expected-error @+1 {{positions must have shape [1, 4] [batch, seq], got [4]}}
  %0 = tessel.rope %q, %pos {layout = #tessel.rope_layout<half_split>}
      : (tensor<1x4x8x8xf32>, tensor<4xi64>) -> tensor<1x4x8x8xf32>
  return
}

// -----

// rope: rotary_dim must be positive.
func.func @rope_rotary_dim_positive(%q: tensor<1x4x8x8xf32>, %pos: tensor<1x4xi64>) {
  // expected-error @+1 {{rotary_dim must be positive, got 0}}
  %0 = tessel.rope %q, %pos {layout = #tessel.rope_layout<half_split>, rotary_dim = 0 : i64}
      : (tensor<1x4x8x8xf32>, tensor<1x4xi64>) -> tensor<1x4x8x8xf32>
  return
}

// -----

// rope: features rotate in pairs, so rotary_dim is even.
func.func @rope_rotary_dim_odd(%q: tensor<1x4x8x8xf32>, %pos: tensor<1x4xi64>) {
  // expected-error @+1 {{rotary_dim must be even, got 3}}
  %0 = tessel.rope %q, %pos {layout = #tessel.rope_layout<half_split>, rotary_dim = 3 : i64}
      : (tensor<1x4x8x8xf32>, tensor<1x4xi64>) -> tensor<1x4x8x8xf32>
  return
}

// -----

// rope: rotary_dim counts features of one head.
func.func @rope_rotary_dim_too_big(%q: tensor<1x4x8x8xf32>, %pos: tensor<1x4xi64>) {
  // expected-error @+1 {{rotary_dim (16) must not exceed head_dim (8)}}
  %0 = tessel.rope %q, %pos {layout = #tessel.rope_layout<half_split>, rotary_dim = 16 : i64}
      : (tensor<1x4x8x8xf32>, tensor<1x4xi64>) -> tensor<1x4x8x8xf32>
  return
}

// -----

// rope: without rotary_dim the whole head rotates, so head_dim is even.
func.func @rope_head_dim_odd(%q: tensor<1x4x8x7xf32>, %pos: tensor<1x4xi64>) {
  // expected-error @+1 {{head_dim must be even to be rotated, got 7}}
  %0 = tessel.rope %q, %pos {layout = #tessel.rope_layout<half_split>}
      : (tensor<1x4x8x7xf32>, tensor<1x4xi64>) -> tensor<1x4x8x7xf32>
  return
}

// -----

// rope: theta must be positive.
func.func @rope_theta(%q: tensor<1x4x8x8xf32>, %pos: tensor<1x4xi64>) {
  // expected-error @+1 {{theta must be positive, got -1}}
  %0 = tessel.rope %q, %pos {layout = #tessel.rope_layout<half_split>, theta = -1.0 : f32}
      : (tensor<1x4x8x8xf32>, tensor<1x4xi64>) -> tensor<1x4x8x8xf32>
  return
}

// -----

// rope: linear_scaling divides positions, so it must be positive.
func.func @rope_linear_scaling(%q: tensor<1x4x8x8xf32>, %pos: tensor<1x4xi64>) {
  // expected-error @+1 {{linear_scaling must be positive, got 0}}
  %0 = tessel.rope %q, %pos {layout = #tessel.rope_layout<half_split>, linear_scaling = 0.0 : f32}
      : (tensor<1x4x8x8xf32>, tensor<1x4xi64>) -> tensor<1x4x8x8xf32>
  return
}

// -----

// rope: the result has the input's element type.
func.func @rope_result_type(%q: tensor<1x4x8x8xf32>, %pos: tensor<1x4xi64>) {
  // expected-error @+1 {{result must have 'f32' elements, got 'f16'}}
  %0 = tessel.rope %q, %pos {layout = #tessel.rope_layout<half_split>}
      : (tensor<1x4x8x8xf32>, tensor<1x4xi64>) -> tensor<1x4x8x8xf16>
  return
}

// -----

// rope: the result has the input's shape.
func.func @rope_result_shape(%q: tensor<1x4x8x8xf32>, %pos: tensor<1x4xi64>) {
  // expected-error @+1 {{result must have shape [1, 4, 8, 8] (the input's shape), got [1, 4, 64]}}
  %0 = tessel.rope %q, %pos {layout = #tessel.rope_layout<half_split>}
      : (tensor<1x4x8x8xf32>, tensor<1x4xi64>) -> tensor<1x4x64xf32>
  return
}

// -----

// softmax: the input must be f32.
func.func @softmax_type(%x: tensor<4x8xf16>) {
  // expected-error @+1 {{input must have f32 elements, got 'f16'}}
  %0 = tessel.softmax %x : tensor<4x8xf16>
  return
}

// -----

// softmax: a scalar has no axis.
func.func @softmax_rank(%x: tensor<f32>) {
  // expected-error @+1 {{input must have rank >= 1, got rank 0}}
  %0 = tessel.softmax %x : tensor<f32>
  return
}

// -----

// softmax: axis must name a dimension.
func.func @softmax_axis_high(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{axis 2 is out of range for rank 2}}
  %0 = tessel.softmax %x {axis = 2 : i64} : tensor<4x8xf32>
  return
}

// -----

// softmax: negative axes count from the end, down to -rank.
func.func @softmax_axis_low(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{axis -3 is out of range for rank 2}}
  %0 = tessel.softmax %x {axis = -3 : i64} : tensor<4x8xf32>
  return
}

// -----

// residual_add: operands must be f32.
func.func @residual_add_type(%a: tensor<4x8xf16>, %b: tensor<4x8xf16>) {
  // expected-error @+1 {{residual must have f32 elements, got 'f16'}}
  %0 = tessel.residual_add %a, %b : tensor<4x8xf16>
  return
}

// -----

// residual_add: no broadcasting (the SameOperandsAndResultType trait).
func.func @residual_add_generic_mismatch(%a: tensor<4x8xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{requires the same type for all operands and results}}
  %0 = "tessel.residual_add"(%a, %b) : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return
}

// -----

// kv_cache_update: the cache must be f32.
func.func @kv_update_cache_type(%kc: tensor<1x64x4x8xf16>, %k: tensor<1x1x4x8xf32>, %p: i64) {
  // expected-error @+1 {{cache must have f32 elements, got 'f16'}}
  %0 = tessel.kv_cache_update %kc, %k, %p
      : (tensor<1x64x4x8xf16>, tensor<1x1x4x8xf32>, i64) -> tensor<1x64x4x8xf16>
  return
}

// -----

// kv_cache_update: the cache is per KV head.
func.func @kv_update_cache_rank(%kc: tensor<1x64x32xf32>, %k: tensor<1x1x4x8xf32>, %p: i64) {
  // expected-error @+1 {{cache must have rank 4 [batch, max_len, kv_heads, head_dim], got rank 3}}
  %0 = tessel.kv_cache_update %kc, %k, %p
      : (tensor<1x64x32xf32>, tensor<1x1x4x8xf32>, i64) -> tensor<1x64x32xf32>
  return
}

// -----

// kv_cache_update: the update must be f32.
func.func @kv_update_update_type(%kc: tensor<1x64x4x8xf32>, %k: tensor<1x1x4x8xf16>, %p: i64) {
  // expected-error @+1 {{update must have f32 elements, got 'f16'}}
  %0 = tessel.kv_cache_update %kc, %k, %p
      : (tensor<1x64x4x8xf32>, tensor<1x1x4x8xf16>, i64) -> tensor<1x64x4x8xf32>
  return
}

// -----

// kv_cache_update: the update is per KV head.
func.func @kv_update_update_rank(%kc: tensor<1x64x4x8xf32>, %k: tensor<1x1x32xf32>, %p: i64) {
  // expected-error @+1 {{update must have rank 4 [batch, n, kv_heads, head_dim], got rank 3}}
  %0 = tessel.kv_cache_update %kc, %k, %p
      : (tensor<1x64x4x8xf32>, tensor<1x1x32xf32>, i64) -> tensor<1x64x4x8xf32>
  return
}

// -----

// kv_cache_update: batch must agree.
func.func @kv_update_batch(%kc: tensor<1x64x4x8xf32>, %k: tensor<2x1x4x8xf32>, %p: i64) {
  // expected-error @+1 {{update dimension 0 (batch, as in cache) must be 1, got 2}}
  %0 = tessel.kv_cache_update %kc, %k, %p
      : (tensor<1x64x4x8xf32>, tensor<2x1x4x8xf32>, i64) -> tensor<1x64x4x8xf32>
  return
}

// -----

// kv_cache_update: a query-head tensor (8 heads) is not a KV-head update.
func.func @kv_update_heads(%kc: tensor<1x64x4x8xf32>, %k: tensor<1x1x8x8xf32>, %p: i64) {
  // expected-error @+1 {{update dimension 2 (kv_heads, as in cache) must be 4, got 8}}
  %0 = tessel.kv_cache_update %kc, %k, %p
      : (tensor<1x64x4x8xf32>, tensor<1x1x8x8xf32>, i64) -> tensor<1x64x4x8xf32>
  return
}

// -----

// kv_cache_update: head_dim must agree.
func.func @kv_update_head_dim(%kc: tensor<1x64x4x8xf32>, %k: tensor<1x1x4x16xf32>, %p: i64) {
  // expected-error @+1 {{update dimension 3 (head_dim, as in cache) must be 8, got 16}}
  %0 = tessel.kv_cache_update %kc, %k, %p
      : (tensor<1x64x4x8xf32>, tensor<1x1x4x16xf32>, i64) -> tensor<1x64x4x8xf32>
  return
}

// -----

// kv_cache_update: an update longer than the cache can never fit.
func.func @kv_update_too_long(%kc: tensor<1x4x4x8xf32>, %k: tensor<1x8x4x8xf32>, %p: i64) {
  // expected-error @+1 {{update has 8 rows but the cache holds only 4}}
  %0 = tessel.kv_cache_update %kc, %k, %p
      : (tensor<1x4x4x8xf32>, tensor<1x8x4x8xf32>, i64) -> tensor<1x4x4x8xf32>
  return
}

// -----

// kv_cache_update: the result has the cache's element type.
func.func @kv_update_result_type(%kc: tensor<1x64x4x8xf32>, %k: tensor<1x1x4x8xf32>, %p: i64) {
  // expected-error @+1 {{result must have 'f32' elements, got 'f16'}}
  %0 = tessel.kv_cache_update %kc, %k, %p
      : (tensor<1x64x4x8xf32>, tensor<1x1x4x8xf32>, i64) -> tensor<1x64x4x8xf16>
  return
}

// -----

// kv_cache_update: the result is the whole cache, not the written rows.
func.func @kv_update_result_shape(%kc: tensor<1x64x4x8xf32>, %k: tensor<1x1x4x8xf32>, %p: i64) {
  // expected-error @+1 {{result must have shape [1, 64, 4, 8] (the cache's shape), got [1, 1, 4, 8]}}
  %0 = tessel.kv_cache_update %kc, %k, %p
      : (tensor<1x64x4x8xf32>, tensor<1x1x4x8xf32>, i64) -> tensor<1x1x4x8xf32>
  return
}

// -----

// kv_cache_view: the cache must be f32.
func.func @kv_view_cache_type(%kc: tensor<1x64x4x8xf16>, %n: i64) {
  // expected-error @+1 {{cache must have f32 elements, got 'f16'}}
  %0 = tessel.kv_cache_view %kc, %n : (tensor<1x64x4x8xf16>, i64) -> tensor<1x?x4x8xf16>
  return
}

// -----

// kv_cache_view: the cache is per KV head.
func.func @kv_view_cache_rank(%kc: tensor<64x4x8xf32>, %n: i64) {
  // expected-error @+1 {{cache must have rank 4 [batch, max_len, kv_heads, head_dim], got rank 3}}
  %0 = tessel.kv_cache_view %kc, %n : (tensor<64x4x8xf32>, i64) -> tensor<?x4x8xf32>
  return
}

// -----

// kv_cache_view: the result has the cache's element type.
func.func @kv_view_result_type(%kc: tensor<1x64x4x8xf32>, %n: i64) {
  // expected-error @+1 {{result must have 'f32' elements, got 'f16'}}
  %0 = tessel.kv_cache_view %kc, %n : (tensor<1x64x4x8xf32>, i64) -> tensor<1x?x4x8xf16>
  return
}

// -----

// kv_cache_view: the view keeps batch, kv_heads and head_dim.
func.func @kv_view_result_heads(%kc: tensor<1x64x4x8xf32>, %n: i64) {
  // expected-error @+1 {{result must have shape [1, ?, 4, 8] [batch, length, kv_heads, head_dim], got [1, ?, 8, 8]}}
  %0 = tessel.kv_cache_view %kc, %n : (tensor<1x64x4x8xf32>, i64) -> tensor<1x?x8x8xf32>
  return
}

// -----

// kv_cache_view: the view has rank 4 (the length shows as ? when the rank is wrong).
func.func @kv_view_result_rank(%kc: tensor<1x64x4x8xf32>, %n: i64) {
  // expected-error @+1 {{result must have shape [1, ?, 4, 8] [batch, length, kv_heads, head_dim], got [1, ?, 32]}}
  %0 = tessel.kv_cache_view %kc, %n : (tensor<1x64x4x8xf32>, i64) -> tensor<1x?x32xf32>
  return
}

// -----

// kv_cache_view: a static length cannot exceed max_len.
func.func @kv_view_too_long(%kc: tensor<1x64x4x8xf32>, %n: i64) {
  // expected-error @+1 {{result length 65 exceeds the cache's max_len 64}}
  %0 = tessel.kv_cache_view %kc, %n : (tensor<1x64x4x8xf32>, i64) -> tensor<1x65x4x8xf32>
  return
}

// -----

// sample: logits must be f32.
func.func @sample_type(%l: tensor<1x512xf16>) {
  // expected-error @+1 {{logits must have f32 elements, got 'f16'}}
  %0 = tessel.sample %l : tensor<1x512xf16> -> tensor<1xi64>
  return
}

// -----

// sample: a scalar has no vocabulary dimension.
func.func @sample_rank(%l: tensor<f32>) {
  // expected-error @+1 {{logits must have rank >= 1, got rank 0}}
  %0 = tessel.sample %l : tensor<f32> -> tensor<i64>
  return
}

// -----

// sample: ids are i64.
func.func @sample_result_type(%l: tensor<1x512xf32>) {
  // expected-error @+1 {{result must have 'i64' elements, got 'i32'}}
  %0 = tessel.sample %l : tensor<1x512xf32> -> tensor<1xi32>
  return
}

// -----

// sample: the result drops the vocabulary dimension.
func.func @sample_result_shape(%l: tensor<1x512xf32>) {
  // expected-error @+1 {{result must have shape [1] (the logits' shape without vocab), got [1, 512]}}
  %0 = tessel.sample %l : tensor<1x512xf32> -> tensor<1x512xi64>
  return
}

// -----

// sample: temperature 0 is greedy; negative is meaningless.
func.func @sample_temperature(%l: tensor<1x512xf32>) {
  // expected-error @+1 {{temperature must be >= 0, got -0.5}}
  %0 = tessel.sample %l {temperature = -0.5 : f32} : tensor<1x512xf32> -> tensor<1xi64>
  return
}

// -----

// sample: top_k 0 means no limit; negative is meaningless.
func.func @sample_top_k(%l: tensor<1x512xf32>) {
  // expected-error @+1 {{top_k must be >= 0 (0 = no limit), got -1}}
  %0 = tessel.sample %l {temperature = 1.0 : f32, top_k = -1 : i64}
      : tensor<1x512xf32> -> tensor<1xi64>
  return
}

// -----

// sample: top_p 0 would keep no token.
func.func @sample_top_p_zero(%l: tensor<1x512xf32>) {
  // expected-error @+1 {{top_p must be in (0, 1], got 0}}
  %0 = tessel.sample %l {temperature = 1.0 : f32, top_p = 0.0 : f32}
      : tensor<1x512xf32> -> tensor<1xi64>
  return
}

// -----

// sample: top_p is a probability mass.
func.func @sample_top_p_big(%l: tensor<1x512xf32>) {
  // expected-error @+1 {{top_p must be in (0, 1], got 1.5}}
  %0 = tessel.sample %l {temperature = 1.0 : f32, top_p = 1.5 : f32}
      : tensor<1x512xf32> -> tensor<1xi64>
  return
}

// -----

// weight: the name must say which weight.
func.func @weight_empty_name() {
  // expected-error @+1 {{name must not be empty}}
  %w = tessel.weight "" : tensor<4xf32>
  return
}

// -----

// weight: weights have static shapes.
func.func @weight_dynamic() {
  // expected-error @+1 {{weight 'blk.0.attn_q.weight' must have a static shape}}
  %w = tessel.weight "blk.0.attn_q.weight" : tensor<?x64xf32>
  return
}

// -----

// rope: one frequency factor per rotated pair.
func.func @rope_freq_factors_shape(%x: tensor<1x4x8x8xf32>, %pos: tensor<1x4xi64>, %ff: tensor<8xf32>) {
  // expected-error @+1 {{freq_factors must have shape [4] [rotary_dim / 2], got [8]}}
  %r = tessel.rope %x, %pos freq_factors(%ff) {layout = #tessel.rope_layout<half_split>} : (tensor<1x4x8x8xf32>, tensor<1x4xi64>, tensor<8xf32>) -> tensor<1x4x8x8xf32>
  return
}

// -----

// storage: a known format, on a matrix whose rows fill whole blocks.
func.func @weight_storage_format() {
  // expected-error @+1 {{storage 'q5_k' is not a storage format (bf16, f16, q8_0 or q4_0)}}
  %w = tessel.weight "blk.0.attn_q.weight" {storage = "q5_k"} : tensor<32x64xf32>
  return
}

// -----

func.func @weight_storage_blocks() {
  // expected-error @+1 {{storage 'q8_0' needs k (40) to be a multiple of 32}}
  %w = tessel.weight "blk.0.attn_q.weight" {storage = "q8_0"} : tensor<32x40xf32>
  return
}

// -----

// dequantize: exactly the matrix's bytes.
func.func @dequantize_bytes(%b: tensor<2000xi8>) {
  // expected-error @+1 {{input holds 2000 bytes; a q8_0 tensor of this shape takes 2176}}
  %w = tessel.dequantize %b {format = "q8_0"} : tensor<2000xi8> -> tensor<32x64xf32>
  return
}

// -----

// A stack of experts' matrices: every row of every expert counts.
func.func @dequantize_expert_bytes(%b: tensor<2176xi8>) {
  // expected-error @+1 {{input holds 2176 bytes; a q8_0 tensor of this shape takes 8704}}
  %w = tessel.dequantize %b {format = "q8_0"} : tensor<2176xi8> -> tensor<4x32x64xf32>
  return
}

// -----

func.func @weight_storage_vector() {
  // expected-error @+1 {{storage needs an f32 [..., rows, k] tensor of rank 2 or more}}
  %w = tessel.weight "blk.0.attn_norm.weight" {storage = "bf16"} : tensor<64xf32>
  return
}
