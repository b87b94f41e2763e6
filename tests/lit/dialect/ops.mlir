// Round-trip tests for every tessel op and each of its variants: optional
// operands, optional and default-valued attributes, and every enum case.
//
// The first RUN parses the custom form, prints it, re-parses the print and
// checks the second print; the second RUN starts from the generic form, so a
// custom printer that drops or invents something shows up as a mismatch.
//
// RUN: tessel-opt %s | tessel-opt | FileCheck %s
// RUN: tessel-opt %s --mlir-print-op-generic | tessel-opt | FileCheck %s

//===----------------------------------------------------------------------===//
// embedding
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @embedding
// The default scale (1.0) is elided; Gemma's sqrt(dim) scale is kept.
// CHECK: tessel.embedding %{{.*}}[%{{.*}}] : tensor<512x64xf32>, tensor<1x4xi64> -> tensor<1x4x64xf32>
// CHECK: tessel.embedding %{{.*}}[%{{.*}}] {scale = 8.000000e+00 : f32} : tensor<512x64xf32>, tensor<2x3xi32> -> tensor<2x3x64xf32>
func.func @embedding(%table: tensor<512x64xf32>, %ids: tensor<1x4xi64>, %ids32: tensor<2x3xi32>)
    -> (tensor<1x4x64xf32>, tensor<2x3x64xf32>) {
  %0 = tessel.embedding %table[%ids] : tensor<512x64xf32>, tensor<1x4xi64> -> tensor<1x4x64xf32>
  %1 = tessel.embedding %table[%ids32] {scale = 8.0 : f32}
      : tensor<512x64xf32>, tensor<2x3xi32> -> tensor<2x3x64xf32>
  return %0, %1 : tensor<1x4x64xf32>, tensor<2x3x64xf32>
}

//===----------------------------------------------------------------------===//
// linear
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @linear
// CHECK: tessel.linear %{{.*}}, %{{.*}} : (tensor<1x4x64xf32>, tensor<32x64xf32>) -> tensor<1x4x32xf32>
// CHECK: tessel.linear %{{.*}}, %{{.*}} bias(%{{.*}}) : (tensor<1x4x64xf32>, tensor<32x64xf32>, tensor<32xf32>) -> tensor<1x4x32xf32>
// Rank 1 input and a dynamic leading dimension.
// CHECK: tessel.linear %{{.*}}, %{{.*}} : (tensor<64xf32>, tensor<32x64xf32>) -> tensor<32xf32>
// CHECK: tessel.linear %{{.*}}, %{{.*}} : (tensor<?x64xf32>, tensor<32x64xf32>) -> tensor<?x32xf32>
// A fused residual, with and without a bias.
// CHECK: tessel.linear %{{.*}}, %{{.*}} residual(%{{.*}}) : (tensor<1x4x64xf32>, tensor<32x64xf32>, tensor<1x4x32xf32>) -> tensor<1x4x32xf32>
// CHECK: tessel.linear %{{.*}}, %{{.*}} bias(%{{.*}}) residual(%{{.*}}) : (tensor<1x4x64xf32>, tensor<32x64xf32>, tensor<32xf32>, tensor<1x4x32xf32>) -> tensor<1x4x32xf32>
// Inputs rounded to q8_0.
// CHECK: tessel.linear %{{.*}}, %{{.*}} {input_format = "q8_0"} : (tensor<1x4x64xf32>, tensor<32x64xf32>) -> tensor<1x4x32xf32>
// Inputs rounded to bf16 (any row length).
// CHECK: tessel.linear %{{.*}}, %{{.*}} {input_format = "bf16"} : (tensor<?x64xf32>, tensor<32x64xf32>) -> tensor<?x32xf32>
func.func @linear(%x: tensor<1x4x64xf32>, %w: tensor<32x64xf32>, %b: tensor<32xf32>,
                  %v: tensor<64xf32>, %d: tensor<?x64xf32>, %h: tensor<1x4x32xf32>)
    -> (tensor<1x4x32xf32>, tensor<1x4x32xf32>, tensor<32xf32>, tensor<?x32xf32>) {
  %0 = tessel.linear %x, %w : (tensor<1x4x64xf32>, tensor<32x64xf32>) -> tensor<1x4x32xf32>
  %1 = tessel.linear %x, %w bias(%b)
      : (tensor<1x4x64xf32>, tensor<32x64xf32>, tensor<32xf32>) -> tensor<1x4x32xf32>
  %2 = tessel.linear %v, %w : (tensor<64xf32>, tensor<32x64xf32>) -> tensor<32xf32>
  %3 = tessel.linear %d, %w : (tensor<?x64xf32>, tensor<32x64xf32>) -> tensor<?x32xf32>
  %4 = tessel.linear %x, %w residual(%h)
      : (tensor<1x4x64xf32>, tensor<32x64xf32>, tensor<1x4x32xf32>) -> tensor<1x4x32xf32>
  %5 = tessel.linear %x, %w bias(%b) residual(%h)
      : (tensor<1x4x64xf32>, tensor<32x64xf32>, tensor<32xf32>, tensor<1x4x32xf32>) -> tensor<1x4x32xf32>
  %6 = tessel.linear %x, %w {input_format = "q8_0"}
      : (tensor<1x4x64xf32>, tensor<32x64xf32>) -> tensor<1x4x32xf32>
  %7 = tessel.linear %d, %w {input_format = "bf16"}
      : (tensor<?x64xf32>, tensor<32x64xf32>) -> tensor<?x32xf32>
  return %0, %1, %2, %3 : tensor<1x4x32xf32>, tensor<1x4x32xf32>, tensor<32xf32>, tensor<?x32xf32>
}

//===----------------------------------------------------------------------===//
// rms_norm, layer_norm
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @rms_norm
// The default epsilon (1e-5) is elided.
// CHECK: tessel.rms_norm %{{.*}}, %{{.*}} : (tensor<1x4x64xf32>, tensor<64xf32>) -> tensor<1x4x64xf32>
// CHECK: tessel.rms_norm %{{.*}}, %{{.*}} {epsilon = 9.99999997E-7 : f32} : (tensor<1x4x64xf32>, tensor<64xf32>) -> tensor<1x4x64xf32>
// Gemma's (1 + w) weight convention.
// CHECK: tessel.rms_norm %{{.*}}, %{{.*}} {epsilon = 9.99999997E-7 : f32, unit_offset} : (tensor<1x4x64xf32>, tensor<64xf32>) -> tensor<1x4x64xf32>
func.func @rms_norm(%x: tensor<1x4x64xf32>, %w: tensor<64xf32>)
    -> (tensor<1x4x64xf32>, tensor<1x4x64xf32>, tensor<1x4x64xf32>) {
  %0 = tessel.rms_norm %x, %w : (tensor<1x4x64xf32>, tensor<64xf32>) -> tensor<1x4x64xf32>
  %1 = tessel.rms_norm %x, %w {epsilon = 1.0e-06 : f32}
      : (tensor<1x4x64xf32>, tensor<64xf32>) -> tensor<1x4x64xf32>
  %2 = tessel.rms_norm %x, %w {epsilon = 1.0e-06 : f32, unit_offset}
      : (tensor<1x4x64xf32>, tensor<64xf32>) -> tensor<1x4x64xf32>
  return %0, %1, %2 : tensor<1x4x64xf32>, tensor<1x4x64xf32>, tensor<1x4x64xf32>
}

