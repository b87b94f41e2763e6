// RUN: tessel-opt %s --tessel-lower-mla --split-input-file | FileCheck %s

// The naive form: query, latent + RoPE key, per-head keys/values from the
// normalised latent, RoPE on the rope parts, concat, attention, output.
// CHECK-LABEL: func.func @mla
// CHECK-SAME: (%[[X:.*]]: tensor<1x6x32xf32>, %[[POS:.*]]: tensor<1x6xi64>, %[[WQ:.*]]: tensor<48x32xf32>, %[[WKVA:.*]]: tensor<20x32xf32>, %[[KVN:.*]]: tensor<16xf32>, %[[WKVB:.*]]: tensor<64x16xf32>, %[[WO:.*]]: tensor<32x32xf32>)
// CHECK: %[[Q:.*]] = tessel.linear %[[X]], %[[WQ]] : (tensor<1x6x32xf32>, tensor<48x32xf32>) -> tensor<1x6x48xf32>
// CHECK: %[[Q4:.*]] = tensor.expand_shape %[[Q]] {{\[\[}}0], [1], [2, 3]] output_shape [1, 6, 4, 12]
// CHECK: %[[CKV:.*]] = tessel.linear %[[X]], %[[WKVA]] : (tensor<1x6x32xf32>, tensor<20x32xf32>) -> tensor<1x6x20xf32>
// CHECK: %[[LATENT:.*]] = tensor.extract_slice %[[CKV]][0, 0, 0] [1, 6, 16] [1, 1, 1]
// CHECK: %[[KR:.*]] = tensor.extract_slice %[[CKV]][0, 0, 16] [1, 6, 4] [1, 1, 1]
// CHECK: %[[NORM:.*]] = tessel.rms_norm %[[LATENT]], %[[KVN]] {epsilon = 9.99999997E-7 : f32}
// CHECK: %[[KV:.*]] = tessel.linear %[[NORM]], %[[WKVB]] : (tensor<1x6x16xf32>, tensor<64x16xf32>) -> tensor<1x6x64xf32>
// CHECK: %[[QR:.*]] = tessel.rope %{{.*}}, %[[POS]] {layout = #tessel.rope_layout<interleaved>} : (tensor<1x6x4x4xf32>, tensor<1x6xi64>) -> tensor<1x6x4x4xf32>
// CHECK: %[[QUERY:.*]] = tensor.concat dim(3) %{{.*}}, %[[QR]] : (tensor<1x6x4x8xf32>, tensor<1x6x4x4xf32>) -> tensor<1x6x4x12xf32>
// CHECK: tessel.rope %{{.*}}, %[[POS]] {{.*}} : (tensor<1x6x1x4xf32>, tensor<1x6xi64>) -> tensor<1x6x1x4xf32>
// CHECK: %[[KRB:.*]] = linalg.broadcast ins(%{{.*}} : tensor<1x6x4xf32>) outs(%{{.*}} : tensor<1x6x4x4xf32>) dimensions = [2]
// CHECK: %[[KEY:.*]] = tensor.concat dim(3) %{{.*}}, %[[KRB]] : (tensor<1x6x4x8xf32>, tensor<1x6x4x4xf32>) -> tensor<1x6x4x12xf32>
// CHECK: %[[V:.*]] = tensor.extract_slice %{{.*}}[0, 0, 0, 8] [1, 6, 4, 8] [1, 1, 1, 1] : tensor<1x6x4x16xf32> to tensor<1x6x4x8xf32>
// CHECK: %[[O:.*]] = tessel.attention %[[QUERY]], %[[KEY]], %[[V]] {causal, num_heads = 4 : i64, num_kv_heads = 4 : i64}
// CHECK: %[[FLAT:.*]] = tensor.collapse_shape %[[O]] {{\[\[}}0], [1], [2, 3]] : tensor<1x6x4x8xf32> into tensor<1x6x32xf32>
// CHECK: %[[Y:.*]] = tessel.linear %[[FLAT]], %[[WO]]
// CHECK-NOT: tessel.mla
// CHECK: return %[[Y]]
func.func @mla(%x: tensor<1x6x32xf32>, %pos: tensor<1x6xi64>, %wq: tensor<48x32xf32>,
               %wkv_a: tensor<20x32xf32>, %kv_norm: tensor<16xf32>, %wkv_b: tensor<64x16xf32>,
               %wo: tensor<32x32xf32>) -> tensor<1x6x32xf32> {
  %y = tessel.mla %x, %pos q(%wq) kv(%wkv_a, %kv_norm, %wkv_b) out(%wo)
      {num_heads = 4 : i64, kv_lora_rank = 16 : i64, qk_nope_dim = 8 : i64,
       qk_rope_dim = 4 : i64, v_head_dim = 8 : i64, causal}
      : (tensor<1x6x32xf32>, tensor<1x6xi64>, tensor<48x32xf32>, tensor<20x32xf32>,
         tensor<16xf32>, tensor<64x16xf32>, tensor<32x32xf32>) -> tensor<1x6x32xf32>
  return %y : tensor<1x6x32xf32>
}

