// Multi-head attention spelled out with tessel.einsum and tessel.softmax,
// projections included: what tessel.attention computes, one contraction at a
// time. Non-causal (encoder-style): einsum has no masking. Sizes: dim 32,
// 4 heads, head_dim 8, seq 6, batch 1.
//
// Labels: b batch, s/q/k sequence (query and key positions), h head,
// d head feature, m model feature. A label missing from the output is summed.
//   q[b,s,h,d]      = sum_m x[b,s,m] wq[h,d,m]      "bsm,hdm->bshd"
//   scores[b,h,q,k] = sum_d q[b,q,h,d] k[b,k,h,d]   "bqhd,bkhd->bhqk"
//   p               = softmax over k (the last axis)
//   o[b,q,h,d]      = sum_k p[b,h,q,k] v[b,k,h,d]   "bhqk,bkhd->bqhd"
//   y[b,q,m]        = sum_h,d o[b,q,h,d] wo[m,h,d]  "bqhd,mhd->bqm"
// The projection weights are the PyTorch [out, in] matrices with `out` split
// into [heads, head_dim] (wq: [32, 32] -> [4, 8, 32]; wo: [32, 32] -> [32, 4, 8]).
// There is no 1/sqrt(head_dim) factor: fold it into wq (a frontend does this
// once, at load time). The result then equals
//   tessel.attention %q, %k, %v {num_heads = 4 : i64, num_kv_heads = 4 : i64, scale = 1.0 : f32}
// between the same projections.
//
// Run it (parse, verify, print):
//   tessel-opt examples/einsum_attention.mlir
// Every activation and weight is an argument of @main.
//
// CHECK-LABEL: func.func @main
// CHECK-COUNT-3: tessel.einsum "bsm,hdm->bshd"
// CHECK: tessel.einsum "bqhd,bkhd->bhqk" {{.*}} -> tensor<1x4x6x6xf32>
// CHECK: tessel.softmax %{{.*}} : tensor<1x4x6x6xf32>
// CHECK: tessel.einsum "bhqk,bkhd->bqhd"
// CHECK: tessel.einsum "bqhd,mhd->bqm" {{.*}} -> tensor<1x6x32xf32>
func.func @main(
    %x: tensor<1x6x32xf32>,          // [batch, seq, dim]
    %wq: tensor<4x8x32xf32>,         // [heads, head_dim, dim], pre-scaled by 1/sqrt(8)
    %wk: tensor<4x8x32xf32>,
    %wv: tensor<4x8x32xf32>,
    %wo: tensor<32x4x8xf32>)         // [dim, heads, head_dim]
    -> tensor<1x6x32xf32> {
  %q = tessel.einsum "bsm,hdm->bshd" %x, %wq
      : (tensor<1x6x32xf32>, tensor<4x8x32xf32>) -> tensor<1x6x4x8xf32>
  %k = tessel.einsum "bsm,hdm->bshd" %x, %wk
      : (tensor<1x6x32xf32>, tensor<4x8x32xf32>) -> tensor<1x6x4x8xf32>
  %v = tessel.einsum "bsm,hdm->bshd" %x, %wv
      : (tensor<1x6x32xf32>, tensor<4x8x32xf32>) -> tensor<1x6x4x8xf32>
  %scores = tessel.einsum "bqhd,bkhd->bhqk" %q, %k
      : (tensor<1x6x4x8xf32>, tensor<1x6x4x8xf32>) -> tensor<1x4x6x6xf32>
  %p = tessel.softmax %scores {axis = -1 : i64} : tensor<1x4x6x6xf32>
  %o = tessel.einsum "bhqk,bkhd->bqhd" %p, %v
      : (tensor<1x4x6x6xf32>, tensor<1x6x4x8xf32>) -> tensor<1x6x4x8xf32>
  %y = tessel.einsum "bqhd,mhd->bqm" %o, %wo
      : (tensor<1x6x4x8xf32>, tensor<32x4x8xf32>) -> tensor<1x6x32xf32>
  return %y : tensor<1x6x32xf32>
}