// CHECK-LABEL: func.func @layer_norm
// CHECK: tessel.layer_norm %{{.*}}, %{{.*}} : (tensor<1x4x64xf32>, tensor<64xf32>) -> tensor<1x4x64xf32>
// CHECK: tessel.layer_norm %{{.*}}, %{{.*}} bias(%{{.*}}) : (tensor<1x4x64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<1x4x64xf32>
// An explicit epsilon equal to the default (1e-5) is elided too.
// CHECK: tessel.layer_norm %{{.*}}, %{{.*}} bias(%{{.*}}) : (tensor<1x4x64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<1x4x64xf32>
func.func @layer_norm(%x: tensor<1x4x64xf32>, %w: tensor<64xf32>, %b: tensor<64xf32>)
    -> (tensor<1x4x64xf32>, tensor<1x4x64xf32>, tensor<1x4x64xf32>) {
  %0 = tessel.layer_norm %x, %w : (tensor<1x4x64xf32>, tensor<64xf32>) -> tensor<1x4x64xf32>
  %1 = tessel.layer_norm %x, %w bias(%b)
      : (tensor<1x4x64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<1x4x64xf32>
  %2 = tessel.layer_norm %x, %w bias(%b) {epsilon = 1.0e-05 : f32}
      : (tensor<1x4x64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<1x4x64xf32>
  return %0, %1, %2 : tensor<1x4x64xf32>, tensor<1x4x64xf32>, tensor<1x4x64xf32>
}

//===----------------------------------------------------------------------===//
// rope
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @rope
// The default theta (10000) is elided.
// CHECK: tessel.rope %{{.*}}, %{{.*}} {layout = #tessel.rope_layout<half_split>} : (tensor<1x4x8x8xf32>, tensor<1x4xi64>) -> tensor<1x4x8x8xf32>
// CHECK: tessel.rope %{{.*}}, %{{.*}} {layout = #tessel.rope_layout<interleaved>, theta = 5.000000e+05 : f32} : (tensor<1x4x8x8xf32>, tensor<1x4xi64>) -> tensor<1x4x8x8xf32>
// Partial rotation (GPT-NeoX rotary_pct) and position interpolation.
// CHECK: tessel.rope %{{.*}}, %{{.*}} {layout = #tessel.rope_layout<half_split>, linear_scaling = 4.000000e+00 : f32, rotary_dim = 4 : i64} : (tensor<1x4x8x8xf32>, tensor<1x4xi64>) -> tensor<1x4x8x8xf32>
// i32 positions and a dynamic sequence length.
// CHECK: tessel.rope %{{.*}}, %{{.*}} {layout = #tessel.rope_layout<interleaved>} : (tensor<2x?x4x16xf32>, tensor<2x?xi32>) -> tensor<2x?x4x16xf32>
func.func @rope(%q: tensor<1x4x8x8xf32>, %pos: tensor<1x4xi64>,
                %d: tensor<2x?x4x16xf32>, %dpos: tensor<2x?xi32>)
    -> (tensor<1x4x8x8xf32>, tensor<1x4x8x8xf32>, tensor<1x4x8x8xf32>, tensor<2x?x4x16xf32>) {
  %0 = tessel.rope %q, %pos {layout = #tessel.rope_layout<half_split>, theta = 10000.0 : f32}
      : (tensor<1x4x8x8xf32>, tensor<1x4xi64>) -> tensor<1x4x8x8xf32>
  %1 = tessel.rope %q, %pos {layout = #tessel.rope_layout<interleaved>, theta = 500000.0 : f32}
      : (tensor<1x4x8x8xf32>, tensor<1x4xi64>) -> tensor<1x4x8x8xf32>
  %2 = tessel.rope %q, %pos {layout = #tessel.rope_layout<half_split>, rotary_dim = 4 : i64,
                             linear_scaling = 4.0 : f32}
      : (tensor<1x4x8x8xf32>, tensor<1x4xi64>) -> tensor<1x4x8x8xf32>
  %3 = tessel.rope %d, %dpos {layout = #tessel.rope_layout<interleaved>}
      : (tensor<2x?x4x16xf32>, tensor<2x?xi32>) -> tensor<2x?x4x16xf32>
  return %0, %1, %2, %3 : tensor<1x4x8x8xf32>, tensor<1x4x8x8xf32>, tensor<1x4x8x8xf32>, tensor<2x?x4x16xf32>
}

//===----------------------------------------------------------------------===//
// attention
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @attention_heads
// MHA: num_heads == num_kv_heads.
// CHECK: tessel.attention %{{.*}}, %{{.*}}, %{{.*}} {num_heads = 8 : i64, num_kv_heads = 8 : i64} : (tensor<1x4x8x8xf32>, tensor<1x4x8x8xf32>, tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32>
// GQA: 8 query heads over 4 KV heads.
// CHECK: tessel.attention %{{.*}}, %{{.*}}, %{{.*}} {causal, num_heads = 8 : i64, num_kv_heads = 4 : i64} : (tensor<1x4x8x8xf32>, tensor<1x4x4x8xf32>, tensor<1x4x4x8xf32>) -> tensor<1x4x8x8xf32>
// MQA: one KV head; v_head_dim (16) differs from head_dim (8).
// CHECK: tessel.attention %{{.*}}, %{{.*}}, %{{.*}} {causal, num_heads = 8 : i64, num_kv_heads = 1 : i64} : (tensor<1x4x8x8xf32>, tensor<1x4x1x8xf32>, tensor<1x4x1x16xf32>) -> tensor<1x4x8x16xf32>
func.func @attention_heads(%q: tensor<1x4x8x8xf32>, %k8: tensor<1x4x8x8xf32>, %v8: tensor<1x4x8x8xf32>,
                           %k4: tensor<1x4x4x8xf32>, %v4: tensor<1x4x4x8xf32>,
                           %k1: tensor<1x4x1x8xf32>, %v1: tensor<1x4x1x16xf32>)
    -> (tensor<1x4x8x8xf32>, tensor<1x4x8x8xf32>, tensor<1x4x8x16xf32>) {
  %0 = tessel.attention %q, %k8, %v8 {num_heads = 8 : i64, num_kv_heads = 8 : i64}
      : (tensor<1x4x8x8xf32>, tensor<1x4x8x8xf32>, tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32>
  %1 = tessel.attention %q, %k4, %v4 {num_heads = 8 : i64, num_kv_heads = 4 : i64, causal}
      : (tensor<1x4x8x8xf32>, tensor<1x4x4x8xf32>, tensor<1x4x4x8xf32>) -> tensor<1x4x8x8xf32>
  %2 = tessel.attention %q, %k1, %v1 {num_heads = 8 : i64, num_kv_heads = 1 : i64, causal}
      : (tensor<1x4x8x8xf32>, tensor<1x4x1x8xf32>, tensor<1x4x1x16xf32>) -> tensor<1x4x8x16xf32>
  return %0, %1, %2 : tensor<1x4x8x8xf32>, tensor<1x4x8x8xf32>, tensor<1x4x8x16xf32>
}

// CHECK-LABEL: func.func @attention_options
// Sliding window (Mistral), explicit scale.
// CHECK: tessel.attention %{{.*}}, %{{.*}}, %{{.*}} {causal, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 2.500000e-01 : f32, window = 3 : i64} : (tensor<1x2x4x8xf32>, tensor<1x6x2x8xf32>, tensor<1x6x2x8xf32>) -> tensor<1x2x4x8xf32>
// Padding mask [batch, kv_len].
// CHECK: tessel.attention %{{.*}}, %{{.*}}, %{{.*}} mask(%{{.*}}) {num_heads = 4 : i64, num_kv_heads = 2 : i64} : (tensor<1x2x4x8xf32>, tensor<1x6x2x8xf32>, tensor<1x6x2x8xf32>, tensor<1x6xi1>) -> tensor<1x2x4x8xf32>
// Full mask [batch, q_len, kv_len], together with causal.
// CHECK: tessel.attention %{{.*}}, %{{.*}}, %{{.*}} mask(%{{.*}}) {causal, num_heads = 4 : i64, num_kv_heads = 2 : i64} : (tensor<1x2x4x8xf32>, tensor<1x6x2x8xf32>, tensor<1x6x2x8xf32>, tensor<1x2x6xi1>) -> tensor<1x2x4x8xf32>
// Attention sinks (gpt-oss): one logit per query head.
// CHECK: tessel.attention %{{.*}}, %{{.*}}, %{{.*}} sinks(%{{.*}}) {causal, num_heads = 4 : i64, num_kv_heads = 2 : i64, window = 4 : i64} : (tensor<1x2x4x8xf32>, tensor<1x6x2x8xf32>, tensor<1x6x2x8xf32>, tensor<4xf32>) -> tensor<1x2x4x8xf32>
// Mask and sinks together keep their order.
// CHECK: tessel.attention %{{.*}}, %{{.*}}, %{{.*}} mask(%{{.*}}) sinks(%{{.*}}) {num_heads = 4 : i64, num_kv_heads = 2 : i64} : (tensor<1x2x4x8xf32>, tensor<1x6x2x8xf32>, tensor<1x6x2x8xf32>, tensor<1x6xi1>, tensor<4xf32>) -> tensor<1x2x4x8xf32>
func.func @attention_options(%q: tensor<1x2x4x8xf32>, %k: tensor<1x6x2x8xf32>, %v: tensor<1x6x2x8xf32>,
                             %pad: tensor<1x6xi1>, %full: tensor<1x2x6xi1>, %sinks: tensor<4xf32>)
    -> (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>,
        tensor<1x2x4x8xf32>) {
  %0 = tessel.attention %q, %k, %v {num_heads = 4 : i64, num_kv_heads = 2 : i64, causal,
                                    window = 3 : i64, scale = 0.25 : f32}
      : (tensor<1x2x4x8xf32>, tensor<1x6x2x8xf32>, tensor<1x6x2x8xf32>) -> tensor<1x2x4x8xf32>
  %1 = tessel.attention %q, %k, %v mask(%pad) {num_heads = 4 : i64, num_kv_heads = 2 : i64}
      : (tensor<1x2x4x8xf32>, tensor<1x6x2x8xf32>, tensor<1x6x2x8xf32>, tensor<1x6xi1>)
      -> tensor<1x2x4x8xf32>
  %2 = tessel.attention %q, %k, %v mask(%full) {num_heads = 4 : i64, num_kv_heads = 2 : i64, causal}
      : (tensor<1x2x4x8xf32>, tensor<1x6x2x8xf32>, tensor<1x6x2x8xf32>, tensor<1x2x6xi1>)
      -> tensor<1x2x4x8xf32>
  %3 = tessel.attention %q, %k, %v sinks(%sinks)
      {num_heads = 4 : i64, num_kv_heads = 2 : i64, causal, window = 4 : i64}
      : (tensor<1x2x4x8xf32>, tensor<1x6x2x8xf32>, tensor<1x6x2x8xf32>, tensor<4xf32>)
      -> tensor<1x2x4x8xf32>
  %4 = tessel.attention %q, %k, %v mask(%pad) sinks(%sinks) {num_heads = 4 : i64, num_kv_heads = 2 : i64}
      : (tensor<1x2x4x8xf32>, tensor<1x6x2x8xf32>, tensor<1x6x2x8xf32>, tensor<1x6xi1>, tensor<4xf32>)
      -> tensor<1x2x4x8xf32>
  return %0, %1, %2, %3, %4 : tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>,
                              tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>
}

// CHECK-LABEL: func.func @attention_decode
// Decode against a KV cache view: q_len 1, dynamic kv_len.
// CHECK: tessel.attention %{{.*}}, %{{.*}}, %{{.*}} {causal, num_heads = 8 : i64, num_kv_heads = 4 : i64} : (tensor<1x1x8x8xf32>, tensor<1x?x4x8xf32>, tensor<1x?x4x8xf32>) -> tensor<1x1x8x8xf32>
// A padding mask may be dynamic along kv_len too.
// CHECK: tessel.attention %{{.*}}, %{{.*}}, %{{.*}} mask(%{{.*}}) {causal, num_heads = 8 : i64, num_kv_heads = 4 : i64} : (tensor<1x1x8x8xf32>, tensor<1x?x4x8xf32>, tensor<1x?x4x8xf32>, tensor<1x?xi1>) -> tensor<1x1x8x8xf32>
func.func @attention_decode(%q: tensor<1x1x8x8xf32>, %k: tensor<1x?x4x8xf32>, %v: tensor<1x?x4x8xf32>,
                            %m: tensor<1x?xi1>) -> (tensor<1x1x8x8xf32>, tensor<1x1x8x8xf32>) {
  %0 = tessel.attention %q, %k, %v {num_heads = 8 : i64, num_kv_heads = 4 : i64, causal}
      : (tensor<1x1x8x8xf32>, tensor<1x?x4x8xf32>, tensor<1x?x4x8xf32>) -> tensor<1x1x8x8xf32>
  %1 = tessel.attention %q, %k, %v mask(%m) {num_heads = 8 : i64, num_kv_heads = 4 : i64, causal}
      : (tensor<1x1x8x8xf32>, tensor<1x?x4x8xf32>, tensor<1x?x4x8xf32>, tensor<1x?xi1>)
      -> tensor<1x1x8x8xf32>
  return %0, %1 : tensor<1x1x8x8xf32>, tensor<1x1x8x8xf32>
}

//===----------------------------------------------------------------------===//
// mla
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @mla_wq
// q(wq): one query projection (DeepSeek-V2-Lite). Defaults (interleaved
// RoPE, theta 10000, epsilon 1e-6) are elided.
// CHECK: tessel.mla %{{.*}}, %{{.*}} q(%{{.*}}) kv(%{{.*}}, %{{.*}}, %{{.*}}) out(%{{.*}}) {causal, kv_lora_rank = 16 : i64, num_heads = 4 : i64, qk_nope_dim = 8 : i64, qk_rope_dim = 4 : i64, v_head_dim = 8 : i64} : (tensor<1x6x32xf32>, tensor<1x6xi64>, tensor<48x32xf32>, tensor<20x32xf32>, tensor<16xf32>, tensor<64x16xf32>, tensor<32x32xf32>) -> tensor<1x6x32xf32>
// A padding mask, a window, a scale and non-default RoPE and epsilon.
// CHECK: tessel.mla %{{.*}}, %{{.*}} q(%{{.*}}) kv(%{{.*}}, %{{.*}}, %{{.*}}) out(%{{.*}}) mask(%{{.*}}) {causal, epsilon = 9.99999974E-6 : f32, kv_lora_rank = 16 : i64, num_heads = 4 : i64, qk_nope_dim = 8 : i64, qk_rope_dim = 4 : i64, rope_layout = #tessel.rope_layout<half_split>, rope_theta = 5.000000e+04 : f32, scale = 1.250000e-01 : f32, v_head_dim = 8 : i64, window = 4 : i64} : (tensor<1x6x32xf32>, tensor<1x6xi64>, tensor<48x32xf32>, tensor<20x32xf32>, tensor<16xf32>, tensor<64x16xf32>, tensor<32x32xf32>, tensor<1x6xi1>) -> tensor<1x6x32xf32>
func.func @mla_wq(%x: tensor<1x6x32xf32>, %pos: tensor<1x6xi64>, %wq: tensor<48x32xf32>,
                  %wkv_a: tensor<20x32xf32>, %kv_norm: tensor<16xf32>, %wkv_b: tensor<64x16xf32>,
                  %wo: tensor<32x32xf32>, %mask: tensor<1x6xi1>)
    -> (tensor<1x6x32xf32>, tensor<1x6x32xf32>) {
  %0 = tessel.mla %x, %pos q(%wq) kv(%wkv_a, %kv_norm, %wkv_b) out(%wo)
      {num_heads = 4 : i64, kv_lora_rank = 16 : i64, qk_nope_dim = 8 : i64,
       qk_rope_dim = 4 : i64, v_head_dim = 8 : i64, causal}
      : (tensor<1x6x32xf32>, tensor<1x6xi64>, tensor<48x32xf32>, tensor<20x32xf32>,
         tensor<16xf32>, tensor<64x16xf32>, tensor<32x32xf32>) -> tensor<1x6x32xf32>
  %1 = tessel.mla %x, %pos q(%wq) kv(%wkv_a, %kv_norm, %wkv_b) out(%wo) mask(%mask)
      {num_heads = 4 : i64, kv_lora_rank = 16 : i64, qk_nope_dim = 8 : i64,
       qk_rope_dim = 4 : i64, v_head_dim = 8 : i64, causal, window = 4 : i64,
       scale = 0.125 : f32, rope_layout = #tessel.rope_layout<half_split>,
       rope_theta = 50000.0 : f32, epsilon = 1.0e-05 : f32}
      : (tensor<1x6x32xf32>, tensor<1x6xi64>, tensor<48x32xf32>, tensor<20x32xf32>,
         tensor<16xf32>, tensor<64x16xf32>, tensor<32x32xf32>, tensor<1x6xi1>) -> tensor<1x6x32xf32>
  return %0, %1 : tensor<1x6x32xf32>, tensor<1x6x32xf32>
}

// CHECK-LABEL: func.func @mla_q_lora
// q_lora_rank = 12: q(wq_a, q_norm, wq_b) (DeepSeek-V3), here with a full
// [batch, q_len, kv_len] mask.
// CHECK: tessel.mla %{{.*}}, %{{.*}} q(%{{.*}}, %{{.*}}, %{{.*}}) kv(%{{.*}}, %{{.*}}, %{{.*}}) out(%{{.*}}) {causal, kv_lora_rank = 16 : i64, num_heads = 4 : i64, q_lora_rank = 12 : i64, qk_nope_dim = 8 : i64, qk_rope_dim = 4 : i64, v_head_dim = 8 : i64} : (tensor<1x6x32xf32>, tensor<1x6xi64>, tensor<12x32xf32>, tensor<12xf32>, tensor<48x12xf32>, tensor<20x32xf32>, tensor<16xf32>, tensor<64x16xf32>, tensor<32x32xf32>) -> tensor<1x6x32xf32>
// CHECK: tessel.mla %{{.*}}, %{{.*}} q(%{{.*}}, %{{.*}}, %{{.*}}) kv(%{{.*}}, %{{.*}}, %{{.*}}) out(%{{.*}}) mask(%{{.*}}) {kv_lora_rank = 16 : i64, num_heads = 4 : i64, q_lora_rank = 12 : i64, qk_nope_dim = 8 : i64, qk_rope_dim = 4 : i64, v_head_dim = 8 : i64} : (tensor<1x6x32xf32>, tensor<1x6xi64>, tensor<12x32xf32>, tensor<12xf32>, tensor<48x12xf32>, tensor<20x32xf32>, tensor<16xf32>, tensor<64x16xf32>, tensor<32x32xf32>, tensor<1x6x6xi1>) -> tensor<1x6x32xf32>
func.func @mla_q_lora(%x: tensor<1x6x32xf32>, %pos: tensor<1x6xi64>, %wq_a: tensor<12x32xf32>,
                      %q_norm: tensor<12xf32>, %wq_b: tensor<48x12xf32>,
                      %wkv_a: tensor<20x32xf32>, %kv_norm: tensor<16xf32>, %wkv_b: tensor<64x16xf32>,
                      %wo: tensor<32x32xf32>, %mask: tensor<1x6x6xi1>)
    -> (tensor<1x6x32xf32>, tensor<1x6x32xf32>) {
  %0 = tessel.mla %x, %pos q(%wq_a, %q_norm, %wq_b) kv(%wkv_a, %kv_norm, %wkv_b) out(%wo)
      {num_heads = 4 : i64, q_lora_rank = 12 : i64, kv_lora_rank = 16 : i64,
       qk_nope_dim = 8 : i64, qk_rope_dim = 4 : i64, v_head_dim = 8 : i64, causal}
      : (tensor<1x6x32xf32>, tensor<1x6xi64>, tensor<12x32xf32>, tensor<12xf32>, tensor<48x12xf32>,
         tensor<20x32xf32>, tensor<16xf32>, tensor<64x16xf32>, tensor<32x32xf32>) -> tensor<1x6x32xf32>
  %1 = tessel.mla %x, %pos q(%wq_a, %q_norm, %wq_b) kv(%wkv_a, %kv_norm, %wkv_b) out(%wo) mask(%mask)
      {num_heads = 4 : i64, q_lora_rank = 12 : i64, kv_lora_rank = 16 : i64,
       qk_nope_dim = 8 : i64, qk_rope_dim = 4 : i64, v_head_dim = 8 : i64}
      : (tensor<1x6x32xf32>, tensor<1x6xi64>, tensor<12x32xf32>, tensor<12xf32>, tensor<48x12xf32>,
         tensor<20x32xf32>, tensor<16xf32>, tensor<64x16xf32>, tensor<32x32xf32>, tensor<1x6x6xi1>)
      -> tensor<1x6x32xf32>
  return %0, %1 : tensor<1x6x32xf32>, tensor<1x6x32xf32>
}

//===----------------------------------------------------------------------===//
// ffn
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @ffn_plain
// CHECK: tessel.ffn %{{.*}} up(%{{.*}}) down(%{{.*}}) {activation = #tessel.activation<relu>} : (tensor<1x4x16xf32>, tensor<32x16xf32>, tensor<16x32xf32>) -> tensor<1x4x16xf32>
// CHECK: tessel.ffn %{{.*}} up(%{{.*}}) down(%{{.*}}) {activation = #tessel.activation<gelu>} : (tensor<1x4x16xf32>, tensor<32x16xf32>, tensor<16x32xf32>) -> tensor<1x4x16xf32>
// GPT-2: tanh-approximated gelu with both biases.
// CHECK: tessel.ffn %{{.*}} up(%{{.*}}) down(%{{.*}}) up_bias(%{{.*}}) down_bias(%{{.*}}) {activation = #tessel.activation<gelu>, tanh_approx} : (tensor<1x4x16xf32>, tensor<32x16xf32>, tensor<16x32xf32>, tensor<32xf32>, tensor<16xf32>) -> tensor<1x4x16xf32>
// CHECK: tessel.ffn %{{.*}} up(%{{.*}}) down(%{{.*}}) {activation = #tessel.activation<silu>} : (tensor<1x4x16xf32>, tensor<32x16xf32>, tensor<16x32xf32>) -> tensor<1x4x16xf32>
// Only one bias: the other stays absent after the round trip.
// CHECK: tessel.ffn %{{.*}} up(%{{.*}}) down(%{{.*}}) up_bias(%{{.*}}) {activation = #tessel.activation<relu>} : (tensor<1x4x16xf32>, tensor<32x16xf32>, tensor<16x32xf32>, tensor<32xf32>) -> tensor<1x4x16xf32>
// CHECK: tessel.ffn %{{.*}} up(%{{.*}}) down(%{{.*}}) down_bias(%{{.*}}) {activation = #tessel.activation<relu>} : (tensor<1x4x16xf32>, tensor<32x16xf32>, tensor<16x32xf32>, tensor<16xf32>) -> tensor<1x4x16xf32>
func.func @ffn_plain(%x: tensor<1x4x16xf32>, %up: tensor<32x16xf32>, %down: tensor<16x32xf32>,
                     %bup: tensor<32xf32>, %bdown: tensor<16xf32>)
    -> (tensor<1x4x16xf32>, tensor<1x4x16xf32>, tensor<1x4x16xf32>, tensor<1x4x16xf32>,
        tensor<1x4x16xf32>, tensor<1x4x16xf32>) {
  %0 = tessel.ffn %x up(%up) down(%down) {activation = #tessel.activation<relu>}
      : (tensor<1x4x16xf32>, tensor<32x16xf32>, tensor<16x32xf32>) -> tensor<1x4x16xf32>
  %1 = tessel.ffn %x up(%up) down(%down) {activation = #tessel.activation<gelu>}
      : (tensor<1x4x16xf32>, tensor<32x16xf32>, tensor<16x32xf32>) -> tensor<1x4x16xf32>
  %2 = tessel.ffn %x up(%up) down(%down) up_bias(%bup) down_bias(%bdown)
      {activation = #tessel.activation<gelu>, tanh_approx}
      : (tensor<1x4x16xf32>, tensor<32x16xf32>, tensor<16x32xf32>, tensor<32xf32>, tensor<16xf32>)
      -> tensor<1x4x16xf32>
  %3 = tessel.ffn %x up(%up) down(%down) {activation = #tessel.activation<silu>}
      : (tensor<1x4x16xf32>, tensor<32x16xf32>, tensor<16x32xf32>) -> tensor<1x4x16xf32>
  %4 = tessel.ffn %x up(%up) down(%down) up_bias(%bup) {activation = #tessel.activation<relu>}
      : (tensor<1x4x16xf32>, tensor<32x16xf32>, tensor<16x32xf32>, tensor<32xf32>) -> tensor<1x4x16xf32>
  %5 = tessel.ffn %x up(%up) down(%down) down_bias(%bdown) {activation = #tessel.activation<relu>}
      : (tensor<1x4x16xf32>, tensor<32x16xf32>, tensor<16x32xf32>, tensor<16xf32>) -> tensor<1x4x16xf32>
  return %0, %1, %2, %3, %4, %5 : tensor<1x4x16xf32>, tensor<1x4x16xf32>, tensor<1x4x16xf32>,
                                  tensor<1x4x16xf32>, tensor<1x4x16xf32>, tensor<1x4x16xf32>
}

// CHECK-LABEL: func.func @ffn_gated
// CHECK: tessel.ffn %{{.*}} up(%{{.*}}) gate(%{{.*}}) down(%{{.*}}) {activation = #tessel.activation<swiglu>} : (tensor<1x4x16xf32>, tensor<32x16xf32>, tensor<32x16xf32>, tensor<16x32xf32>) -> tensor<1x4x16xf32>
// CHECK: tessel.ffn %{{.*}} up(%{{.*}}) gate(%{{.*}}) down(%{{.*}}) {activation = #tessel.activation<geglu>} : (tensor<1x4x16xf32>, tensor<32x16xf32>, tensor<32x16xf32>, tensor<16x32xf32>) -> tensor<1x4x16xf32>
// Gemma's GeGLU uses the tanh approximation.
// CHECK: tessel.ffn %{{.*}} up(%{{.*}}) gate(%{{.*}}) down(%{{.*}}) {activation = #tessel.activation<geglu>, tanh_approx} : (tensor<1x4x16xf32>, tensor<32x16xf32>, tensor<32x16xf32>, tensor<16x32xf32>) -> tensor<1x4x16xf32>
// Gated with both biases.
// CHECK: tessel.ffn %{{.*}} up(%{{.*}}) gate(%{{.*}}) down(%{{.*}}) up_bias(%{{.*}}) down_bias(%{{.*}}) {activation = #tessel.activation<swiglu>} : (tensor<1x4x16xf32>, tensor<32x16xf32>, tensor<32x16xf32>, tensor<16x32xf32>, tensor<32xf32>, tensor<16xf32>) -> tensor<1x4x16xf32>
func.func @ffn_gated(%x: tensor<1x4x16xf32>, %up: tensor<32x16xf32>, %gate: tensor<32x16xf32>,
                     %down: tensor<16x32xf32>, %bup: tensor<32xf32>, %bdown: tensor<16xf32>)
    -> (tensor<1x4x16xf32>, tensor<1x4x16xf32>, tensor<1x4x16xf32>, tensor<1x4x16xf32>) {
  %0 = tessel.ffn %x up(%up) gate(%gate) down(%down) {activation = #tessel.activation<swiglu>}
      : (tensor<1x4x16xf32>, tensor<32x16xf32>, tensor<32x16xf32>, tensor<16x32xf32>) -> tensor<1x4x16xf32>
  %1 = tessel.ffn %x up(%up) gate(%gate) down(%down) {activation = #tessel.activation<geglu>}
      : (tensor<1x4x16xf32>, tensor<32x16xf32>, tensor<32x16xf32>, tensor<16x32xf32>) -> tensor<1x4x16xf32>
  %2 = tessel.ffn %x up(%up) gate(%gate) down(%down) {activation = #tessel.activation<geglu>, tanh_approx}
      : (tensor<1x4x16xf32>, tensor<32x16xf32>, tensor<32x16xf32>, tensor<16x32xf32>) -> tensor<1x4x16xf32>
  %3 = tessel.ffn %x up(%up) gate(%gate) down(%down) up_bias(%bup) down_bias(%bdown)
      {activation = #tessel.activation<swiglu>}
      : (tensor<1x4x16xf32>, tensor<32x16xf32>, tensor<32x16xf32>, tensor<16x32xf32>, tensor<32xf32>,
         tensor<16xf32>) -> tensor<1x4x16xf32>
  return %0, %1, %2, %3 : tensor<1x4x16xf32>, tensor<1x4x16xf32>, tensor<1x4x16xf32>, tensor<1x4x16xf32>
}

//===----------------------------------------------------------------------===//
// moe
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @moe
// Mixtral: softmax scoring, top-2 of 4, renormalised, no shared experts.
// CHECK: tessel.moe %{{.*}} router(%{{.*}}) experts(%{{.*}}, %{{.*}}, %{{.*}}) {activation = #tessel.activation<swiglu>, normalize_top_k, scoring = #tessel.moe_scoring<softmax>, top_k = 2 : i64} : (tensor<1x4x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<1x4x16xf32>
// DeepSeek-V3: sigmoid scoring, routed_scale, a shared expert.
// CHECK: tessel.moe %{{.*}} router(%{{.*}}) experts(%{{.*}}, %{{.*}}, %{{.*}}) shared(%{{.*}}, %{{.*}}, %{{.*}}) {activation = #tessel.activation<swiglu>, normalize_top_k, routed_scale = 2.500000e+00 : f32, scoring = #tessel.moe_scoring<sigmoid>, top_k = 2 : i64} : (tensor<1x4x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>, tensor<24x16xf32>, tensor<24x16xf32>, tensor<16x24xf32>) -> tensor<1x4x16xf32>
// DeepSeek-V2: softmax without renormalisation (default routed_scale 1 is elided).
// CHECK: tessel.moe %{{.*}} router(%{{.*}}) experts(%{{.*}}, %{{.*}}, %{{.*}}) shared(%{{.*}}, %{{.*}}, %{{.*}}) {activation = #tessel.activation<swiglu>, scoring = #tessel.moe_scoring<softmax>, top_k = 3 : i64} : (tensor<1x4x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>, tensor<24x16xf32>, tensor<24x16xf32>, tensor<16x24xf32>) -> tensor<1x4x16xf32>
// Non-gated experts (up, down) and shared (up, down); gelu with tanh.
// CHECK: tessel.moe %{{.*}} router(%{{.*}}) experts(%{{.*}}, %{{.*}}) shared(%{{.*}}, %{{.*}}) {activation = #tessel.activation<gelu>, scoring = #tessel.moe_scoring<softmax>, tanh_approx, top_k = 1 : i64} : (tensor<1x4x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>, tensor<24x16xf32>, tensor<16x24xf32>) -> tensor<1x4x16xf32>
// Non-gated, top_k equal to the number of experts, rank-2 input.
// CHECK: tessel.moe %{{.*}} router(%{{.*}}) experts(%{{.*}}, %{{.*}}) {activation = #tessel.activation<relu>, scoring = #tessel.moe_scoring<sigmoid>, top_k = 4 : i64} : (tensor<3x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<3x16xf32>
func.func @moe(%x: tensor<1x4x16xf32>, %router: tensor<4x16xf32>, %up: tensor<4x32x16xf32>,
               %gate: tensor<4x32x16xf32>, %down: tensor<4x16x32xf32>,
               %sup: tensor<24x16xf32>, %sgate: tensor<24x16xf32>, %sdown: tensor<16x24xf32>,
               %x2: tensor<3x16xf32>)
    -> (tensor<1x4x16xf32>, tensor<1x4x16xf32>, tensor<1x4x16xf32>, tensor<1x4x16xf32>,
        tensor<3x16xf32>) {
  %0 = tessel.moe %x router(%router) experts(%up, %gate, %down)
      {top_k = 2 : i64, scoring = #tessel.moe_scoring<softmax>, normalize_top_k,
       activation = #tessel.activation<swiglu>}
      : (tensor<1x4x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x32x16xf32>,
         tensor<4x16x32xf32>) -> tensor<1x4x16xf32>
  %1 = tessel.moe %x router(%router) experts(%up, %gate, %down) shared(%sup, %sgate, %sdown)
      {top_k = 2 : i64, scoring = #tessel.moe_scoring<sigmoid>, normalize_top_k,
       routed_scale = 2.5 : f32, activation = #tessel.activation<swiglu>}
      : (tensor<1x4x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x32x16xf32>,
         tensor<4x16x32xf32>, tensor<24x16xf32>, tensor<24x16xf32>, tensor<16x24xf32>)
      -> tensor<1x4x16xf32>
  %2 = tessel.moe %x router(%router) experts(%up, %gate, %down) shared(%sup, %sgate, %sdown)
      {top_k = 3 : i64, scoring = #tessel.moe_scoring<softmax>, routed_scale = 1.0 : f32,
       activation = #tessel.activation<swiglu>}
      : (tensor<1x4x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x32x16xf32>,
         tensor<4x16x32xf32>, tensor<24x16xf32>, tensor<24x16xf32>, tensor<16x24xf32>)
      -> tensor<1x4x16xf32>
  %3 = tessel.moe %x router(%router) experts(%up, %down) shared(%sup, %sdown)
      {top_k = 1 : i64, scoring = #tessel.moe_scoring<softmax>,
       activation = #tessel.activation<gelu>, tanh_approx}
      : (tensor<1x4x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>,
         tensor<24x16xf32>, tensor<16x24xf32>) -> tensor<1x4x16xf32>
  %4 = tessel.moe %x2 router(%router) experts(%up, %down)
      {top_k = 4 : i64, scoring = #tessel.moe_scoring<sigmoid>, activation = #tessel.activation<relu>}
      : (tensor<3x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<3x16xf32>
  return %0, %1, %2, %3, %4 : tensor<1x4x16xf32>, tensor<1x4x16xf32>, tensor<1x4x16xf32>,
                              tensor<1x4x16xf32>, tensor<3x16xf32>
}

//===----------------------------------------------------------------------===//
// einsum, softmax, residual_add
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @einsum
// Attention scores and the weighted sum of values.
// CHECK: tessel.einsum "bqhd,bkhd->bhqk" %{{.*}}, %{{.*}} : (tensor<1x4x8x16xf32>, tensor<1x6x8x16xf32>) -> tensor<1x8x4x6xf32>
// CHECK: tessel.einsum "bhqk,bkhd->bqhd" %{{.*}}, %{{.*}} : (tensor<1x8x4x6xf32>, tensor<1x6x8x16xf32>) -> tensor<1x4x8x16xf32>
// Matmul, transpose (one input), full reduction to a scalar, outer product,
// three inputs, upper-case labels, spaces and a dynamic extent.
// CHECK: tessel.einsum "ij,jk->ik" %{{.*}}, %{{.*}} : (tensor<4x6xf32>, tensor<6x3xf32>) -> tensor<4x3xf32>
// CHECK: tessel.einsum "ij->ji" %{{.*}} : (tensor<4x6xf32>) -> tensor<6x4xf32>
// CHECK: tessel.einsum "ij->" %{{.*}} : (tensor<4x6xf32>) -> tensor<f32>
// CHECK: tessel.einsum "i,j->ij" %{{.*}}, %{{.*}} : (tensor<4xf32>, tensor<6xf32>) -> tensor<4x6xf32>
// CHECK: tessel.einsum "ij,jk,kl->il" %{{.*}}, %{{.*}}, %{{.*}} : (tensor<4x6xf32>, tensor<6x3xf32>, tensor<3x5xf32>) -> tensor<4x5xf32>
// CHECK: tessel.einsum "bN, Nd -> bd" %{{.*}}, %{{.*}} : (tensor<?x6xf32>, tensor<6x3xf32>) -> tensor<?x3xf32>
func.func @einsum(%q: tensor<1x4x8x16xf32>, %k: tensor<1x6x8x16xf32>, %p: tensor<1x8x4x6xf32>,
                  %a: tensor<4x6xf32>, %b: tensor<6x3xf32>, %c: tensor<3x5xf32>,
                  %u: tensor<4xf32>, %v: tensor<6xf32>, %d: tensor<?x6xf32>)
    -> (tensor<1x8x4x6xf32>, tensor<1x4x8x16xf32>, tensor<4x3xf32>, tensor<6x4xf32>, tensor<f32>,
        tensor<4x6xf32>, tensor<4x5xf32>, tensor<?x3xf32>) {
  %0 = tessel.einsum "bqhd,bkhd->bhqk" %q, %k
      : (tensor<1x4x8x16xf32>, tensor<1x6x8x16xf32>) -> tensor<1x8x4x6xf32>
  %1 = tessel.einsum "bhqk,bkhd->bqhd" %p, %k
      : (tensor<1x8x4x6xf32>, tensor<1x6x8x16xf32>) -> tensor<1x4x8x16xf32>
  %2 = tessel.einsum "ij,jk->ik" %a, %b : (tensor<4x6xf32>, tensor<6x3xf32>) -> tensor<4x3xf32>
  %3 = tessel.einsum "ij->ji" %a : (tensor<4x6xf32>) -> tensor<6x4xf32>
  %4 = tessel.einsum "ij->" %a : (tensor<4x6xf32>) -> tensor<f32>
  %5 = tessel.einsum "i,j->ij" %u, %v : (tensor<4xf32>, tensor<6xf32>) -> tensor<4x6xf32>
  %6 = tessel.einsum "ij,jk,kl->il" %a, %b, %c
      : (tensor<4x6xf32>, tensor<6x3xf32>, tensor<3x5xf32>) -> tensor<4x5xf32>
  %7 = tessel.einsum "bN, Nd -> bd" %d, %b : (tensor<?x6xf32>, tensor<6x3xf32>) -> tensor<?x3xf32>
  return %0, %1, %2, %3, %4, %5, %6, %7
      : tensor<1x8x4x6xf32>, tensor<1x4x8x16xf32>, tensor<4x3xf32>, tensor<6x4xf32>, tensor<f32>,
        tensor<4x6xf32>, tensor<4x5xf32>, tensor<?x3xf32>
}

// CHECK-LABEL: func.func @softmax_residual
// The default axis (-1) is elided.
// CHECK: tessel.softmax %{{.*}} : tensor<1x8x4x6xf32>
// CHECK: tessel.softmax %{{.*}} {axis = 1 : i64} : tensor<1x8x4x6xf32>
// CHECK: tessel.softmax %{{.*}} {axis = -4 : i64} : tensor<1x8x4x6xf32>
// CHECK: tessel.residual_add %{{.*}}, %{{.*}} : tensor<1x8x4x6xf32>
// CHECK: tessel.residual_add %{{.*}}, %{{.*}} : tensor<?x64xf32>
func.func @softmax_residual(%s: tensor<1x8x4x6xf32>, %h: tensor<?x64xf32>, %b: tensor<?x64xf32>)
    -> (tensor<1x8x4x6xf32>, tensor<1x8x4x6xf32>, tensor<1x8x4x6xf32>, tensor<1x8x4x6xf32>,
        tensor<?x64xf32>) {
  %0 = tessel.softmax %s : tensor<1x8x4x6xf32>
  %1 = tessel.softmax %s {axis = 1 : i64} : tensor<1x8x4x6xf32>
  %2 = tessel.softmax %s {axis = -4 : i64} : tensor<1x8x4x6xf32>
  %3 = tessel.residual_add %s, %0 : tensor<1x8x4x6xf32>
  %4 = tessel.residual_add %h, %b : tensor<?x64xf32>
  return %0, %1, %2, %3, %4 : tensor<1x8x4x6xf32>, tensor<1x8x4x6xf32>, tensor<1x8x4x6xf32>,
                              tensor<1x8x4x6xf32>, tensor<?x64xf32>
}

//===----------------------------------------------------------------------===//
// kv_cache_update, kv_cache_view, sample
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @kv_cache
// Prefill writes 8 rows, decode one; the view is dynamic or static.
// CHECK: tessel.kv_cache_update %{{.*}}, %{{.*}}, %{{.*}} : (tensor<1x64x4x8xf32>, tensor<1x8x4x8xf32>, i64) -> tensor<1x64x4x8xf32>
// CHECK: tessel.kv_cache_update %{{.*}}, %{{.*}}, %{{.*}} : (tensor<1x64x4x8xf32>, tensor<1x1x4x8xf32>, i64) -> tensor<1x64x4x8xf32>
// CHECK: tessel.kv_cache_view %{{.*}}, %{{.*}} : (tensor<1x64x4x8xf32>, i64) -> tensor<1x?x4x8xf32>
// CHECK: tessel.kv_cache_view %{{.*}}, %{{.*}} : (tensor<1x64x4x8xf32>, i64) -> tensor<1x9x4x8xf32>
// CHECK: tessel.attention
func.func @kv_cache(%kc: tensor<1x64x4x8xf32>, %prefill: tensor<1x8x4x8xf32>, %k: tensor<1x1x4x8xf32>,
                    %q: tensor<1x1x8x8xf32>, %pos: i64, %len: i64)
    -> (tensor<1x9x4x8xf32>, tensor<1x1x8x8xf32>) {
  %zero = arith.constant 0 : i64
  %0 = tessel.kv_cache_update %kc, %prefill, %zero
      : (tensor<1x64x4x8xf32>, tensor<1x8x4x8xf32>, i64) -> tensor<1x64x4x8xf32>
  %1 = tessel.kv_cache_update %0, %k, %pos
      : (tensor<1x64x4x8xf32>, tensor<1x1x4x8xf32>, i64) -> tensor<1x64x4x8xf32>
  %2 = tessel.kv_cache_view %1, %len : (tensor<1x64x4x8xf32>, i64) -> tensor<1x?x4x8xf32>
  %3 = tessel.kv_cache_view %1, %len : (tensor<1x64x4x8xf32>, i64) -> tensor<1x9x4x8xf32>
  %4 = tessel.attention %q, %2, %2 {num_heads = 8 : i64, num_kv_heads = 4 : i64, causal}
      : (tensor<1x1x8x8xf32>, tensor<1x?x4x8xf32>, tensor<1x?x4x8xf32>) -> tensor<1x1x8x8xf32>
  return %3, %4 : tensor<1x9x4x8xf32>, tensor<1x1x8x8xf32>
}

// CHECK-LABEL: func.func @sample
// Greedy: every attribute at its default and elided.
// CHECK: tessel.sample %{{.*}} : tensor<1x512xf32> -> tensor<1xi64>
// CHECK: tessel.sample %{{.*}} {seed = 7 : i64, temperature = 8.000000e-01 : f32, top_k = 40 : i64, top_p = 0.949999988 : f32} : tensor<1x512xf32> -> tensor<1xi64>
// Rank-1 logits give a rank-0 id.
// CHECK: tessel.sample %{{.*}} {temperature = 1.000000e+00 : f32} : tensor<512xf32> -> tensor<i64>
func.func @sample(%logits: tensor<1x512xf32>, %row: tensor<512xf32>)
    -> (tensor<1xi64>, tensor<1xi64>, tensor<i64>) {
  %0 = tessel.sample %logits : tensor<1x512xf32> -> tensor<1xi64>
  %1 = tessel.sample %logits {temperature = 0.8 : f32, top_k = 40 : i64, top_p = 0.95 : f32, seed = 7 : i64}
      : tensor<1x512xf32> -> tensor<1xi64>
  %2 = tessel.sample %row {temperature = 1.0 : f32} : tensor<512xf32> -> tensor<i64>
  return %0, %1, %2 : tensor<1xi64>, tensor<1xi64>, tensor<i64>
}

// weight: a named model weight, and RoPE with Llama 3 frequency factors.
// CHECK-LABEL: func.func @weight_and_freq_factors
// CHECK: %[[W:.*]] = tessel.weight "rope_freqs.weight" : tensor<4xf32>
// CHECK: tessel.rope %{{.*}}, %{{.*}} freq_factors(%[[W]]) {layout = #tessel.rope_layout<half_split>} : (tensor<1x4x8x8xf32>, tensor<1x4xi64>, tensor<4xf32>) -> tensor<1x4x8x8xf32>
func.func @weight_and_freq_factors(%x: tensor<1x4x8x8xf32>, %pos: tensor<1x4xi64>) -> tensor<1x4x8x8xf32> {
  %ff = tessel.weight "rope_freqs.weight" : tensor<4xf32>
  %r = tessel.rope %x, %pos freq_factors(%ff) {layout = #tessel.rope_layout<half_split>} : (tensor<1x4x8x8xf32>, tensor<1x4xi64>, tensor<4xf32>) -> tensor<1x4x8x8xf32>
  return %r : tensor<1x4x8x8xf32>
}