// -----

// The low-rank query path: wq_a, its RMSNorm, wq_b; the window and an
// explicit scale carry over to the attention.
// CHECK-LABEL: func.func @mla_q_lora
// CHECK: %[[QA:.*]] = tessel.linear %arg0, %arg2 : (tensor<1x?x32xf32>, tensor<12x32xf32>) -> tensor<1x?x12xf32>
// CHECK: %[[QN:.*]] = tessel.rms_norm %[[QA]], %arg3
// CHECK: tessel.linear %[[QN]], %arg4 : (tensor<1x?x12xf32>, tensor<48x12xf32>) -> tensor<1x?x48xf32>
// CHECK: tessel.attention {{.*}} {causal, num_heads = 4 : i64, num_kv_heads = 4 : i64, scale = 2.500000e-01 : f32, window = 3 : i64}
func.func @mla_q_lora(%x: tensor<1x?x32xf32>, %pos: tensor<1x?xi64>, %wq_a: tensor<12x32xf32>,
                      %q_norm: tensor<12xf32>, %wq_b: tensor<48x12xf32>, %wkv_a: tensor<20x32xf32>,
                      %kv_norm: tensor<16xf32>, %wkv_b: tensor<64x16xf32>,
                      %wo: tensor<32x32xf32>) -> tensor<1x?x32xf32> {
  %y = tessel.mla %x, %pos q(%wq_a, %q_norm, %wq_b) kv(%wkv_a, %kv_norm, %wkv_b) out(%wo)
      {num_heads = 4 : i64, kv_lora_rank = 16 : i64, qk_nope_dim = 8 : i64,
       qk_rope_dim = 4 : i64, v_head_dim = 8 : i64, q_lora_rank = 12 : i64, causal,
       window = 3 : i64, scale = 0.25 : f32}
      : (tensor<1x?x32xf32>, tensor<1x?xi64>, tensor<12x32xf32>, tensor<12xf32>,
         tensor<48x12xf32>, tensor<20x32xf32>, tensor<16xf32>, tensor<64x16xf32>,
         tensor<32x32xf32>) -> tensor<1x?x32xf32>
  return %y : tensor<1x?x32xf32>
}

// -----

// input_format = "q8_0" carries over to the projections with wq, wkv_a and
// wo, not to wkv_b's (f32, split per head for decoding).
// CHECK-LABEL: func.func @mla_q8_inputs
// CHECK: tessel.linear %{{.*}}, %{{.*}} {input_format = "q8_0"} : (tensor<1x6x32xf32>, tensor<48x32xf32>)
// CHECK: tessel.linear %{{.*}}, %{{.*}} {input_format = "q8_0"} : (tensor<1x6x32xf32>, tensor<20x32xf32>)
// CHECK: tessel.linear %{{.*}}, %{{.*}} : (tensor<1x6x16xf32>, tensor<64x16xf32>)
// CHECK: tessel.linear %{{.*}}, %{{.*}} {input_format = "q8_0"} : (tensor<1x6x32xf32>, tensor<32x32xf32>)
func.func @mla_q8_inputs(%x: tensor<1x6x32xf32>, %pos: tensor<1x6xi64>, %wq: tensor<48x32xf32>,
               %wkv_a: tensor<20x32xf32>, %kv_norm: tensor<16xf32>, %wkv_b: tensor<64x16xf32>,
               %wo: tensor<32x32xf32>) -> tensor<1x6x32xf32> {
  %y = tessel.mla %x, %pos q(%wq) kv(%wkv_a, %kv_norm, %wkv_b) out(%wo)
      {num_heads = 4 : i64, kv_lora_rank = 16 : i64, qk_nope_dim = 8 : i64,
       qk_rope_dim = 4 : i64, v_head_dim = 8 : i64, causal, input_format = "q8_0"}
      : (tensor<1x6x32xf32>, tensor<1x6xi64>, tensor<48x32xf32>, tensor<20x32xf32>,
         tensor<16xf32>, tensor<64x16xf32>, tensor<32x32xf32>) -> tensor<1x6x32xf32>
  return %y : tensor<1x6x32xf32>
}
