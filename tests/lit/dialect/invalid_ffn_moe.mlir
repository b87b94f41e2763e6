// Verifier tests for tessel.ffn and tessel.moe: one split section per message.
// FFN weights: up/gate [hidden, dim], down [dim, hidden], up_bias [hidden],
// down_bias [dim]. MoE: router [experts, dim], expert weights with a leading
// [experts] dimension, shared weights like a dense FFN's.
// Baseline: dim 16, hidden 32, 4 experts, shared hidden 24.
//
// RUN: tessel-opt %s -split-input-file -verify-diagnostics

// ffn: the input must be f32.
func.func @ffn_input_type(%x: tensor<1x4x16xf16>, %up: tensor<32x16xf32>, %gate: tensor<32x16xf32>,
    %down: tensor<16x32xf32>) {
  // expected-error @+1 {{input must have f32 elements, got 'f16'}}
  %0 = tessel.ffn %x up(%up) gate(%gate) down(%down) {activation = #tessel.activation<swiglu>}
      : (tensor<1x4x16xf16>, tensor<32x16xf32>, tensor<32x16xf32>,
        tensor<16x32xf32>) -> tensor<1x4x16xf16>
  return
}

// -----

// ffn: a scalar input has no feature dimension.
func.func @ffn_input_rank(%x: tensor<f32>, %up: tensor<32x16xf32>, %gate: tensor<32x16xf32>,
    %down: tensor<16x32xf32>) {
  // expected-error @+1 {{input must have rank >= 1, got rank 0}}
  %0 = tessel.ffn %x up(%up) gate(%gate) down(%down) {activation = #tessel.activation<swiglu>}
      : (tensor<f32>, tensor<32x16xf32>, tensor<32x16xf32>, tensor<16x32xf32>) -> tensor<f32>
  return
}

// -----

// ffn: SwiGLU multiplies by a gate projection, so it needs one.
func.func @ffn_swiglu_without_gate(%x: tensor<1x4x16xf32>, %up: tensor<32x16xf32>,
    %down: tensor<16x32xf32>) {
  // expected-error @+1 {{activation swiglu is gated and needs a gate(...) weight}}
  %0 = tessel.ffn %x up(%up) down(%down) {activation = #tessel.activation<swiglu>}
      : (tensor<1x4x16xf32>, tensor<32x16xf32>, tensor<16x32xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// ffn: GeGLU needs a gate projection too.
func.func @ffn_geglu_without_gate(%x: tensor<1x4x16xf32>, %up: tensor<32x16xf32>,
    %down: tensor<16x32xf32>) {
  // expected-error @+1 {{activation geglu is gated and needs a gate(...) weight}}
  %0 = tessel.ffn %x up(%up) down(%down) {activation = #tessel.activation<geglu>}
      : (tensor<1x4x16xf32>, tensor<32x16xf32>, tensor<16x32xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// ffn: a plain activation with a gate weight is a mistake, not a silent no-op.
func.func @ffn_relu_with_gate(%x: tensor<1x4x16xf32>, %up: tensor<32x16xf32>,
    %gate: tensor<32x16xf32>, %down: tensor<16x32xf32>) {
  // expected-error @+1 {{activation relu is not gated; use swiglu or geglu with a gate(...) weight}}
  %0 = tessel.ffn %x up(%up) gate(%gate) down(%down) {activation = #tessel.activation<relu>}
      : (tensor<1x4x16xf32>, tensor<32x16xf32>, tensor<32x16xf32>,
        tensor<16x32xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// ffn: silu with a gate is almost certainly meant to be swiglu.
func.func @ffn_silu_with_gate(%x: tensor<1x4x16xf32>, %up: tensor<32x16xf32>,
    %gate: tensor<32x16xf32>, %down: tensor<16x32xf32>) {
  // expected-error @+1 {{activation silu is not gated; use swiglu or geglu with a gate(...) weight}}
  %0 = tessel.ffn %x up(%up) gate(%gate) down(%down) {activation = #tessel.activation<silu>}
      : (tensor<1x4x16xf32>, tensor<32x16xf32>, tensor<32x16xf32>,
        tensor<16x32xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// ffn: tanh_approx is the gelu approximation; it means nothing for relu.
func.func @ffn_tanh_relu(%x: tensor<1x4x16xf32>, %up: tensor<32x16xf32>, %down: tensor<16x32xf32>) {
  // expected-error @+1 {{tanh_approx applies only to gelu and geglu, not relu}}
  %0 = tessel.ffn %x up(%up) down(%down) {activation = #tessel.activation<relu>, tanh_approx}
      : (tensor<1x4x16xf32>, tensor<32x16xf32>, tensor<16x32xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// ffn: nor for swiglu.
func.func @ffn_tanh_swiglu(%x: tensor<1x4x16xf32>, %up: tensor<32x16xf32>, %gate: tensor<32x16xf32>,
    %down: tensor<16x32xf32>) {
  // expected-error @+1 {{tanh_approx applies only to gelu and geglu, not swiglu}}
  %0 = tessel.ffn %x up(%up) gate(%gate) down(%down) {activation = #tessel.activation<swiglu>, tanh_approx}
      : (tensor<1x4x16xf32>, tensor<32x16xf32>, tensor<32x16xf32>,
        tensor<16x32xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// ffn: the up weight must be f32.
func.func @ffn_up_type(%x: tensor<1x4x16xf32>, %up: tensor<32x16xf16>, %gate: tensor<32x16xf32>,
    %down: tensor<16x32xf32>) {
  // expected-error @+1 {{w_up must have f32 elements, got 'f16'}}
  %0 = tessel.ffn %x up(%up) gate(%gate) down(%down) {activation = #tessel.activation<swiglu>}
      : (tensor<1x4x16xf32>, tensor<32x16xf16>, tensor<32x16xf32>,
        tensor<16x32xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// ffn: the up weight is [hidden, dim].
func.func @ffn_up_rank(%x: tensor<1x4x16xf32>, %up: tensor<1x32x16xf32>, %gate: tensor<32x16xf32>,
    %down: tensor<16x32xf32>) {
  // expected-error @+1 {{w_up must have rank 2 [hidden, dim], got rank 3}}
  %0 = tessel.ffn %x up(%up) gate(%gate) down(%down) {activation = #tessel.activation<swiglu>}
      : (tensor<1x4x16xf32>, tensor<1x32x16xf32>, tensor<32x16xf32>,
        tensor<16x32xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// ffn: the up weight's in features are the input's last dimension.
func.func @ffn_up_shape(%x: tensor<1x4x16xf32>, %up: tensor<32x8xf32>, %gate: tensor<32x16xf32>,
    %down: tensor<16x32xf32>) {
  // expected-error @+1 {{w_up must have shape [32, 16] [hidden, dim], got [32, 8]}}
  %0 = tessel.ffn %x up(%up) gate(%gate) down(%down) {activation = #tessel.activation<swiglu>}
      : (tensor<1x4x16xf32>, tensor<32x8xf32>, tensor<32x16xf32>,
        tensor<16x32xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// ffn: the gate weight must be f32.
func.func @ffn_gate_type(%x: tensor<1x4x16xf32>, %up: tensor<32x16xf32>, %gate: tensor<32x16xf16>,
    %down: tensor<16x32xf32>) {
  // expected-error @+1 {{w_gate must have f32 elements, got 'f16'}}
  %0 = tessel.ffn %x up(%up) gate(%gate) down(%down) {activation = #tessel.activation<swiglu>}
      : (tensor<1x4x16xf32>, tensor<32x16xf32>, tensor<32x16xf16>,
        tensor<16x32xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// ffn: the gate weight has the up weight's shape.
func.func @ffn_gate_shape(%x: tensor<1x4x16xf32>, %up: tensor<32x16xf32>, %gate: tensor<64x16xf32>,
    %down: tensor<16x32xf32>) {
  // expected-error @+1 {{w_gate must have shape [32, 16] [hidden, dim] (as up), got [64, 16]}}
  %0 = tessel.ffn %x up(%up) gate(%gate) down(%down) {activation = #tessel.activation<swiglu>}
      : (tensor<1x4x16xf32>, tensor<32x16xf32>, tensor<64x16xf32>,
        tensor<16x32xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// ffn: the down weight must be f32.
func.func @ffn_down_type(%x: tensor<1x4x16xf32>, %up: tensor<32x16xf32>, %gate: tensor<32x16xf32>,
    %down: tensor<16x32xf16>) {
  // expected-error @+1 {{w_down must have f32 elements, got 'f16'}}
  %0 = tessel.ffn %x up(%up) gate(%gate) down(%down) {activation = #tessel.activation<swiglu>}
      : (tensor<1x4x16xf32>, tensor<32x16xf32>, tensor<32x16xf32>,
        tensor<16x32xf16>) -> tensor<1x4x16xf32>
  return
}

// -----

// ffn: the down weight is [dim, hidden]; a transposed one is caught.
func.func @ffn_down_shape(%x: tensor<1x4x16xf32>, %up: tensor<32x16xf32>, %gate: tensor<32x16xf32>,
    %down: tensor<32x16xf32>) {
  // expected-error @+1 {{w_down must have shape [16, 32] [dim, hidden], got [32, 16]}}
  %0 = tessel.ffn %x up(%up) gate(%gate) down(%down) {activation = #tessel.activation<swiglu>}
      : (tensor<1x4x16xf32>, tensor<32x16xf32>, tensor<32x16xf32>,
        tensor<32x16xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// ffn: the up bias must be f32.
func.func @ffn_up_bias_type(%x: tensor<1x4x16xf32>, %up: tensor<32x16xf32>,
    %down: tensor<16x32xf32>, %bup: tensor<32xf16>) {
  // expected-error @+1 {{up_bias must have f32 elements, got 'f16'}}
  %0 = tessel.ffn %x up(%up) down(%down) up_bias(%bup) {activation = #tessel.activation<gelu>}
      : (tensor<1x4x16xf32>, tensor<32x16xf32>, tensor<16x32xf32>,
        tensor<32xf16>) -> tensor<1x4x16xf32>
  return
}

// -----

// ffn: the up bias is [hidden].
func.func @ffn_up_bias_shape(%x: tensor<1x4x16xf32>, %up: tensor<32x16xf32>,
    %down: tensor<16x32xf32>, %bup: tensor<16xf32>) {
  // expected-error @+1 {{up_bias must have shape [32] [hidden], got [16]}}
  %0 = tessel.ffn %x up(%up) down(%down) up_bias(%bup) {activation = #tessel.activation<gelu>}
      : (tensor<1x4x16xf32>, tensor<32x16xf32>, tensor<16x32xf32>,
        tensor<16xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// ffn: the down bias must be f32.
func.func @ffn_down_bias_type(%x: tensor<1x4x16xf32>, %up: tensor<32x16xf32>,
    %down: tensor<16x32xf32>, %bdown: tensor<16xf16>) {
  // expected-error @+1 {{down_bias must have f32 elements, got 'f16'}}
  %0 = tessel.ffn %x up(%up) down(%down) down_bias(%bdown) {activation = #tessel.activation<gelu>}
      : (tensor<1x4x16xf32>, tensor<32x16xf32>, tensor<16x32xf32>,
        tensor<16xf16>) -> tensor<1x4x16xf32>
  return
}

// -----

// ffn: the down bias is [dim].
func.func @ffn_down_bias_shape(%x: tensor<1x4x16xf32>, %up: tensor<32x16xf32>,
    %down: tensor<16x32xf32>, %bdown: tensor<32xf32>) {
  // expected-error @+1 {{down_bias must have shape [16] [dim], got [32]}}
  %0 = tessel.ffn %x up(%up) down(%down) down_bias(%bdown) {activation = #tessel.activation<gelu>}
      : (tensor<1x4x16xf32>, tensor<32x16xf32>, tensor<16x32xf32>,
        tensor<32xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// ffn: the result has the input's element type.
func.func @ffn_result_type(%x: tensor<1x4x16xf32>, %up: tensor<32x16xf32>, %gate: tensor<32x16xf32>,
    %down: tensor<16x32xf32>) {
  // expected-error @+1 {{result must have 'f32' elements, got 'f16'}}
  %0 = tessel.ffn %x up(%up) gate(%gate) down(%down) {activation = #tessel.activation<swiglu>}
      : (tensor<1x4x16xf32>, tensor<32x16xf32>, tensor<32x16xf32>,
        tensor<16x32xf32>) -> tensor<1x4x16xf16>
  return
}

// -----

// ffn: the result has the input's shape (down projects back to dim).
func.func @ffn_result_shape(%x: tensor<1x4x16xf32>, %up: tensor<32x16xf32>,
    %gate: tensor<32x16xf32>, %down: tensor<16x32xf32>) {
  // expected-error @+1 {{result must have shape [1, 4, 16] (the input's shape), got [1, 4, 32]}}
  %0 = tessel.ffn %x up(%up) gate(%gate) down(%down) {activation = #tessel.activation<swiglu>}
      : (tensor<1x4x16xf32>, tensor<32x16xf32>, tensor<32x16xf32>,
        tensor<16x32xf32>) -> tensor<1x4x32xf32>
  return
}

// -----

// moe: the input must be f32.
func.func @moe_input_type(%x: tensor<1x4x16xf16>, %router: tensor<4x16xf32>,
    %up: tensor<4x32x16xf32>, %gate: tensor<4x32x16xf32>, %down: tensor<4x16x32xf32>) {
  // expected-error @+1 {{input must have f32 elements, got 'f16'}}
  %0 = tessel.moe %x router(%router) experts(%up, %gate, %down)
      {top_k = 2 : i64, scoring = #tessel.moe_scoring<softmax>,
        activation = #tessel.activation<swiglu>}
      : (tensor<1x4x16xf16>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x32x16xf32>,
        tensor<4x16x32xf32>) -> tensor<1x4x16xf16>
  return
}

// -----

// moe: a scalar input has no feature dimension.
func.func @moe_input_rank(%x: tensor<f32>, %router: tensor<4x16xf32>, %up: tensor<4x32x16xf32>,
    %gate: tensor<4x32x16xf32>, %down: tensor<4x16x32xf32>) {
  // expected-error @+1 {{input must have rank >= 1, got rank 0}}
  %0 = tessel.moe %x router(%router) experts(%up, %gate, %down)
      {top_k = 2 : i64, scoring = #tessel.moe_scoring<softmax>,
        activation = #tessel.activation<swiglu>}
      : (tensor<f32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x32x16xf32>,
        tensor<4x16x32xf32>) -> tensor<f32>
  return
}

// -----

// moe: the router must be f32.
func.func @moe_router_type(%x: tensor<1x4x16xf32>, %router: tensor<4x16xf16>,
    %up: tensor<4x32x16xf32>, %gate: tensor<4x32x16xf32>, %down: tensor<4x16x32xf32>) {
  // expected-error @+1 {{router must have f32 elements, got 'f16'}}
  %0 = tessel.moe %x router(%router) experts(%up, %gate, %down)
      {top_k = 2 : i64, scoring = #tessel.moe_scoring<softmax>,
        activation = #tessel.activation<swiglu>}
      : (tensor<1x4x16xf32>, tensor<4x16xf16>, tensor<4x32x16xf32>, tensor<4x32x16xf32>,
        tensor<4x16x32xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// moe: the router is [experts, dim].
func.func @moe_router_rank(%x: tensor<1x4x16xf32>, %router: tensor<4xf32>, %up: tensor<4x32x16xf32>,
    %gate: tensor<4x32x16xf32>, %down: tensor<4x16x32xf32>) {
  // expected-error @+1 {{router must have rank 2 [experts, dim], got rank 1}}
  %0 = tessel.moe %x router(%router) experts(%up, %gate, %down)
      {top_k = 2 : i64, scoring = #tessel.moe_scoring<softmax>,
        activation = #tessel.activation<swiglu>}
      : (tensor<1x4x16xf32>, tensor<4xf32>, tensor<4x32x16xf32>, tensor<4x32x16xf32>,
        tensor<4x16x32xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// moe: the router's in features are the input's last dimension (a transposed router).
func.func @moe_router_dim(%x: tensor<1x4x16xf32>, %router: tensor<16x4xf32>,
    %up: tensor<4x32x16xf32>, %gate: tensor<4x32x16xf32>, %down: tensor<4x16x32xf32>) {
  // expected-error @+1 {{router dimension 1 (dim = input's last dimension) must be 16, got 4}}
  %0 = tessel.moe %x router(%router) experts(%up, %gate, %down)
      {top_k = 2 : i64, scoring = #tessel.moe_scoring<softmax>,
        activation = #tessel.activation<swiglu>}
      : (tensor<1x4x16xf32>, tensor<16x4xf32>, tensor<4x32x16xf32>, tensor<4x32x16xf32>,
        tensor<4x16x32xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// moe: gated activations need (up, gate, down) per expert.
func.func @moe_gated_two_experts(%x: tensor<1x4x16xf32>, %router: tensor<4x16xf32>,
    %up: tensor<4x32x16xf32>, %down: tensor<4x16x32xf32>) {
  // expected-error @+1 {{activation swiglu needs experts(up, gate, down), got 2 weights}}
  %0 = tessel.moe %x router(%router) experts(%up, %down)
      {top_k = 2 : i64, scoring = #tessel.moe_scoring<softmax>,
        activation = #tessel.activation<swiglu>}
      : (tensor<1x4x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>,
        tensor<4x16x32xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// moe: plain activations take (up, down) per expert.
func.func @moe_plain_three_experts(%x: tensor<1x4x16xf32>, %router: tensor<4x16xf32>,
    %up: tensor<4x32x16xf32>, %gate: tensor<4x32x16xf32>, %down: tensor<4x16x32xf32>) {
  // expected-error @+1 {{activation relu needs experts(up, down), got 3 weights}}
  %0 = tessel.moe %x router(%router) experts(%up, %gate, %down)
      {top_k = 2 : i64, scoring = #tessel.moe_scoring<softmax>,
        activation = #tessel.activation<relu>}
      : (tensor<1x4x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x32x16xf32>,
        tensor<4x16x32xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// moe: the shared experts follow the same rule as the routed ones.
func.func @moe_gated_two_shared(%x: tensor<1x4x16xf32>, %router: tensor<4x16xf32>,
    %up: tensor<4x32x16xf32>, %gate: tensor<4x32x16xf32>, %down: tensor<4x16x32xf32>,
    %sup: tensor<24x16xf32>, %sdown: tensor<16x24xf32>) {
  // expected-error @+1 {{activation swiglu needs shared(up, gate, down), got 2 weights}}
  %0 = tessel.moe %x router(%router) experts(%up, %gate, %down) shared(%sup, %sdown)
      {top_k = 2 : i64, scoring = #tessel.moe_scoring<softmax>,
        activation = #tessel.activation<swiglu>}
      : (tensor<1x4x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x32x16xf32>,
        tensor<4x16x32xf32>, tensor<24x16xf32>, tensor<16x24xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// moe: tanh_approx is the gelu approximation.
func.func @moe_tanh_silu(%x: tensor<1x4x16xf32>, %router: tensor<4x16xf32>,
    %up: tensor<4x32x16xf32>, %down: tensor<4x16x32xf32>) {
  // expected-error @+1 {{tanh_approx applies only to gelu and geglu, not silu}}
  %0 = tessel.moe %x router(%router) experts(%up, %down)
      {top_k = 2 : i64, scoring = #tessel.moe_scoring<softmax>, tanh_approx,
        activation = #tessel.activation<silu>}
      : (tensor<1x4x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>,
        tensor<4x16x32xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// moe: expert weights must be f32.
func.func @moe_experts_up_type(%x: tensor<1x4x16xf32>, %router: tensor<4x16xf32>,
    %up: tensor<4x32x16xf16>, %gate: tensor<4x32x16xf32>, %down: tensor<4x16x32xf32>) {
  // expected-error @+1 {{experts up must have f32 elements, got 'f16'}}
  %0 = tessel.moe %x router(%router) experts(%up, %gate, %down)
      {top_k = 2 : i64, scoring = #tessel.moe_scoring<softmax>,
        activation = #tessel.activation<swiglu>}
      : (tensor<1x4x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf16>, tensor<4x32x16xf32>,
        tensor<4x16x32xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// moe: expert weights carry a leading experts dimension.
func.func @moe_experts_up_rank(%x: tensor<1x4x16xf32>, %router: tensor<4x16xf32>,
    %up: tensor<32x16xf32>, %gate: tensor<4x32x16xf32>, %down: tensor<4x16x32xf32>) {
  // expected-error @+1 {{experts up must have rank 3 [experts, hidden, dim], got rank 2}}
  %0 = tessel.moe %x router(%router) experts(%up, %gate, %down)
      {top_k = 2 : i64, scoring = #tessel.moe_scoring<softmax>,
        activation = #tessel.activation<swiglu>}
      : (tensor<1x4x16xf32>, tensor<4x16xf32>, tensor<32x16xf32>, tensor<4x32x16xf32>,
        tensor<4x16x32xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// moe: the leading dimension is the router's expert count.
func.func @moe_experts_up_count(%x: tensor<1x4x16xf32>, %router: tensor<4x16xf32>,
    %up: tensor<8x32x16xf32>, %gate: tensor<4x32x16xf32>, %down: tensor<4x16x32xf32>) {
  // expected-error @+1 {{experts up must have shape [4, 32, 16] [experts, hidden, dim], got [8, 32, 16]}}
  %0 = tessel.moe %x router(%router) experts(%up, %gate, %down)
      {top_k = 2 : i64, scoring = #tessel.moe_scoring<softmax>,
        activation = #tessel.activation<swiglu>}
      : (tensor<1x4x16xf32>, tensor<4x16xf32>, tensor<8x32x16xf32>, tensor<4x32x16xf32>,
        tensor<4x16x32xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// moe: expert gate weights must be f32.
func.func @moe_experts_gate_type(%x: tensor<1x4x16xf32>, %router: tensor<4x16xf32>,
    %up: tensor<4x32x16xf32>, %gate: tensor<4x32x16xf16>, %down: tensor<4x16x32xf32>) {
  // expected-error @+1 {{experts gate must have f32 elements, got 'f16'}}
  %0 = tessel.moe %x router(%router) experts(%up, %gate, %down)
      {top_k = 2 : i64, scoring = #tessel.moe_scoring<softmax>,
        activation = #tessel.activation<swiglu>}
      : (tensor<1x4x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x32x16xf16>,
        tensor<4x16x32xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// moe: the expert gate weight has the up weight's shape.
func.func @moe_experts_gate_shape(%x: tensor<1x4x16xf32>, %router: tensor<4x16xf32>,
    %up: tensor<4x32x16xf32>, %gate: tensor<4x16x32xf32>, %down: tensor<4x16x32xf32>) {
  // expected-error @+1 {{experts gate must have shape [4, 32, 16] [experts, hidden, dim] (as up), got [4, 16, 32]}}
  %0 = tessel.moe %x router(%router) experts(%up, %gate, %down)
      {top_k = 2 : i64, scoring = #tessel.moe_scoring<softmax>,
        activation = #tessel.activation<swiglu>}
      : (tensor<1x4x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>,
        tensor<4x16x32xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// moe: expert down weights must be f32.
func.func @moe_experts_down_type(%x: tensor<1x4x16xf32>, %router: tensor<4x16xf32>,
    %up: tensor<4x32x16xf32>, %gate: tensor<4x32x16xf32>, %down: tensor<4x16x32xf16>) {
  // expected-error @+1 {{experts down must have f32 elements, got 'f16'}}
  %0 = tessel.moe %x router(%router) experts(%up, %gate, %down)
      {top_k = 2 : i64, scoring = #tessel.moe_scoring<softmax>,
        activation = #tessel.activation<swiglu>}
      : (tensor<1x4x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x32x16xf32>,
        tensor<4x16x32xf16>) -> tensor<1x4x16xf32>
  return
}

// -----

// moe: the expert down weight is [experts, dim, hidden].
func.func @moe_experts_down_shape(%x: tensor<1x4x16xf32>, %router: tensor<4x16xf32>,
    %up: tensor<4x32x16xf32>, %gate: tensor<4x32x16xf32>, %down: tensor<4x32x16xf32>) {
  // expected-error @+1 {{experts down must have shape [4, 16, 32] [experts, dim, hidden], got [4, 32, 16]}}
  %0 = tessel.moe %x router(%router) experts(%up, %gate, %down)
      {top_k = 2 : i64, scoring = #tessel.moe_scoring<softmax>,
        activation = #tessel.activation<swiglu>}
      : (tensor<1x4x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x32x16xf32>,
        tensor<4x32x16xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// moe: shared expert weights must be f32.
func.func @moe_shared_up_type(%x: tensor<1x4x16xf32>, %router: tensor<4x16xf32>,
    %up: tensor<4x32x16xf32>, %gate: tensor<4x32x16xf32>, %down: tensor<4x16x32xf32>,
    %sup: tensor<24x16xf16>, %sgate: tensor<24x16xf32>, %sdown: tensor<16x24xf32>) {
  // expected-error @+1 {{shared up must have f32 elements, got 'f16'}}
  %0 = tessel.moe %x router(%router) experts(%up, %gate, %down) shared(%sup, %sgate, %sdown)
      {top_k = 2 : i64, scoring = #tessel.moe_scoring<softmax>,
        activation = #tessel.activation<swiglu>}
      : (tensor<1x4x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x32x16xf32>,
        tensor<4x16x32xf32>, tensor<24x16xf16>, tensor<24x16xf32>,
        tensor<16x24xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// moe: shared experts have no experts dimension.
func.func @moe_shared_up_rank(%x: tensor<1x4x16xf32>, %router: tensor<4x16xf32>,
    %up: tensor<4x32x16xf32>, %gate: tensor<4x32x16xf32>, %down: tensor<4x16x32xf32>,
    %sup: tensor<1x24x16xf32>, %sgate: tensor<24x16xf32>, %sdown: tensor<16x24xf32>) {
  // expected-error @+1 {{shared up must have rank 2 [hidden, dim], got rank 3}}
  %0 = tessel.moe %x router(%router) experts(%up, %gate, %down) shared(%sup, %sgate, %sdown)
      {top_k = 2 : i64, scoring = #tessel.moe_scoring<softmax>,
        activation = #tessel.activation<swiglu>}
      : (tensor<1x4x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x32x16xf32>,
        tensor<4x16x32xf32>, tensor<1x24x16xf32>, tensor<24x16xf32>,
        tensor<16x24xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// moe: the shared up weight's in features are dim.
func.func @moe_shared_up_shape(%x: tensor<1x4x16xf32>, %router: tensor<4x16xf32>,
    %up: tensor<4x32x16xf32>, %gate: tensor<4x32x16xf32>, %down: tensor<4x16x32xf32>,
    %sup: tensor<24x8xf32>, %sgate: tensor<24x16xf32>, %sdown: tensor<16x24xf32>) {
  // expected-error @+1 {{shared up must have shape [24, 16] [hidden, dim], got [24, 8]}}
  %0 = tessel.moe %x router(%router) experts(%up, %gate, %down) shared(%sup, %sgate, %sdown)
      {top_k = 2 : i64, scoring = #tessel.moe_scoring<softmax>,
        activation = #tessel.activation<swiglu>}
      : (tensor<1x4x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x32x16xf32>,
        tensor<4x16x32xf32>, tensor<24x8xf32>, tensor<24x16xf32>,
        tensor<16x24xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// moe: the shared gate weight has the shared up weight's shape.
func.func @moe_shared_gate_shape(%x: tensor<1x4x16xf32>, %router: tensor<4x16xf32>,
    %up: tensor<4x32x16xf32>, %gate: tensor<4x32x16xf32>, %down: tensor<4x16x32xf32>,
    %sup: tensor<24x16xf32>, %sgate: tensor<32x16xf32>, %sdown: tensor<16x24xf32>) {
  // expected-error @+1 {{shared gate must have shape [24, 16] [hidden, dim] (as up), got [32, 16]}}
  %0 = tessel.moe %x router(%router) experts(%up, %gate, %down) shared(%sup, %sgate, %sdown)
      {top_k = 2 : i64, scoring = #tessel.moe_scoring<softmax>,
        activation = #tessel.activation<swiglu>}
      : (tensor<1x4x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x32x16xf32>,
        tensor<4x16x32xf32>, tensor<24x16xf32>, tensor<32x16xf32>,
        tensor<16x24xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// moe: the shared down weight is [dim, shared_hidden].
func.func @moe_shared_down_shape(%x: tensor<1x4x16xf32>, %router: tensor<4x16xf32>,
    %up: tensor<4x32x16xf32>, %gate: tensor<4x32x16xf32>, %down: tensor<4x16x32xf32>,
    %sup: tensor<24x16xf32>, %sgate: tensor<24x16xf32>, %sdown: tensor<16x32xf32>) {
  // expected-error @+1 {{shared down must have shape [16, 24] [dim, hidden], got [16, 32]}}
  %0 = tessel.moe %x router(%router) experts(%up, %gate, %down) shared(%sup, %sgate, %sdown)
      {top_k = 2 : i64, scoring = #tessel.moe_scoring<softmax>,
        activation = #tessel.activation<swiglu>}
      : (tensor<1x4x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x32x16xf32>,
        tensor<4x16x32xf32>, tensor<24x16xf32>, tensor<24x16xf32>,
        tensor<16x32xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// moe: at least one expert must be picked.
func.func @moe_top_k_positive(%x: tensor<1x4x16xf32>, %router: tensor<4x16xf32>,
    %up: tensor<4x32x16xf32>, %gate: tensor<4x32x16xf32>, %down: tensor<4x16x32xf32>) {
  // expected-error @+1 {{top_k must be positive, got 0}}
  %0 = tessel.moe %x router(%router) experts(%up, %gate, %down)
      {top_k = 0 : i64, scoring = #tessel.moe_scoring<softmax>,
        activation = #tessel.activation<swiglu>}
      : (tensor<1x4x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x32x16xf32>,
        tensor<4x16x32xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// moe: top_k cannot exceed the number of experts.
func.func @moe_top_k_too_big(%x: tensor<1x4x16xf32>, %router: tensor<4x16xf32>,
    %up: tensor<4x32x16xf32>, %gate: tensor<4x32x16xf32>, %down: tensor<4x16x32xf32>) {
  // expected-error @+1 {{top_k (6) must not exceed the number of experts (4)}}
  %0 = tessel.moe %x router(%router) experts(%up, %gate, %down)
      {top_k = 6 : i64, scoring = #tessel.moe_scoring<sigmoid>,
        activation = #tessel.activation<swiglu>}
      : (tensor<1x4x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x32x16xf32>,
        tensor<4x16x32xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// moe: routed_scale must be positive.
func.func @moe_routed_scale_positive(%x: tensor<1x4x16xf32>, %router: tensor<4x16xf32>,
    %up: tensor<4x32x16xf32>, %gate: tensor<4x32x16xf32>, %down: tensor<4x16x32xf32>) {
  // expected-error @+1 {{routed_scale must be positive, got 0}}
  %0 = tessel.moe %x router(%router) experts(%up, %gate, %down)
      {top_k = 2 : i64, scoring = #tessel.moe_scoring<sigmoid>, routed_scale = 0.0 : f32,
        activation = #tessel.activation<swiglu>}
      : (tensor<1x4x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x32x16xf32>,
        tensor<4x16x32xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// moe: the result has the input's element type.
func.func @moe_result_type(%x: tensor<1x4x16xf32>, %router: tensor<4x16xf32>,
    %up: tensor<4x32x16xf32>, %gate: tensor<4x32x16xf32>, %down: tensor<4x16x32xf32>) {
  // expected-error @+1 {{result must have 'f32' elements, got 'f16'}}
  %0 = tessel.moe %x router(%router) experts(%up, %gate, %down)
      {top_k = 2 : i64, scoring = #tessel.moe_scoring<softmax>,
        activation = #tessel.activation<swiglu>}
      : (tensor<1x4x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x32x16xf32>,
        tensor<4x16x32xf32>) -> tensor<1x4x16xf16>
  return
}

// -----

// moe: the result has the input's shape.
func.func @moe_result_shape(%x: tensor<1x4x16xf32>, %router: tensor<4x16xf32>,
    %up: tensor<4x32x16xf32>, %gate: tensor<4x32x16xf32>, %down: tensor<4x16x32xf32>) {
  // expected-error @+1 {{result must have shape [1, 4, 16] (the input's shape), got [4, 16]}}
  %0 = tessel.moe %x router(%router) experts(%up, %gate, %down)
      {top_k = 2 : i64, scoring = #tessel.moe_scoring<softmax>,
        activation = #tessel.activation<swiglu>}
      : (tensor<1x4x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x32x16xf32>,
        tensor<4x16x32xf32>) -> tensor<4x16xf32>
  return
}

// -----

// ffn: input_format q8_0 rounds x (dim 16 here) and h (hidden 32) in whole
// blocks of 32 values.
func.func @ffn_input_format_blocks(%x: tensor<1x4x16xf32>, %up: tensor<32x16xf32>,
    %gate: tensor<32x16xf32>, %down: tensor<16x32xf32>) {
  // expected-error @+1 {{input_format q8_0 rounds blocks of 32 values; a row of 16 is not a whole number of blocks}}
  %0 = tessel.ffn %x up(%up) gate(%gate) down(%down) {activation = #tessel.activation<swiglu>, input_format = "q8_0"}
      : (tensor<1x4x16xf32>, tensor<32x16xf32>, tensor<32x16xf32>,
        tensor<16x32xf32>) -> tensor<1x4x16xf32>
  return
}
